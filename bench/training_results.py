"""Copy the figures of the current base, sentiment and topic models into bench/results.json.

Run after `bloomwatch pretrain`, `bloomwatch train --task sentiment` and `--task topic`; reads the registry those runs
wrote (BLOOMWATCH_HOME / BLOOMWATCH_REGISTRY_DIR) and read-modify-writes the shared flat JSON,
keeping every other benchmark's keys. Sentiment adds the behaviour suite's figures
(`behaviour.sentiment.<group>.acc`, `baseline.behaviour.<group>.acc`, `...invariance.max_flip_rate`).
A split's figures are those of the model that scores its language in the pipeline: the first line
of the task, main line first, whose current model reads it (streams/routing.py), beside the TF-IDF
baseline of that model's own run.

Distillation (issue 28): `distill.teacher` names the teacher of the shipped sentiment model (`none`:
labels only), and `distill.<teacher>.val_macro_f1` is a student's validation macro-F1, for the
shipped model and for each model directory given with `--distill-run` (another registry's
distilled student), with `distill.<teacher>.teacher_val_macro_f1` where the teacher was fine-tuned
here.

    python bench/training_results.py [--distill-run /tmp/bw-minilm/models/sentiment/v7]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from results_file import record  # bench/ is on sys.path when run as a script

from bloomwatch.settings import get_settings
from classifiers.client import ServedModel
from streams.routing import route
from training.data import LANGUAGE_SOURCES, SHARED_SOURCES
from training.registry import BASE, Registry

MODEL_KEYS = {
    "sentiment": {
        "reviews_mr": ("acc",),
        "reviews_imdb": ("acc",),
        "finance_fpb": ("acc", "macro_f1"),
        "tweets_tweeteval": ("acc",),
        "tweets_airline": ("acc", "macro_f1"),
        "reviews_products": ("acc", "macro_f1"),
        "reviews_services": ("acc", "macro_f1"),
        "finance_tweets": ("acc", "macro_f1"),
        **{name: ("acc", "macro_f1") for names in LANGUAGE_SOURCES.values() for name in names},
    },
    "topic": {"news_agnews": ("acc",)},
}
PRETRAIN_KEYS = {
    "tokens": "tokens_seen",
    "hours": "hours",
    "tokens_per_s": "tokens_per_s",
    "heldout_perplexity": "heldout_perplexity",
}


def _negative_recall(metrics: dict) -> float:
    return round(metrics["per_class"]["negative"]["recall"], 4)


def quality_figures(
    task: str, metrics: dict, datasets: set[str] | None = None, behaviour: bool = True
) -> dict[str, float]:
    """Test-split and behaviour-suite figures of the model and its TF-IDF baseline, for what
    `metrics` holds (a model trained before a dataset or the suite existed has no figure for it);
    `datasets`: only these test splits (None: all); `behaviour`: the (English) suite's figures too."""
    figures: dict[str, float] = {}
    for dataset, names in MODEL_KEYS[task].items():
        if dataset in metrics["test"] and (datasets is None or dataset in datasets):
            for name in names:
                figures[f"model.{task}.{dataset}.{name}"] = round(metrics["test"][dataset][name], 4)
                figures[f"baseline.{dataset}.{name}"] = round(metrics["baseline_tfidf_lr"][dataset][name], 4)
    for prefix, key in ((f"behaviour.{task}", "behaviour"), ("baseline.behaviour", "baseline_behaviour")):
        if behaviour and (result := metrics.get(key)):
            figures.update({f"{prefix}.{group}.acc": round(v["acc"], 4) for group, v in result["groups"].items()})
            figures.update(
                {f"{prefix}.{group}.flip_rate": round(v["flip_rate"], 4) for group, v in result["invariance"].items()}
            )
            figures[f"{prefix}.invariance.max_flip_rate"] = round(result["max_flip_rate"], 4)
    return figures


def collect(registry: Registry) -> dict[str, float]:
    figures: dict[str, float] = {}
    for task in MODEL_KEYS:
        version = registry.current(task)
        if version is None:
            print(f"no current {task} model in {registry.root} (run `bloomwatch train --task {task}`): skipped")
            continue
        metrics = version.metrics
        scored = _splits_scored(registry, task)
        figures.update(quality_figures(task, metrics, scored.get(version.name, set())))
        for line in registry.lines(task)[1:]:
            other = registry.current(task, line)
            if other is not None:
                figures.update(quality_figures(task, other.metrics, scored.get(other.name, set()), behaviour=False))
                print(f"{task} line {line}: {other.path}")
        figures[f"train.{task}.minutes"] = round(metrics["timings"]["total_s"] / 60, 1)
        figures[f"finetune.{task}.minutes"] = round(metrics["timings"]["finetune_s"] / 60, 1)
        if task == "sentiment":
            figures["model.sentiment.tweets_tweeteval.negative_recall"] = _negative_recall(
                metrics["test"]["tweets_tweeteval"]
            )
            figures["baseline.tweets_tweeteval.negative_recall"] = _negative_recall(
                metrics["baseline_tfidf_lr"]["tweets_tweeteval"]
            )
            rates = [v for split in metrics["robustness"].values() for k, v in split.items() if k.startswith("flip_")]
            figures["robust.sentiment.max_flip_rate"] = round(max(rates), 4)
            figures["distill.teacher"] = _teacher_of(metrics)
            figures.update(distill_figures(metrics))
        print(f"{task}: {version.path}")
    base = registry.current(BASE)
    if base is not None:
        for key, name in PRETRAIN_KEYS.items():
            figures[f"pretrain.{key}"] = round(base.metrics[name], 4)
        print(f"base: {base.path}")
    return figures


def distill_figures(metrics: dict) -> dict:
    """The student's validation macro-F1 under its teacher's name (`none`: trained on labels alone),
    and the teacher's own where it was fine-tuned here."""
    distill, teacher = metrics.get("distill") or {}, _teacher_of(metrics)
    figures = {f"distill.{teacher}.val_macro_f1": round(metrics["val_best"]["val_macro_f1"], 4)}
    if distill.get("teacher_val_macro_f1") is not None:
        figures[f"distill.{teacher}.teacher_val_macro_f1"] = round(distill["teacher_val_macro_f1"], 4)
    return figures


def _teacher_of(metrics: dict) -> str:
    """The teacher a model was distilled from (metrics.json `distill`), `none` for labels alone."""
    return (metrics.get("distill") or {}).get("teacher", "none")


def _splits_scored(registry: Registry, task: str) -> dict[str, set[str]]:
    """Per current model of the task, the test splits whose language the worker routes to it."""
    models = tuple(
        ServedModel(version.name, frozenset(version.languages), line)
        for line in registry.lines(task)
        if (version := registry.current(task, line)) is not None
    )
    scored: dict[str, set[str]] = {}
    for name, spec in SHARED_SOURCES.items():
        if (model := route(models, spec.lang)) is not None:
            scored.setdefault(model, set()).add(name)
    return scored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--distill-run", type=Path, action="append", default=[], help="a distilled student's directory")
    args = parser.parse_args()
    figures = collect(Registry(get_settings().registry_dir))
    for run in args.distill_run:
        figures.update(distill_figures(json.loads((run / "metrics.json").read_text())))
        print(f"distillation run: {run}")
    if not figures:
        raise SystemExit("nothing to record")
    record(figures)


if __name__ == "__main__":
    main()
