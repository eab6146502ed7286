"""A task with two lines (training/registry.py): its server serves the current model of each, lists
them main line first with the languages each reads, answers a request with the model it names (the
main line's when it names none), and follows each line's promotions on its own; a request naming a
model a promotion replaced is `ModelNotServed`, never a rejection of its documents. Both engines."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from serving_support import needs_vllm, register_servable, start_server, varied_texts

from classifiers.client import ClassifyClient, ModelNotServed, ServedModel
from training.registry import Registry

LINE = "multilingual"
SWITCH_TIMEOUT_S = {"embedded": 60, "vllm": 400}
# vLLM runs one process per line and a third during the swap: minutes on 2 cores, so the slow suite
ENGINES = ["embedded", pytest.param("vllm", marks=[pytest.mark.vllm, pytest.mark.slow, needs_vllm])]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_server_serves_each_line_and_answers_with_the_model_a_request_names(engine, tmp_path):
    registry = Registry(tmp_path / "models")
    english = register_servable(registry, "sentiment", seed=0)
    other = register_servable(registry, "sentiment", seed=1, languages=["de", "zh"], line=LINE)
    server, url = start_server(engine, "sentiment", registry.root, tmp_path / "home")
    try:
        cards = httpx.get(f"{url}/v1/models", timeout=10).json()["data"]
        assert [(c["id"], c["line"], c["languages"]) for c in cards] == [
            (english.name, "", ["en"]), (other.name, LINE, ["de", "zh"]),
        ]  # fmt: skip
        assert httpx.get(f"{url}/health", timeout=10).json()["lines"] == {"": english.name, LINE: other.name}
        asyncio.run(_ask_both_lines_then_promote(url, registry, english.name, other.name, SWITCH_TIMEOUT_S[engine]))
    finally:
        server.stop()


async def _ask_both_lines_then_promote(url: str, registry: Registry, english: str, other: str, timeout_s: float):
    texts = varied_texts(6)
    async with ClassifyClient(url, "sentiment", timeout_s=120, max_retries=0) as client:
        assert await client.served_models() == (
            ServedModel(english, frozenset({"en"}), ""), ServedModel(other, frozenset({"de", "zh"}), LINE),
        )  # fmt: skip
        by_default, by_name = await client.classify(texts), await client.classify(texts, model=other)
        assert {p.model_version for p in by_default} == {english} and {p.model_version for p in by_name} == {other}
        assert [p.probs for p in by_default] != [p.probs for p in by_name], "two different models answered"
        with pytest.raises(ModelNotServed):
            await client.classify(texts, model="sentiment-v99")

        third = await asyncio.to_thread(register_servable, registry, "sentiment", 2, ["fr"], LINE)
        deadline = time.monotonic() + timeout_s
        while (await client.served_models())[1].name != third.name:
            assert time.monotonic() < deadline, f"line {LINE} still serves {other} after {timeout_s}s"
            await asyncio.sleep(0.5)
        with pytest.raises(ModelNotServed):  # replaced: the caller asks the list again, its documents are not at fault
            await client.classify(texts, model=other)
        assert {p.model_version for p in await client.classify(texts, model=third.name)} == {third.name}
        assert {p.model_version for p in await client.classify(texts)} == {english}, "the main line kept its model"
