"""Fast checks of the worker's input contract and of the one schema definition."""

import json
import re
from typing import get_args

import pytest

from streams.decoding import InvalidMessage, decode_document
from streams.schemas import DocumentKind
from streams.store import COLUMNS, ddl_statements
from training.labels import TASK_LABELS


def _doc(**fields) -> bytes:
    return json.dumps({"id": "d1", "source": "s", "kind": "review", "text": "Great phone.", **fields}).encode()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, "not_json"),
        (b"", "not_json"),
        (b"\x80\x81 not utf-8", "not_utf8"),
        (b"{'id': 1}", "not_json"),
        (b"[" * 100_000 + b"]" * 100_000, "not_json"),
        (b'"just a string"', "not_an_object"),
        (_doc(text=""), "empty_text"),
        (_doc(text="x" * 20_001), "oversize"),
        (b"{" + b" " * 2_000_000 + b"}", "oversize"),
        (_doc(id=7), "wrong_type"),
        (_doc(metadata={"k": 1}), "wrong_type"),
        (_doc(kind="tweet"), "schema"),
        (_doc(extra="field"), "schema"),
    ],
)
def test_every_bad_message_gets_a_reason(raw, reason):
    with pytest.raises(InvalidMessage) as caught:
        decode_document(raw)
    assert caught.value.reason == reason
    assert caught.value.detail


def test_a_valid_message_decodes_to_a_document():
    document = decode_document(_doc(published_at="2026-11-28T10:00:00+01:00", lang="en"))
    assert (document.id, document.kind, document.lang) == ("d1", "review", "en")
    assert document.published_at.utcoffset().total_seconds() == 3600


def test_ddl_columns_match_the_insert_columns_and_label_order():
    create = ddl_statements()[0]
    declared = re.findall(r"^\s{4}(\w+)\s+\S", create.split("ENGINE")[0].split("PROJECTION")[0], flags=re.MULTILINE)
    assert tuple(declared) == COLUMNS
    for task, labels in TASK_LABELS.items():
        assert [c.removeprefix(f"{task}_") for c in COLUMNS if c.startswith(f"{task}_") and c != f"{task}_model"] == list(labels)
    enums = {column: re.findall(r"'(\w+)' = \d+", values) for column, values in re.findall(r"^\s{4}(\w+)\s+Enum8\((.+)\),$", create, flags=re.MULTILINE)}
    assert enums == {"kind": list(get_args(DocumentKind)), **{task: list(labels) for task, labels in TASK_LABELS.items()}}
    sorting_key = re.search(r"^ORDER BY (.+)$", create, flags=re.MULTILINE).group(1)
    assert sorting_key.endswith(", id)") and "ingested_at" not in sorting_key  # dedup by id; never ingestion time
