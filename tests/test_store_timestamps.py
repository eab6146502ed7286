"""Times already in the store, read back: a label dated 0001-01-01, stored before times were
bounded at the door (issue 25, item 5), comes back from chDB as a naive datetime of year 1;
reading it must not fail (it made every later `GET /api/labels` of its task answer 500).

chDB allows one engine per process, so the store is opened in a subprocess, as the worker would."""

import json
import subprocess
import sys

SCRIPT = """
import json, sys
from store.retraining import RetrainStore
from store.connect import open_client
from store.documents import DocumentStore

store = DocumentStore(open_client(sys.argv[1]))
store.ensure_schema()
store.client.command(
    "INSERT INTO labels SETTINGS async_insert = 0 VALUES"
    " ('d1', 'sentiment', 'positive', NULL, 'alice', '0001-01-01 00:00:00', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
)
print(json.dumps(RetrainStore(store.client).labelled_examples("sentiment")))
"""


def test_a_year_one_label_stored_before_the_bound_reads_back(tmp_path):
    read = subprocess.run(
        [sys.executable, "-c", SCRIPT, f"chdb://{tmp_path / 'chdb'}"], capture_output=True, text=True, timeout=300
    )
    assert read.returncode == 0, read.stderr[-2000:]
    [label] = json.loads(read.stdout.strip().splitlines()[-1])
    assert (label["document_id"], label["labelled_at"]) == ("d1", "0001-01-01T00:00:00+00:00")
