"""Fuzz: hypothesis-drawn random and malformed messages straight into both topics a worker
consumes, documents (news, reviews) and labels, on a real broker, consumed by a real worker with
real (tiny) classifiers and chDB. The worker stays alive, and every message is either stored (valid
by the worker's decoder, its key stored once after FINAL with a valid message's content) or
dead-lettered with a reason: none is unaccounted for (tests/fuzz_messages.py says how each is traced)."""

from __future__ import annotations

import pytest
from fuzz_messages import Accounting, fuzz_pipeline
from pipeline_support import running_pipeline

pytestmark = pytest.mark.kafka


def assert_accounted(result: Accounting, n: int, floor: int) -> None:
    assert not result.unaccounted, f"{len(result.unaccounted)} unaccounted, e.g. {result.unaccounted[:3]}"
    assert result.stored + result.dead_lettered == result.messages == n
    assert not result.double_counted, f"keys stored twice: {list(result.double_counted.items())[:5]}"
    assert not result.unexpected_keys, sorted(result.unexpected_keys, key=str)[:5]
    assert result.reasonless == 0
    assert result.stored > floor and result.dead_lettered > floor, result  # both paths well exercised


def assert_all_accounted_for(tiny_registry, kafka_broker, tmp_path, n: int) -> None:
    with running_pipeline(tiny_registry.root, kafka_broker, tmp_path) as deployment:
        run = fuzz_pipeline(deployment, n)
    assert_accounted(run.documents, n, floor=n // 5)
    assert_accounted(run.labels, n // 4, floor=n // 40)  # a tenth of the labels run's messages
    assert run.documents.reasons["not_json"] and run.labels.reasons["schema"], (
        run.documents.reasons,
        run.labels.reasons,
    )


def test_fuzzed_messages_are_all_stored_or_dead_lettered(tiny_registry, kafka_broker, tmp_path):
    assert_all_accounted_for(tiny_registry, kafka_broker, tmp_path, n=400)


@pytest.mark.slow
def test_ten_thousand_fuzzed_messages_are_all_accounted_for(tiny_registry, kafka_broker, tmp_path):
    assert_all_accounted_for(tiny_registry, kafka_broker, tmp_path, n=10_000)
