"""Replace the shipped default models (<repo>/models) with versions from a training registry.

Maintainers' step after `bloomwatch pretrain` / `bloomwatch train`: each chosen version is adopted
(copied with its manifest and metrics, `copied_from` naming the source) and becomes the shipped
current one of its line (`TASK@LINE=VERSION`; no `@LINE`: the main line); the versions shipped
before that are no longer current on any line are removed (git keeps them). A base is rounded to
bf16 on disk, since fine-tuning loads it in fp32 anyway and it halves the repository's share; a
task model is too with `--bf16 TASK[@LINE]`, once `bench/bf16_storage.py` has shown the rounded
weights answer as the trained ones do (both engines load it in fp32 or bf16, as they load any).

    python scripts/ship_defaults.py --source ~/.bloomwatch/models base=v2 sentiment=v4 sentiment@multilingual=v9 --bf16 sentiment@multilingual
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from training.quantize import store_in_bf16
from training.registry import BASE, Registry

SHIPPED = Path(__file__).resolve().parent.parent / "models"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source", type=Path, required=True, help="the training registry (BLOOMWATCH_REGISTRY_DIR of the runs)"
    )
    parser.add_argument(
        "picks", nargs="+", help="TASK[@LINE]=VERSION, e.g. base=v2 sentiment=v4 sentiment@multilingual=v9"
    )
    parser.add_argument(
        "--bf16", action="append", default=[], metavar="TASK[@LINE]", help="store this task model's weights in bf16"
    )
    args = parser.parse_args()
    source, shipped = Registry(args.source), Registry(SHIPPED)
    for pick in args.picks:
        target, version = pick.split("=")
        task, _, line = target.partition("@")
        adopted = shipped.adopt(source.get(task, version), line)
        if task == BASE or target in args.bf16:
            store_in_bf16(adopted.path)
        current = shipped.current_versions(task).values()
        for old in shipped.versions(task):
            if old.version not in current:
                shutil.rmtree(old.path)
        shipped.forget_history(task, line)
        print(f"{target} {version} from {args.source} -> {adopted.path}")


if __name__ == "__main__":
    main()
