"""The gate on real (tiny) models: both answer exactly the same examples, once each (cached), and a
candidate identical to the current model is neither promoted nor rejected for a drop."""

from conftest import build_tiny_classifier
from retrain_support import slang_examples

from bloomwatch.tasks import labels_for
from training.data import Example
from training.retrain.compare import paired_by_source
from training.retrain.gate import HOLDOUT, GateRules, decide
from training.synthetic import synthetic_examples

LABELS = labels_for("sentiment")


def _examples() -> list[Example]:
    fixed = synthetic_examples("sentiment")[:80]
    held = [Example(e["text"], e["label"], HOLDOUT) for e in slang_examples(40)]
    return fixed + held


def test_an_identical_candidate_is_never_promoted_and_never_rejected_for_a_drop(tmp_path):
    current = build_tiny_classifier("sentiment", tmp_path / "current", seed=3)
    candidate = build_tiny_classifier("sentiment", tmp_path / "candidate", seed=3)  # same weights, own files
    examples = _examples()
    paired = paired_by_source(current, candidate, examples, LABELS, max_len=32, cache_dir=tmp_path / "cache")
    assert {s: p.n for s, p in paired.items()} == {"synthetic": 80, HOLDOUT: 40}
    assert all(p.worse == p.better == 0 and p.current_correct == p.candidate_correct for p in paired.values())
    for margin in (0.0, 0.02):
        result = decide(paired, GateRules(margin=margin, alpha=0.05, min_holdout=30))
        assert not result.promote
        assert "lost" not in result.reason and "not significantly better on the new-label holdout" in result.reason
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 2  # one entry per model


def test_both_models_answer_the_same_examples_and_the_scores_are_cached(tmp_path):
    current = build_tiny_classifier("sentiment", tmp_path / "current", seed=1)
    candidate = build_tiny_classifier("sentiment", tmp_path / "candidate", seed=2)
    examples = _examples()
    first = paired_by_source(current, candidate, examples, LABELS, max_len=32, cache_dir=tmp_path / "cache")
    cached = sorted((tmp_path / "cache").glob("*.npy"))
    again = paired_by_source(current, candidate, examples, LABELS, max_len=32, cache_dir=tmp_path / "cache")
    assert first == again and sorted((tmp_path / "cache").glob("*.npy")) == cached
    assert {s: p.n for s, p in first.items()} == {"synthetic": 80, HOLDOUT: 40}
    for p in first.values():
        figures = p.figures()
        low, high = figures["current"]["ci95"]
        assert (
            low <= figures["current"]["acc"] <= high
            and figures["drop_ci95"][0] <= figures["drop"] <= figures["drop_ci95"][1]
        )
