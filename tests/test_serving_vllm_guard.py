"""A model vLLM's CPU backend cannot run is refused before a vLLM process is started: otherwise
vLLM reports healthy and then its engine dies on the first request."""

import json

import pytest

from classifiers.vllm_process import VllmProcess, VllmStartFailed
from tests.conftest import build_tiny_classifier
from training.registry import Registry


def test_unsupported_head_size_is_refused_with_a_clear_error(tmp_path):
    registry = Registry(tmp_path / "models")
    version = registry.register("sentiment", lambda d: build_tiny_classifier("sentiment", d), manifest={}, metrics={})
    config_path = version.path / "config.json"
    config = json.loads(config_path.read_text())
    config["n_head"] = config["hidden_size"] // 16  # heads of 16: below vLLM CPU's smallest (32)
    config_path.write_text(json.dumps(config))

    process = VllmProcess(version, home=tmp_path, max_model_len=64, kv_cache_gib=1, threads_bind="nobind", threads=1)
    with pytest.raises(VllmStartFailed, match="heads of size 16"):
        process.start()
    assert not process.alive()
