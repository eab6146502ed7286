"""Measure the current model of a task again on today's test splits and behaviour suite, beside
TF-IDF baselines fit on the default recipe's training mix, and record the figures.

For a model trained before datasets joined its task (the shipped sentiment model predates the
customer-text sets of issue 28). Writes the full result, behaviour-suite failures included, to
`--out`, and the flat figures to bench/results.json (`bench/training_results.py`'s keys).

    BLOOMWATCH_REGISTRY_DIR=models BLOOMWATCH_TORCH_THREADS=1 nice python bench/assess.py --task sentiment --out /tmp/assess.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from results_file import record  # bench/ is on sys.path when run as a script
from training_results import quality_figures

from bloomwatch.settings import get_settings
from training.assess import assess
from training.defaults import default_options
from training.registry import Registry
from training.runtime import configure_threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="sentiment")
    parser.add_argument("--out", type=Path, required=True, help="the full result as JSON")
    parser.add_argument("--no-record", action="store_true", help="do not write bench/results.json")
    args = parser.parse_args()
    settings = get_settings()
    version = Registry(settings.registry_dir).current(args.task)
    if version is None:
        raise SystemExit(f"no current {args.task} model in {settings.registry_dir}")
    print(f"torch threads: {configure_threads()}; assessing {version.path}", flush=True)
    started = time.time()
    result = assess(
        version, default_options(args.task), settings.data_dir, settings.home / "cache" / "baselines", progress=True
    )
    result["minutes"] = round((time.time() - started) / 60, 1)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"full result in {args.out} ({result['minutes']} min)")
    figures = quality_figures(args.task, result)
    if args.no_record:
        print(json.dumps(figures, indent=2))
    else:
        record(figures)


if __name__ == "__main__":
    main()
