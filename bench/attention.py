"""The embedded engine's fused attention (classifiers/fused_attention.py) against transformers' own
BLOOM attention, in-process, same model, same thread count, same texts, per precision.

Two engines per precision are loaded side by side; the "transformers" one has the fused forward
taken off again (and, in bf16, BLOOM's ALiBi built in fp32, as the engine did before the fused
core). They take turns on the same token ids for `--rounds` rounds; the best round of each is
reported, so a busy host slows all alike. Texts: the first test texts of finance_fpb and
reviews_mr (short, what bench/serving.py uses) and of reviews_imdb (full reviews, cut at 512
tokens). Writes the serving.fused_attention.* keys of bench/results.json.
Usage: python bench/attention.py [--registry DIR] [--rounds 3] [--short 1000] [--long 200]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from results_file import record  # noqa: E402
from serving import split_texts  # noqa: E402
from transformers.models.bloom.modeling_bloom import build_alibi_tensor  # noqa: E402

from bloomwatch.cpu import NoNativeBf16, require_native_bf16  # noqa: E402
from bloomwatch.settings import get_settings  # noqa: E402
from classifiers.embedded import EmbeddedEngine, configure_threads, softmax  # noqa: E402
from training.registry import Registry  # noqa: E402


def _fp32_alibi(attention_mask: torch.Tensor, num_heads: int, dtype: torch.dtype) -> torch.Tensor:
    return build_alibi_tensor(attention_mask, num_heads, torch.float32)


def transformers_attention(engine: EmbeddedEngine) -> EmbeddedEngine:
    """The engine with transformers' BLOOM attention back in place of the fused one."""
    for block in engine.model.transformer.h:
        del block.self_attention.forward  # the class's own forward again
    if engine.precision == "bf16":
        engine.model.transformer.build_alibi_tensor = _fp32_alibi
    return engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registry", type=Path, help="default: settings.registry_dir")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--short", type=int, default=1000)
    parser.add_argument("--long", type=int, default=200)
    args = parser.parse_args()
    try:
        require_native_bf16("this benchmark's headline is bf16 against fp32; run it on a CPU that has one of them")
    except NoNativeBf16 as missing:
        sys.exit(f"bench/{Path(__file__).name}: {missing}")
    settings = get_settings()
    configure_threads(settings.serve_threads)
    version = Registry(args.registry or settings.registry_dir).current("sentiment")
    sets = {
        "short": (split_texts("sentiment", "finance_fpb") + split_texts("sentiment", "reviews_mr"))[: args.short],
        "long": split_texts("sentiment", "reviews_imdb")[: args.long],
    }
    if not all(sets.values()):
        sys.exit(f"needs the finance_fpb, reviews_mr and reviews_imdb test splits in {settings.data_dir}")
    engines = {
        (precision, kind): EmbeddedEngine.from_version(version, precision=precision)
        for precision in ("fp32", "bf16")
        for kind in ("fused", "transformers")
    }
    for (_, kind), engine in engines.items():
        if kind == "transformers":
            transformers_attention(engine)
    print(
        f"model {version.name} ({version.path}), {settings.serve_threads} thread(s), {args.rounds} rounds", flush=True
    )
    figures: dict[str, float] = {}
    for name, texts in sets.items():
        ids = engines[("fp32", "fused")].tokenize(texts)
        best = dict.fromkeys(engines, float("inf"))
        for _ in range(args.rounds):
            for key, engine in engines.items():
                started = time.perf_counter()
                engine.logits(ids)
                best[key] = min(best[key], time.perf_counter() - started)
        for precision in ("fp32", "bf16"):
            fused, reference = (
                softmax(engines[(precision, kind)].logits(ids[:64])) for kind in ("fused", "transformers")
            )
            speedup = best[(precision, "transformers")] / best[(precision, "fused")]
            figures[f"serving.fused_attention.{name}.{precision}_speedup"] = round(speedup, 3)
            figures[f"serving.fused_attention.{name}.{precision}_max_prob_diff"] = float(
                np.abs(fused - reference).max()
            )
            print(
                f"{name} ({len(texts)} texts, {sum(map(len, ids)) / len(ids):.0f} tokens each): {precision} "
                f"fused {len(texts) / best[(precision, 'fused')]:.0f}/s, transformers {len(texts) / best[(precision, 'transformers')]:.0f}/s, "
                f"{speedup:.2f}x", flush=True,
            )  # fmt: skip
        figures[f"serving.fused_attention.{name}.bf16_over_fp32"] = round(
            best[("fp32", "fused")] / best[("bf16", "fused")], 3
        )
    record(figures)


if __name__ == "__main__":
    main()
