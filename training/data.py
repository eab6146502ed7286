"""Labelled text loading: JSONL / CSV files and the shared splits, validated line by line.

Bad training data is the most common reason a retrained model silently gets worse, so every
problem (empty text, unknown label, undecodable bytes, missing column) stops the load with the
file and line that caused it, unless the caller explicitly asks to skip invalid rows — in which
case every skipped row is counted and reported, never dropped silently.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bloomwatch.errors import ExpectedError
from bloomwatch.tasks import labels_for


class DataError(ExpectedError, ValueError):
    """A data problem, located: `<file>:<line>: <reason>`."""

    def __init__(self, path: Path | str, line: int, reason: str):
        super().__init__(f"{path}:{line}: {reason}")
        self.path, self.line, self.reason = str(path), line, reason


class MissingData(ExpectedError, FileNotFoundError):
    """The data a command needs is not on this machine; the message says where it looked and what to pass."""


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    source: str  # dataset name, so a multi-dataset model can be scored per dataset


@dataclass(frozen=True)
class SourceSpec:
    """How to read one labelled source and map its labels onto a task's label set."""

    name: str
    text_field: str = "text"
    label_field: str = "label"
    # raw label -> task label; None means raw labels must already be task labels
    label_map: dict[str, str] | None = None
    # the labels this dataset can have, when fewer than the task's (a polarity set has no neutral);
    # None = all of the task's. A user's file or new labels never narrow it: a class missing from
    # a sample still exists.
    labels: tuple[str, ...] | None = None
    lang: str = "en"  # ISO 639-1 code of the texts: which corpus they join and which models can read them


@dataclass
class LoadReport:
    path: str
    examples: list[Example] = field(default_factory=list)
    skipped: list[DataError] = field(default_factory=list)
    duplicates: int = 0

    def summary(self) -> str:
        return f"{self.path}: {len(self.examples)} examples, {len(self.skipped)} skipped invalid, {self.duplicates} duplicates removed"


# Shared splits (README in the data dir). reviews_mr is binary: it trains as negative/positive
# and is scored on those two classes only.
BINARY_POLARITY = ("negative", "positive")
SHARED_SOURCES: dict[str, SourceSpec] = {
    "reviews_mr": SourceSpec("reviews_mr", labels=BINARY_POLARITY),
    "finance_fpb": SourceSpec("finance_fpb"),
    "tweets_tweeteval": SourceSpec("tweets_tweeteval"),
    "news_agnews": SourceSpec("news_agnews"),
    "reviews_imdb": SourceSpec("reviews_imdb", labels=BINARY_POLARITY),
    # customer text (issue 28): airline tweets, product and restaurant reviews, finance tweets
    "tweets_airline": SourceSpec("tweets_airline"),
    "reviews_products": SourceSpec("reviews_products"),
    "reviews_services": SourceSpec("reviews_services"),
    "finance_tweets": SourceSpec("finance_tweets"),
    # other languages (issue 29): Chinese, German, Spanish, French sentiment
    "reviews_hotels_zh": SourceSpec("reviews_hotels_zh", labels=BINARY_POLARITY, lang="zh"),
    "reviews_delivery_zh": SourceSpec("reviews_delivery_zh", labels=BINARY_POLARITY, lang="zh"),
    "reviews_shopping_zh": SourceSpec("reviews_shopping_zh", labels=BINARY_POLARITY, lang="zh"),
    "forum_stocks_zh": SourceSpec("forum_stocks_zh", lang="zh"),
    "feedback_db_de": SourceSpec("feedback_db_de", lang="de"),
    "tweets_sb10k_de": SourceSpec("tweets_sb10k_de", lang="de"),
    "tweets_intertass_es": SourceSpec("tweets_intertass_es", lang="es"),
    "tweets_tass2020_es": SourceSpec("tweets_tass2020_es", lang="es"),
    "tweets_deft_fr": SourceSpec("tweets_deft_fr", lang="fr"),
    "reviews_tvseries_fr": SourceSpec("reviews_tvseries_fr", labels=BINARY_POLARITY, lang="fr"),
}
TASK_SOURCES: dict[str, tuple[str, ...]] = {
    "sentiment": (
        "reviews_mr",
        "reviews_imdb",
        "finance_fpb",
        "tweets_tweeteval",
        "tweets_airline",
        "reviews_products",
        "reviews_services",
        "finance_tweets",
    ),
    "topic": ("news_agnews",),
}
# The labelled folders of each language other than English. Not in TASK_SOURCES: the default
# sentiment recipe stays English until a model that reads these languages is trained on them.
LANGUAGE_SOURCES: dict[str, tuple[str, ...]] = {
    lang: tuple(name for name, spec in SHARED_SOURCES.items() if spec.lang == lang) for lang in ("zh", "de", "es", "fr")
}
SPLITS = ("train", "val", "test")


def _decoded_lines(path: Path) -> list[tuple[int, str | None, str]]:
    """(line number, text or None if undecodable, error) — decoding per line so errors can be located."""
    out: list[tuple[int, str | None, str]] = []
    for number, raw in enumerate(path.read_bytes().splitlines(keepends=True), start=1):
        try:
            out.append((number, raw.decode("utf-8"), ""))
        except UnicodeDecodeError as exc:
            out.append((number, None, f"undecodable bytes (not UTF-8): {exc.reason} at byte {exc.start}"))
    return out


def _raw_rows(path: Path, spec: SourceSpec):
    """Yield (line, dict-or-None, error) for a JSONL or CSV file."""
    lines = _decoded_lines(path)
    if path.suffix.lower() == ".csv":
        good = [(n, t) for n, t, _ in lines if t is not None]
        for n, t, err in lines:
            if t is None:
                yield n, None, err
        if not good:
            return
        numbers = [n for n, _ in good]
        reader = csv.DictReader([t for _, t in good])
        missing = [f for f in (spec.text_field, spec.label_field) if f not in (reader.fieldnames or [])]
        if missing:
            yield numbers[0], None, f"missing column(s) {missing}; header has {reader.fieldnames}"
            return
        for row in reader:
            # reader.line_num counts physical lines read so far (quoted newlines included)
            n = numbers[min(reader.line_num, len(numbers)) - 1]
            yield n, row, ""
        return
    for n, text, err in lines:
        if text is None:
            yield n, None, err
            continue
        if not text.strip():
            continue  # blank separator lines are not records
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            yield n, None, f"invalid JSON: {exc.msg}"
            continue
        if not isinstance(row, dict):
            yield n, None, "a JSON object per line is expected"
            continue
        yield n, row, ""


def load_file(path: Path | str, task: str, spec: SourceSpec | None = None, *, skip_invalid: bool = False) -> LoadReport:
    """Load one labelled file (`.jsonl` or `.csv`); duplicate texts keep their first occurrence."""
    path = Path(path)
    spec = spec or SourceSpec(path.stem)
    task_labels = set(labels_for(task))
    report = LoadReport(str(path))
    seen: set[str] = set()
    for line, row, error in _raw_rows(path, spec):
        if not error:
            error = _row_error(row, spec, task_labels)
        if error:
            problem = DataError(path, line, error)
            if not skip_invalid:
                raise problem
            report.skipped.append(problem)
            continue
        text = str(row[spec.text_field]).strip()
        raw_label = str(row[spec.label_field]).strip()
        label = spec.label_map[raw_label] if spec.label_map else raw_label
        key = normalise_text(text)
        if key in seen:
            report.duplicates += 1
            continue
        seen.add(key)
        report.examples.append(Example(text, label, spec.name))
    return report


def normalise_text(text: str) -> str:
    """What makes two texts the same example: case and runs of whitespace do not (a duplicate
    under another id or spelling must not land on both sides of a train/test split)."""
    return " ".join(text.split()).lower()


def _row_error(row: dict, spec: SourceSpec, task_labels: set[str]) -> str:
    missing = [f for f in (spec.text_field, spec.label_field) if row.get(f) is None]
    if missing:
        return f"missing field(s) {missing}"
    if not str(row[spec.text_field]).strip():
        return "empty or whitespace-only text"
    raw_label = str(row[spec.label_field]).strip()
    if spec.label_map is not None:
        if raw_label not in spec.label_map:
            return f"unknown label {raw_label!r}; expected one of {sorted(spec.label_map)}"
        raw_label = spec.label_map[raw_label]
    if raw_label not in task_labels:
        return f"unknown label {raw_label!r}; expected one of {sorted(task_labels)}"
    return ""


def shared_split_path(data_dir: Path, source: str, split: str) -> Path:
    return Path(data_dir) / source / f"{split}.jsonl"


def task_sources(task: str, languages: Sequence[str] = ()) -> tuple[str, ...]:
    """The shared datasets of `task`: its English ones, then those of each language of `languages`
    other than English. Only sentiment has labelled sets in other languages; asking another task
    for one is a MissingData error, never a silent English-only run."""
    sources = TASK_SOURCES.get(task, ())
    for language in dict.fromkeys(languages):
        if language == "en":
            continue
        if task != "sentiment" or language not in LANGUAGE_SOURCES:
            known = ", ".join(LANGUAGE_SOURCES)
            raise MissingData(f"no labelled {task} data in {language!r} (sentiment has some in {known})")
        sources += LANGUAGE_SOURCES[language]
    return sources


def shared_available(data_dir: Path, task: str, languages: Sequence[str] = ()) -> bool:
    """Whether every shared dataset of `task` is there; a task with none (one a deployment declared) never is."""
    sources = task_sources(task, languages)
    return bool(sources) and all(shared_split_path(data_dir, s, sp).exists() for s in sources for sp in SPLITS)


def load_shared(
    data_dir: Path, task: str, split: str, *, skip_invalid: bool = False, languages: Sequence[str] = ()
) -> list[LoadReport]:
    """The task's shared datasets (task_sources) for one split, one report per dataset."""
    return [
        load_file(shared_split_path(data_dir, s, split), task, SHARED_SOURCES[s], skip_invalid=skip_invalid)
        for s in task_sources(task, languages)
    ]


def split_examples(examples: list[Example], fractions=(0.8, 0.1, 0.1), seed: int = 13) -> dict[str, list[Example]]:
    """Stratified train/val/test split for a user-supplied single file."""
    from sklearn.model_selection import train_test_split

    labels = [e.label for e in examples]
    stratify = labels if min(Counter(labels).values()) >= 3 else None
    train, rest = train_test_split(examples, test_size=1 - fractions[0], random_state=seed, stratify=stratify)
    rest_labels = [e.label for e in rest]
    stratify = rest_labels if min(Counter(rest_labels).values()) >= 2 else None
    val, test = train_test_split(
        rest, test_size=fractions[2] / (fractions[1] + fractions[2]), random_state=seed, stratify=stratify
    )
    return {"train": train, "val": val, "test": test}


def fingerprint(examples: list[Example]) -> str:
    """Order-independent content hash, recorded in the registry so a model names the exact data it saw."""
    digest = hashlib.sha256()
    for line in sorted(f"{e.source}\t{e.label}\t{e.text}" for e in examples):
        digest.update(line.encode())
        digest.update(b"\n")
    return digest.hexdigest()[:16]


def label_counts(examples: list[Example]) -> dict[str, int]:
    return dict(sorted(Counter(e.label for e in examples).items()))
