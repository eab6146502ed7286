"""bench/results.json: one flat JSON object shared by every benchmark (read, update, write)."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).with_name("results.json")


def record(figures: dict[str, float]) -> Path:
    """Add or replace `figures` keeping every other benchmark's keys; print them."""
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results.update(figures)
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(json.dumps(figures, indent=2))
    print(f"written to {RESULTS}")
    return RESULTS
