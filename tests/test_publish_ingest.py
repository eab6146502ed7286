"""`bloomwatch ingest` run standalone: POST /documents answers what was accepted and rejected, and
the accepted documents are on their topics."""

import asyncio
import json
import os
import subprocess
import sys
import time

import httpx
import pytest
from kafka_consume import consume, unique_topics

from bloomwatch.json_input import parse_json_body
from bloomwatch.net import free_port

pytestmark = pytest.mark.kafka


@pytest.fixture
def ingest_server(kafka_broker):
    topics = unique_topics("ingest")
    port = free_port()
    env = {
        **os.environ,
        "BLOOMWATCH_KAFKA_BOOTSTRAP": kafka_broker,
        **{f"BLOOMWATCH_{field.upper()}": name for field, name in topics.items()},
    }
    command = [sys.executable, "-c", "from app.cli import app; app()", "ingest", "--port", str(port)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{url}/healthz", timeout=1).raise_for_status()
            break
        except httpx.HTTPError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"ingest server did not come up:\n{server.stdout.read()}")
            time.sleep(0.2)
    yield url, topics
    server.terminate()
    server.wait(timeout=30)


def test_post_documents_returns_accepted_and_rejected(kafka_broker, ingest_server):
    url, topics = ingest_server
    batch = [
        {"id": "h1", "source": "api", "kind": "news", "text": "The port reopened after the storm."},
        {"id": "h2", "source": "api", "kind": "review", "text": "Arrived broken."},
        {"id": "h3", "source": "api", "kind": "review", "text": ""},
        {"id": "h4", "source": "api", "kind": "review"},
        "just a string",
    ]

    response = httpx.post(f"{url}/documents", json={"documents": batch}, timeout=30)

    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 2 and body["accepted_ids"] == ["h1", "h2"]
    rejected = {item["index"]: item for item in body["rejected"]}
    assert set(rejected) == {2, 3, 4}
    assert "text is empty" in rejected[2]["reason"] and rejected[2]["id"] == "h3"
    assert rejected[3]["reason"] == "text: Field required"
    assert rejected[4]["reason"].startswith("document:")
    assert not any(item["retryable"] for item in body["rejected"])

    messages = consume(kafka_broker, [topics["topic_news"], topics["topic_reviews"]], expected=2)
    assert {(topic, key) for topic, key, _ in messages} == {
        (topics["topic_news"], b"h1"),
        (topics["topic_reviews"], b"h2"),
    }

    assert (
        httpx.post(
            f"{url}/documents", content=b"{oops", headers={"Content-Type": "application/json"}, timeout=10
        ).status_code
        == 400
    )
    assert httpx.post(f"{url}/documents", json={"docs": []}, timeout=10).status_code == 400


def test_post_documents_answers_422_when_every_document_is_invalid(ingest_server):
    url, _ = ingest_server
    batch = [
        {"id": "bad-1", "source": "api", "kind": "blog", "text": "x"},
        {"id": "bad-2", "source": "api", "kind": "news"},
    ]

    response = httpx.post(f"{url}/documents", json=batch, timeout=30)

    assert response.status_code == 422
    body = response.json()
    assert body["accepted"] == 0 and [item["id"] for item in body["rejected"]] == ["bad-1", "bad-2"]
    assert httpx.post(f"{url}/documents", json=[], timeout=10).status_code == 200  # nothing to do is not an error


def test_an_ingest_body_over_8_mib_is_refused_and_a_large_array_lets_the_loop_run(ingest_server):
    """Issue 25, item 8: the default body limit is 8 MiB (a 64 MiB body held the loop 4 s), and
    the array an ingest body holds is decoded an element at a time, so the other tasks of the
    server's loop (requests, the worker's consumer heartbeats) run while it is parsed."""
    url, _ = ingest_server
    document = {"id": "x", "source": "api", "kind": "news", "text": "word " * 900}
    over_limit = json.dumps([{**document, "id": f"big-{i}"} for i in range(2_000)]).encode()
    assert len(over_limit) > 8 * 1024 * 1024
    response = httpx.post(
        f"{url}/documents", content=over_limit, headers={"Content-Type": "application/json"}, timeout=60
    )
    assert response.status_code == 413 and "BLOOMWATCH_MAX_BODY_BYTES" in response.json()["error"], response.text

    async def turns_of_other_tasks_while_parsing() -> int:
        turns = 0

        async def other_task() -> None:
            nonlocal turns
            while True:
                turns += 1
                await asyncio.sleep(0)

        running = asyncio.create_task(other_task())
        await asyncio.sleep(0)
        before = turns
        parsed = await parse_json_body(over_limit)
        running.cancel()
        assert len(parsed) == 2_000
        return turns - before

    assert asyncio.run(turns_of_other_tasks_while_parsing()) >= len(over_limit) // (512 * 1024)
