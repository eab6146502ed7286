"""The real-checkpoint path end to end: a BLOOM built from a BloomConfig (random weights) and a
tokenizer trained here, saved as an HF directory, then `bloomwatch train --base <dir>`."""

import json

import pytest
import torch
from training_corpus import keyword_examples
from transformers import AutoTokenizer, BloomForCausalLM, BloomForSequenceClassification
from typer.testing import CliRunner

from app.cli import app
from bloomwatch.settings import get_settings
from bloomwatch.tasks import labels_for
from training.data import load_file, split_examples
from training.evaluate import predict_proba, score
from training.modeling import bloom_config
from training.pipeline import train_task
from training.registry import Registry
from training.tokenizer import train_bpe_tokenizer

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("BLOOMWATCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BLOOMWATCH_DATA_DIR", str(tmp_path / "no-shared-data"))
    monkeypatch.setenv("BLOOMWATCH_TORCH_THREADS", "1")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_base_checkpoint_finetune_register_reload_identical(home):
    examples = keyword_examples(300, seed=5)
    tokenizer = train_bpe_tokenizer([e.text for e in examples], vocab_size=300)
    torch.manual_seed(0)
    base_dir = home / "bloom-random"
    BloomForCausalLM(bloom_config("tiny", tokenizer)).save_pretrained(base_dir, safe_serialization=True)
    tokenizer.save_pretrained(base_dir)
    data = home / "labelled.jsonl"
    data.write_text("".join(json.dumps({"text": e.text, "label": e.label}) + "\n" for e in examples))

    result = CliRunner().invoke(
        app,
        [
            "train",
            "--task",
            "sentiment",
            "--base",
            str(base_dir),
            "--data",
            str(data),
            "--epochs",
            "3",
            "--lr",
            "3e-3",
            "--batch-size",
            "16",
            "--max-len",
            "16",
            "--method",
            "lora",
            "--quantize",
        ],
    )
    assert result.exit_code == 0, result.output
    version = Registry(get_settings().registry_dir).current("sentiment")
    assert version is not None and version.version == "v1"
    assert version.manifest["base"] == {"kind": "checkpoint", "name": str(base_dir)}
    assert version.manifest["method"] == "lora" and version.manifest["servable"] is True
    assert set(version.manifest["data"]["fingerprints"]) == {"train", "val", "test"}
    assert version.manifest["training_config"]["finetune"]["lr"] == 3e-3
    metrics = version.metrics
    assert {"test", "before_finetuning", "baseline_tfidf_lr", "val_history", "int8"} <= set(metrics)
    assert metrics["int8"]["labelled"]["acc_delta"] == pytest.approx(
        metrics["int8"]["labelled"]["acc"] - metrics["test"]["labelled"]["acc"]
    )
    assert str(version.path) in result.output.replace("\n", "")

    # reload exactly as a server would and reproduce the recorded test scores from fresh logits
    model = BloomForSequenceClassification.from_pretrained(version.path, use_safetensors=True, trust_remote_code=False)
    reloaded_tok = AutoTokenizer.from_pretrained(version.path)
    assert type(model) is BloomForSequenceClassification  # LoRA merged: a plain HF model
    test = split_examples(load_file(data, "sentiment").examples, seed=get_settings().seed)["test"]
    probs = predict_proba(model, reloaded_tok, [e.text for e in test], max_len=16)
    again = score([e.label for e in test], probs, labels_for("sentiment"))
    assert again["acc"] == metrics["test"]["labelled"]["acc"]
    assert again["ece"] == pytest.approx(metrics["test"]["labelled"]["ece"], abs=1e-6)
    second = BloomForSequenceClassification.from_pretrained(version.path, use_safetensors=True)
    enc = reloaded_tok([e.text for e in test], padding=True, return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(model(**enc).logits, second(**enc).logits, atol=0, rtol=0)


def test_fast_mode_without_shared_data_uses_builtin_corpus(home):
    version = train_task("topic", fast=True)
    assert version.manifest["data"]["origin"] == "built-in synthetic corpus"
    assert version.manifest["base"]["kind"] == "pretrained-here"
    assert Registry(get_settings().registry_dir).current("topic").version == version.version
    assert (version.path / "config.json").exists() and (version.path / "model.safetensors").exists()
