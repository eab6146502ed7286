"""The pipeline with everything locked: a real KRaft broker with a SASL_PLAINTEXT SCRAM listener
(scripts/kafka.sh), classifier servers and a worker that ask for tokens, with size and rate
limits. The worker's own clients (ClassifyClient, the publisher, faust) carry the credentials, so
documents still flow; strangers get 401, oversized requests 413, bursts 429 with Retry-After;
wrong Kafka credentials are refused with a clear error; and no secret reaches any log.

Each token may do only what its scopes allow (the dashboard's cookie token cannot silence alerts or
write the retraining audit), and the actor recorded (annotator, `by`) is the token's client.

The secrets are drawn per run, so the final grep cannot match a value written by anything else.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import stat
import subprocess

import httpx
import pytest
from kafka_consume import read_topic
from pipeline_support import Deployment, concrete_path, start_classifier, synthetic_documents, wait_until, worker_routes
from pydantic import SecretStr

from app.processes import ManagedProcess, bloomwatch_command, http_ok
from bloomwatch.net import free_port
from streams.broker import KafkaBroker
from streams.kafka_security import KafkaSecurityError, client_options
from streams.topics import ensure_topics, topic_specs

pytestmark = pytest.mark.kafka

SASL_USER = "bloomwatch"
SASL_PASSWORD = f"scram-{secrets.token_hex(12)}"
WRONG_PASSWORD = f"wrong-{secrets.token_hex(12)}"
TOKENS = {
    name: f"{name}-{secrets.token_urlsafe(18)}"
    for name in ("pipeline", "auth", "sizes", "burst", "reader", "dashboard")
}
SASL_ENV = {
    "BLOOMWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    "BLOOMWATCH_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "BLOOMWATCH_KAFKA_SASL_USERNAME": SASL_USER,
    "BLOOMWATCH_KAFKA_SASL_PASSWORD": SASL_PASSWORD,
}
SCOPED = {"reader": "reader:read", "dashboard": None}  # the dashboard's token has its own setting
ACCESS_ENV = {
    "BLOOMWATCH_API_TOKENS": ",".join(
        f"{SCOPED.get(name, name)}={token}" for name, token in TOKENS.items() if SCOPED.get(name, name)
    ),  # pipeline: first, so the worker's own clients send it
    "BLOOMWATCH_DASHBOARD_TOKEN": TOKENS["dashboard"],
    "BLOOMWATCH_MAX_BODY_BYTES": "300000",
    "BLOOMWATCH_MAX_BATCH": "50",
}
WORKER_RATE, CLASSIFIER_RATE = "20/second", "60/second"


def _auth(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[name]}"}


@pytest.fixture(scope="module")
def secured(tiny_registry, tmp_path_factory):
    root = tmp_path_factory.mktemp("secured")
    broker = KafkaBroker(root / "kafka", free_port(), security=SASL_ENV)
    broker.start()
    servers: list[ManagedProcess] = []
    try:
        urls = {}
        for task in ("sentiment", "topic"):
            port = free_port()
            env = {**ACCESS_ENV, "BLOOMWATCH_RATE_LIMIT": CLASSIFIER_RATE}
            servers.append(start_classifier(task, tiny_registry.root, port, root / "logs", env=env))
            urls[task] = f"http://127.0.0.1:{port}"
        deployment = Deployment(
            root=root,
            bootstrap=broker.bootstrap,
            sentiment_url=urls["sentiment"],
            topic_url=urls["topic"],
            extra_env={**SASL_ENV, **ACCESS_ENV, "BLOOMWATCH_RATE_LIMIT": WORKER_RATE},
        )
        servers.append(deployment.start_worker())
        yield {"deployment": deployment, "broker": broker, "urls": urls, "root": root, "servers": servers}
    finally:
        for server in reversed(servers):
            server.stop(timeout_s=60)
        broker.stop()


def test_documents_flow_through_sasl_kafka_and_token_guarded_servers(secured):
    deployment: Deployment = secured["deployment"]
    published = deployment.publish(synthetic_documents(40, prefix="sasl"))  # the publisher logs in with SCRAM
    over_http = synthetic_documents(10, prefix="http")
    response = httpx.post(f"{deployment.api}/documents", json=over_http, headers=_auth("pipeline"), timeout=30)
    assert response.status_code == 200 and response.json()["accepted"] == 10, response.text
    label = {"document_id": published[0], "task": "sentiment", "label": "negative", "annotator": "test"}
    assert httpx.post(f"{deployment.api}/labels", json=label, headers=_auth("pipeline"), timeout=30).status_code == 200
    # stored: faust consumed with SCRAM and the worker's ClassifyClient sent its token to both servers
    wait_until(lambda: deployment.count() == 50, 180, "50 stored documents")


JSON = {"Content-Type": "application/json"}


def test_every_worker_route_needs_a_token(secured):
    """Every route the worker's router holds, so a route added later is checked too."""
    api = secured["deployment"].api
    routes = worker_routes()
    assert {("POST", "/api/silences"), ("GET", "/api/stats"), ("GET", "/dashboard")} <= set(routes), routes
    for method, template in routes:
        url = api + concrete_path(template)
        body = {"content": b"{}"} if method == "POST" else {}
        anonymous = httpx.request(method, url, headers=JSON, timeout=30, **body)
        wrong = httpx.request(method, url, headers={**JSON, "Authorization": "Bearer nope"}, timeout=30, **body)
        assert anonymous.status_code == 401 and "missing API token" in anonymous.json()["error"], (
            template,
            anonymous.text,
        )
        assert wrong.status_code == 401 and "wrong API token" in wrong.json()["error"], (template, wrong.text)
        allowed = httpx.request(method, url, headers={**JSON, **_auth("auth")}, timeout=30, **body)
        # authorised: a plain GET answers (400 where it needs a parameter, e.g. ?task=); a templated
        # path or a `{}` body may also be refused for its content (404, 422), never for the token
        answers = (200, 303, 400) if method == "GET" and "{" not in template else (200, 303, 400, 404, 422)
        assert allowed.status_code in answers, (method, template, allowed.status_code, allowed.text[:300])
    assert httpx.get(f"{api}/dashboard/static/app.css", timeout=30).status_code == 200  # no data in static files
    # `?token=` opens the dashboard page only (then its cookie serves the page's calls), never an API route
    assert httpx.get(f"{api}/api/stats", params={"token": TOKENS["auth"]}, timeout=30).status_code == 401


def test_the_dashboard_takes_its_token_out_of_the_address_and_cannot_be_framed(secured):
    api = secured["deployment"].api
    with httpx.Client(base_url=api, timeout=30) as browser:
        opened = browser.get("/dashboard", params={"token": TOKENS["dashboard"], "source": "acme"})
        assert opened.status_code == 303 and opened.headers["Location"] == "/dashboard?source=acme", opened.headers
        assert "HttpOnly" in opened.headers["Set-Cookie"] and "SameSite=Strict" in opened.headers["Set-Cookie"]
        page = browser.get(opened.headers["Location"])  # the cookie, no token in the address
        assert page.status_code == 200 and "<html" in page.text
        assert browser.get("/api/dashboard/options").status_code == 200
    csp = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert page.headers["X-Frame-Options"] == "DENY" and page.headers["X-Content-Type-Options"] == "nosniff"


def test_each_token_may_do_what_its_scopes_allow_and_is_the_recorded_actor(secured):
    deployment: Deployment = secured["deployment"]
    api = deployment.api
    silence = {"rule": "negative-share-by-source", "for_s": 60, "by": "mallory", "comment": "scopes"}
    audit = {"run_id": "forged", "task": "sentiment", "trigger": "drift", "decision": "rejected"}
    for name in ("dashboard", "reader"):  # the dashboard's cookie token may not touch alerts or the audit
        for path, body in (("/api/silences", silence), ("/api/model-versions", audit), ("/documents", [])):
            refused = httpx.post(api + path, json=body, headers=_auth(name), timeout=30)
            assert refused.status_code == 403 and "needs '" in refused.json()["error"], (name, path, refused.text)
        assert httpx.get(f"{api}/api/stats", headers=_auth(name), timeout=30).status_code == 200
    assert httpx.post(f"{api}/labels", json={}, headers=_auth("reader"), timeout=30).status_code == 403
    assert not [
        s
        for s in httpx.get(f"{api}/api/silences", headers=_auth("auth"), timeout=30).json()
        if s["comment"] == "scopes"
    ]

    created = httpx.post(f"{api}/api/silences", json=silence, headers=_auth("auth"), timeout=30)
    assert created.status_code == 200 and created.json()["created_by"] == "auth", created.text  # not "mallory"
    label = {"document_id": "actor-1", "task": "topic", "label": "world", "annotator": "mallory"}
    assert httpx.post(f"{api}/labels", json=label, headers=_auth("dashboard"), timeout=30).status_code == 200
    settings = deployment.settings
    labels = read_topic(deployment.bootstrap, settings.topic_labels, **client_options(settings.kafka))
    assert [event["annotator"] for event in labels if event["document_id"] == "actor-1"] == ["dashboard"]


def test_ingest_size_limits_answer_413_and_publish_nothing(secured):
    api = secured["deployment"].api
    auth = _auth("sizes")
    short = synthetic_documents(51, prefix="big")
    for path, records in (
        ("/documents", short),
        ("/labels", [{"document_id": d["id"], "task": "topic", "label": "world"} for d in short]),
    ):
        response = httpx.post(api + path, json=records, headers=auth, timeout=30)
        assert response.status_code == 413 and "the limit is 50 (BLOOMWATCH_MAX_BATCH)" in response.json()["error"], (
            response.text
        )
    long_text = [
        *synthetic_documents(2, prefix="ok"),
        {**synthetic_documents(1, prefix="long")[0], "text": "x" * 20_001},
    ]
    response = httpx.post(f"{api}/documents", json=long_text, headers=auth, timeout=30)
    assert response.status_code == 413, response.text
    assert response.json()["too_large"] == [{"index": 2, "id": "long-00000", "chars": 20_001}]
    body = [{**doc, "text": "y" * 19_000} for doc in synthetic_documents(20, prefix="bytes")]  # ~380 kB > 300 kB
    response = httpx.post(f"{api}/documents", json=body, headers=auth, timeout=30)
    assert response.status_code == 413 and "BLOOMWATCH_MAX_BODY_BYTES" in response.json()["error"], response.text

    def chunked():  # no Content-Length: the limit is found while the body is read
        yield b"["
        for _ in range(400):
            yield b'{"id": "c", "source": "s", "kind": "news", "text": "' + b"z" * 1000 + b'"},'
        yield b"{}]"

    response = httpx.post(
        f"{api}/documents", content=chunked(), headers={**auth, "Content-Type": "application/json"}, timeout=30
    )
    assert response.status_code == 413 and "BLOOMWATCH_MAX_BODY_BYTES" in response.json()["error"], response.text
    secured["deployment"].wait_until_committed(60)  # whatever reached the topics is stored by now
    for document_id in ("big-00000", "ok-00000", "long-00000", "bytes-00000", "c"):
        search = httpx.get(f"{api}/api/documents/{document_id}", headers=auth, timeout=30)
        assert search.status_code == 404, document_id  # nothing of a refused request was published


async def _burst(url: str, headers: dict[str, str], n: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(headers=headers, timeout=30) as client:
        return await asyncio.gather(*(client.get(url) for _ in range(n)))


def test_rate_limits_answer_429_with_retry_after_per_client(secured):
    api, urls = secured["deployment"].api, secured["urls"]
    for url, limit in ((f"{api}/metrics", 20), (f"{urls['sentiment']}/v1/models", 60)):
        answers = asyncio.run(_burst(url, _auth("burst"), 3 * limit))
        refused = [a for a in answers if a.status_code == 429]
        assert refused and all(a.status_code in (200, 429) for a in answers), [a.status_code for a in answers]
        assert all(int(a.headers["Retry-After"]) >= 1 for a in refused)
        assert "rate limit" in refused[0].text and "burst" in refused[0].text
        assert httpx.get(url, headers=_auth("pipeline"), timeout=30).status_code == 200  # its own budget


def test_classifier_servers_need_a_token_and_bound_the_body(secured):
    for url in secured["urls"].values():
        payload = {"input": ["The port reopened after the storm."]}
        anonymous = httpx.post(f"{url}/classify", json=payload, timeout=30)
        assert anonymous.status_code == 401 and anonymous.json()["error"]["type"] == "AuthenticationError"
        wrong = httpx.post(f"{url}/classify", json=payload, headers={"Authorization": "Bearer nope"}, timeout=30)
        assert wrong.status_code == 401
        assert httpx.get(f"{url}/metrics", timeout=30).status_code == 401
        assert httpx.get(f"{url}/health", timeout=30).status_code == 200  # probes carry no token
        assert httpx.post(f"{url}/classify", json=payload, headers=_auth("auth"), timeout=30).status_code == 200
        huge = {"input": ["w " * 9_000] * 20}  # ~360 kB
        too_big = httpx.post(f"{url}/classify", json=huge, headers=_auth("sizes"), timeout=30)
        assert too_big.status_code == 413 and "BLOOMWATCH_MAX_BODY_BYTES" in too_big.json()["error"]["message"]


def test_standalone_ingest_server_applies_the_same_policy(secured):
    deployment: Deployment = secured["deployment"]
    port = free_port()
    server = ManagedProcess(
        "ingest", bloomwatch_command("ingest", "--port", str(port)), log_path=secured["root"] / "ingest.log",
        env={**deployment.env, "BLOOMWATCH_RATE_LIMIT": "2/minute"},
    ).start()  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        server.wait_ready(lambda: http_ok(f"{url}/healthz"), timeout_s=120)
        assert httpx.post(f"{url}/documents", json=[], timeout=30).status_code == 401
        docs = synthetic_documents(51, prefix="standalone")
        assert httpx.post(f"{url}/documents", json=docs, headers=_auth("auth"), timeout=30).status_code == 413
        accepted = httpx.post(f"{url}/documents", json=docs[:5], headers=_auth("auth"), timeout=30)
        assert accepted.status_code == 200 and accepted.json()["accepted"] == 5  # over SASL to the broker
        limited = httpx.post(f"{url}/documents", json=docs[:5], headers=_auth("auth"), timeout=30)
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    finally:
        server.stop(timeout_s=30)
    wait_until(lambda: deployment.count() >= 55, 120, "the standalone ingest's documents stored")


def test_wrong_kafka_credentials_are_refused_with_a_clear_error(secured):
    deployment: Deployment = secured["deployment"]
    wrong = deployment.settings.model_copy(update={"kafka_sasl_password": SecretStr(WRONG_PASSWORD)})
    with pytest.raises(KafkaSecurityError, match=f"refused user '{SASL_USER}' .*invalid credentials"):
        asyncio.run(ensure_topics(deployment.bootstrap, topic_specs(wrong.kafka), **client_options(wrong.kafka)))
    env = {**os.environ, **deployment.env, "BLOOMWATCH_KAFKA_SASL_PASSWORD": WRONG_PASSWORD}
    documents = secured["root"] / "docs.jsonl"
    documents.write_text('{"id": "w1", "source": "s", "kind": "news", "text": "Refused."}\n')
    publish = subprocess.run(
        bloomwatch_command("publish", "--topic", "news", str(documents)),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    said = " ".join((publish.stdout + publish.stderr).split())  # the console wraps long lines
    assert publish.returncode == 2 and "refused user 'bloomwatch'" in said and "invalid credentials" in said, said
    worker = subprocess.run(
        bloomwatch_command("worker"), env={**env, "BLOOMWATCH_WORKER_PORT": str(free_port())},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    (secured["root"] / "refused-worker.log").write_text(worker.stdout + worker.stderr)
    assert worker.returncode != 0 and "worker: Kafka at" in worker.stderr and "invalid credentials" in worker.stderr


def test_no_secret_in_any_log_of_the_run(secured):
    """Last in the module: every log its processes wrote (worker, classifiers, ingest, the broker's
    server.log and format.log, the refused commands), and the broker's config file's mode."""
    for server in secured["servers"]:
        server.stop(timeout_s=60)  # flush and close their logs
    root = secured["root"]
    logs = [path for path in root.rglob("*") if path.is_file() and (path.suffix == ".log" or ".log." in path.name)]
    names = {path.name for path in logs}
    assert {"server.log", "format.log", "worker.log", "ingest.log"} <= names, names
    values = [SASL_PASSWORD, WRONG_PASSWORD, *TOKENS.values()]
    for path in logs:
        text = path.read_text(errors="replace")
        leaked = [value[:8] + "…" for value in values if value in text]
        assert not leaked, f"{path} holds secrets {leaked}"
    config = secured["broker"].home / "server.properties"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600  # the one file that holds the broker's password
