"""Tokenizer training and causal-LM pre-training on a real (tiny) BLOOM."""

import pytest
from transformers import BloomForCausalLM

from training_corpus import keyword_examples, one_torch_thread  # noqa: F401 (fixture)
from training.modeling import bloom_config
from training.pretrain import PretrainConfig, pack_texts, pretrain
from training.tokenizer import train_bpe_tokenizer

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_tokenizer_bloom_special_ids_and_lossless_bytes():
    tokenizer = train_bpe_tokenizer([e.text for e in keyword_examples(200)], vocab_size=300)
    assert [tokenizer.convert_tokens_to_ids(t) for t in ("<unk>", "<s>", "</s>", "<pad>")] == [0, 1, 2, 3]
    assert tokenizer.pad_token_id == 3 and len(tokenizer) <= 300
    text = "Café déjà vu — ünseen wörds 😀"
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text  # byte-level: nothing out of vocabulary
    assert tokenizer.unk_token_id not in tokenizer(text)["input_ids"]


def test_pretraining_lowers_the_loss():
    texts = [e.text for e in keyword_examples(300)]
    tokenizer = train_bpe_tokenizer(texts, vocab_size=300)
    blocks = pack_texts(texts, tokenizer, seq_len=32)
    assert blocks.shape[1] == 32 and (blocks == tokenizer.eos_token_id).any()
    model = BloomForCausalLM(bloom_config("tiny", tokenizer))
    losses = pretrain(model, tokenizer, texts, PretrainConfig(steps=40, seq_len=32, batch_size=8, lr=3e-3), device="cpu", progress=False)
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5
