"""Fuzz benchmark: hypothesis-drawn random and malformed messages (tests/fuzz_messages.py)
produced straight into the documents topics and (a quarter as many) the labels topic of a broker
of its own, consumed by one worker with the shipped classifiers, every message then traced on its
own: stored (valid, and its key stored after FINAL with a valid message's content) or
dead-lettered with a reason. Writes fuzz.messages and fuzz.unaccounted (both topics; target 0)
and the split into bench/results.json.
Usage: flock /work/bench.lock nice -n 10 python bench/fuzz.py [--messages 10000] [--registry models]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from fuzz_messages import fuzz_pipeline  # noqa: E402
from pipeline_support import running_pipeline  # noqa: E402
from results_file import record  # noqa: E402

from bloomwatch.net import free_port  # noqa: E402
from streams.broker import KafkaBroker  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--registry", type=Path, default=REPO / "models", help="registry with current sentiment and topic models"
    )
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bloomwatch-fuzz-") as tmp:
        root = Path(tmp)
        with KafkaBroker(root / "kafka", free_port()) as broker:
            with running_pipeline(args.registry.resolve(), broker.bootstrap, root) as deployment:
                run = fuzz_pipeline(deployment, args.messages, seed=args.seed)
    for name, result in (("documents", run.documents), ("labels", run.labels)):
        for message in result.unaccounted[:10]:
            print(
                f"unaccounted {name}: {message.topic}[{message.partition}]@{message.offset} value={message.value[:120]!r}"
            )
        print(f"{name} dead-letter reasons:", dict(result.reasons.most_common()))
    record(
        {
            "fuzz.messages": run.documents.messages + run.labels.messages,
            "fuzz.unaccounted": run.unaccounted,
            "fuzz.stored": run.documents.stored + run.labels.stored,
            "fuzz.dead_lettered": run.documents.dead_lettered + run.labels.dead_lettered,
            "fuzz.double_counted": len(run.documents.double_counted) + len(run.labels.double_counted),
            "fuzz.labels.messages": run.labels.messages,
            "fuzz.labels.stored": run.labels.stored,
            "fuzz.labels.dead_lettered": run.labels.dead_lettered,
            "fuzz.minutes": round((time.monotonic() - started) / 60, 1),
            "fuzz.load_avg_1min": round(os.getloadavg()[0], 2),
        }
    )


if __name__ == "__main__":
    main()
