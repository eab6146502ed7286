"""Hot reload under load: promote a new version while requests stream in; no request may fail and
the version in the responses must switch once, for good. Runs against both engines."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from serving_support import ENGINES, register_servable, start_server, varied_texts

from classifiers.client import ClassifyClient, ServedModel
from training.registry import Registry

SWITCH_TIMEOUT_S = {"embedded": 60, "vllm": 400}


@pytest.mark.parametrize("engine", ENGINES)
def test_promoting_a_version_switches_the_served_model_without_failing_requests(engine, tmp_path):
    registry = Registry(tmp_path / "models")
    first = register_servable(registry, "sentiment", seed=0)
    server, url = start_server(engine, "sentiment", registry.root, tmp_path / "home")
    try:
        versions, second = asyncio.run(_stream_while_promoting(url, registry, SWITCH_TIMEOUT_S[engine]))
    finally:
        server.stop()
    # every request succeeded (max_retries=0: a failure would have raised) and the switch is clean
    assert versions[0] == first.name and versions[-1] == second.name
    switch = versions.index(second.name)
    assert set(versions[:switch]) == {first.name} and set(versions[switch:]) == {second.name}


async def _stream_while_promoting(url: str, registry: Registry, timeout_s: float) -> tuple[list[str], object]:
    texts = varied_texts(8)
    versions: list[str] = []
    async with ClassifyClient(url, "sentiment", timeout_s=120, max_retries=0) as client:
        for _ in range(3):
            versions.extend({p.model_version for p in await client.classify(texts)})
        # a manifest without `languages` reads English
        assert await client.served_models() == (ServedModel(versions[0], frozenset({"en"})),)
        second = await asyncio.to_thread(register_servable, registry, "sentiment", 1, ["en", "zh"])  # promotes it
        deadline = time.monotonic() + timeout_s
        while versions[-3:].count(second.name) < 3:
            assert time.monotonic() < deadline, f"still serving {versions[-1]} after {timeout_s}s"
            batch = await client.classify(texts)
            assert len({p.model_version for p in batch}) == 1, "one response, one model"
            versions.append(batch[0].model_version)
            await asyncio.sleep(0.1)
        # read at each request: the languages of the version served now
        assert await client.served_models() == (ServedModel(second.name, frozenset({"en", "zh"})),)
    models = httpx.get(f"{url}/v1/models", timeout=10).json()
    assert [(m["id"], m["languages"]) for m in models["data"]] == [(second.name, ["en", "zh"])]
    return versions, second
