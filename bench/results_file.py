"""bench/results.json: one flat JSON object shared by every benchmark (read, update, write).

Benchmarks run in different sessions, on machines of one kind whose CPUs differ (AVX2 only, AVX-512
BF16, AMX): every write records the CPU beside the figures it writes, per group of keys
(`machine.<group>.cpu_model`, `machine.<group>.cpu_flags`), and as `machine.cpu_model` /
`machine.cpu_flags` the CPU of the latest write.
"""

from __future__ import annotations

import json
from pathlib import Path

from bloomwatch.cpu import cpu_model, reported_flags

RESULTS = Path(__file__).with_name("results.json")


def machine_keys(figures: dict) -> dict[str, str]:
    """This CPU's model and vector flags under `machine.*`, once overall and once per figure group."""
    machine = {"cpu_model": cpu_model(), "cpu_flags": reported_flags()}
    groups = sorted({key.split(".", 1)[0] for key in figures})
    keys = {f"machine.{name}": value for name, value in machine.items()}
    keys.update({f"machine.{group}.{name}": value for group in groups for name, value in machine.items()})
    return keys


def record(figures: dict[str, float]) -> Path:
    """Add or replace `figures` and the CPU they were measured on, keeping every other key; print them."""
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    figures = {**figures, **machine_keys(figures)}
    results.update(figures)
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(json.dumps(figures, indent=2))
    print(f"written to {RESULTS}")
    return RESULTS
