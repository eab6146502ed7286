"""Pre-training throughput on this CPU: what each lever buys, and the share of the matmul peak reached.

Measured in one run, same model (the `compact` preset, 6,000-token vocabulary), same batch
(32 blocks x 128 tokens), one optimizer step each:
- the machine's matmul peak: torch matmul 512x768 by 768x768 in fp32 and bf16, 1 and 2 threads;
- a pre-training step in fp32, under bf16 autocast, and after torch.compile (fp32);
- packing vs padding: the share of a padded batch that would be padding on this corpus.
FLOPs per step: 6 x parameters x tokens (forward + backward of every weight matrix, the LM head
included) + the attention score/value products (12 x layers x hidden x seq_len per token).

    python bench/pretrain_throughput.py [--threads 1] [--steps 3]

It says what else was running (load average) at start; figures go to bench/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
from results_file import record  # bench/ is on sys.path when run as a script
from roofline import matmul_gflops


def _best(fn, repeats: int) -> float:
    fn()  # warm-up (and compilation)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def step_seconds(mode: str, threads: int, steps: int) -> tuple[float, float]:
    """(seconds per pre-training step, FLOPs per step) for fp32 | bf16-autocast | compile."""
    from transformers import BloomConfig, BloomForCausalLM

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    config = BloomConfig(vocab_size=6000, hidden_size=192, n_layer=4, n_head=6)
    model = BloomForCausalLM(config).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batch = torch.randint(4, 6000, (32, 128))
    forward = torch.compile(model) if mode == "compile" else model

    def step():
        if mode == "bf16-autocast":
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = forward(input_ids=batch, labels=batch).loss
        else:
            loss = forward(input_ids=batch, labels=batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    params = sum(p.numel() for p in model.parameters())
    tokens = batch.numel()
    flops = 6 * params * tokens + 12 * config.n_layer * config.hidden_size * 128 * tokens
    return _best(step, steps), flops


def padding_share(data_dir: Path, seq_len: int = 128, sample: int = 20000) -> float | None:
    """Share of a length-padded batch (texts cut at seq_len, padded to the batch's longest) that is padding."""
    from training.corpus import build_corpus

    try:
        texts = build_corpus(data_dir, chars=2_000_000).train[:sample]
    except FileNotFoundError:
        return None
    lengths = [min(seq_len, max(1, len(t) // 4)) for t in texts]  # ~4 characters per token here
    padded = real = 0
    for start in range(0, len(lengths), 32):
        chunk = lengths[start : start + 32]
        padded += max(chunk) * len(chunk)
        real += sum(chunk)
    return 1 - real / padded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()} (other jobs share these {os.cpu_count()} cores)")
    peak = {
        f"{name}.{t}t": matmul_gflops(dtype, t, n=768, m=512)
        for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16))
        for t in (1, 2)
    }
    print("matmul GFLOP/s:", json.dumps({k: round(v, 1) for k, v in peak.items()}))
    figures = {f"pretrain.matmul_gflops.{k}": round(v, 1) for k, v in peak.items()}
    for mode in ("fp32", "bf16-autocast", "compile"):
        try:
            seconds, flops = step_seconds(mode, args.threads, args.steps if mode != "bf16-autocast" else 1)
        except Exception as exc:  # noqa: BLE001 - a lever that fails here is reported, not fatal
            print(f"{mode}: failed: {type(exc).__name__}: {exc}"[:300])
            continue
        tokens_per_s = 32 * 128 / seconds
        share = flops / seconds / 1e9 / peak[f"fp32.{args.threads}t"]
        print(
            f"{mode}: {seconds:.2f} s/step, {tokens_per_s:.0f} tokens/s, {flops / seconds / 1e9:.1f} GFLOP/s = {share:.0%} of the fp32 matmul peak ({args.threads} thread(s))"
        )
        figures[f"pretrain.step_tokens_per_s.{mode}"] = round(tokens_per_s, 1)
        if mode == "fp32":
            figures["pretrain.share_of_fp32_matmul_peak"] = round(share, 3)
    from bloomwatch.settings import get_settings

    pad = padding_share(get_settings().data_dir)
    if pad is not None:
        print(f"padding instead of packing would waste {pad:.0%} of each batch on this corpus")
        figures["pretrain.padding_share_avoided_by_packing"] = round(pad, 3)
    record(figures)


if __name__ == "__main__":
    main()
