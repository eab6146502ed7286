"""Fuzz: hypothesis-drawn random and malformed messages straight into the documents topics of a
real broker, consumed by a real worker with real (tiny) classifiers and chDB. The worker stays
alive, and every message is either stored (its id, once, after FINAL) or dead-lettered with a
reason: none is unaccounted for (tests/fuzz_messages.py says how each is traced)."""

from __future__ import annotations

import pytest
from fuzz_messages import fuzz_pipeline
from pipeline_support import running_pipeline

pytestmark = pytest.mark.kafka


def assert_all_accounted_for(tiny_registry, kafka_broker, tmp_path, n: int) -> None:
    with running_pipeline(tiny_registry.root, kafka_broker, tmp_path) as deployment:
        result = fuzz_pipeline(deployment, n)
    assert not result.unaccounted, f"{len(result.unaccounted)} unaccounted, e.g. {result.unaccounted[:3]}"
    assert result.stored + result.dead_lettered == result.messages == n
    assert not result.double_counted, f"ids stored twice: {list(result.double_counted.items())[:5]}"
    assert not result.unexpected_ids, sorted(result.unexpected_ids)[:5]
    assert result.reasonless == 0
    assert result.stored > n // 5 and result.dead_lettered > n // 5, result  # both paths well exercised


def test_fuzzed_messages_are_all_stored_or_dead_lettered(tiny_registry, kafka_broker, tmp_path):
    assert_all_accounted_for(tiny_registry, kafka_broker, tmp_path, n=400)


@pytest.mark.slow
def test_ten_thousand_fuzzed_messages_are_all_accounted_for(tiny_registry, kafka_broker, tmp_path):
    assert_all_accounted_for(tiny_registry, kafka_broker, tmp_path, n=10_000)
