"""Looking up stored documents while the pipeline runs (the worker owns the embedded chDB store),
through the worker's API and `bloomwatch documents`, and `bloomwatch status` on a live pipeline."""

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pipeline_support import Deployment, running_pipeline, wait_until

from app.processes import bloomwatch_command
from bloomwatch.net import free_port

pytestmark = pytest.mark.kafka

START = datetime(2026, 11, 1, tzinfo=UTC)
SLASHED_ID = "https://example.org/news/1 a?b"  # a URL as id: '/', space and '?' must survive the round trip
# declared "en" by a careless publisher: the language is read from the text
WRITTEN_IN = {
    "en": "The refund took three weeks and nobody answered my emails.",
    "zh": "服务太差了，我要退款，再也不会来这家店了。",
    "de": "Der Zug hatte wieder zwei Stunden Verspätung und niemand hat uns informiert.",
    "es": "El servicio fue horrible y todavía estoy esperando el reembolso.",
    "fr": "Le service était horrible, je veux être remboursé immédiatement.",
    "ja": "この製品はすぐに壊れました。返金してください。",
    "und": "👍👍",
}
STORED = 31 + len(WRITTEN_IN)


def _documents() -> list[dict]:
    documents = [
        {
            "id": f"lk-{i:02d}",
            "source": "wire-a" if i % 2 else "shop-b",
            "kind": "news" if i % 2 else "review",
            "text": f"Item {i}: " + ("Shares fell in FRANKFURT today." if i % 5 == 0 else "A quiet day elsewhere."),
            "published_at": (START + timedelta(hours=i)).isoformat(),
        }
        for i in range(30)
    ]
    documents.append({"id": SLASHED_ID, "source": "wire-a", "kind": "news", "text": "Slashes in ids are fine."})
    documents += [
        {
            "id": f"lg-{lang}",
            "source": "intl-desk",
            "kind": "review",
            "lang": "en",
            "text": text,
            "published_at": (START - timedelta(days=1)).isoformat(),
        }
        for lang, text in WRITTEN_IN.items()
    ]
    return documents


@pytest.fixture(scope="module")
def pipeline(kafka_broker, tiny_registry, tmp_path_factory):
    with running_pipeline(tiny_registry.root, kafka_broker, tmp_path_factory.mktemp("lookup")) as deployment:
        deployment.publish(_documents())
        deployment.publish_raw(deployment.settings.topic_news, [(b"broken", b"not json {")])
        wait_until(lambda: deployment.count() == STORED, 120, f"{STORED} documents stored")
        yield deployment


def _search(deployment: Deployment, **params) -> httpx.Response:
    return httpx.get(f"{deployment.api}/api/documents/search", params=params, timeout=30)


def _cli(deployment: Deployment, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        bloomwatch_command(*args), env={**os.environ, **deployment.env}, capture_output=True, text=True, timeout=120
    )


def test_get_document_by_id_with_scores_and_404(pipeline):
    document = httpx.get(f"{pipeline.api}/api/documents/lk-05", timeout=30).json()
    assert document["text"] == "Item 5: Shares fell in FRANKFURT today." and document["source"] == "wire-a"
    assert document["published_at"].startswith("2026-11-01T05:00:00")
    assert document["sentiment"]["model"] == "sentiment-v1" and document["topic"]["model"] == "topic-v1"
    assert document["sentiment"]["label"] in document["sentiment"]["probs"]
    assert abs(sum(document["topic"]["probs"].values()) - 1) < 1e-4

    slashed = httpx.get(f"{pipeline.api}/api/documents/{httpx.URL(SLASHED_ID).raw_path.decode()}", timeout=30)
    encoded = httpx.get(f"{pipeline.api}/api/documents/" + "https:%2F%2Fexample.org%2Fnews%2F1%20a%3Fb", timeout=30)
    assert slashed.status_code == 404 or slashed.json()["id"] == SLASHED_ID  # unencoded '?' starts a query
    assert encoded.status_code == 200 and encoded.json()["id"] == SLASHED_ID

    missing = httpx.get(f"{pipeline.api}/api/documents/no-such-id", timeout=30)
    assert missing.status_code == 404 and "no-such-id" in missing.json()["error"]


def test_search_filters_combine_and_newest_come_first(pipeline):
    frankfurt = _search(pipeline, q="frankfurt").json()
    assert [d["id"] for d in frankfurt["documents"]] == ["lk-25", "lk-20", "lk-15", "lk-10", "lk-05", "lk-00"]
    assert frankfurt["count"] == 6

    window = _search(
        pipeline, source="wire-a", kind="news", **{"from": "2026-11-01T10:00:00Z", "to": "2026-11-01T15:00:00+00:00"}
    )
    assert [d["id"] for d in window.json()["documents"]] == ["lk-13", "lk-11"]  # from inclusive, to exclusive

    everything = _search(pipeline, limit=1000).json()["documents"]
    assert len(everything) == STORED
    label = everything[0]["sentiment"]["label"]
    expected = {d["id"] for d in everything if label in (d["sentiment"]["label"], d["topic"]["label"])}
    assert {d["id"] for d in _search(pipeline, label=label, limit=1000).json()["documents"]} == expected

    assert len(_search(pipeline, limit=3).json()["documents"]) == 3
    empty_values = _search(pipeline, q="", source="", kind="", label="", limit=5)  # the form a browser sends
    assert empty_values.status_code == 200 and empty_values.json()["count"] == 5


def test_each_document_carries_the_language_read_from_its_text(pipeline):
    for lang in WRITTEN_IN:
        document = httpx.get(f"{pipeline.api}/api/documents/lg-{lang}", timeout=30).json()
        assert (document["detected_lang"], document["lang"]) == (lang, "en"), document
        assert 0 <= document["lang_confidence"] <= 1
    assert httpx.get(f"{pipeline.api}/api/documents/lk-05", timeout=30).json()["detected_lang"] == "en"
    for lang in ("de", "ja", "und"):
        assert [d["id"] for d in _search(pipeline, lang=lang).json()["documents"]] == [f"lg-{lang}"]
    found = _cli(pipeline, "documents", "search", "--lang", "zh", "--json")
    assert found.returncode == 0 and [json.loads(line)["id"] for line in found.stdout.splitlines()] == ["lg-zh"]


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"kind": "blog"}, "kind"),
        ({"label": "furious"}, "label"),
        ({"limit": "0"}, "limit"),
        ({"limit": "lots"}, "limit"),
        ({"from": "2026-11-01T00:00:00"}, "from"),  # no time zone
        ({"from": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z"}, "`from` must be before `to`"),
        ({"sauce": "wire-a"}, "sauce"),
        ({"lang": "German"}, "lang"),
        ({"q": "x'; DROP TABLE documents; --"}, None),  # just text to look for: parameters, not SQL
    ],
)
def test_search_rejects_bad_parameters_with_the_field_named(pipeline, params, named):
    response = _search(pipeline, **params)
    if named is None:
        assert response.status_code == 200 and response.json()["count"] == 0
    else:
        assert response.status_code == 400 and named in response.json()["error"]
    assert pipeline.count() == STORED


def test_cli_show_and_search(pipeline):
    shown = _cli(pipeline, "documents", "show", SLASHED_ID)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["text"] == "Slashes in ids are fine."

    found = _cli(pipeline, "documents", "search", "-q", "FrankFurt", "--kind", "news", "--json")
    assert found.returncode == 0, found.stderr
    assert [json.loads(line)["id"] for line in found.stdout.splitlines()] == ["lk-25", "lk-15", "lk-05"]

    table = _cli(pipeline, "documents", "search", "--source", "shop-b", "--limit", "2")
    assert table.returncode == 0 and "lk-28" in table.stdout and "lk-26" in table.stdout
    assert "2 document(s)" in table.stderr

    missing = _cli(pipeline, "documents", "show", "no-such-id")
    assert missing.returncode == 1 and "no document with id 'no-such-id'" in missing.stderr
    invalid = _cli(pipeline, "documents", "search", "--label", "furious")
    assert invalid.returncode == 2 and "label" in invalid.stderr


def test_status_reports_the_running_pipeline(pipeline):
    def settled() -> dict:
        result = _cli(pipeline, "status", "--json")
        assert result.returncode in (0, 1), result.stderr
        report = json.loads(result.stdout)
        return report if report["consumer_lag"] and sum(report["consumer_lag"].values()) == 0 else {}

    report: dict = {}
    wait_until(lambda: bool(report.update(settled()) or report), 60, "consumer lag 0 (offsets committed)", every_s=2)
    assert report["all_running"], report
    components = {c["name"]: c for c in report["components"]}
    assert components["classifier sentiment"]["detail"] == "model sentiment-v1"
    assert components["classifier topic"]["detail"] == "model topic-v1"
    assert components["worker"]["where"] == pipeline.api
    assert report["documents_stored"] == STORED and report["dead_lettered"] == 1

    text = _cli(pipeline, "status")
    assert text.returncode == 0
    assert f"documents stored      {STORED}" in text.stdout and "dead-lettered         1" in text.stdout


def test_status_names_what_is_down(pipeline):
    down = {
        **pipeline.env,
        "BLOOMWATCH_WORKER_PORT": str(free_port()),
        "BLOOMWATCH_TOPIC_URL": f"http://127.0.0.1:{free_port()}",
    }
    result = subprocess.run(
        bloomwatch_command("status"), env={**os.environ, **down}, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    lines = {
        line.split()[0] + (" " + line.split()[1] if line.startswith("classifier") else ""): line
        for line in result.stdout.splitlines()
        if line.strip()
    }
    assert "running" in lines["kafka"] and "running" in lines["classifier sentiment"]
    assert "DOWN" in lines["classifier topic"] and "DOWN" in lines["worker"]
    assert "no worker answers" in result.stdout
