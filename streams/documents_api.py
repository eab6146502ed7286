"""The worker's document lookup: `GET /api/documents/{id}` and `GET /api/documents/search`.

In embedded mode the worker owns the chDB store, so this is the only way to read single
documents while the pipeline runs (`bloomwatch documents` uses it); with a ClickHouse server the
same routes work, and the CLI reads the server directly. Reads go through the worker's one store
thread (store/executor.py), like every other store call.

Search parameters (all optional, combined with AND; empty values are ignored): `q` (text
contains, case-insensitive), `source`, `kind` (news | review), `from` / `to` (ISO 8601 with a
time zone, bounds on published_at), `label` (a label of any task), `lang` (the language
read from the text, ISO 639-1; `und` undetermined), `limit` (1-1000,
default 50). Answers: 200 {"count", "documents": [...]}, newest first; 400 {"error"} for an
invalid query; `/api/documents/{id}` answers 200 with the document or 404.
"""

from __future__ import annotations

import faust
from pydantic import ValidationError

from bloomwatch.schemas import DocumentQuery
from store.documents import DocumentStore
from store.executor import StoreThread
from streams.publisher import validation_reason


def parse_query(params: dict[str, str]) -> DocumentQuery:
    """A DocumentQuery from URL query parameters; raises ValidationError with every problem."""
    return DocumentQuery.model_validate({name: value for name, value in params.items() if value != ""})


def add_document_routes(app: faust.App, store: DocumentStore, store_thread: StoreThread) -> None:
    @app.page("/api/documents/search")
    async def search_documents(web, request):
        try:
            query = parse_query(dict(request.query))
        except ValidationError as error:
            return web.json({"error": validation_reason(error, root="query")}, status=400)
        documents = await store_thread.run(store.search_documents, query)
        return web.json({"count": len(documents), "documents": [d.model_dump(mode="json") for d in documents]})

    @app.page("/api/documents/{document_id:.+}")  # .+: an id may hold a '/' (sent as %2F)
    async def show_document(web, request, document_id: str):
        document = await store_thread.run(store.get_document, document_id)
        if document is None:
            return web.json({"error": f"no document with id {document_id!r}"}, status=404)
        return web.json(document.model_dump(mode="json"))
