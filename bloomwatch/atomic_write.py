"""Replacing a file so that nobody ever reads half of it.

Checkpoints, caches and the registry's pointers are read by other processes (a classifier server
following `current`) or by the next run after a kill: each is written to a temporary file beside
it, then renamed over it, which the filesystem does atomically.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path


def write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """`write(tmp)` to a temporary file of its own in `path`'s folder (created if missing), then rename
    it to `path`: readers see the old file or the new one. A failed write leaves no temporary file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    try:
        write(tmp)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
