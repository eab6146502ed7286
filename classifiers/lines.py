"""What a task's classifier server serves when the task has several lines (training/registry.py)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from classifiers.hot_reload import require_current
from training.registry import Registry


def serving_lines(registry: Registry, task: str) -> list[str]:
    """Every line of the task with a current version, main line first; the main line must have one
    (NoServableModel otherwise). A line promoted for the first time is served after a restart."""
    require_current(registry, task)
    return registry.lines(task)


def model_card(name: str, languages: Iterable[str], line: str, **extra: Any) -> dict[str, Any]:
    """One `/v1/models` entry: vLLM's fields, the languages the version reads and its line."""
    return {
        "id": name,
        "object": "model",
        "owned_by": "bloomwatch",
        "languages": list(languages),
        "line": line,
        **extra,
    }
