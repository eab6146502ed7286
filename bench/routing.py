"""What routing by language costs a model of the right language (issue 29): for each labelled
folder of the shared data, the share of its test texts the worker would route to that folder's
language, leave to any model (`und`: scored), or route to another language (so a model reading
only the folder's language would leave them unscored). Writes `routing.<folder>.own`, `.und` and
`.other` into bench/results.json (other keys kept).
Usage: python bench/routing.py [--per-folder 2000]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from results_file import record  # noqa: E402

from bloomwatch.language import UNDETERMINED, languages_of  # noqa: E402
from bloomwatch.settings import get_settings  # noqa: E402
from training.data import SHARED_SOURCES, TASK_SOURCES, shared_split_path  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-folder", type=int, default=2000, help="test texts per folder (first in file order)")
    args = parser.parse_args()
    data_dir = get_settings().data_dir
    figures: dict[str, float] = {}
    print("| folder | lang | texts | routed to its language | und (scored) | another language (unscored) |")
    print("|---|---|---|---|---|---|")
    for name, spec in SHARED_SOURCES.items():
        path = shared_split_path(data_dir, name, "test")
        if name in TASK_SOURCES["topic"] or not path.exists():
            continue
        texts = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        texts = texts[: args.per_folder]
        counts = Counter(code for code, _ in languages_of(texts))
        shares = {"own": counts[spec.lang] / len(texts), "und": counts[UNDETERMINED] / len(texts)}
        shares["other"] = 1 - shares["own"] - shares["und"]
        figures.update({f"routing.{name}.{key}": round(value, 4) for key, value in shares.items()})
        print(
            f"| {name} | {spec.lang} | {len(texts)} | {shares['own']:.3f} | {shares['und']:.3f} | {shares['other']:.3f} |"
        )
    record(figures)


if __name__ == "__main__":
    main()
