"""Re-measuring a registered model on today's test splits and behaviour suite, beside TF-IDF
baselines fit on today's training mix.

A model's metrics.json holds the figures of the datasets and suite that existed when it was
trained. When datasets join the mix or the suite grows, this measures the model again without
retraining it; the baselines are fit on the mix the recipe samples now, so they are the bar the
next model trained on that mix has to clear.
"""

from __future__ import annotations

from pathlib import Path

from training.pipeline import TrainOptions, load_splits, options_mix
from training.registry import ModelVersion


def assess(
    version: ModelVersion, options: TrainOptions, data_dir: Path, baseline_cache: Path, *, progress: bool = False
) -> dict:
    """The model's test scores and behaviour-suite result, and the baselines', in metrics.json's layout;
    the baselines are read from `baseline_cache` when a training run (or an earlier assessment) fit them."""
    import torch
    from transformers import AutoTokenizer, BloomForSequenceClassification

    from bloomwatch.tasks import labels_for
    from training.baseline import cached_tfidf_baselines
    from training.behaviour import score_behaviour
    from training.evaluate import predict_proba, score
    from training.mix import by_source

    labels = labels_for(options.task)
    splits = load_splits(options, data_dir)
    train = options_mix(options, splits.train)
    tokenizer = AutoTokenizer.from_pretrained(version.path)
    model = BloomForSequenceClassification.from_pretrained(version.path, dtype=torch.float32)

    def predict(texts, desc="behaviour suite"):
        return predict_proba(
            model,
            tokenizer,
            texts,
            max_len=options.finetune.max_len,
            device=options.device,
            progress=progress,
            desc=desc,
        )

    test = {
        s: score([e.label for e in items], predict([e.text for e in items], f"test: {s}"), labels)
        for s, items in by_source(splits.test).items()
    }
    sentiment = options.task == "sentiment"
    baselines, baseline_behaviour = cached_tfidf_baselines(
        baseline_cache, train, splits.test, labels, seed=options.seed, behaviour=sentiment
    )
    return {
        "model": version.name,
        "test": test,
        "behaviour": score_behaviour(predict, labels) if sentiment else None,
        "baseline_tfidf_lr": baselines,
        "baseline_behaviour": baseline_behaviour,
        "baseline_train_counts": {s: len(items) for s, items in by_source(train).items()},
    }
