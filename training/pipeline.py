"""One training run end to end: data -> base model -> fine-tune -> evaluate -> register.

From-scratch runs first build a base (tokenizer + causal-LM pre-training, see `base_model.py`)
and save it as an HF directory; `--base <dir or hub id>` supplies one instead. Either way the
rest is one code path: `from_pretrained` of that directory.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from bloomwatch.tasks import labels_for
from training.augment import augment_examples, parse_ops
from training.behaviour_suite import assert_not_trained_on
from training.data import (
    Example,
    LoadReport,
    MissingData,
    SourceSpec,
    fingerprint,
    label_counts,
    load_file,
    load_shared,
    shared_available,
    split_examples,
    task_sources,
)
from training.encoder_teacher import NAME as MINILM
from training.encoder_teacher import minilm_teacher
from training.finetune import MERGEABLE, FinetuneConfig
from training.languages import training_languages
from training.mix import by_source as _by_source
from training.mix import subsample as _subsample
from training.mix import training_mix
from training.modeling import expect_new_classification_head
from training.pretrain import PretrainConfig
from training.registry import ModelVersion, Registry, UnknownModel
from training.teacher import PER_FILE as TEACHER_PER_FILE
from training.teacher import EnsembleTeacher, SoftExample, Teacher

if TYPE_CHECKING:
    import numpy as np

console = Console(stderr=True)


@dataclass
class TrainOptions:
    task: str
    preset: str = "compact"
    base: str | None = None
    method: str = "full"
    data_file: Path | None = None
    text_field: str = "text"
    label_field: str = "label"
    extra_corpus: list[Path] = field(default_factory=list)
    augment: str | None = None
    augment_copies: int = 1
    augment_p: float = 0.1
    augment_share: float = 1.0  # of the training examples that get augmented copies
    skip_invalid: bool = False
    dropout: float = 0.1
    vocab_size: int | None = None  # default: the preset's
    max_train_examples: int | None = None
    # cap per dataset (e.g. reviews_imdb's 22k full reviews would take most of the time budget)
    max_per_source: dict[str, int] = field(default_factory=dict)
    # temperature sampling across datasets (training/mix.py): this many training examples in all,
    # dataset i's share proportional to its size ** mix_alpha; None = every example
    mix_total: int | None = None
    mix_alpha: float = 0.5
    max_val_per_source: int | None = None  # validation runs several times a run: its cost is bounded
    # datasets kept out of training and validation but scored on test: how the model transfers
    # to text unlike anything it was trained on (a leave-one-dataset-out run)
    leave_out: list[str] = field(default_factory=list)
    # languages other than English whose labelled sets join the shared mix (sentiment: zh, de, es, fr)
    languages: list[str] = field(default_factory=list)
    # a registered version of the task's model ("current", "v6") that, with a TF-IDF baseline fit on the
    # training mix, soft-labels unlabelled in-domain text for the student to learn from (training/teacher.py)
    teacher: str | None = None
    teacher_per_file: int = TEACHER_PER_FILE
    # languages the model already reads (a retrain's parent's): the manifest lists them beside its training texts'
    inherit_languages: list[str] = field(default_factory=list)
    baseline: bool = True
    time_budget_min: float | None = None  # whole run; fine-tuning stops early (best kept) to meet it
    quantize: bool = False
    promote: bool = True
    fast: bool = False
    seed: int = 13
    device: str | None = None
    progress: bool = True
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)


def fast_options(task: str, **overrides) -> TrainOptions:
    """A few-minute run on a tiny model: what `bloomwatch up` trains when the registry is empty."""
    options = TrainOptions(
        task=task,
        preset="tiny",
        max_train_examples=1500,
        # IMDB's 22k long reviews would be ~60 % of the sample: the demo model would learn "long
        # means opinionated, short means neutral" and call the demo's short reviews neutral
        max_per_source={"reviews_imdb": 300},
        baseline=False,
        fast=True,
        pretrain=PretrainConfig(steps=200, seq_len=64, batch_size=16, lr=3e-3),
        finetune=FinetuneConfig(epochs=4, batch_size=32, lr=3e-3, max_len=64, patience=2),
    )
    for key, value in overrides.items():
        setattr(options, key, value)
    return options


@dataclass
class Splits:
    train: list[Example]
    val: list[Example]
    test: list[Example]
    origin: str
    reports: list[LoadReport]


def load_splits(options: TrainOptions, data_dir: Path) -> Splits:
    """The user's file (split 80/10/10), else the shared splits, else (fast mode) the built-in corpus."""
    if options.data_file:
        spec = SourceSpec(Path(options.data_file).stem, options.text_field, options.label_field)
        report = load_file(options.data_file, options.task, spec, skip_invalid=options.skip_invalid)
        parts = split_examples(report.examples, seed=options.seed)
        return Splits(parts["train"], parts["val"], parts["test"], str(options.data_file), [report])
    if shared_available(data_dir, options.task, options.languages):
        loaded = {
            s: load_shared(data_dir, options.task, s, skip_invalid=options.skip_invalid, languages=options.languages)
            for s in ("train", "val", "test")
        }
        flat = {s: [e for r in reports for e in r.examples] for s, reports in loaded.items()}
        return Splits(
            flat["train"], flat["val"], flat["test"], str(data_dir), [r for rs in loaded.values() for r in rs]
        )
    if options.fast:
        from training.synthetic import synthetic_examples

        parts = split_examples(
            synthetic_examples(options.task, languages=("en", *options.languages)), seed=options.seed
        )
        return Splits(parts["train"], parts["val"], parts["test"], "built-in synthetic corpus", [])
    raise MissingData(
        f"no training data: {data_dir} lacks the shared splits for {options.task} "
        f"({', '.join(task_sources(options.task, options.languages)) or 'none for this task'}); pass --data FILE or set BLOOMWATCH_DATA_DIR"
    )


def options_mix(options: TrainOptions, train: list[Example]) -> list[Example]:
    """The examples a run of `options` trains on, out of the train split (also what an assessment's
    baselines are fit on, so they match the run's)."""
    return training_mix(
        train,
        mix_total=options.mix_total,
        mix_alpha=options.mix_alpha,
        max_per_source=options.max_per_source,
        max_train_examples=options.max_train_examples,
        seed=options.seed,
    )


def splits_available(options: TrainOptions, data_dir: Path) -> bool:
    """Whether `load_splits` finds its data on this machine (a fresh deployment has no shared splits)."""
    if options.data_file:
        return Path(options.data_file).exists()
    return shared_available(data_dir, options.task, options.languages) or options.fast


def train_task(
    task: str | None = None,
    *,
    options: TrainOptions | None = None,
    fast: bool = False,
    registry: Registry | None = None,
    data_dir: Path | None = None,
    home: Path | None = None,
    splits: Splits | None = None,
) -> ModelVersion:
    """Train, evaluate and register a classifier for `task`; returns the registered version.

    `train_task("sentiment", fast=True)` is the few-minute bootstrap used when the registry is
    empty; it works without the shared data (built-in synthetic corpus). `splits` replaces the
    data loading (the retraining job passes new labels + replay, and fixed tests + holdout).
    """
    import torch
    from transformers import AutoTokenizer, BloomForSequenceClassification

    from bloomwatch.settings import get_settings
    from training.base_model import build_base
    from training.evaluate import predict_proba, score
    from training.finetune import finetune, merge_for_serving
    from training.report import print_summary
    from training.runtime import configure_threads, seed_everything

    if options is None:
        if task is None:
            raise ValueError("train_task needs a task or options")
        options = fast_options(task) if fast else TrainOptions(task=task)
    settings = get_settings()
    data_dir = Path(data_dir or settings.data_dir)
    home = Path(home or settings.home)
    registry = registry or Registry(settings.registry_dir)
    labels = labels_for(options.task)
    console.print(f"torch threads: {configure_threads()}")
    seed_everything(options.seed)
    started = time.time()
    timings: dict[str, float] = {}

    splits = splits or load_splits(options, data_dir)
    for report in splits.reports:
        console.print(f"[dim]data[/] {report.summary()}")
        for problem in report.skipped[:5]:
            console.print(f"  [yellow]skipped[/] {problem}")
    if options.leave_out:
        unknown = set(options.leave_out) - {e.source for e in splits.test}
        if unknown:
            raise ValueError(f"--leave-out {sorted(unknown)}: no such dataset in {splits.origin}")
        kept = lambda examples: [e for e in examples if e.source not in options.leave_out]  # noqa: E731
        splits = replace(splits, train=kept(splits.train), val=kept(splits.val))
    train = options_mix(options, splits.train)
    val = [
        e
        for items in _by_source(splits.val).values()
        for e in _subsample(items, options.max_val_per_source, options.seed)
    ]
    console.print(
        f"train {len(train)} {label_counts(train)} | val {len(val)} | test {len(splits.test)}  ({splits.origin})"
    )

    baselines: dict[str, dict] = {}
    baseline_behaviour = None
    if options.baseline:
        from training.baseline import cached_tfidf_baselines

        t = time.time()
        baselines, baseline_behaviour = cached_tfidf_baselines(
            home / "cache" / "baselines",
            train,
            splits.test,
            labels,
            seed=options.seed,
            behaviour=options.task == "sentiment",
        )
        timings["baseline_s"] = time.time() - t

    t = time.time()
    base_dir, base_info = build_base(options, train, home, console, registry)
    timings["base_s"] = time.time() - t

    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    expect_new_classification_head()
    model = BloomForSequenceClassification.from_pretrained(
        base_dir,
        # fp32 master weights whatever the checkpoint stores (bloom-560m and the shipped base are
        # half precision on disk; transformers would otherwise train in that dtype)
        dtype=torch.float32,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        hidden_dropout=options.dropout,
        attention_dropout=options.dropout,
        use_safetensors=True,
        trust_remote_code=False,
    )
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id

    def evaluate(m, examples: list[Example], what: str) -> dict[str, dict]:
        out = {}
        for source, items in _by_source(examples).items():
            probs = predict_proba(
                m,
                tokenizer,
                [e.text for e in items],
                max_len=options.finetune.max_len,
                device=options.device,
                progress=options.progress,
                desc=f"{what}: {source}",
            )
            out[source] = score([e.label for e in items], probs, labels)
        return out

    # the untrained head's score: a reference point only, on a bounded sample
    before = evaluate(
        model,
        [e for items in _by_source(splits.test).values() for e in _subsample(items, 500, options.seed)],
        "before fine-tuning",
    )

    ops = parse_ops(options.augment)
    train_set, origin = augment_examples(
        train, ops, copies=options.augment_copies, p=options.augment_p, share=options.augment_share, seed=options.seed
    )
    if ops:
        console.print(f"augmentation {ops}: {len(train)} -> {len(train_set)} training examples")
    if options.task == "sentiment":
        assert_not_trained_on(train_set)
    soft: list[SoftExample] = []
    distill = None
    if options.teacher:
        from training.teacher import teacher_labels

        t = time.time()
        cache = home / "cache" / "teacher"
        teacher = _teacher(options.teacher, options, registry, train, splits.val, labels, cache)
        soft, labels_file = teacher_labels(teacher, splits.val + splits.test, labels, data_dir=data_dir, cache_dir=cache,
                                           per_file=options.teacher_per_file, log=console.print)  # fmt: skip
        timings["teacher_s"] = time.time() - t
        distill = {
            "teacher": teacher.name,
            "teacher_val_macro_f1": teacher.val_macro_f1,
            "soft_examples": len(soft),
            "weight": options.finetune.distill_weight,
            "labels_file": str(labels_file),
        }

    # measured before fine-tuning: a run that cannot measure them fails in seconds, not after hours of training
    read = training_languages(
        [e.text for e in train] + [s.text for s in soft], seed=options.seed, inherited=options.inherit_languages
    )
    console.print(f"languages of the training texts: {', '.join(read.languages) or 'none determined'}")

    t = time.time()
    options.finetune.seed = options.seed
    if options.time_budget_min:
        # leave room for the test evaluation, merging and saving (about a minute on 2 cores)
        options.finetune.time_limit_s = max(60.0, options.time_budget_min * 60 - (time.time() - started) - 90)
    if options.finetune.checkpoint_dir:
        console.print(
            f"fine-tuning checkpoints: {options.finetune.checkpoint_dir} (run the same command again to continue; the LR follows the steps, not the clock)"
        )
    result = finetune(
        model,
        tokenizer,
        train_set,
        val,
        labels,
        options.finetune,
        device=options.device,
        progress=options.progress,
        origin=origin,
        soft=soft,
    )
    if result.resumed_at_step is not None:
        console.print(
            f"continued from step {result.resumed_at_step}; fine-tuning so far {result.seconds / 60:.1f} min over every sitting"
        )
    timings["finetune_s"] = time.time() - t
    servable = options.finetune.method in MERGEABLE
    model = merge_for_serving(result.model, options.finetune.method) if servable else result.model

    t = time.time()
    test_metrics = evaluate(model, splits.test, "test")
    robust, behaviour = {}, None
    if options.task == "sentiment" and splits.test:  # a retrain passes no test: its gate scores the suite
        from training.behaviour import behaviour_summary, score_behaviour
        from training.robustness import robustness

        def predict(texts: Sequence[str]) -> np.ndarray:
            return predict_proba(model, tokenizer, texts, max_len=options.finetune.max_len, device=options.device)

        behaviour = score_behaviour(predict, labels)
        console.print(f"behaviour suite: {behaviour_summary(behaviour)}")
        for source, items in _by_source(splits.test).items():
            sample = _subsample(items, 1000, options.seed)
            robust[source] = robustness(predict, [e.text for e in sample], [e.label for e in sample], labels)
        if robust:
            console.print(f"robustness (flip rates, negative recall): {json.dumps(robust)}")
    timings["eval_s"] = time.time() - t

    quantized: dict | None = None
    q_model = None
    if options.quantize and servable:
        from training.quantize import quantize_int8

        q_model = quantize_int8(model)
        q_metrics = evaluate(q_model, splits.test, "int8 test")
        quantized = {
            s: {"acc": q_metrics[s]["acc"], "acc_delta": q_metrics[s]["acc"] - test_metrics[s]["acc"]}
            for s in q_metrics
        }
        console.print(f"int8 dynamic quantisation: {json.dumps(quantized)}")
    timings["total_s"] = time.time() - started

    metrics = {
        "test": test_metrics,
        "before_finetuning": before,
        "robustness": robust,
        "behaviour": behaviour,
        "baseline_tfidf_lr": baselines,
        "baseline_behaviour": baseline_behaviour,
        "val_best": result.best_eval,
        "val_history": result.evals,
        "stopped_early": result.stopped_early,
        "stopped_by_time_limit": result.stopped_by_time_limit,
        "int8": quantized,
        "distill": distill,
        "timings": timings,
    }
    all_examples = splits.train + splits.val + splits.test
    manifest = {
        "languages": read.languages,
        "base": base_info,
        "method": options.finetune.method,
        "servable": servable,
        "training_config": _jsonable(options),
        "data": {
            "origin": splits.origin,
            "fingerprints": {s: fingerprint(getattr(splits, s)) for s in ("train", "val", "test")},
            "sources": sorted({e.source for e in all_examples}),
            "train_label_counts": label_counts(train),
            "reports": [r.summary() for r in splits.reports],
            "skipped_invalid": sum(len(r.skipped) for r in splits.reports),
            "duplicates_removed": sum(r.duplicates for r in splits.reports),
            "languages": read.record(),
        },
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }

    def save(directory: Path) -> None:
        model.save_pretrained(str(directory), safe_serialization=True)
        tokenizer.save_pretrained(directory)
        if q_model is not None:
            from training.quantize import save_int8

            save_int8(q_model, directory)

    promote = options.promote and servable
    version = registry.register(options.task, save, manifest=manifest, metrics=metrics, promote=promote)
    if not servable:
        console.print(
            f"[yellow]{options.finetune.method} cannot be merged into the base weights: registered, not promoted (not servable)[/]"
        )
    print_summary(console, version, metrics, promote)
    return version


def _teacher(
    name: str,
    options: TrainOptions,
    registry: Registry,
    train: list[Example],
    val: list[Example],
    labels: tuple[str, ...],
    cache: Path,
) -> Teacher:
    """`--teacher minilm`: the pre-trained encoder fine-tuned on the mix; any other value names the
    registered BLOOM ("current", "v6") that, with the TF-IDF baseline, forms the ensemble teacher."""
    if name == MINILM:
        return minilm_teacher(train, val, labels, cache_dir=cache, seed=options.seed, device=options.device,
                              progress=options.progress, log=console.print)  # fmt: skip
    version = registry.current(options.task) if name == "current" else registry.get(options.task, name)
    if version is None:
        raise UnknownModel(f"--teacher current: no current {options.task} model in {registry.root}")
    return EnsembleTeacher(version, train, labels, max_len=options.finetune.max_len, seed=options.seed,
                           device=options.device, progress=options.progress, log=console.print)  # fmt: skip


def _jsonable(options: TrainOptions) -> dict:
    data = asdict(options)
    return json.loads(json.dumps(data, default=str))
