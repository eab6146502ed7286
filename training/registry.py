"""Model registry on disk: `<root>/<task>/<version>/` plus a `current` pointer per task and line.

A version directory is a plain Hugging Face model directory (config.json, safetensors weights,
tokenizer files) that `from_pretrained` and `vllm --model` load directly, with two extra files:
`bloomwatch.json` (manifest: labels, the languages its training texts were written in, training
config, data fingerprints, timestamps) and `metrics.json`. Versions are written to a staging directory and renamed into place, and the
`current` pointer is replaced atomically, so a reader (the classifier's hot reload) never sees a
half-written model.

A task may serve several models at once, one per *line*: the main line (pointer `current`) and
named lines (`current.<line>`, e.g. `current.multilingual`), each with its own promotion history.
Its classifier server serves the current version of every line, and the worker sends a document to
the first line, main line first, whose model reads the document's language (issue 29): the
English model keeps English text while a multilingual one reads the rest. Versions are shared:
any version may be promoted on any line.
"""

from __future__ import annotations

import json
import re
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bloomwatch.atomic_write import write_atomically
from bloomwatch.errors import ExpectedError
from bloomwatch.tasks import labels_for
from training.data import SHARED_SOURCES

MANIFEST = "bloomwatch.json"
METRICS = "metrics.json"
CURRENT = "current"
PROMOTIONS = "promotions"  # the versions made current, oldest first: what `rollback` undoes
MAIN_LINE = ""  # the line of the `current` pointer: the task's model for every language it reads
_LINE_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
BASE = "base"  # pre-trained language-model bases (`bloomwatch pretrain`), beside the task classifiers
_VERSION_RE = re.compile(r"^v(\d+)$")
# what a manifest without "languages" reads: every model registered before the field was trained on English text only
DEFAULT_LANGUAGES = ("en",)


class UnknownModel(ExpectedError, KeyError):
    """No such version of the task in the registry: a name typed on the command line, or a pointer."""


class RegistryRefused(ExpectedError, ValueError):
    """The registry cannot do what was asked: nothing earlier to roll back to, an unservable version."""


def model_name(task: str, version: str) -> str:
    """The name a version is served and stored under (`ModelVersion.name`), e.g. `sentiment-v3`."""
    return f"{task}-{version}"


@dataclass(frozen=True)
class ModelVersion:
    task: str
    version: str
    path: Path
    manifest: dict[str, Any]

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.manifest["labels"])

    @property
    def languages(self) -> tuple[str, ...]:
        """ISO 639-1 codes of the languages the model was trained to read (manifest `languages`,
        sorted): a document in another one gets no score of this model (issue 29)."""
        return tuple(self.manifest.get("languages", DEFAULT_LANGUAGES))

    @property
    def test_scores(self) -> dict[str, dict]:
        """Its test figures (metrics.json `test`) on the splits in a language it reads: a split in
        another language was scored only to see how it transfers (a left-out set), never what it
        serves. A split of the user's own data, whose language the shared table does not know, stays."""
        return {
            split: scores
            for split, scores in (self.metrics.get("test") or {}).items()
            if split not in SHARED_SOURCES or SHARED_SOURCES[split].lang in self.languages
        }

    @property
    def name(self) -> str:
        """Served model name, e.g. `sentiment-v3`; responses carry it so every score names its model."""
        return model_name(self.task, self.version)

    @property
    def metrics(self) -> dict[str, Any]:
        path = self.path / METRICS
        return json.loads(path.read_text()) if path.exists() else {}


class Registry:
    def __init__(self, root: Path | str):
        self.root = Path(root)

    def _task_dir(self, task: str) -> Path:
        if task != BASE:
            labels_for(task)  # validates the task name
        return self.root / task

    def _version_dir(self, task: str, version: str) -> Path:
        """`<root>/<task>/<version>`, refused (KeyError) unless `version` is a version name (`v3`)
        and the directory, links resolved, is inside the registry: a version name typed on the
        command line or read from a `current` pointer must never point at a model elsewhere."""
        path = self._task_dir(task) / version
        if not _VERSION_RE.match(version) or not path.resolve().is_relative_to(self.root.resolve()):
            raise UnknownModel(
                f"{version!r} is not a version of {task} in registry {self.root} (versions are v1, v2, ...)"
            )
        return path

    def versions(self, task: str) -> list[ModelVersion]:
        task_dir = self._task_dir(task)
        if not task_dir.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in task_dir.iterdir() if (m := _VERSION_RE.match(p.name))]
        return [self._load(task, p) for _, p in sorted(found)]

    def get(self, task: str, version: str) -> ModelVersion:
        path = self._version_dir(task, version)
        if not (path / MANIFEST).exists():
            raise UnknownModel(f"no model {task}/{version} in registry {self.root}")
        return self._load(task, path)

    def _pointer(self, task: str, name: str, line: str) -> Path:
        """`current` / `promotions` of the main line, `current.<line>` / `promotions.<line>` of another."""
        if line and not _LINE_RE.match(line):
            raise UnknownModel(f"{line!r} is not a line name (lower-case letters, digits and _, e.g. multilingual)")
        return self._task_dir(task) / (f"{name}.{line}" if line else name)

    def lines(self, task: str) -> list[str]:
        """The task's lines that have a current version: the main line first, then the others by name."""
        task_dir = self._task_dir(task)
        if not task_dir.is_dir():
            return []
        named = sorted(
            p.name.removeprefix(f"{CURRENT}.")
            for p in task_dir.iterdir()
            if p.name.startswith(f"{CURRENT}.") and _LINE_RE.match(p.name.removeprefix(f"{CURRENT}."))
        )
        return [MAIN_LINE, *named] if (task_dir / CURRENT).exists() else named

    def current_versions(self, task: str) -> dict[str, str]:
        """The version current on each line of the task, main line first (pointer reads only)."""
        return {
            line: version for line in self.lines(task) if (version := self.current_version_name(task, line)) is not None
        }

    def current(self, task: str, line: str = MAIN_LINE) -> ModelVersion | None:
        name = self.current_version_name(task, line)
        return None if name is None else self.get(task, name)

    def current_version_name(self, task: str, line: str = MAIN_LINE) -> str | None:
        """Cheap read of the pointer alone, for hot-reload polling."""
        pointer = self._pointer(task, CURRENT, line)
        return pointer.read_text().strip() if pointer.exists() else None

    def promote(self, task: str, version: str, line: str = MAIN_LINE) -> ModelVersion:
        model = self.get(task, version)
        if model.manifest.get("servable") is False:
            raise RegistryRefused(
                f"{model.name} cannot be served ({model.manifest.get('method')} adapters do not merge into the weights)"
            )
        history = self.promotions(task, line)
        if history[-1:] != [version]:
            self._write_atomically(
                self._pointer(task, PROMOTIONS, line), "".join(v + "\n" for v in [*history, version])
            )
        self._write_atomically(self._pointer(task, CURRENT, line), version + "\n")
        return model

    def promotions(self, task: str, line: str = MAIN_LINE) -> list[str]:
        path = self._pointer(task, PROMOTIONS, line)
        return path.read_text().split() if path.exists() else []

    def rollback(self, task: str, line: str = MAIN_LINE) -> ModelVersion:
        """Make the version that was current on `line` before its latest promotion current again."""
        history = self.promotions(task, line)
        if len(history) < 2:
            where = f"line {line} of {task}" if line else task
            raise RegistryRefused(f"no earlier promotion of {where} recorded in {self.root} to roll back to")
        previous = self.get(task, history[-2])
        self._write_atomically(self._pointer(task, PROMOTIONS, line), "".join(v + "\n" for v in history[:-1]))
        self._write_atomically(self._pointer(task, CURRENT, line), previous.version + "\n")
        return previous

    def forget_history(self, task: str, line: str = MAIN_LINE) -> None:
        """Keep only the current version in the line's promotion history (the shipped registry:
        nothing earlier is in it to roll back to)."""
        current = self.current_version_name(task, line)
        if current is not None:
            self._write_atomically(self._pointer(task, PROMOTIONS, line), current + "\n")

    @staticmethod
    def _write_atomically(path: Path, text: str) -> None:
        """A reader sees the old file or the new one, never half of it."""
        write_atomically(path, lambda tmp: tmp.write_text(text))

    def register(
        self,
        task: str,
        save: Callable[[Path], None],
        *,
        manifest: dict[str, Any],
        metrics: dict[str, Any],
        promote: bool = True,
    ) -> ModelVersion:
        """Write a new version: `save(dir)` writes the HF files, then the directory is renamed into place."""
        task_dir = self._task_dir(task)
        task_dir.mkdir(parents=True, exist_ok=True)
        staging = task_dir / f".staging-{uuid.uuid4().hex}"
        staging.mkdir()
        try:
            save(staging)
            full_manifest = {
                "task": task,
                "labels": list(labels_for(task)) if task != BASE else [],
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                **manifest,
            }
            while True:
                version = f"v{self._next_number(task_dir)}"
                full_manifest["version"] = version
                (staging / MANIFEST).write_text(json.dumps(full_manifest, indent=2, default=str))
                (staging / METRICS).write_text(json.dumps(metrics, indent=2, default=str))
                try:
                    staging.rename(task_dir / version)
                    break
                except OSError:  # another writer took this number first
                    continue
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        if promote:
            return self.promote(task, version)
        return self.get(task, version)

    def adopt(self, version: ModelVersion, line: str = MAIN_LINE) -> ModelVersion:
        """Register a copy of another registry's version (the shipped defaults) and make it current on `line`.

        The copy gets this registry's next version number; its manifest keeps the recipe, data
        fingerprints and times it was trained with, and says where it was copied from.
        """

        def save(directory: Path) -> None:
            for path in version.path.iterdir():
                if path.name in (MANIFEST, METRICS):
                    continue
                copy = shutil.copytree if path.is_dir() else shutil.copy2
                copy(path, directory / path.name)

        kept = {k: v for k, v in version.manifest.items() if k not in ("task", "labels", "created_at", "version")}
        copy = self.register(
            version.task,
            save,
            manifest={**kept, "copied_from": f"{version.path} ({version.version})"},
            metrics=version.metrics,
            promote=False,
        )
        return self.promote(copy.task, copy.version, line)

    @staticmethod
    def _next_number(task_dir: Path) -> int:
        numbers = [int(m.group(1)) for p in task_dir.iterdir() if (m := _VERSION_RE.match(p.name))]
        return max(numbers, default=0) + 1

    @staticmethod
    def _load(task: str, path: Path) -> ModelVersion:
        manifest = json.loads((path / MANIFEST).read_text())
        return ModelVersion(task=task, version=path.name, path=path, manifest=manifest)


def seed_from(registry: Registry, shipped: Path | None, tasks: tuple[str, ...]) -> list[ModelVersion]:
    """Adopt the shipped current version of each task and line the registry has no current version of."""
    if shipped is None or not Path(shipped).is_dir():
        return []
    source = Registry(shipped)
    return [
        registry.adopt(found, line)
        for task in tasks
        for line in source.lines(task)
        if registry.current(task, line) is None and (found := source.current(task, line)) is not None
    ]
