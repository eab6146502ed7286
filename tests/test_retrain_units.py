"""The retraining job's decisions in isolation: drift (PSI), the promotion gate's paired
decisions, the active-learning queue, the cron trigger, the holdout split, the one-run lock, and
registry rollback."""

from datetime import UTC, datetime, timedelta

import pytest
from conftest import build_tiny_classifier

from bloomwatch.settings import Settings
from training.registry import ModelVersion, Registry
from training.retrain.drift import find_drift, psi
from training.retrain.gate import HOLDOUT, GateRules, decide
from training.retrain.job import labels_since_last_run, parent_options, retrain_lock, retrain_options
from training.retrain.paired import Paired
from training.retrain.queue import select_for_labelling
from training.retrain.schedule import cron_due
from training.retrain.splits import STORED, is_holdout

LABELS = ("negative", "neutral", "positive")


def _summary(counts: dict[str, int], confidence: float) -> dict:
    return {"n": sum(counts.values()), "counts": counts, "mean_confidence": confidence}


def test_psi_is_zero_for_the_same_distribution_and_large_for_a_shift():
    same = psi({"negative": 30, "neutral": 40, "positive": 30}, {"negative": 60, "neutral": 80, "positive": 60}, LABELS)
    shifted = psi(
        {"negative": 30, "neutral": 40, "positive": 30}, {"negative": 90, "neutral": 5, "positive": 5}, LABELS
    )
    assert same == pytest.approx(0.0, abs=1e-9)
    assert shifted > 0.25


def test_drift_is_found_per_source_and_needs_enough_documents():
    reference = {"a": _summary({"negative": 50, "neutral": 50, "positive": 50}, 0.8),
                 "b": _summary({"negative": 50, "neutral": 50, "positive": 50}, 0.8),
                 "c": _summary({"negative": 5, "positive": 5}, 0.8)}  # fmt: skip
    recent = {"a": _summary({"negative": 140, "neutral": 5, "positive": 5}, 0.8),  # label shift
              "b": _summary({"negative": 50, "neutral": 50, "positive": 50}, 0.5),  # less sure
              "c": _summary({"negative": 10}, 0.2)}  # too few documents to judge  # fmt: skip
    findings = {
        f.source: f
        for f in find_drift(reference, recent, LABELS, psi_threshold=0.25, confidence_threshold=0.15, min_docs=100)
    }
    assert set(findings) == {"a", "b"}
    assert findings["a"].psi > 0.25 and findings["b"].confidence_drop == pytest.approx(0.3)


def _paired(n: int, worse: int, better: int, current_correct: int) -> Paired:
    return Paired(n, current_correct, current_correct - worse + better, worse, better)


def test_gate_promotes_only_a_significant_gain_on_new_labels_without_a_significant_loss_beyond_the_margin():
    rules = GateRules(margin=0.02, alpha=0.05, min_holdout=30)
    gain = _paired(60, worse=1, better=20, current_correct=24)  # p(better) ~ 1e-5
    steady = _paired(500, worse=10, better=8, current_correct=400)
    assert decide({"fpb": steady, HOLDOUT: gain}, rules).promote
    forgot = decide({"fpb": _paired(500, worse=40, better=5, current_correct=400), HOLDOUT: gain}, rules)
    assert not forgot.promote and "fpb lost 0.070" in forgot.reason
    # 0.1 lost on 20 examples: beyond the margin, but 2 against 0 discordant pairs is noise
    noisy = decide({"fpb": _paired(20, worse=2, better=0, current_correct=15), HOLDOUT: gain}, rules)
    assert noisy.promote and noisy.max_drop == pytest.approx(0.1)
    one_more = decide({"fpb": steady, HOLDOUT: _paired(40, worse=0, better=1, current_correct=20)}, rules)
    assert not one_more.promote and "not significantly better on the new-label holdout" in one_more.reason
    too_few = decide({"fpb": steady, HOLDOUT: _paired(9, worse=0, better=9, current_correct=0)}, rules)
    assert not too_few.promote and "too few to judge: 9 held out (< 30)" in too_few.reason
    assert not decide({HOLDOUT: gain}, rules).promote  # nothing to check forgetting on


def test_a_candidate_identical_to_the_current_model_is_neither_promoted_nor_rejected_for_a_drop():
    rules = GateRules(margin=0.0, alpha=0.05, min_holdout=5)
    same = {"fpb": _paired(500, 0, 0, 400), STORED: _paired(300, 0, 0, 300), HOLDOUT: _paired(40, 0, 0, 12)}
    result = decide(same, rules)
    assert not result.promote and "lost" not in result.reason and result.max_drop == 0
    assert all(f["drop_ci95"] == [0.0, 0.0] and f["p_worse"] == 1.0 for f in result.figures.values())
    assert (
        result.figures["fpb"]["current"] == result.figures["fpb"]["candidate"] == {"acc": 0.8, "ci95": [0.7622, 0.8342]}
    )  # Clopper-Pearson: beta quantiles


def test_queue_takes_the_least_certain_documents_spread_over_sources():
    candidates = [
        {"document_id": f"a{i}", "source": "a", "text": f"text a{i}", "probs": [0.34 + i * 0.01, 0.33, 0.33 - i * 0.01]}
        for i in range(10)
    ]
    candidates += [
        {"document_id": f"b{i}", "source": "b", "text": f"text b{i}", "probs": [0.5 + i * 0.04, 0.5 - i * 0.04, 0.0]}
        for i in range(3)
    ]
    picked = select_for_labelling(candidates, 4, by="margin")
    assert [c["document_id"] for c in picked] == ["b0", "a0", "a1", "b1"]  # round by round, most uncertain first
    by_entropy = select_for_labelling(candidates, 2, by="entropy")
    assert {c["source"] for c in by_entropy} == {"a", "b"}


def test_queue_offers_each_text_once_whatever_its_ids_and_spelling():
    repeated = [{"document_id": f"r{i}", "source": f"s{i % 3}", "text": f"  Broken on ARRIVAL.{' ' * i}", "probs": [0.4, 0.35 + i * 0.001, 0.25]}
                for i in range(6)]  # fmt: skip
    other = [{"document_id": "o", "source": "s0", "text": "Fine.", "probs": [0.9, 0.05, 0.05]}]
    picked = select_for_labelling(repeated + other, 5)
    assert [c["document_id"] for c in picked] == ["r5", "o"]  # the most uncertain copy, then the next text


def test_cron_fires_when_a_scheduled_time_has_passed_since_the_last_check():
    at_2_59 = datetime(2026, 1, 1, 2, 59, tzinfo=UTC)
    assert cron_due("0 3 * * *", at_2_59, at_2_59 + timedelta(minutes=2))
    assert not cron_due("0 3 * * *", at_2_59 + timedelta(minutes=2), at_2_59 + timedelta(minutes=3))


def test_holdout_membership_is_stable_about_the_share_and_follows_the_text_not_its_spelling():
    texts = [f"Review number {i} ." for i in range(2000)]
    held = [t for t in texts if is_holdout(t, 0.2)]
    assert held == [t for t in texts if is_holdout(t.upper().replace(" ", "  "), 0.2)]
    assert 0.15 < len(held) / len(texts) < 0.25


def test_new_labels_are_counted_from_the_last_run_that_trained():
    decisions = [{"decision": "skipped", "labels_total": 0}, {"decision": "rejected", "labels_total": 120}]
    assert labels_since_last_run(150, decisions) == 30
    assert labels_since_last_run(150, []) == 150


def test_a_retrain_never_continues_the_checkpoints_of_the_run_that_trained_its_parent(tmp_path):
    """The shipped model's manifest names the directory its long run checkpointed to: a retrain is
    another run, with a clock-free schedule and no checkpoint of its own."""
    config = {"finetune": {"epochs": 1, "checkpoint_dir": str(tmp_path / "run"), "anneal_to_time_limit": True}}
    current = ModelVersion(task="sentiment", version="v6", path=tmp_path / "v6", manifest={"training_config": config})
    options = retrain_options(parent_options(current), current, Settings().retrain)
    assert options.finetune.checkpoint_dir is None and not options.finetune.anneal_to_time_limit


def test_only_one_retrain_holds_the_lock(tmp_path):
    with retrain_lock(tmp_path) as first:
        with retrain_lock(tmp_path) as second:
            assert first and not second
    with retrain_lock(tmp_path) as again:
        assert again


def test_rollback_undoes_promotions_in_order(tmp_path):
    registry = Registry(tmp_path)
    for _ in range(3):
        registry.register("sentiment", lambda d: build_tiny_classifier("sentiment", d), manifest={}, metrics={})
    assert registry.current_version_name("sentiment") == "v3"
    assert registry.rollback("sentiment").version == "v2"
    assert registry.rollback("sentiment").version == "v1"
    with pytest.raises(ValueError, match="no earlier promotion"):
        registry.rollback("sentiment")
