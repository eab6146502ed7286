"""Broker outage benchmark, all figures from one run: a worker and a publisher while the broker is
stopped (controlled shutdown), kept down for --down-s, and started again.

- publisher: documents published every 0.2 s throughout; the longest a publish call blocked
  (target: the publish timeout, BLOOMWATCH_PUBLISH_TIMEOUT_S, plus scheduling) and the share of a
  core the publishing process used meanwhile (a busy loop would be ~1.0);
- worker: ERROR lines its log gained per minute of outage, against the aiokafka errors the outage
  filter folded into them (the figure without it) and their ratio.

Writes outage.* into bench/results.json (other keys kept).
Usage: python bench/outage.py [--down-s 30]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from pipeline_support import Deployment, wait_until  # noqa: E402
from results_file import record  # noqa: E402

from bloomwatch.net import free_port  # noqa: E402
from streams.broker import KafkaBroker  # noqa: E402
from streams.publisher import Publisher  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--down-s", type=float, default=30.0, help="seconds the broker stays stopped")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bloomwatch-outage-") as tmp:
        root = Path(tmp)
        broker = KafkaBroker(root / "kafka", free_port())
        broker.start()
        try:
            figures = run(root, broker, args.down_s)
        finally:
            broker.stop()
    figures["outage.load_avg_1min"] = round(os.getloadavg()[0], 2)
    record(figures)


def run(root: Path, broker: KafkaBroker, down_s: float) -> dict[str, float]:
    unreachable = "http://127.0.0.1:9"  # no classifiers: only Kafka's errors can reach the worker's log
    deployment = Deployment(root, broker.bootstrap, unreachable, unreachable)
    deployment.create_topics()
    settings = deployment.settings
    worker = deployment.start_worker()
    log_path = root / "worker.log"
    outage: dict[str, float] = {}

    def stop_wait_start() -> None:
        outage["down_at"] = time.monotonic()
        broker.stop()
        time.sleep(down_s)
        broker.start()
        outage["up_at"] = time.monotonic()

    async def publish_throughout() -> tuple[float, float, float]:
        blocks, i = [], 0
        async with Publisher(broker.bootstrap, settings.kafka) as publisher:
            restart = threading.Thread(target=stop_wait_start)
            cpu, wall = time.process_time(), time.monotonic()
            restart.start()
            while restart.is_alive():
                started = time.monotonic()
                await publisher.publish([{"id": f"o-{i}", "source": "bench", "kind": "news", "text": f"Story {i}."}])
                blocks.append(time.monotonic() - started)
                i += 1
                await asyncio.sleep(0.2)
            return max(blocks), time.process_time() - cpu, time.monotonic() - wall

    try:
        time.sleep(3)  # the consumer group settles
        errors_before = log_path.read_text().count("[ERROR]")
        max_block_s, cpu_s, wall_s = asyncio.run(publish_throughout())
        wait_until(lambda: "Kafka reachable again" in log_path.read_text(), 120, "the end of the outage in the log")
    finally:
        worker.stop()
    text = log_path.read_text()
    ended = re.search(r"reachable again after a (\d+)s outage \((\d+) connection errors summarised\)", text)
    minutes = (outage["up_at"] - outage["down_at"]) / 60
    error_lines = text.count("[ERROR]") - errors_before
    folded = int(ended.group(2))
    return {
        "outage.broker_down_s": round(outage["up_at"] - outage["down_at"], 1),
        "outage.publish_timeout_s": settings.publish_timeout_s,
        "outage.publisher_max_block_s": round(max_block_s, 2),
        "outage.publisher_cpu_share": round(cpu_s / wall_s, 3),
        "outage.worker_error_lines_per_min": round(error_lines / minutes, 1),
        "outage.worker_unfiltered_errors_per_min": round((folded + error_lines) / minutes, 1),
        "outage.worker_log_reduction_x": round((folded + error_lines) / max(1, error_lines), 1),
    }


if __name__ == "__main__":
    main()
