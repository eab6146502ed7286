"""The behaviour suite: its sentences, its scoring, and that no training set the code builds holds one."""

from collections import Counter

import pytest
from training_corpus import keyword_examples

from bloomwatch.settings import get_settings
from bloomwatch.tasks import labels_for
from training.augment import _HEDGES_AFTER, _HEDGES_BEFORE
from training.baseline import baseline_proba, cached_tfidf_baselines, train_tfidf_baseline
from training.behaviour import score_behaviour
from training.behaviour_suite import INVARIANCE, MFT_GROUPS, assert_not_trained_on, behaviour_suite
from training.data import TASK_SOURCES, Example, load_shared, normalise_text, shared_available
from training.synthetic import synthetic_examples

LABELS = labels_for("sentiment")


def test_the_suite_is_large_grouped_and_the_same_every_time():
    suite = behaviour_suite()
    groups = Counter(c.group for c in suite.cases)
    assert set(groups) == set(MFT_GROUPS) and min(groups.values()) >= 60
    assert len(suite.cases) >= 500 and len({c.text for c in suite.cases}) == len(suite.cases)
    assert {c.label for c in suite.cases if c.group == "neutral"} == {"neutral"}
    assert {c.label for c in suite.cases if c.group in ("negation", "finance")} == {"negative", "positive"}
    assert {p.group for p in suite.pairs} == {f"invariance_{kind}" for kind in INVARIANCE}
    assert all(p.base in p.edited and p.base != p.edited for p in suite.pairs)
    behaviour_suite.cache_clear()
    assert behaviour_suite() == suite  # regenerated from scratch: the same sentences


def test_invariance_phrases_are_many_and_none_is_a_trained_hedge():
    trained = {normalise_text(h) for h in (*_HEDGES_AFTER, *_HEDGES_BEFORE, "I guess.")}
    for kind, (phrases, _) in INVARIANCE.items():
        assert len(phrases) >= 6, kind
        assert not {normalise_text(p) for p in phrases} & trained, kind
    used = {p.edited.replace(p.base, "").strip() for p in behaviour_suite().pairs}
    assert used == {phrase for phrases, _ in INVARIANCE.values() for phrase in phrases}  # every phrase is tested


def test_a_training_set_holding_a_suite_sentence_is_refused():
    sentence = behaviour_suite().cases[0].text
    assert_not_trained_on(keyword_examples(50))
    with pytest.raises(ValueError, match="behaviour-suite sentence"):
        assert_not_trained_on([*keyword_examples(50), Example(f"  {sentence.upper()} ", "negative", "user")])


def test_the_built_in_corpus_shares_no_sentence_with_the_suite():
    assert_not_trained_on(synthetic_examples("sentiment", n=5000))


@pytest.mark.slow
@pytest.mark.skipif(
    not shared_available(get_settings().data_dir, "sentiment"), reason="shared data not on this machine"
)
def test_no_shared_training_split_holds_a_suite_sentence():
    for report in load_shared(get_settings().data_dir, "sentiment", "train", skip_invalid=True):
        assert_not_trained_on(report.examples)
    assert {r.examples[0].source for r in load_shared(get_settings().data_dir, "sentiment", "val")} == set(
        TASK_SOURCES["sentiment"]
    )


def test_scoring_lists_every_failure_and_flip():
    """Scored with a real TF-IDF model trained on the built-in corpus: whatever it gets wrong is listed."""
    train = synthetic_examples("sentiment", n=2000)
    clf = train_tfidf_baseline([e.text for e in train], [e.label for e in train])
    result = score_behaviour(lambda texts: baseline_proba(clf, texts, LABELS), LABELS)
    assert result["n_sentences"] >= 500 and set(result["groups"]) == set(MFT_GROUPS)
    for group in result["groups"].values():
        assert group["acc"] == pytest.approx(1 - len(group["failures"]) / group["n"])
        assert all(f["expected"] != f["predicted"] for f in group["failures"])
    for group in result["invariance"].values():
        assert group["flip_rate"] == pytest.approx(len(group["failures"]) / group["n"])
        assert all(f["base_predicted"] != f["edited_predicted"] for f in group["failures"])
    assert result["max_flip_rate"] == max(g["flip_rate"] for g in result["invariance"].values())
    assert 0 < result["groups"]["neutral"]["acc"]  # it learnt something, so the figures are not all zero


def test_baselines_are_fit_once_per_data_and_read_back_after(tmp_path):
    train, test = synthetic_examples("sentiment", n=600, seed=1), synthetic_examples("sentiment", n=100, seed=2)
    first = cached_tfidf_baselines(tmp_path, train, test, LABELS, seed=13, behaviour=True)
    (cached,) = tmp_path.glob("*.json")
    assert cached_tfidf_baselines(tmp_path, train, test, LABELS, seed=13, behaviour=True) == first
    # other data (one example less) is another fit, not the cached one
    cached_tfidf_baselines(tmp_path, train[1:], test, LABELS, seed=13, behaviour=True)
    assert len(list(tmp_path.glob("*.json"))) == 2 and cached.exists()


@pytest.mark.slow
def test_a_run_scores_the_suite_for_model_and_baseline_and_refuses_suite_text(tmp_path, monkeypatch, one_torch_thread):
    from training.finetune import FinetuneConfig
    from training.pipeline import Splits, TrainOptions, train_task
    from training.pretrain import PretrainConfig
    from training.registry import Registry

    monkeypatch.setenv("BLOOMWATCH_HOME", str(tmp_path))
    get_settings.cache_clear()
    data = keyword_examples(120, seed=3)
    splits = Splits(data[:80], data[80:100], data[100:], "toy", [])
    options = lambda: TrainOptions(task="sentiment", progress=False, pretrain=PretrainConfig(steps=1),  # noqa: E731
                                   finetune=FinetuneConfig(max_steps=2, max_len=32))  # fmt: skip
    version = train_task(options=options(), registry=Registry(tmp_path / "models"), home=tmp_path, splits=splits)
    for key in ("behaviour", "baseline_behaviour"):
        assert set(version.metrics[key]["groups"]) == set(MFT_GROUPS) and "max_flip_rate" in version.metrics[key]
    leaked = Example(behaviour_suite().cases[1].text, behaviour_suite().cases[1].label, "toy")
    with pytest.raises(ValueError, match="behaviour-suite sentence"):
        train_task(
            options=options(),
            registry=Registry(tmp_path / "m2"),
            home=tmp_path,
            splits=Splits([*data[:80], leaked], data[80:100], data[100:], "toy", []),
        )
    get_settings.cache_clear()
