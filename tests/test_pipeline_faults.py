"""The fault suite: broker kill -9 and graceful restart, classifier kill -9 and stall, worker
kill -9 and SIGTERM, and a ClickHouse write failure, each injected while documents stream in
(tests/fault_scenarios.py). Nothing published is lost, nothing is counted twice, and only the
store failure may dead-letter (never silently drop) a document."""

import pytest
from fault_scenarios import FAULTS, Rig, run_fault

from bloomwatch.net import free_port
from streams.broker import KafkaBroker

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

N_DOCUMENTS = 2_000


@pytest.fixture(scope="module")
def rig(tiny_registry, tmp_path_factory):
    """Our own broker (the suite kills it) and classifier servers."""
    root = tmp_path_factory.mktemp("faults")
    rig = Rig(root, tiny_registry.root, KafkaBroker(root / "kafka", free_port())).start()
    yield rig
    rig.stop()


@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_loses_and_doubles_nothing(rig, fault):
    result = run_fault(rig, fault, N_DOCUMENTS)
    assert result.published == N_DOCUMENTS
    assert result.lost == 0, result
    assert result.double_counted == 0, result
    assert result.stored + result.dead_lettered == N_DOCUMENTS, result
    assert result.dead_lettered == 0, result
