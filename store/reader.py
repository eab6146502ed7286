"""Reading the store from outside the worker: `bloomwatch documents` and `bloomwatch status`.

chDB allows one process per directory and the worker owns it, so in embedded mode (`chdb://`,
store/connect.py `is_embedded`) reads go through the worker's API; with a ClickHouse server they go
to ClickHouse directly, and need no worker at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, TypeVar
from urllib.parse import quote

import httpx

from bloomwatch.access import client_headers
from bloomwatch.schemas import DocumentQuery, StoredDocument
from bloomwatch.settings import Settings
from store.connect import connect, is_embedded
from store.documents import DocumentStore
from store.errors import StoreUnreachable

T = TypeVar("T")


def get_document(settings: Settings, document_id: str) -> StoredDocument | None:
    if not is_embedded(settings.store):
        return _direct(settings, lambda store: store.get_document(document_id))
    response = _worker_get(settings, f"/api/documents/{quote(document_id, safe='')}")
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return StoredDocument.model_validate(response.json())


def search_documents(settings: Settings, query: DocumentQuery) -> list[StoredDocument]:
    if not is_embedded(settings.store):
        return _direct(settings, lambda store: store.search_documents(query))
    params = query.model_dump(mode="json", by_alias=True, exclude_none=True)
    response = _worker_get(settings, "/api/documents/search", params=params)
    response.raise_for_status()
    return [StoredDocument.model_validate(document) for document in response.json()["documents"]]


class DocumentCounts(NamedTuple):
    documents: int  # not `count`, which would hide tuple.count
    unscored: dict[str, dict[str, int]]  # task -> reason -> documents


def count_documents(settings: Settings) -> DocumentCounts:
    """Stored documents, and per task those it left unscored by reason (`bloomwatch status`)."""
    if not is_embedded(settings.store):
        return _direct(settings, lambda store: DocumentCounts(store.count(), store.unscored_counts()))
    response = _worker_get(settings, "/api/documents/count")
    response.raise_for_status()
    body = response.json()
    return DocumentCounts(body["count"], body["unscored"])


def _direct(settings: Settings, read: Callable[[DocumentStore], T]) -> T:
    store = DocumentStore(connect(settings.store))
    try:
        return read(store)
    finally:
        store.close()


def _worker_get(settings: Settings, path: str, params: dict | None = None) -> httpx.Response:
    try:
        return httpx.get(
            f"{settings.worker_url}{path}", params=params, headers=client_headers(settings.access), timeout=30
        )
    except httpx.TransportError:
        raise StoreUnreachable(
            f"no worker answers at {settings.worker_url}; it owns the embedded store {settings.clickhouse_where}."
            " Start it with `bloomwatch up` or `bloomwatch worker`."
        ) from None
