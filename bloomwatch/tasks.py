"""The task table: every classification task BloomWatch runs, declared once, as data.

A task is a name, its ordered labels, where its classifier server answers, which document kinds
keep the end of an over-long text, and (for a polarity task) the label whose share the alerts and
dashboards watch. The worker, the store's columns, the schemas, the dashboards, the alert rules,
`up`, `status`, the classifier CLI and the Grafana build all loop over `tasks()`;
docs/architecture.md lists what a new task touches. A deployment adds tasks of its own in a TOML
file (`BLOOMWATCH_TASKS_FILE`, docs/tasks.md), each with its own model, without editing code.

The label order is the model's output order everywhere (config.json id2label, vLLM's `probs`
list, ClickHouse columns), so it is declared here and never inferred from data.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from bloomwatch.errors import ExpectedError

# A task's name and labels become ClickHouse column names (`<task>_<label>`), Prometheus label
# values and URL query values: lower-case identifiers only.
_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
# A task's name is also a documents column and a dashboard filter parameter: it may not be one of theirs.
_RESERVED = frozenset(
    {"id", "source", "kind", "lang", "url", "metadata", "text", "published_at", "enqueued_at", "ingested_at"}
    | {"detected_lang", "lang_confidence", "q", "limit", "offset", "from", "to", "range", "label", "task"}
)


# Read by the table itself (not a Settings field): validators and import-time choices need the
# table before any settings object exists, and every process of a deployment reads the same variable.
TASKS_FILE_VARIABLE = "BLOOMWATCH_TASKS_FILE"


class Unscored(StrEnum):
    """Why a task left a document without a score (stored in `<task>_unscored`; '' when it scored it).

    An unscored document keeps its place in volumes and searches but is counted in no share, alert
    window, drift statistic or training set: a score from a model that cannot read the text is noise."""

    UNSUPPORTED_LANGUAGE = "unsupported_language"  # no current model of the task reads the document's language
    STORED_BEFORE_TASK = "stored_before_task"  # stored before the task was in the table


class UnknownTask(ExpectedError, ValueError):
    """A task name that is not in the table (typed on the command line, or in a file)."""


class InvalidTaskFile(ExpectedError, ValueError):
    """A tasks file (BLOOMWATCH_TASKS_FILE) that cannot declare tasks."""


@dataclass(frozen=True)
class Task:
    name: str
    labels: tuple[str, ...]
    # where its classifier server answers: the Settings field holding the URL (the built-in tasks,
    # so BLOOMWATCH_SENTIMENT_URL keeps working), else the URL a tasks file gives
    url_setting: str | None = None
    url: str | None = None
    # document kinds whose over-long texts are cut from the start, keeping the end: a review states
    # its verdict last ("... a waste of two hours"), news leads with its subject
    keep_end_kinds: frozenset[str] = field(default_factory=frozenset)
    # the label whose share the dashboards chart and the alert rules' negative_* metrics count
    watched_label: str | None = None

    @property
    def score_columns(self) -> tuple[str, ...]:
        """The store's columns for this task, in insert order: label, one probability per label,
        model, and why it is unscored ('' when scored)."""
        return (
            self.name, *(self.probability_column(label) for label in self.labels), self.model_column, self.unscored_column,
        )  # fmt: skip

    @property
    def model_column(self) -> str:
        return f"{self.name}_model"

    @property
    def unscored_column(self) -> str:
        return f"{self.name}_unscored"

    def probability_column(self, label: str) -> str:
        return f"{self.name}_{label}"

    def classifier_url(self, settings: Any) -> str:
        return getattr(settings, self.url_setting) if self.url_setting else str(self.url)

    def truncation_side(self, kind: str) -> Literal["left"] | None:
        """ "left" (keep the end) for the kinds that need it, else None: the servers' default, the start."""
        return "left" if kind in self.keep_end_kinds else None


BUILT_IN = (
    Task(
        "sentiment",
        ("negative", "neutral", "positive"),
        url_setting="sentiment_url",
        keep_end_kinds=frozenset({"review"}),
        watched_label="negative",
    ),
    Task("topic", ("world", "sports", "business", "sci_tech"), url_setting="topic_url"),
)


def tasks() -> tuple[Task, ...]:
    """The built-in tasks, then those of the tasks file named by BLOOMWATCH_TASKS_FILE."""
    return _tasks(os.environ.get(TASKS_FILE_VARIABLE) or None)


def task_names() -> tuple[str, ...]:
    return tuple(task.name for task in tasks())


def task(name: str) -> Task:
    for candidate in tasks():
        if candidate.name == name:
            return candidate
    raise UnknownTask(f"unknown task {name!r}; known tasks: {', '.join(task_names())}")


def labels_for(name: str) -> tuple[str, ...]:
    return task(name).labels


def watched_task() -> Task:
    """The polarity task the alert rules and the dashboards' negative share read (sentiment)."""
    return next(candidate for candidate in tasks() if candidate.watched_label)


@lru_cache
def _tasks(path: str | None) -> tuple[Task, ...]:
    declared = BUILT_IN + (_read_file(Path(path)) if path else ())
    names = [candidate.name for candidate in declared]
    if len(set(names)) != len(names):
        raise InvalidTaskFile(f"{path}: a task name is declared twice ({', '.join(names)})")
    if sum(1 for candidate in declared if candidate.watched_label) != 1:
        raise InvalidTaskFile(f"{path}: exactly one task may set watched_label (the built-in sentiment does)")
    return declared


def _read_file(path: Path) -> tuple[Task, ...]:
    """Tasks declared as `[[task]]` tables: name, labels, url, keep_end_kinds (optional)."""
    try:
        entries = tomllib.loads(path.read_text(encoding="utf-8")).get("task", [])
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidTaskFile(f"tasks file {path}: {exc}") from None
    return tuple(_task_from(path, entry) for entry in entries)


def _task_from(path: Path, entry: dict[str, Any]) -> Task:
    unknown = set(entry) - {"name", "labels", "url", "keep_end_kinds"}
    name, labels, url = entry.get("name"), entry.get("labels"), entry.get("url")
    if unknown:
        raise InvalidTaskFile(f"{path}: task {name!r}: unknown keys {sorted(unknown)}")
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise InvalidTaskFile(f"{path}: task name {name!r} is not a lower-case identifier")
    if name in _RESERVED:
        raise InvalidTaskFile(f"{path}: task name {name!r} is reserved (a document field or query parameter)")
    if not isinstance(labels, list) or len(labels) < 2 or len(set(labels)) != len(labels):
        raise InvalidTaskFile(f"{path}: task {name!r}: labels must be a list of two or more distinct names")
    if not all(isinstance(label, str) and _IDENTIFIER.match(label) for label in labels):
        raise InvalidTaskFile(f"{path}: task {name!r}: every label must be a lower-case identifier")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise InvalidTaskFile(f"{path}: task {name!r}: url must be the http(s) URL of its classifier server")
    return Task(name, tuple(labels), url=url, keep_end_kinds=frozenset(entry.get("keep_end_kinds", ())))
