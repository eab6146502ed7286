"""Checkpoints and int8 exports are read with `torch.load(weights_only=True)`: a file planted in a
run directory or a model directory cannot run code, and what we write ourselves still loads."""

import pickle

import pytest
import torch
from conftest import build_tiny_classifier
from training_corpus import keyword_examples
from transformers import BloomForCausalLM, BloomForSequenceClassification

from training.modeling import bloom_config
from training.pretrain import CHECKPOINT, PretrainConfig, pack_texts, pretrain
from training.quantize import INT8_DIR, load_int8, quantize_int8, save_int8
from training.tokenizer import train_bpe_tokenizer


class Planted:
    """Unpickling this would create `path`: the proof that a load ran code."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def plant(path, marker) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": Planted(marker)}, path)


def test_a_planted_pretraining_checkpoint_runs_no_code(tmp_path):
    texts = [e.text for e in keyword_examples(100)]
    tokenizer = train_bpe_tokenizer(texts, vocab_size=300)
    run_dir, marker = tmp_path / "run", tmp_path / "ran"
    plant(run_dir / CHECKPOINT, marker)
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        pretrain(BloomForCausalLM(bloom_config("tiny", tokenizer)), pack_texts(texts, tokenizer, seq_len=32),
                 PretrainConfig(steps=2, seq_len=32, batch_size=4), run_dir=run_dir, device="cpu", progress=False)  # fmt: skip
    assert not marker.exists()


def test_int8_weights_round_trip_and_a_planted_export_runs_no_code(tmp_path):
    model_dir = build_tiny_classifier("sentiment", tmp_path / "model")
    model = BloomForSequenceClassification.from_pretrained(model_dir, use_safetensors=True).eval()
    save_int8(quantize_int8(model), model_dir)
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        torch.testing.assert_close(
            load_int8(model_dir)(input_ids=ids).logits, quantize_int8(model)(input_ids=ids).logits
        )

    marker = tmp_path / "ran"
    plant(model_dir / INT8_DIR / "state_dict.pt", marker)
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        load_int8(model_dir)
    assert not marker.exists()
