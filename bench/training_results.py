"""Copy the figures of the current base, sentiment and topic models into bench/results.json.

Run after `bloomwatch pretrain`, `bloomwatch train --task sentiment` and `--task topic`; reads the registry those runs
wrote (BLOOMWATCH_HOME / BLOOMWATCH_REGISTRY_DIR) and read-modify-writes the shared flat JSON,
keeping every other benchmark's keys.

    python bench/training_results.py
"""

from __future__ import annotations

from bloomwatch.settings import get_settings
from training.registry import BASE, Registry

from results_file import record  # bench/ is on sys.path when run as a script

MODEL_KEYS = {
    "sentiment": {"reviews_mr": ("acc",), "reviews_imdb": ("acc",), "finance_fpb": ("acc", "macro_f1"), "tweets_tweeteval": ("acc",)},
    "topic": {"news_agnews": ("acc",)},
}
PRETRAIN_KEYS = {"tokens": "tokens_seen", "hours": "hours", "tokens_per_s": "tokens_per_s", "heldout_perplexity": "heldout_perplexity"}


def _negative_recall(metrics: dict) -> float:
    return round(metrics["per_class"]["negative"]["recall"], 4)


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
        figures[f"finetune.{task}.minutes"] = round(metrics["timings"]["finetune_s"] / 60, 1)
        if task == "sentiment":
            figures["model.sentiment.tweets_tweeteval.negative_recall"] = _negative_recall(metrics["test"]["tweets_tweeteval"])
            figures["baseline.tweets_tweeteval.negative_recall"] = _negative_recall(metrics["baseline_tfidf_lr"]["tweets_tweeteval"])
            rates = [v for split in metrics["robustness"].values() for k, v in split.items() if k.startswith("flip_")]
            figures["robust.sentiment.max_flip_rate"] = round(max(rates), 4)
        print(f"{task}: {version.path}")
    base = registry.current(BASE)
    if base is not None:
        for key, name in PRETRAIN_KEYS.items():
            figures[f"pretrain.{key}"] = round(base.metrics[name], 4)
        print(f"base: {base.path}")
    return figures


def main() -> None:
    figures = collect(Registry(get_settings().registry_dir))
    if not figures:
        raise SystemExit("nothing to record")
    record(figures)


if __name__ == "__main__":
    main()
