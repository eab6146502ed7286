"""The languages a trained model reads: measured on its training texts (real language identifier),
written to its manifest by a real training run, and inherited by a retrained candidate."""

from pathlib import Path

import pytest
from training_corpus import keyword_examples

from bloomwatch.settings import Settings, get_settings
from training.data import Example
from training.defaults import default_options
from training.finetune import FinetuneConfig
from training.languages import MIN_EXAMPLES, training_languages
from training.pipeline import Splits, TrainOptions, train_task
from training.pretrain import PretrainConfig
from training.registry import ModelVersion, Registry
from training.retrain.job import retrain_options
from training.synthetic import synthetic_examples

pytestmark = pytest.mark.usefixtures("one_torch_thread")

_FRENCH = [
    "Le service était vraiment très lent aujourd'hui.",
    "Une chambre propre et un personnel accueillant.",
    "La livraison est arrivée avec une semaine de retard.",
]


def chinese_examples(n: int, seed: int = 0) -> list[Example]:
    """Templated Chinese sentences with their sentiment (bloomwatch/phrasebook.py)."""
    return synthetic_examples("sentiment", n, seed, languages=("zh",))


def test_a_language_counts_from_a_sensible_share_of_the_texts_and_inherited_ones_are_kept():
    english = [e.text for e in keyword_examples(1500)]
    chinese = [e.text for e in chinese_examples(100)]
    few = _FRENCH * 4  # 12 texts: fewer than MIN_EXAMPLES
    assert len(few) < MIN_EXAMPLES
    measured = training_languages(english + chinese + few, seed=0)
    assert measured.languages == ["en", "zh"]
    assert measured.counts["fr"] == 12 and measured.sample == len(english) + len(chinese) + len(few)
    # 30 French texts among 2,000: enough texts, but 1.5 % of them, under the 2 % share
    more_english = [e.text for e in keyword_examples(470, seed=1)]
    assert training_languages(english + more_english + _FRENCH * 10, seed=0).languages == ["en"]
    # a retrained candidate keeps its parent's languages beside its new data's
    assert training_languages(english, seed=0, inherited=("zh", "en")).languages == ["en", "zh"]


def test_a_retrain_inherits_the_languages_its_parent_reads():
    current = ModelVersion("sentiment", "v3", Path("/nonexistent"), {"languages": ["en", "zh"]})
    assert retrain_options(default_options("sentiment"), current, Settings().retrain).inherit_languages == ["en", "zh"]
    older = ModelVersion("sentiment", "v2", Path("/nonexistent"), {})  # registered before the field
    assert retrain_options(default_options("sentiment"), older, Settings().retrain).inherit_languages == ["en"]


def test_training_on_texts_in_two_languages_registers_a_model_that_reads_both(tmp_path, monkeypatch):
    monkeypatch.setenv("BLOOMWATCH_HOME", str(tmp_path))
    get_settings.cache_clear()
    english, chinese = keyword_examples(90, seed=1, source="toy_en"), chinese_examples(90, seed=2)
    splits = Splits(
        english[:60] + chinese[:60], english[60:75] + chinese[60:75], english[75:] + chinese[75:], "two toy sets", []
    )
    options = TrainOptions(task="sentiment", preset="tiny", baseline=False, progress=False,
                           pretrain=PretrainConfig(steps=1), finetune=FinetuneConfig(max_steps=2, max_len=32))  # fmt: skip
    version = train_task(options=options, registry=Registry(tmp_path / "models"), home=tmp_path, splits=splits)
    get_settings.cache_clear()
    assert version.manifest["languages"] == ["en", "zh"] and version.languages == ("en", "zh")
    assert version.manifest["data"]["languages"]["counts"] == {"en": 60, "zh": 60}
    assert Registry(tmp_path / "models").current("sentiment").languages == ("en", "zh")
