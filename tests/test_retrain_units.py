"""The retraining job's decisions in isolation: drift (PSI), the promotion gate, the active-learning
queue, the cron trigger, the holdout split, the one-run lock, and registry rollback."""

from datetime import UTC, datetime, timedelta

import pytest
from conftest import build_tiny_classifier

from training.registry import Registry
from training.retrain.drift import find_drift, psi
from training.retrain.gate import HOLDOUT, decide
from training.retrain.job import is_holdout, labels_since_last_run, retrain_lock
from training.retrain.queue import select_for_labelling
from training.retrain.schedule import cron_due

LABELS = ("negative", "neutral", "positive")


def _summary(counts: dict[str, int], confidence: float) -> dict:
    return {"n": sum(counts.values()), "counts": counts, "mean_confidence": confidence}


def test_psi_is_zero_for_the_same_distribution_and_large_for_a_shift():
    same = psi({"negative": 30, "neutral": 40, "positive": 30}, {"negative": 60, "neutral": 80, "positive": 60}, LABELS)
    shifted = psi({"negative": 30, "neutral": 40, "positive": 30}, {"negative": 90, "neutral": 5, "positive": 5}, LABELS)
    assert same == pytest.approx(0.0, abs=1e-9)
    assert shifted > 0.25


def test_drift_is_found_per_source_and_needs_enough_documents():
    reference = {"a": _summary({"negative": 50, "neutral": 50, "positive": 50}, 0.8),
                 "b": _summary({"negative": 50, "neutral": 50, "positive": 50}, 0.8),
                 "c": _summary({"negative": 5, "positive": 5}, 0.8)}  # fmt: skip
    recent = {"a": _summary({"negative": 140, "neutral": 5, "positive": 5}, 0.8),  # label shift
              "b": _summary({"negative": 50, "neutral": 50, "positive": 50}, 0.5),  # less sure
              "c": _summary({"negative": 10}, 0.2)}  # too few documents to judge  # fmt: skip
    findings = {f.source: f for f in find_drift(reference, recent, LABELS, psi_threshold=0.25, confidence_threshold=0.15, min_docs=100)}
    assert set(findings) == {"a", "b"}
    assert findings["a"].psi > 0.25 and findings["b"].confidence_drop == pytest.approx(0.3)


def test_gate_promotes_only_a_candidate_better_on_new_labels_and_not_worse_beyond_the_margin():
    current = {"fpb": {"acc": 0.80}, HOLDOUT: {"acc": 0.40}}
    assert decide(current, {"fpb": {"acc": 0.79}, HOLDOUT: {"acc": 0.70}}, margin=0.02).promote
    forgot = decide(current, {"fpb": {"acc": 0.70}, HOLDOUT: {"acc": 0.90}}, margin=0.02)
    assert not forgot.promote and "fpb accuracy fell 0.100" in forgot.reason
    no_gain = decide(current, {"fpb": {"acc": 0.80}, HOLDOUT: {"acc": 0.40}}, margin=0.02)
    assert not no_gain.promote and "not better on the new-label holdout" in no_gain.reason
    assert not decide({"fpb": {"acc": 0.8}}, {"fpb": {"acc": 0.9}}, margin=0.02).promote  # nothing to show a gain on


def test_queue_takes_the_least_certain_documents_spread_over_sources():
    candidates = [{"document_id": f"a{i}", "source": "a", "probs": [0.34 + i * 0.01, 0.33, 0.33 - i * 0.01]} for i in range(10)]
    candidates += [{"document_id": f"b{i}", "source": "b", "probs": [0.5 + i * 0.04, 0.5 - i * 0.04, 0.0]} for i in range(3)]
    picked = select_for_labelling(candidates, 4, by="margin")
    assert [c["document_id"] for c in picked] == ["b0", "a0", "a1", "b1"]  # round by round, most uncertain first
    by_entropy = select_for_labelling(candidates, 2, by="entropy")
    assert {c["source"] for c in by_entropy} == {"a", "b"}


def test_cron_fires_when_a_scheduled_time_has_passed_since_the_last_check():
    at_2_59 = datetime(2026, 1, 1, 2, 59, tzinfo=UTC)
    assert cron_due("0 3 * * *", at_2_59, at_2_59 + timedelta(minutes=2))
    assert not cron_due("0 3 * * *", at_2_59 + timedelta(minutes=2), at_2_59 + timedelta(minutes=3))


def test_holdout_membership_is_stable_and_about_the_share():
    ids = [f"doc-{i}" for i in range(2000)]
    held = [i for i in ids if is_holdout(i, 0.2)]
    assert held == [i for i in ids if is_holdout(i, 0.2)]
    assert 0.15 < len(held) / len(ids) < 0.25


def test_new_labels_are_counted_from_the_last_run_that_trained():
    decisions = [{"decision": "skipped", "labels_total": 0}, {"decision": "rejected", "labels_total": 120}]
    assert labels_since_last_run(150, decisions) == 30
    assert labels_since_last_run(150, []) == 150


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
