"""What one request may make a classifier server do: the body limit holds for chunked bodies
(counted as they arrive, not only by Content-Length), the inputs of one request are capped, a
body `json` cannot decode is a 400 (never a 500), and a token outside its scopes is refused.

The server is the real embedded app with the access middleware `bloomwatch serve` puts in front of
it, on a real uvicorn; the vLLM proxy shares both checks (tests/test_serving_access_vllm.py).
"""

import time

import httpx
import pytest
from serving_support import chunked_classify_body, serve_in_thread

from bloomwatch.access import AccessPolicy
from bloomwatch.settings import Settings
from classifiers.access import AccessMiddleware
from classifiers.server import create_embedded_app

MAX_BODY_BYTES = 300_000
TOKEN, INGEST_ONLY = "worker-token-0123456789", "publisher-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def url(tiny_registry, tmp_path_factory):
    settings = Settings(
        home=tmp_path_factory.mktemp("limits"),
        api_tokens=f"worker={TOKEN},publisher:ingest={INGEST_ONLY}",
        max_body_bytes=MAX_BODY_BYTES,
        serve_max_inputs=100,
    )
    app = create_embedded_app(
        tiny_registry, "sentiment", max_text_chars=settings.max_text_chars, max_inputs=settings.serve_max_inputs,
        max_model_len=128, max_batch_tokens=8192, precision="fp32", reload_poll_s=60,
    )  # fmt: skip
    app.add_middleware(
        AccessMiddleware, policy=AccessPolicy.from_settings(settings.access)
    )  # as `bloomwatch serve` does
    with serve_in_thread(app) as address:
        yield address


def _post(url: str, content, timeout: float = 60) -> httpx.Response:
    return httpx.post(
        f"{url}/classify", content=content, headers={**AUTH, "Content-Type": "application/json"}, timeout=timeout
    )


def test_a_chunked_body_over_the_limit_is_refused_while_it_arrives(url):
    for size in (540_000, 3_000_000):  # the audit's two: 200 and a server held for 65 s before
        started = time.monotonic()
        answer = _post(url, chunked_classify_body(size))
        assert answer.status_code == 413, (size, answer.status_code, answer.text[:300])
        error = answer.json()["error"]
        assert error["type"] == "RequestTooLarge" and "BLOOMWATCH_MAX_BODY_BYTES" in error["message"]
        assert time.monotonic() - started < 10, "the body was read (and classified) whole"
    assert _post(url, b"".join(chunked_classify_body(540_000))).status_code == 413  # with Content-Length, as before
    served = _post(url, chunked_classify_body(50_000))  # under the limit, chunked: classified
    assert served.status_code == 200 and len(served.json()["data"]) == 6, served.text[:300]


def test_the_inputs_of_one_request_are_capped(url):
    answer = httpx.post(f"{url}/classify", json={"input": ["a"] * 12_000}, headers=AUTH, timeout=60)  # ~84 KB
    assert answer.status_code == 413 and "BLOOMWATCH_SERVE_MAX_INPUTS" in answer.json()["error"]["message"], answer.text
    assert httpx.post(f"{url}/classify", json={"input": ["a"] * 100}, headers=AUTH, timeout=60).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        b'{"input": ["x"], "n": ' + b"7" * 5_000 + b"}",  # over CPython's 4,300-digit int limit: ValueError
        b'{"input": [' + b"9" * 4_301 + b"]}",
        b'{"input": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",  # RecursionError
        b'{"input": ["\xff\xfe"]}',  # not UTF-8
    ],
    ids=["huge-int-field", "huge-int-input", "deep-nesting", "not-utf8"],
)
def test_a_body_json_cannot_decode_is_a_400(url, body):
    answer = _post(url, body)
    assert answer.status_code == 400, (answer.status_code, answer.text[:300])
    assert "not valid JSON" in answer.json()["error"]["message"]


def test_a_token_without_the_read_scope_cannot_classify(url):
    answer = httpx.post(f"{url}/classify", json={"input": ["x"]}, headers={"Authorization": f"Bearer {INGEST_ONLY}"})
    assert answer.status_code == 403 and answer.json()["error"]["type"] == "PermissionDeniedError", answer.text
    assert "needs 'read'" in answer.json()["error"]["message"]
