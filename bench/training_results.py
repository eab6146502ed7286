"""Copy the figures of the current sentiment and topic models into bench/results.json.

Run after `bloomwatch train --task sentiment` and `--task topic`; reads the registry those runs
wrote (BLOOMWATCH_HOME / BLOOMWATCH_REGISTRY_DIR) and read-modify-writes the shared flat JSON,
keeping every other benchmark's keys.

    python bench/training_results.py
"""

from __future__ import annotations

import json
from pathlib import Path

from bloomwatch.settings import get_settings
from training.registry import Registry

RESULTS = Path(__file__).with_name("results.json")
MODEL_KEYS = {"sentiment": {"reviews_mr": ("acc",), "finance_fpb": ("acc", "macro_f1")}, "topic": {"news_agnews": ("acc",)}}


def collect(registry: Registry) -> dict[str, float]:
    figures: dict[str, float] = {}
    for task, datasets in MODEL_KEYS.items():
        version = registry.current(task)
        if version is None:
            print(f"no current {task} model in {registry.root} (run `bloomwatch train --task {task}`): skipped")
            continue
        metrics = version.metrics
        for dataset, names in datasets.items():
            for name in names:
                figures[f"model.{task}.{dataset}.{name}"] = round(metrics["test"][dataset][name], 4)
                figures[f"baseline.{dataset}.{name}"] = round(metrics["baseline_tfidf_lr"][dataset][name], 4)
        figures[f"train.{task}.minutes"] = round(metrics["timings"]["total_s"] / 60, 1)
        print(f"{task}: {version.path}")
    return figures


def main() -> None:
    figures = collect(Registry(get_settings().registry_dir))
    if not figures:
        raise SystemExit("nothing to record")
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results.update(figures)
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
