"""A worker with no tokens (the default) against what a page on another site can make a visitor's
browser send it (bloomwatch/browser.py): a `text/plain` or cross-origin POST (CSRF) silences,
labels, ingests or writes nothing, and a request under a rebound name (`Host:
rebind.evil.example`, DNS rebinding) reads nothing; the worker's own kind of client (JSON, no
Origin) and same-origin pages are served. Every route comes from the worker's router.

A real worker process (`bloomwatch worker`) on a real broker; no classifier is needed.
"""

import httpx
import pytest
from pipeline_support import Deployment, concrete_path, worker_routes

pytestmark = pytest.mark.kafka

ALLOWED_NAME = "bloomwatch.test"
SILENCE = {"rule": "negative-share-by-source", "for_s": 7_776_000, "by": "someone", "comment": "csrf"}


@pytest.fixture(scope="module")
def worker(kafka_broker, tmp_path_factory):
    deployment = Deployment(
        root=tmp_path_factory.mktemp("browser"),
        bootstrap=kafka_broker,
        sentiment_url="http://127.0.0.1:9",  # never called: nothing is published here
        topic_url="http://127.0.0.1:9",
        extra_env={"BLOOMWATCH_ALLOWED_HOSTS": ALLOWED_NAME},
    )
    process = deployment.start_worker()
    try:
        yield deployment.api, deployment.worker_port
    finally:
        process.stop(timeout_s=60)


def _silences(api: str) -> list[dict]:
    return [s for s in httpx.get(f"{api}/api/silences", timeout=30).json() if s["comment"] == "csrf"]


def test_cross_site_posts_change_nothing(worker):
    api, port = worker
    posts = [template for method, template in worker_routes() if method == "POST"]
    assert {"/api/silences", "/documents", "/labels", "/api/model-versions", "/api/alerts/{alert_id}/ack"} <= set(posts)
    forged = b'{"rule": "negative-share-by-source", "for_s": 7776000, "by": "x", "document_id": "d", "task": "topic"}'
    for template in posts:
        url = api + concrete_path(template)
        form = httpx.post(url, content=forged, headers={"Content-Type": "text/plain", "Origin": "http://evil.example"})
        assert form.status_code == 403 and "cross-origin" in form.json()["error"], (template, form.text)
        plain = httpx.post(url, content=forged, headers={"Content-Type": "text/plain"})  # no Origin (an old browser)
        assert plain.status_code == 415 and "application/json" in plain.json()["error"], (template, plain.text)
        cross = httpx.post(
            url, json=SILENCE, headers={"Origin": "http://evil.example"}
        )  # after a preflight it never got
        assert cross.status_code == 403, (template, cross.text)
        null = httpx.post(url, json=SILENCE, headers={"Origin": "null"})  # a sandboxed frame
        assert null.status_code == 403, (template, null.text)
    assert _silences(api) == []
    same_origin = httpx.post(f"{api}/api/silences", json=SILENCE, headers={"Origin": f"http://127.0.0.1:{port}"})
    assert same_origin.status_code == 200 and same_origin.json()["created_by"] == "someone", (
        same_origin.text
    )  # no tokens: as claimed
    assert len(_silences(api)) == 1


def test_a_rebound_host_name_reads_nothing(worker):
    api, port = worker
    for method, template in worker_routes():
        url = api + concrete_path(template)
        body = {"json": {}} if method == "POST" else {}
        rebound = httpx.request(method, url, headers={"Host": f"rebind.evil.example:{port}"}, timeout=30, **body)
        assert rebound.status_code == 403 and "BLOOMWATCH_ALLOWED_HOSTS" in rebound.json()["error"], (
            template,
            rebound.text,
        )
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"{ALLOWED_NAME}:{port}", ALLOWED_NAME):
        assert httpx.get(f"{api}/api/stats", headers={"Host": host}, timeout=30).status_code == 200, host
    through_proxy = httpx.post(
        f"{api}/api/silences", json={**SILENCE, "comment": "proxy"}, headers={"Origin": f"https://{ALLOWED_NAME}"}
    )  # a page served under the allowed name, e.g. by a TLS proxy in front
    assert through_proxy.status_code == 200, through_proxy.text
