"""Bring an existing `documents` table to the layout store/ddl.sql defines today.

`CREATE TABLE IF NOT EXISTS` leaves a table made by an earlier version as it is, and ClickHouse
cannot change a sorting key in place. Such a store keeps working (every query reads `FINAL` on
whatever key it has, and compares the kind and the tasks' labels as strings whether they are
LowCardinality(String) or Enum8), only without the time-leading key's and the Enum8 keys' speed; `bloomwatch documents migrate`
copies it into a table of the current layout (one row per id: the copy reads `FINAL`) and swaps
the two atomically. Run it with every worker stopped: rows written during the copy would stay
behind in the old table (an embedded chDB directory belongs to one process anyway).
"""

from __future__ import annotations

import re

from store.connect import StoreClient, command_count
from store.documents import COLUMNS, INSERT_SETTINGS, ddl_statements
from store.tables import DOCUMENTS

REBUILT = f"{DOCUMENTS}_rebuilt"


def documents_ddl() -> str:
    return next(
        statement for statement in ddl_statements() if statement.startswith(f"CREATE TABLE IF NOT EXISTS {DOCUMENTS}\n")
    )


def expected_sorting_key() -> str:
    """The DDL's ORDER BY as system.tables spells it: `a, b` for `(a, b)`."""
    order_by = re.search(r"^ORDER BY (.+)$", documents_ddl(), re.MULTILINE)
    if order_by is None:
        raise RuntimeError(f"store/ddl.sql gives {DOCUMENTS} no ORDER BY line")
    key = order_by.group(1).strip()
    return key[1:-1] if key.startswith("(") and key.endswith(")") else key


def current_sorting_key(client: StoreClient) -> str:
    return str(
        client.command(
            "SELECT sorting_key FROM system.tables WHERE database = currentDatabase() AND name = {t:String}",
            parameters={"t": DOCUMENTS},
        )
    )


def _column_types(ddl: str) -> dict[str, str]:
    body = ddl.split("PROJECTION")[0]
    # system.columns gives the type alone: a column's DEFAULT and COMMENT are not part of it
    return dict(re.findall(r"^\s{4}(\w+)\s+(.+?)(?:\s+DEFAULT .*?)?(?:\s+COMMENT '.*')?,$", body, re.MULTILINE))


def outdated_columns(client: StoreClient) -> list[str]:
    """Columns whose type differs from the DDL's (e.g. LowCardinality(String) where it has Enum8)."""
    current: dict[str, str] = {name: kind for name, kind in client.query(
        "SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = {t:String}", parameters={"t": DOCUMENTS}
    ).result_rows}  # fmt: skip
    return [name for name, declared in _column_types(documents_ddl()).items() if current.get(name) != declared]


def layout_outdated(client: StoreClient) -> bool:
    return current_sorting_key(client) != expected_sorting_key() or bool(outdated_columns(client))


def migrate_documents(client: StoreClient) -> int | None:
    """Rebuild `documents` in the current layout; the number of documents copied, or None when it
    already has that layout. A copy left by an interrupted run is dropped and made again."""
    if not layout_outdated(client):
        return None
    client.command(f"DROP TABLE IF EXISTS {REBUILT}")
    client.command(documents_ddl().replace(f"IF NOT EXISTS {DOCUMENTS}\n", f"{REBUILT}\n", 1))
    columns = ", ".join(COLUMNS)
    client.command(
        f"INSERT INTO {REBUILT} ({columns}) SELECT {columns} FROM {DOCUMENTS} FINAL", settings=INSERT_SETTINGS
    )
    copied, stored = (command_count(client, f"SELECT count() FROM {name} FINAL") for name in (REBUILT, DOCUMENTS))
    if copied != stored:
        raise RuntimeError(
            f"copied {copied} documents of {stored}: is a worker still writing? {DOCUMENTS} is unchanged"
        )
    client.command(f"EXCHANGE TABLES {DOCUMENTS} AND {REBUILT}")
    client.command(f"DROP TABLE {REBUILT}")
    return copied
