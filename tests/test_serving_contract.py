"""One `/classify` contract, two servers: the same tests run against `bloomwatch serve --engine
embedded` and `--engine vllm` (real vLLM behind BloomWatch's proxy), each a real subprocess on a
registry model; plus the vLLM-vs-transformers parity check the vLLM plugin exists for."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from serving_support import ENGINES, needs_vllm, register_servable, serve_in_thread, start_server, varied_texts

from bloomwatch.net import free_port
from bloomwatch.tasks import labels_for
from classifiers.client import ClassifierUnavailable, ClassifyClient, ClassifyRejected, ServedModel
from classifiers.embedded import EmbeddedEngine, softmax
from training.registry import Registry

MAX_TEXT_CHARS = 5_000


@pytest.fixture(scope="module", params=ENGINES)
def served(request, tmp_path_factory):
    """(engine, url, model version) of a running server; one per engine for the whole module."""
    root = tmp_path_factory.mktemp(f"serve-{request.param}")
    version = register_servable(Registry(root / "models"), "sentiment", languages=["en", "zh"])
    server, url = start_server(
        request.param, "sentiment", root / "models", root / "home", max_text_chars=MAX_TEXT_CHARS
    )
    yield request.param, url, version
    server.stop()


def classify(url: str, texts: list[str], truncation_side: str | None = None):
    async def go():
        async with ClassifyClient(url, "sentiment", timeout_s=120, max_retries=0) as client:
            return await client.classify(texts, truncation_side)

    return asyncio.run(go())


def test_response_has_vllms_shape_and_names_the_model(served):
    _, url, version = served
    body = httpx.post(f"{url}/classify", json={"input": ["Great phone.", "Awful service."]}, timeout=60).json()
    assert body["model"] == version.name == "sentiment-v1"
    assert [item["index"] for item in body["data"]] == [0, 1]
    for item in body["data"]:
        assert item["num_classes"] == 3 and len(item["probs"]) == 3
        assert item["label"] == labels_for("sentiment")[int(np.argmax(item["probs"]))]
        assert sum(item["probs"]) == pytest.approx(1.0, abs=1e-5)
    assert body["usage"]["prompt_tokens"] > 0


def test_single_string_input_and_explicit_model_name(served):
    _, url, version = served
    body = httpx.post(f"{url}/classify", json={"model": version.name, "input": "Great phone."}, timeout=60).json()
    assert len(body["data"]) == 1 and body["model"] == version.name


def test_client_returns_predictions_in_input_order_across_batches(served):
    _, url, version = served
    texts = varied_texts(70)  # more than the client's batch size: several concurrent requests
    predictions = classify(url, texts)
    assert len(predictions) == 70
    assert all(p.model_version == version.name for p in predictions)
    assert list(predictions[0].probs) == list(labels_for("sentiment"))
    # a text repeated at another position gets the same answer: order is kept
    assert predictions[0].probs == pytest.approx(classify(url, [texts[0]])[0].probs, abs=1e-5)


def test_text_longer_than_the_model_context_is_truncated_not_rejected(served):
    """Cut to the context, from the end by default and from the start when the client asks for
    `truncation_side: left` (what the worker asks for a review's sentiment): the same tokens as
    the in-process engine keeps."""
    _, url, version = served
    long_text = " ".join(varied_texts(40))[: MAX_TEXT_CHARS - 1]  # far over 512 tokens
    local = EmbeddedEngine.from_version(version)
    for side in ("right", "left"):
        (prediction,) = classify(url, [long_text], truncation_side=side)
        (expected,) = softmax(local.logits(local.tokenize([long_text], -1, side)))
        assert list(prediction.probs.values()) == pytest.approx(list(expected), abs=1e-4)
    assert classify(url, [long_text])[0].probs == pytest.approx(
        classify(url, [long_text], truncation_side="right")[0].probs, abs=1e-6
    )
    assert classify(url, [long_text], truncation_side="left")[0].probs != pytest.approx(
        classify(url, [long_text])[0].probs, abs=1e-3
    )


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"input": []}, 400),
        ({"input": ["fine", 3]}, 400),
        ({"input": [""]}, 400),
        ({"input": "x" * (MAX_TEXT_CHARS + 1)}, 413),
        ({"model": "sentiment-v999", "input": ["fine"]}, 404),
        ({"inputs": ["misspelt field"]}, 400),
        (b"{not json", 400),
    ],
    ids=["empty-input", "non-string-item", "empty-text", "over-size-limit", "unknown-model", "no-input", "bad-json"],
)
def test_bad_requests_get_a_4xx_with_a_message_and_the_server_keeps_serving(served, payload, status):
    _, url, _ = served
    if isinstance(payload, bytes):
        response = httpx.post(
            f"{url}/classify", content=payload, headers={"content-type": "application/json"}, timeout=60
        )
    else:
        response = httpx.post(f"{url}/classify", json=payload, timeout=60)
    assert response.status_code == status, response.text
    assert response.json()["error"]["message"]
    assert httpx.get(f"{url}/health", timeout=10).status_code == 200
    assert len(classify(url, ["still serving"])) == 1


def test_client_raises_rejected_for_bad_input_without_retrying(served):
    _, url, _ = served
    with pytest.raises(ClassifyRejected) as rejected:
        classify(url, ["x" * (MAX_TEXT_CHARS + 1)])
    assert rejected.value.status_code == 413 and "limit" in rejected.value.message


def test_models_and_metrics_endpoints(served):
    engine, url, version = served
    models = httpx.get(f"{url}/v1/models", timeout=10).json()
    assert [(m["id"], m["languages"]) for m in models["data"]] == [(version.name, ["en", "zh"])]
    assert httpx.get(f"{url}/health", timeout=10).json()["languages"] == ["en", "zh"]
    assert asyncio.run(served_models(url)) == (ServedModel(version.name, frozenset({"en", "zh"})),)
    metrics = httpx.get(f"{url}/metrics", timeout=10).text
    served = f'bloomwatch_served_model_info{{engine="{engine}",line="",model="{version.name}",task="sentiment"}} 1.0'
    assert served in metrics
    assert 'bloomwatch_classify_requests_total{status="200"}' in metrics


def served_models(url: str) -> Coroutine[Any, Any, tuple[ServedModel, ...]]:
    async def go():
        async with ClassifyClient(url, "sentiment", timeout_s=30, max_retries=0) as client:
            return await client.served_models()

    return go()


def test_a_server_that_does_not_say_which_languages_serves_an_english_model():
    """Plain vLLM (or a BloomWatch server from before the field) lists its model without
    `languages`: the model reads English, as a manifest without them does."""
    plain_vllm = FastAPI()

    @plain_vllm.get("/v1/models")
    async def models() -> dict:  # vLLM's answer, field for field
        return {"object": "list", "data": [{"id": "sentiment-v4", "object": "model", "created": 1765000000,
                "owned_by": "vllm", "root": "/models/sentiment/v4", "parent": None, "max_model_len": 512,
                "permission": [{"id": "modelperm-1", "object": "model_permission", "allow_sampling": True}]}]}  # fmt: skip

    with serve_in_thread(plain_vllm) as url:
        assert asyncio.run(served_models(url)) == (ServedModel("sentiment-v4", frozenset({"en"})),)


def test_client_reports_a_server_that_is_down():
    async def go(ask):
        async with ClassifyClient(
            f"http://127.0.0.1:{free_port()}", "sentiment", max_retries=2, backoff_s=0.01
        ) as client:
            assert await client.health() is False
            await ask(client)

    with pytest.raises(ClassifierUnavailable, match="after 3 attempts"):
        asyncio.run(go(lambda client: client.classify(["anyone there?"])))
    with pytest.raises(ClassifierUnavailable, match="after 3 attempts"):
        asyncio.run(go(lambda client: client.served_models()))


@needs_vllm
@pytest.mark.vllm
def test_vllm_probabilities_equal_the_embedded_engine(served):
    """fp32 vLLM (with the BLOOM plugin) vs transformers in-process, on 50 texts of mixed length."""
    engine, url, version = served
    if engine != "vllm":
        pytest.skip("compares the vLLM server with the in-process engine")
    texts = varied_texts(49) + [" ".join(varied_texts(40))[: MAX_TEXT_CHARS - 1]]  # one truncated text
    served_predictions = classify(url, texts)
    local_predictions = EmbeddedEngine.from_version(version).classify(texts)
    served_probs = np.array([list(p.probs.values()) for p in served_predictions])
    local_probs = np.array([list(p.probs.values()) for p in local_predictions])
    assert np.abs(served_probs - local_probs).max() < 1e-4
    assert [p.label for p in served_predictions] == [p.label for p in local_predictions]


def _metric(url: str, name: str) -> float:
    """The sum of a Prometheus counter's samples on the server's /metrics (0 when absent)."""
    lines = httpx.get(f"{url}/metrics", timeout=10).text.splitlines()
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith(name + "{") or line.startswith(name + " ")
    )


def test_requests_their_client_abandoned_are_not_classified_for_nobody(served):
    """Four requests of 400 texts at once from a client that gives up after 0.3 s: the embedded
    server skips the three still queued behind the first pass; the vLLM proxy cancels all four
    (closes its connections to vLLM, which aborts them). Each is counted as 499."""
    engine, url, _ = served
    texts = varied_texts(400)
    gone_before = _metric(url, 'bloomwatch_classify_requests_total{status="499"}')

    async def go():
        async with ClassifyClient(url, "sentiment", timeout_s=0.3, max_retries=0, batch_size=len(texts)) as client:
            return await asyncio.gather(*(client.classify(texts) for _ in range(4)), return_exceptions=True)

    outcomes = asyncio.run(go())
    assert all(isinstance(outcome, ClassifierUnavailable) for outcome in outcomes), outcomes
    assert len(classify(url, ["queued behind what is left"])) == 1
    gone = _metric(url, 'bloomwatch_classify_requests_total{status="499"}') - gone_before
    # embedded: the three queued behind the first pass, or all four when a busy server had not even
    # read the first one in before its client left
    assert gone in ((3, 4) if engine == "embedded" else (4,)), gone
