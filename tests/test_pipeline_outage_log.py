"""A broker outage in the worker's log: one line when it starts, a reminder every
BLOOMWATCH_KAFKA_OUTAGE_REMINDER_S, one line with its duration when it ends, instead of aiokafka's
errors several times a second (streams/outage_log.py). Real worker process, real broker stopped
and restarted with scripts/kafka.sh."""

import re
import time

import pytest
from pipeline_support import Deployment, wait_until

from bloomwatch.net import free_port
from streams.broker import KafkaBroker

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

REMINDER_S = 2


def test_worker_logs_a_broker_outage_in_a_few_lines(tmp_path):
    broker = KafkaBroker(tmp_path / "kafka", free_port())
    broker.start()
    unreachable = "http://127.0.0.1:9"  # no documents flow: only Kafka's errors can reach the log
    deployment = Deployment(tmp_path, broker.bootstrap, unreachable, unreachable,
                            extra_env={"BLOOMWATCH_KAFKA_OUTAGE_REMINDER_S": str(REMINDER_S)})  # fmt: skip
    deployment.create_topics()
    worker = deployment.start_worker()
    log_path = tmp_path / "worker.log"
    try:
        # the consumer group settles (partitions assigned): errors of a join cut short are not the outage's
        wait_until(lambda: "Worker ready" in log_path.read_text(), 60, "the worker's partitions assigned")
        down_at = time.monotonic()  # the errors start during the controlled shutdown
        broker.stop()
        time.sleep(3 * REMINDER_S + 1)
        broker.start()  # takes 15-60 s here: the outage lasts until the broker answers again
        wait_until(lambda: "Kafka reachable again" in log_path.read_text(), 120, "the end of the outage in the log")
        outage_s = time.monotonic() - down_at
        assert deployment.count() == 0  # the worker serves its API after the outage
    finally:
        worker.stop()
        broker.stop()

    lines = log_path.read_text().splitlines()
    errors = [line for line in lines if "[ERROR]" in line]
    started = [line for line in lines if "Kafka unreachable:" in line]
    reminders = [line for line in lines if "Kafka still unreachable after" in line]
    ended = [line for line in lines if "Kafka reachable again after" in line]
    assert len(started) == 1 and len(ended) == 1, "\n".join(errors)
    assert 3 <= len(reminders) <= outage_s / REMINDER_S + 1, "\n".join(reminders)
    assert errors == started + reminders, "\n".join(errors[:20])  # nothing else at ERROR
    folded = int(re.search(r"\((\d+) connection errors summarised\)", ended[0]).group(1))
    assert folded > 10 * len(errors), ended[0]  # what the log would have held otherwise
    duration = float(re.search(r"after a (\d+)s outage", ended[0]).group(1))
    assert 3 * REMINDER_S <= duration <= outage_s + 1, (duration, outage_s)
