"""The end-of-run summary: the model next to its starting point and the TF-IDF baseline, per dataset."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from training.registry import ModelVersion


def print_summary(console: Console, version: ModelVersion, metrics: dict, promoted: bool) -> None:
    table = Table(title=f"{version.name} — test split", show_lines=False)
    for column in ("dataset", "row", "n", "accuracy", "macro-F1", "ECE"):
        table.add_column(column, justify="left" if column in ("dataset", "row") else "right")
    rows = (
        ("model", "test"),
        ("before fine-tuning", "before_finetuning"),
        ("TF-IDF + LR baseline", "baseline_tfidf_lr"),
    )
    for source in metrics["test"]:
        for name, key in rows:
            m = (metrics.get(key) or {}).get(source)
            if m:
                style = "bold" if key == "test" else None
                table.add_row(
                    source, name, str(m["n"]), f"{m['acc']:.4f}", f"{m['macro_f1']:.4f}", f"{m['ece']:.3f}", style=style
                )
        table.add_section()
    if metrics["test"]:  # a retrain without training data has no test splits of its own
        console.print(table)
    timings = metrics.get("timings", {})
    if timings:
        console.print("time: " + ", ".join(f"{k[:-2]} {v / 60:.1f} min" for k, v in timings.items()))
    console.print(
        f"registered [bold]{version.name}[/] at [bold]{version.path}[/]" + (" (now current)" if promoted else "")
    )
