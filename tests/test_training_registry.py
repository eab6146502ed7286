"""Registry round trip and the `bloomwatch models` commands, on real saved tiny BLOOMs."""

import json

import pytest
from conftest import build_tiny_classifier
from transformers import AutoTokenizer, BloomForSequenceClassification
from typer.testing import CliRunner

from app.cli import app
from bloomwatch.settings import get_settings
from training.registry import Registry, seed_from


def test_register_reload_promote_round_trip(tmp_path):
    registry = Registry(tmp_path)
    first = registry.register(
        "topic",
        lambda d: build_tiny_classifier("topic", d, seed=1),
        manifest={"method": "full", "languages": ["en", "zh"], "data": {"fingerprints": {"train": "abc"}}},
        metrics={"test": {"news": {"acc": 0.5}}},
    )
    second = registry.register(
        "topic",
        lambda d: build_tiny_classifier("topic", d, seed=2),
        manifest={"method": "lora"},
        metrics={},
        promote=False,
    )
    assert (first.version, second.version) == ("v1", "v2")
    assert registry.current("topic").version == "v1" and registry.current_version_name("topic") == "v1"
    assert first.labels == ("world", "sports", "business", "sci_tech") and first.name == "topic-v1"
    assert registry.get("topic", "v1").manifest["data"]["fingerprints"] == {"train": "abc"}
    assert registry.get("topic", "v1").metrics == {"test": {"news": {"acc": 0.5}}}
    # a manifest without `languages` is a model from before the field: trained on English only
    assert registry.get("topic", "v1").languages == ("en", "zh") and second.languages == ("en",)
    assert [v.version for v in registry.versions("topic")] == ["v1", "v2"]
    registry.promote("topic", "v2")
    assert registry.current("topic").version == "v2"
    model = BloomForSequenceClassification.from_pretrained(second.path, use_safetensors=True)
    tokenizer = AutoTokenizer.from_pretrained(second.path)
    assert model.config.id2label[3] == "sci_tech" and tokenizer.pad_token_id == model.config.pad_token_id
    assert not list(tmp_path.glob("topic/.staging-*"))


def test_unservable_version_is_not_promoted(tmp_path):
    registry = Registry(tmp_path)
    registry.register(
        "sentiment",
        lambda d: build_tiny_classifier("sentiment", d),
        manifest={"method": "prefix", "servable": False},
        metrics={},
        promote=False,
    )
    with pytest.raises(ValueError, match="cannot be served"):
        registry.promote("sentiment", "v1")
    assert registry.current("sentiment") is None


@pytest.fixture
def cli_home(tmp_path, monkeypatch):
    monkeypatch.setenv("BLOOMWATCH_HOME", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_each_line_has_its_own_current_version_and_history_and_an_empty_registry_adopts_them(tmp_path):
    registry = Registry(tmp_path / "shipped")
    versions = [
        registry.register(
            "sentiment", lambda d, seed=seed: build_tiny_classifier("sentiment", d, seed=seed),
            manifest={"method": "full", "languages": languages}, metrics={}, promote=False,
        ).version
        for seed, languages in enumerate((["en"], ["de", "zh"], ["de", "fr", "zh"]))
    ]  # fmt: skip
    assert registry.lines("sentiment") == []
    registry.promote("sentiment", versions[0])
    for version in versions[1:]:
        registry.promote("sentiment", version, line="multilingual")
    assert registry.lines("sentiment") == ["", "multilingual"]
    assert registry.current("sentiment").version == "v1"
    assert registry.current("sentiment", "multilingual").languages == ("de", "fr", "zh")
    assert registry.rollback("sentiment", "multilingual").version == "v2"
    assert registry.current_version_name("sentiment") == "v1", "a line's rollback leaves the main line"
    with pytest.raises(ValueError, match="no earlier promotion of sentiment"):
        registry.rollback("sentiment")
    with pytest.raises(KeyError, match="not a line name"):
        registry.promote("sentiment", "v2", line="../topic")

    home = Registry(tmp_path / "home")
    adopted = seed_from(home, registry.root, ("sentiment",))
    assert [(v.version, v.languages) for v in adopted] == [("v1", ("en",)), ("v2", ("de", "zh"))]
    assert home.lines("sentiment") == ["", "multilingual"] and home.current("sentiment", "multilingual").version == "v2"


def test_an_empty_registry_adopts_the_shipped_current_versions_only(tmp_path):
    shipped = Registry(tmp_path / "shipped")
    shipped.register(
        "topic",
        lambda d: build_tiny_classifier("topic", d, seed=1),
        manifest={"method": "full", "languages": ["en", "zh"]},
        metrics={"test": {"news": {"acc": 0.9}}},
    )
    shipped.register(
        "topic",
        lambda d: build_tiny_classifier("topic", d, seed=2),
        manifest={"method": "lora"},
        metrics={},
        promote=False,
    )
    registry = Registry(tmp_path / "home")
    registry.register(
        "sentiment", lambda d: build_tiny_classifier("sentiment", d), manifest={"method": "full"}, metrics={}
    )

    adopted = seed_from(registry, shipped.root, ("base", "sentiment", "topic"))

    assert [(v.task, v.version) for v in adopted] == [("topic", "v1")]  # no shipped base; sentiment already had one
    topic = registry.current("topic")
    assert topic.manifest["method"] == "full" and "shipped" in topic.manifest["copied_from"]
    assert topic.metrics == {"test": {"news": {"acc": 0.9}}} and topic.languages == ("en", "zh")
    served = BloomForSequenceClassification.from_pretrained(topic.path, use_safetensors=True)
    original = BloomForSequenceClassification.from_pretrained(shipped.current("topic").path, use_safetensors=True)
    assert all(
        (a == b).all() for a, b in zip(served.state_dict().values(), original.state_dict().values(), strict=True)
    )
    assert seed_from(registry, shipped.root, ("topic",)) == [] and seed_from(registry, None, ("topic",)) == []


def test_models_cli_list_show_promote(cli_home):
    registry = Registry(get_settings().registry_dir)
    for seed, languages in ((1, {}), (2, {"languages": ["de", "en"]})):
        registry.register(
            "sentiment",
            lambda d, s=seed: build_tiny_classifier("sentiment", d, seed=s),
            manifest={"method": "full", "base": {"preset": "tiny"}, **languages},
            metrics={"test": {"toy": {"acc": 0.25 * seed}}},
            promote=seed == 1,
        )
    runner = CliRunner()
    listed = runner.invoke(app, ["models", "list", "--task", "sentiment"])
    assert listed.exit_code == 0, listed.output
    assert "v1" in listed.output and "v2" in listed.output and "toy 0.500" in listed.output
    rows = [json.loads(line) for line in runner.invoke(app, ["models", "list", "--json"]).output.splitlines()]
    assert [(r["version"], r["languages"]) for r in rows if r["task"] == "sentiment"] == [("v1", "en"), ("v2", "de,en")]
    shown = runner.invoke(app, ["models", "show", "sentiment"])
    assert json.loads(shown.output)["manifest"]["version"] == "v1" and json.loads(shown.output)["languages"] == ["en"]
    shown = json.loads(runner.invoke(app, ["models", "show", "sentiment", "v2"]).output)
    assert shown["languages"] == shown["manifest"]["languages"] == ["de", "en"]
    promoted = runner.invoke(app, ["models", "promote", "sentiment", "v2", "--line", "multilingual"])
    assert promoted.exit_code == 0 and "sentiment-v2 is now current on line multilingual" in promoted.output
    rows = [json.loads(line) for line in runner.invoke(app, ["models", "list", "--json"]).output.splitlines()]
    assert [(r["version"], r["current"]) for r in rows if r["task"] == "sentiment"] == [
        ("v1", "*"),
        ("v2", "multilingual"),
    ]
    promoted = runner.invoke(app, ["models", "promote", "sentiment", "v2"])
    assert promoted.exit_code == 0 and "sentiment-v2 is now current" in promoted.output
    assert registry.current("sentiment").version == "v2"


def test_promote_refuses_a_version_that_is_not_one_or_lies_outside_the_registry(cli_home):
    registry = Registry(get_settings().registry_dir)
    registry.register(
        "sentiment", lambda d: build_tiny_classifier("sentiment", d), manifest={"method": "full"}, metrics={}
    )
    planted = registry.root.parent / "planted"  # what `<registry>/sentiment/../../planted` resolves to
    build_tiny_classifier("sentiment", planted)
    (planted / "bloomwatch.json").write_text(
        json.dumps({"task": "sentiment", "labels": ["negative", "neutral", "positive"]})
    )
    (registry.root / "sentiment" / "v7").symlink_to(planted)  # a version name, but a link out of the registry
    runner = CliRunner()
    for command in (["promote", "sentiment", "../../planted"], ["promote", "sentiment", "v7"], ["show", "sentiment", "../../planted"],
                    ["promote", "sentiment", "v9"]):  # fmt: skip
        result = runner.invoke(app, ["models", *command])
        assert result.exit_code == 1, (command, result.output)
        assert result.output.count("\n") == 1 and result.output.startswith("error: "), (command, result.output)
    assert registry.current_version_name("sentiment") == "v1"
    (registry.root / "sentiment" / "current").write_text("../../planted\n")  # a pointer written by hand
    with pytest.raises(KeyError, match="not a version of sentiment"):
        registry.current("sentiment")
