"""`StoreThread`: every call on one store client runs on one thread of its own.

chDB is one engine per process and not meant for concurrent callers, so in the worker every store
call (its inserts, the read APIs, the alert evaluator, the dashboard) goes through one thread; a
process beside a ClickHouse server keeps one client and so one caller too. The store classes stay
synchronous; their async callers hand them to `run`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar, TypeVarTuple

Result = TypeVar("Result")
Args = TypeVarTuple("Args")


class StoreThread:
    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clickhouse")

    async def run(self, fn: Callable[[*Args], Result], *args: *Args) -> Result:
        """`fn(*args)` on the store thread, after every call handed over before it."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    def close(self) -> None:
        """Wait for the calls handed over, then end the thread."""
        self._thread.shutdown(wait=True)
