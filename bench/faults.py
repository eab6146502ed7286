"""Fault suite benchmark: each fault injected into a running pipeline while documents stream in
(tests/fault_scenarios.py: broker kill -9 and graceful restart, classifier kill -9 and stall,
worker kill -9 and SIGTERM, a ClickHouse write failure), one after another on a broker and
classifier servers (the shipped models) of its own. Prints published / stored / dead-lettered /
lost / double-counted per fault and writes the totals as faults.* into bench/results.json
(targets: lost 0, double-counted 0).
Usage: flock /work/bench.lock nice -n 10 python bench/faults.py [--docs 1500] [--registry models]
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

from fault_scenarios import FAULTS, Rig, run_fault  # noqa: E402
from results_file import record  # noqa: E402

from bloomwatch.net import free_port  # noqa: E402
from streams.broker import KafkaBroker  # noqa: E402

COLUMNS = ("published", "stored", "dead_lettered", "lost", "double_counted", "seconds")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1_500, help="documents published per fault")
    parser.add_argument(
        "--registry", type=Path, default=REPO / "models", help="registry with current sentiment and topic models"
    )
    parser.add_argument("--only", choices=list(FAULTS), action="append", help="run these faults only")
    args = parser.parse_args()
    started = time.monotonic()
    results = []
    with tempfile.TemporaryDirectory(prefix="bloomwatch-faults-") as tmp:
        root = Path(tmp)
        rig = Rig(root, args.registry.resolve(), KafkaBroker(root / "kafka", free_port())).start()
        try:
            for fault in args.only or FAULTS:
                results.append(result := run_fault(rig, fault, args.docs))
                print(f"{fault}: {result}", flush=True)
        finally:
            rig.stop()
    width = max(len(result.fault) for result in results)
    print(f"\n{'fault':<{width}}  " + "  ".join(f"{c:>14}" for c in COLUMNS))
    for result in results:
        print(f"{result.fault:<{width}}  " + "  ".join(f"{getattr(result, c):>14}" for c in COLUMNS))
    totals = {c: sum(getattr(result, c) for result in results) for c in COLUMNS[:-1]}
    print(f"{'total':<{width}}  " + "  ".join(f"{totals[c]:>14}" for c in COLUMNS[:-1]))
    record(
        {
            **{f"faults.{c}": totals[c] for c in COLUMNS[:-1]},
            "faults.kinds": len(results),
            "faults.minutes": round((time.monotonic() - started) / 60, 1),
            "faults.load_avg_1min": round(os.getloadavg()[0], 2),
        }
    )


if __name__ == "__main__":
    main()
