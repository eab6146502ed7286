"""Scaling table: what more pre-training (and a bigger model) buys downstream.

Each point is a pre-trained base (a snapshot that `bloomwatch pretrain --snapshot-tokens` kept, or a
registered base) fine-tuned with one fixed, reduced protocol so points compare with each other:
2,000 examples per sentiment dataset and all 6,080 topic examples, 2 epochs, full fine-tuning,
96 tokens, the same seed. The reduced protocol scores below the full default run; the table is
about the slope, not the level. Writes bench/scaling.json and bench/scaling.png.

    python bench/scaling.py POINT [POINT ...]     # POINT = label=preset:tokens:path-to-base-dir
    python bench/scaling.py --plot-only           # redraw the PNG from bench/scaling.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
TABLE = HERE / "scaling.json"
PLOT = HERE / "scaling.png"
TOKEN_TICKS_M = (0.5, 1, 2, 5, 10, 20, 40)
SPLITS = {"sentiment": ("reviews_mr", "reviews_imdb", "finance_fpb", "tweets_tweeteval"), "topic": ("news_agnews",)}


def _with_tokenizer(base: Path, scratch: Path) -> Path:
    """Snapshots hold weights only; the run directory above them holds the tokenizer."""
    if (base / "tokenizer.json").exists():
        return base
    out = scratch / base.name
    if out.exists():
        return out
    shutil.copytree(base, out)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(base.parent.parent / name, out / name)
    return out


def fine_tune_point(base: Path, scratch: Path) -> dict[str, float]:
    from training.finetune import FinetuneConfig
    from training.pipeline import TrainOptions, train_task
    from training.registry import Registry

    registry = Registry(scratch / "models")
    scores: dict[str, float] = {}
    for task, splits in SPLITS.items():
        options = TrainOptions(
            task=task, base=str(_with_tokenizer(base, scratch)), baseline=False, promote=False, progress=False,
            max_per_source={s: 2000 for s in splits} if task == "sentiment" else {},
            finetune=FinetuneConfig(epochs=2, batch_size=32, lr=4e-4, max_len=96, patience=3),
        )  # fmt: skip
        version = train_task(options=options, registry=registry, home=scratch)
        for split in splits:
            scores[f"{split}.acc"] = round(version.metrics["test"][split]["acc"], 4)
    return scores


def plot(rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    splits = [s for task in SPLITS.values() for s in task]
    fig, axes = plt.subplots(1, len(splits), figsize=(3.2 * len(splits), 3.2), sharex=True)
    for ax, split in zip(axes, splits, strict=True):
        for preset in sorted({r["preset"] for r in rows}):
            points = sorted((r["tokens"], r["scores"][f"{split}.acc"]) for r in rows if r["preset"] == preset)
            ax.plot([p[0] / 1e6 for p in points], [p[1] for p in points], marker="o", label=preset)
        ax.set_title(split, fontsize=10)
        ax.set_xscale("log")  # the budgets span 0.5 M to 35 M tokens
        ax.set_xticks(TOKEN_TICKS_M, [f"{t:g}" for t in TOKEN_TICKS_M])
        ax.minorticks_off()
        ax.set_xlabel("pre-training tokens (M, log scale)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy (reduced fine-tune)")
    axes[-1].legend(title="preset")
    fig.tight_layout()
    fig.savefig(PLOT, dpi=110)
    print(f"plot: {PLOT}")


def _read_table() -> list[dict]:
    """Read afresh before each write, so points run in parallel processes keep each other's rows."""
    return json.loads(TABLE.read_text()) if TABLE.exists() else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("points", nargs="*", help="label=preset:tokens:base-dir")
    parser.add_argument("--plot-only", action="store_true")
    args = parser.parse_args()
    rows = _read_table()
    for point in args.points:
        label, spec = point.split("=", 1)
        preset, tokens, path = spec.split(":", 2)
        started = time.time()
        with tempfile.TemporaryDirectory() as scratch:
            scores = fine_tune_point(Path(path), Path(scratch))
        rows = [r for r in _read_table() if r["label"] != label]
        rows.append(
            {
                "label": label,
                "preset": preset,
                "tokens": int(float(tokens)),
                "scores": scores,
                "minutes": round((time.time() - started) / 60, 1),
            }
        )
        TABLE.write_text(json.dumps(rows, indent=2) + "\n")
        print(label, json.dumps(scores))
    if rows:
        plot(rows)


if __name__ == "__main__":
    main()
