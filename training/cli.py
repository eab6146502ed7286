"""`bloomwatch train` and `bloomwatch models ...` (heavy libraries are imported inside commands)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

models_app = typer.Typer(help="Inspect and promote registered models.", no_args_is_help=True)


def _registry():
    from bloomwatch.settings import get_settings
    from training.registry import Registry

    return Registry(get_settings().registry_dir)


def train(
    task: str = typer.Option(
        ..., help="a task of bloomwatch/tasks.py: sentiment | topic | one of BLOOMWATCH_TASKS_FILE"
    ),
    preset: str = typer.Option(
        "compact", help="BLOOM size preset for from-scratch training (tiny | compact | small | base)"
    ),
    base: str = typer.Option(None, help="start from a checkpoint instead: bigscience/bloom-560m or a local HF dir"),
    method: str = typer.Option("full", help="full | lora | adalora | prefix"),
    data: Path = typer.Option(None, help="a labelled .jsonl/.csv file instead of the shared splits (split 80/10/10)"),
    text_field: str = typer.Option("text", help="text column/field of --data"),
    label_field: str = typer.Option("label", help="label column/field of --data"),
    extra_corpus: list[Path] = typer.Option([], help="extra unlabelled text (one document a line) for pre-training"),
    augment: str = typer.Option(None, help="augmentation operations, comma-separated: swap,delete,insert,hedge"),
    augment_copies: int = typer.Option(1, help="augmented copies per training example"),
    augment_p: float = typer.Option(0.1, help="share of words each operation touches"),
    augment_share: float = typer.Option(
        None, help="share of training examples that get augmented copies (default 1, or the task default)"
    ),
    fgm_eps: float = typer.Option(
        None, help="FGM adversarial training on word embeddings (0 = off; default: the task default, topic 0.1)"
    ),
    consistency: float = typer.Option(
        None, help="weight of the loss pulling each augmented copy's prediction to its original's (0 = off)"
    ),
    teacher: str = typer.Option(
        None,
        help="distil: minilm (all-MiniLM-L6-v2 fine-tuned on the mix; the teacher extra), or this registered version (current, v6, ...) with a TF-IDF baseline, soft-labels unlabelled in-domain text to train on (cached)",
    ),
    teacher_per_file: int = typer.Option(
        None,
        help="unlabelled texts the teacher labels per file (default 2000; reviews, product reviews, social, finance)",
    ),
    distill_weight: float = typer.Option(
        None, help="weight of each teacher-labelled example's loss against a labelled example's (default 1)"
    ),
    skip_invalid: bool = typer.Option(False, help="skip (and report) invalid rows instead of failing"),
    epochs: int = typer.Option(None, help="fine-tuning epochs"),
    lr: float = typer.Option(None, help="fine-tuning learning rate"),
    batch_size: int = typer.Option(None, help="fine-tuning batch size"),
    grad_accum: int = typer.Option(None, help="gradient accumulation steps"),
    max_len: int = typer.Option(None, help="max tokens per text"),
    patience: int = typer.Option(None, help="early-stopping patience (validation evaluations)"),
    class_weights: bool = typer.Option(False, help="balanced class weights in the loss"),
    mask_absent_labels: bool = typer.Option(
        False, help="score polarity-set examples (reviews_mr, reviews_imdb) over negative/positive only"
    ),
    dropout: float = typer.Option(None, help="hidden and attention dropout"),
    pretrain_steps: int = typer.Option(None, help="causal-LM pre-training steps"),
    vocab_size: int = typer.Option(None, help="tokenizer vocabulary (default: the preset's)"),
    languages: str = typer.Option(
        "", help="also train on the labelled sets of these languages, e.g. zh,de,es,fr (sentiment only)"
    ),
    max_train_examples: int = typer.Option(None, help="subsample the training set (quick runs)"),
    leave_out: list[str] = typer.Option(
        [], help="train and validate without this dataset, still score its test split (transfer to unseen text)"
    ),
    time_budget_min: float = typer.Option(
        None, help="wall-clock budget for the whole run (default: 20 min; fine-tuning stops early to meet it)"
    ),
    checkpoint_dir: str = typer.Option(
        None,
        help="save fine-tuning state here at every validation; the same command again continues from it (for runs longer than one budget)",
    ),
    quantize: bool = typer.Option(
        False, help="also export int8 dynamic-quantised weights and record the accuracy delta"
    ),
    no_promote: bool = typer.Option(False, help="register without making it current"),
    fast: bool = typer.Option(False, help="few-minute demo run: tiny preset, small data"),
    seed: int = typer.Option(None, help="random seed (default: settings.seed)"),
    device: str = typer.Option(None, help="cpu | cuda (default: cuda if present)"),
) -> None:
    """Train, evaluate and register a classifier; prints the summary table and the model path."""
    from bloomwatch.settings import get_settings
    from bloomwatch.tasks import task as find_task
    from training.defaults import default_options
    from training.pipeline import fast_options, train_task

    find_task(task)  # UnknownTask: one line naming the known tasks, before anything loads
    options = fast_options(task) if fast else default_options(task, preset)
    overrides = {
        "base": base,
        "data_file": data,
        "text_field": text_field,
        "label_field": label_field,
        "extra_corpus": list(extra_corpus),
        "augment": augment,
        "augment_copies": augment_copies,
        "augment_p": augment_p,
        "augment_share": augment_share,
        "skip_invalid": skip_invalid,
        "dropout": dropout,
        "vocab_size": vocab_size,
        "max_train_examples": max_train_examples,
        "leave_out": list(leave_out) or None,
        "languages": _language_codes(languages) or None,
        "time_budget_min": time_budget_min,
        "quantize": quantize,
        "promote": not no_promote,
        "teacher": teacher,
        "teacher_per_file": teacher_per_file,
        "seed": seed if seed is not None else get_settings().seed,
        "device": device,
    }
    for key, value in overrides.items():
        if value is not None:
            setattr(options, key, value)
    ft = {
        "method": method,
        "epochs": epochs,
        "lr": lr,
        "batch_size": batch_size,
        "grad_accum": grad_accum,
        "max_len": max_len,
        "patience": patience,
        "fgm_eps": fgm_eps,
        "consistency": consistency,
        "checkpoint_dir": checkpoint_dir,
        "distill_weight": distill_weight,
    }
    for key, value in ft.items():
        if value is not None:
            setattr(options.finetune, key, value)
    options.finetune.class_weights = options.finetune.class_weights or class_weights
    options.finetune.mask_absent_labels = mask_absent_labels
    if pretrain_steps is not None:
        options.pretrain.steps = pretrain_steps
    options.pretrain.seed = options.seed
    train_task(options=options)


def pretrain(
    preset: str = typer.Option("compact", help="BLOOM size preset (tiny | compact | small | base)"),
    max_tokens: float = typer.Option(
        6e6, help="tokens the base will have seen in all; sets the learning-rate schedule"
    ),
    continue_from: str = typer.Option(
        None, help="keep pre-training this registered base version (e.g. v1) up to --max-tokens, with a fresh warm-up"
    ),
    time_budget_min: float = typer.Option(
        None, help="stop after this many minutes (checkpointed: run again to continue)"
    ),
    seq_len: int = typer.Option(128, help="tokens per packed block"),
    batch_size: int = typer.Option(32, help="blocks per step"),
    lr: float = typer.Option(2e-3, help="peak learning rate (AdamW, warm-up then linear decay)"),
    vocab_size: int = typer.Option(
        None, help="tokenizer vocabulary (default: the preset's; 20000 with --languages, for ~3-4k Chinese characters)"
    ),
    languages: str = typer.Option(
        "",
        help="other languages to read besides English, e.g. zh,de,es,fr (their corpora; cased multilingual tokenizer)",
    ),
    extra: list[Path] = typer.Option([], help="more unlabelled text files (one document a line)"),
    snapshot_tokens: str = typer.Option(
        "", help="also keep the model at these token counts, e.g. 1e6,2e6 (scaling table)"
    ),
    checkpoint_every_s: float = typer.Option(
        300.0, help="seconds between checkpoints (a killed run resumes from the last)"
    ),
    seed: int = typer.Option(None, help="random seed (default: settings.seed)"),
    device: str = typer.Option(None, help="cpu | cuda (default: cuda if present)"),
) -> None:
    """Pre-train the domain base on the unlabelled corpus (resumable) and register it as models/base/<version>."""
    language_codes = _language_codes(languages)  # before the slow imports: a typo fails at once
    from rich.console import Console

    from bloomwatch.settings import get_settings
    from training.base_model import PretrainOptions, run_pretraining
    from training.runtime import configure_threads

    settings = get_settings()
    console = Console(stderr=True)
    console.print(f"torch threads: {configure_threads()}")
    options = PretrainOptions(
        preset=preset, vocab_size=vocab_size, max_tokens=int(max_tokens), time_budget_min=time_budget_min,
        seq_len=seq_len, batch_size=batch_size, lr=lr, extra_files=list(extra),
        snapshot_tokens=[int(float(t)) for t in snapshot_tokens.split(",") if t.strip()], checkpoint_every_s=checkpoint_every_s,
        seed=seed if seed is not None else settings.seed, device=device, continue_from=continue_from,
        languages=language_codes,
    )  # fmt: skip
    run_pretraining(options, data_dir=settings.data_dir, home=settings.home, registry=_registry(), console=console)


def _language_codes(value: str) -> list[str]:
    """`zh,de` -> ["de", "zh"]; English is always read, so `en` adds nothing."""
    from training.data import LANGUAGE_SOURCES

    codes = sorted({code.strip().lower() for code in value.split(",") if code.strip()} - {"en"})
    unknown = [code for code in codes if code not in LANGUAGE_SOURCES]
    if unknown:
        raise typer.BadParameter(
            f"no corpus for {', '.join(unknown)}; known: en, {', '.join(sorted(LANGUAGE_SOURCES))}",
            param_hint="--languages",
        )
    return codes


@models_app.command("list")
def list_models(
    task: str = typer.Option(None, help="only this task"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object per version instead of a table"),
) -> None:
    """Registered versions per task (and pre-trained bases), with headline figures; `current` names the
    lines a version is current on (`*`: the main line)."""
    from rich.table import Table

    from bloomwatch.output import print_table
    from bloomwatch.tasks import task_names
    from training.registry import BASE

    registry = _registry()
    rows = []
    for t in [task] if task else (BASE, *task_names()):
        current = registry.current_versions(t)
        for v in registry.versions(t):
            accs = ", ".join(f"{s} {m['acc']:.3f}" for s, m in v.test_scores.items())
            if t == BASE:
                accs = f"held-out perplexity {v.metrics.get('heldout_perplexity', float('nan')):.1f} after {v.metrics.get('tokens_seen', 0):,} tokens"
            base = v.manifest.get("base", {})
            base_name = base.get("name") or base.get("preset") if isinstance(base, dict) else str(base)
            lines = [line or "*" for line, version in current.items() if version == v.version]
            rows.append({"task": t, "version": v.version, "current": ",".join(lines), "method": str(v.manifest.get("method", "")),
                         "base": str(base_name), "languages": ",".join(v.languages), "created": str(v.manifest.get("created_at", "")),
                         "headline": accs})  # fmt: skip
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row))
        return
    table = Table(title=f"models in {registry.root}")
    for column in (
        "task",
        "version",
        "current",
        "method",
        "base",
        "languages",
        "created",
        "headline (test accuracy; base: perplexity)",
    ):
        table.add_column(column)
    for row in rows:
        table.add_row(*row.values())
    print_table(table, whole=("task", "version"))


@models_app.command("show")
def show_model(task: str, version: str = typer.Argument(None, help="default: current")) -> None:
    """Languages it reads, manifest (training config, data fingerprints, timestamps) and metrics of one version."""
    from training.registry import UnknownModel

    registry = _registry()
    v = registry.get(task, version) if version else registry.current(task)
    if v is None:
        raise UnknownModel(f"no current {task} model in {registry.root}")
    # `languages` as read (a manifest older than the field has none and reads English)
    shown = {"path": str(v.path), "languages": list(v.languages), "manifest": v.manifest, "metrics": v.metrics}
    typer.echo(json.dumps(shown, indent=2))


_LINE_HELP = (
    "a named line of the task (e.g. multilingual): a second model served beside the main line's, "
    "for the languages the main line's model does not read (default: the main line)"
)


@models_app.command("promote")
def promote_model(task: str, version: str, line: str = typer.Option("", help=_LINE_HELP)) -> None:
    """Make `version` the current model of `task` on a line (classifier servers hot-reload it; a
    line promoted for the first time is served after the task's server restarts)."""
    v = _registry().promote(task, version, line)
    typer.echo(f"{v.name} is now current{' on line ' + line if line else ''}: {v.path}")


@models_app.command("rollback")
def rollback_model(task: str, line: str = typer.Option("", help=_LINE_HELP)) -> None:
    """Undo the latest promotion of `task` on a line: the previous current model serves again (hot
    reload); the decision is recorded in model_versions (through the worker in embedded mode)."""
    registry = _registry()
    undone = registry.current_version_name(task, line)
    v = registry.rollback(task, line)  # nothing to roll back to: one line, before the slow imports below
    typer.echo(f"{v.name} is current again{' on line ' + line if line else ''}: {v.path}")

    from contextlib import closing

    import httpx
    from clickhouse_connect.driver.exceptions import ClickHouseError

    from bloomwatch.settings import get_settings
    from training.retrain.job import rollback_row
    from training.retrain.source import open_source

    try:
        with closing(open_source(get_settings())) as source:
            source.record(rollback_row(task, undone=undone or "", restored=v.version))
    except (httpx.HTTPError, ClickHouseError) as exc:
        typer.echo(
            f"warning: the rollback is not in model_versions: the worker or ClickHouse did not answer ({exc})", err=True
        )


def register(app: typer.Typer) -> None:
    """Attach this package's commands to the root CLI."""
    from training.retrain.cli import retrain

    app.command("train")(train)
    app.command("retrain")(retrain)
    app.command("pretrain")(pretrain)
    app.add_typer(models_app, name="models")
