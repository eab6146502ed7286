"""Alert rules as a configuration file (TOML), validated by pydantic.

A bad file is refused at start with the file and the offending key named (e.g.
`rules.toml: rules[1].threshold: Input should be greater than 0`), never half-loaded.
"""

from __future__ import annotations

import tomllib
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, RootModel, ValidationError, model_validator

from bloomwatch.errors import ExpectedError
from bloomwatch.tasks import task_names

DEFAULT_RULES = files("bloomwatch.alerts").joinpath("default_rules.toml")

Metric = Literal["negative_share", "negative_count", "volume"]
Receiver = Literal["topic", "log", "webhook"]  # "topic": the alerts Kafka topic

# The document fields a rule may scope or group by, with their `documents` column (`lang` is the
# language read from the text). Every task of bloomwatch/tasks.py is a dimension too, on its label
# column of the same name, so a task added in a tasks file can be grouped by without a code change.
_DOCUMENT_DIMENSIONS = {"source": "source", "kind": "kind", "lang": "detected_lang"}


def dimension_columns() -> dict[str, str]:
    """Every dimension, with the `documents` column it reads."""
    return {**_DOCUMENT_DIMENSIONS, **{name: name for name in task_names()}}


def _known_dimension(name: str) -> str:
    if name not in dimension_columns():
        raise ValueError(f"unknown dimension {name!r}; dimensions: {', '.join(dimension_columns())}")
    return name


Dimension = Annotated[str, AfterValidator(_known_dimension)]


class RuleFileError(ExpectedError, ValueError):
    """The rules file cannot be used; the message names the file and the key."""


class Scope(RootModel[dict[Dimension, list[str]]]):
    """Only documents matching every given filter count (a list means any of its values)."""

    root: dict[Dimension, list[str]] = {}

    def filters(self) -> dict[str, list[str]]:
        return {dimension: values for dimension, values in self.root.items() if values}


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    metric: Metric
    scope: Scope = Scope()
    group_by: list[Dimension] = []
    window_s: int = Field(60, gt=0, le=86_400)
    # baseline: the windows before the one judged, skipping windows the detector flagged as anomalous
    baseline: Literal["pooled", "median"] = "pooled"  # pooled rate, or median of per-window values
    baseline_windows: int = Field(30, ge=1, le=2_000)
    min_baseline_windows: int = Field(3, ge=1)
    threshold: float = Field(3.0, gt=0)  # z statistic (binomial for a share, Poisson for a count)
    immediate_threshold: float | None = Field(None, gt=0)  # one window this strong fires at once
    # CUSUM of the window z-scores (S = max(0, S + z - cusum_slack)): a moderate rise sustained over
    # several windows fires once S reaches cusum_threshold, without waiting for `for_windows`
    cusum_threshold: float | None = Field(None, gt=0)
    cusum_slack: float = Field(0.5, ge=0)
    min_volume: int = Field(30, ge=1)  # documents in the window, below it nothing is judged
    min_ratio: float = Field(1.5, ge=1)  # observed must also be >= baseline * min_ratio ...
    min_delta: float = Field(0.0, ge=0)  # ... and >= baseline + min_delta (effect size, not only significance)
    for_windows: int = Field(2, ge=1)  # consecutive anomalous windows before pending becomes firing
    resolve_below: float = 1.0  # a window with z below this is calm ...
    resolve_windows: int = Field(1, ge=1)  # ... and this many calm windows in a row resolve
    cooldown_s: int = Field(0, ge=0)  # after a resolve, no new alert for the group this long
    severity: Literal["info", "warning", "critical"] = "warning"
    receivers: list[Receiver] = ["topic", "log", "webhook"]
    description: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        if self.min_baseline_windows > self.baseline_windows:
            raise ValueError("min_baseline_windows must not exceed baseline_windows")
        if self.resolve_below > self.threshold:
            raise ValueError("resolve_below must not exceed threshold")
        if self.immediate_threshold is not None and self.immediate_threshold < self.threshold:
            raise ValueError("immediate_threshold must not be below threshold")
        return self


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rules: list[Rule] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> RuleSet:
        names = [rule.name for rule in self.rules]
        if duplicates := sorted({name for name in names if names.count(name) > 1}):
            raise ValueError(f"rule names must be unique: {', '.join(duplicates)}")
        return self

    def get(self, name: str) -> Rule | None:
        return next((rule for rule in self.rules if rule.name == name), None)


def _key_path(location: tuple) -> str:
    """`rules[1].scope.country` from pydantic's location; a bad dict key is named by itself."""
    path = ""
    for part in location:
        if part == "[key]":
            continue
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


def load_rules(path: Path | None = None) -> RuleSet:
    """The rules in `path` (the shipped default_rules.toml when None)."""
    source = Path(path) if path is not None else DEFAULT_RULES
    name = str(source)
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except OSError as error:
        raise RuleFileError(f"{name}: cannot read the rules file: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise RuleFileError(f"{name}: not valid TOML: {error}") from None
    try:
        return RuleSet.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(f"{_key_path(e['loc'])}: {e['msg']}" for e in error.errors())
        raise RuleFileError(f"{name}: {problems}") from None
