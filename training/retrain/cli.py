"""`bloomwatch retrain`: one run now, or `--schedule` (what `bloomwatch up` starts).

The process lowers its own priority and bounds its torch threads first, so a retrain on the
machine that runs the stream slows itself, not the documents flowing past.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

import httpx
import typer

if TYPE_CHECKING:
    from bloomwatch.setting_groups import RetrainSettings


def retrain(
    task: str = typer.Option(None, help="a task of bloomwatch/tasks.py [default: every task]"),
    schedule: bool = typer.Option(False, "--schedule", help="keep running: cron, new-label and drift triggers"),
    trigger: str = typer.Option("manual", help="recorded reason for a one-off run"),
    worker_url: str = typer.Option(None, help="embedded mode: the worker's API [default: BLOOMWATCH_WORKER_HOST/PORT]"),
    dry_run: bool = typer.Option(False, "--dry-run", help="train and gate, print the decision, promote nothing"),
) -> None:
    """Retrain from the current model on the new labels (LoRA + replay of its training data, or of
    the stored documents where that data is absent), gate both models on the same examples,
    promote or keep; every decision goes into the model_versions table (GET /api/model-versions).
    Embedded mode reads and records through the worker; with a ClickHouse server, directly."""
    from bloomwatch.settings import get_settings
    from bloomwatch.tasks import task as find_task
    from bloomwatch.tasks import task_names
    from training.registry import Registry
    from training.retrain.job import run_retrain
    from training.retrain.schedule import run_schedule
    from training.retrain.source import open_source

    tasks = (find_task(task).name,) if task else task_names()  # UnknownTask: one line naming the known tasks
    settings = get_settings()
    retrain = settings.retrain  # what the job reads; the source takes the store, access and the worker's URL
    lower_priority(retrain)
    os.environ["BLOOMWATCH_TORCH_THREADS"] = str(settings.retrain_threads)  # read by training.runtime
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    source = open_source(settings, worker_url)
    registry = Registry(settings.registry_dir)
    typer.echo(f"retrain: labels and audit via {source.where}; models in {registry.root}", err=True)
    if schedule:
        typer.echo(f"retrain: schedule {settings.retrain_cron!r}, checks every {settings.retrain_check_s:g}s", err=True)
        run_schedule(tasks, retrain, source, registry)
        return
    failed = False
    for name in tasks:
        try:
            row = run_retrain(name, trigger, settings=retrain, source=source, registry=registry, dry_run=dry_run)
        except httpx.TransportError as exc:  # expected when the worker is not up: one line, no traceback
            typer.echo(f"{name}: cannot reach {source.where} ({exc}); is `bloomwatch up` running?", err=True)
            raise typer.Exit(1) from None
        if row is None:
            typer.echo(f"{name}: another retraining run is in progress", err=True)
            failed = True
            continue
        typer.echo(f"{name}: {row['decision']} {row['version'] or '-'}: {row['reason']}")
        for line in gate_table(row["metrics"].get("gate", {})):
            typer.echo(f"  {line}")
        failed |= row["decision"] == "failed"
    if failed:
        raise typer.Exit(1)


def gate_table(figures: dict[str, dict]) -> list[str]:
    """The figures the gate decided on, one line per evaluation source (same examples for both)."""

    def acc(f: dict) -> str:
        return f"{f['acc']:.3f} [{f['ci95'][0]:.3f}, {f['ci95'][1]:.3f}]"

    lines = (
        [
            f"{'test':<18} {'n':>6}  {'current [95% CI]':<22} {'candidate [95% CI]':<22} {'drop [95% CI]':<24} worse/better  p(worse) p(better)"
        ]
        if figures
        else []
    )
    for source, f in sorted(figures.items()):
        drop = f"{f['drop']:+.3f} [{f['drop_ci95'][0]:+.3f}, {f['drop_ci95'][1]:+.3f}]"
        lines.append(
            f"{source:<18} {f['n']:>6}  {acc(f['current']):<22} {acc(f['candidate']):<22} {drop:<24} {f['worse']:>5}/{f['better']:<6} {f['p_worse']:>8.3g} {f['p_better']:>9.3g}"
        )
    return lines


def lower_priority(settings: RetrainSettings) -> None:
    """Before any thread starts (Linux threads inherit both from their creator): nice, and
    SCHED_IDLE where the settings ask for it and the OS has it."""
    os.nice(settings.retrain_nice)
    if settings.retrain_sched_idle and hasattr(os, "SCHED_IDLE"):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
