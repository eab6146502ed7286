"""One running deployment for the retraining tests: embedded classifier servers with hot reload on
a registry's current models, a worker, and the commands an operator runs against them."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from conftest import build_tiny_classifier
from pipeline_support import Deployment, start_classifier, wait_until
from retrain_support import RETRAIN_ENV

from app.processes import ManagedProcess, bloomwatch_command
from bloomwatch.net import free_port
from training.registry import Registry


@contextmanager
def retrain_deployment(
    kafka_broker: str, root: Path, registry: Registry, env: dict[str, str] | None = None
) -> Iterator[Deployment]:
    """`registry` (its current sentiment model trained by the test; a tiny topic model is added
    here) served and streamed into, with the retrain settings for tiny models and `env`."""
    registry.register("topic", lambda d: build_tiny_classifier("topic", d), manifest={"method": "none"}, metrics={})
    env = {"BLOOMWATCH_REGISTRY_DIR": str(registry.root), **RETRAIN_ENV, **(env or {})}
    ports = {task: free_port() for task in ("sentiment", "topic")}
    processes: list[ManagedProcess] = []
    try:
        processes += [start_classifier(task, registry.root, port, root, env) for task, port in ports.items()]
        deployment = Deployment(
            root,
            kafka_broker,
            f"http://127.0.0.1:{ports['sentiment']}",
            f"http://127.0.0.1:{ports['topic']}",
            extra_env=env,
        )
        processes.append(deployment.start_worker())
        yield deployment
    finally:
        for process in reversed(processes):
            process.stop()


def run_cli(deployment: Deployment, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        bloomwatch_command(*args), env={**os.environ, **deployment.env}, capture_output=True, text=True, timeout=timeout
    )


def served_version(deployment: Deployment) -> str:
    return httpx.get(f"{deployment.sentiment_url}/health", timeout=5).json()["model"]


def publish_and_wait(deployment: Deployment, examples: list[dict], **fields) -> None:
    """Publish `examples` (their `label` left out: documents carry none) and wait until stored."""
    before = deployment.count()
    deployment.publish([{k: v for k, v in {**e, **fields}.items() if k != "label"} for e in examples])
    wait_until(lambda: deployment.count() >= before + len(examples), 120, "documents stored")


def sentiment_decisions(deployment: Deployment) -> list[dict]:
    return httpx.get(f"{deployment.api}/api/model-versions", params={"task": "sentiment"}, timeout=10).json()[
        "decisions"
    ]


def roll_back_and_check(deployment: Deployment, registry: Registry, undone: str) -> None:
    """`bloomwatch models rollback sentiment` undoes the promotion of `undone`: v1 is current and
    served again, and the audit's latest row says so."""
    rolled = run_cli(deployment, "models", "rollback", "sentiment")
    assert rolled.returncode == 0, rolled.stderr
    assert registry.current_version_name("sentiment") == "v1"
    wait_until(lambda: served_version(deployment) == "sentiment-v1", 60, "the classifier to hot-reload v1")
    latest = sentiment_decisions(deployment)[0]
    assert (latest["decision"], latest["version"], latest["parent"]) == ("rolled_back", "v1", undone)
