"""Tokenizer training, causal-LM pre-training (resumable) and the registered base, on real tiny BLOOMs."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from training_corpus import keyword_examples
from transformers import BloomForCausalLM

from training.modeling import bloom_config
from training.pretrain import CHECKPOINT, PretrainConfig, pack_texts, pretrain
from training.tokenizer import TokenizerKind, train_bpe_tokenizer

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_tokenizer_bloom_special_ids_and_lossless_bytes():
    tokenizer = train_bpe_tokenizer([e.text for e in keyword_examples(200)], vocab_size=300, kind=TokenizerKind.CASED)
    assert [tokenizer.convert_tokens_to_ids(t) for t in ("<unk>", "<s>", "</s>", "<pad>")] == [0, 1, 2, 3]
    assert tokenizer.pad_token_id == 3 and len(tokenizer) <= 300
    text = "Café déjà vu — ünseen wörds 😀"
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text  # byte-level: nothing out of vocabulary
    assert tokenizer.unk_token_id not in tokenizer(text)["input_ids"]


def test_default_tokenizer_gives_letter_case_no_label_signal(tmp_path):
    tokenizer = train_bpe_tokenizer([e.text for e in keyword_examples(200)], vocab_size=300)
    assert tokenizer("The Phone Was GREAT")["input_ids"] == tokenizer("the phone was great")["input_ids"]
    tokenizer.save_pretrained(tmp_path)  # the normaliser travels with the model to every engine
    from transformers import AutoTokenizer

    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert reloaded("SUPERB Hotel")["input_ids"] == reloaded("superb hotel")["input_ids"]


# Chinese hotel reviews and German sentences built from a few words: every character of _ZH is frequent
_ZH = ["酒店很好。", "服务非常好。", "房间很干净。", "早餐不好。", "服务很差。", "房间非常干净，酒店很好。"]
_DE = ["Das Essen war gut.", "Wir essen heute im Hotel.", "Die Bahn kam zu spät.", "Sie sagt, die Bahn ist pünktlich."]


def _multilingual_texts(n: int = 600) -> list[str]:
    english = [e.text for e in keyword_examples(n)]
    return [(english[i], _ZH[i // 3 % len(_ZH)], _DE[i // 3 % len(_DE)])[i % 3] for i in range(n)]


def test_multilingual_tokenizer_frequent_cjk_characters_are_one_token_rare_ones_bytes(tmp_path):
    from transformers import AutoTokenizer

    trained = train_bpe_tokenizer(_multilingual_texts(), vocab_size=600, kind=TokenizerKind.MULTILINGUAL)
    trained.save_pretrained(tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)  # the pre-tokenizer travels in tokenizer.json

    def pieces(text: str) -> list[str]:
        return [tokenizer.decode([i]) for i in tokenizer(text, add_special_tokens=False)["input_ids"]]

    assert pieces("酒店服务很好") == ["酒", "店", "服", "务", "很", "好"]  # one token a character, never a clause
    rare = pieces("龘")  # not in the training text: its UTF-8 bytes, nothing out of vocabulary
    assert len(rare) > 1 and tokenizer.decode(tokenizer("龘")["input_ids"]) == "龘"
    for text in ("房间非常干净。早餐不好。", "Die Bahn kam zu spät, das Essen war gut.", "龘 und 𠀀"):
        assert tokenizer.decode(tokenizer(text)["input_ids"]) == text
    assert tokenizer.unk_token_id not in tokenizer("Ωμέγα ñandú 😀 龘")["input_ids"]
    # no lowercasing: a German noun and its verb stay apart
    assert tokenizer("Essen")["input_ids"] != tokenizer("essen")["input_ids"]
    # NFKC: a full-width comma is the ASCII one
    assert tokenizer.decode(tokenizer("干净，很好")["input_ids"]) == "干净,很好"


def _tiny(texts):
    tokenizer = train_bpe_tokenizer(texts, vocab_size=300)
    torch.manual_seed(0)
    return tokenizer, BloomForCausalLM(bloom_config("tiny", tokenizer))


def test_pretraining_lowers_the_loss():
    texts = [e.text for e in keyword_examples(300)]
    tokenizer, model = _tiny(texts)
    blocks = pack_texts(texts, tokenizer, seq_len=32)
    assert blocks.shape[1] == 32 and (blocks == tokenizer.eos_token_id).any()
    result = pretrain(
        model, blocks, PretrainConfig(steps=40, seq_len=32, batch_size=8, lr=3e-3), device="cpu", progress=False
    )
    assert result.complete and result.steps_done == 40
    assert sum(result.losses[-5:]) / 5 < 0.8 * sum(result.losses[:5]) / 5


def test_time_budget_stops_and_a_rerun_continues_the_same_curve(tmp_path):
    """Stopped by its budget then resumed, a run ends with the weights and loss curve of an uninterrupted one."""
    texts = [e.text for e in keyword_examples(300)]
    tokenizer, _ = _tiny(texts)
    blocks = pack_texts(texts, tokenizer, seq_len=32)
    config = PretrainConfig(steps=30, seq_len=32, batch_size=8, lr=3e-3)

    def fresh():
        torch.manual_seed(0)
        return BloomForCausalLM(bloom_config("tiny", tokenizer))

    straight = pretrain(fresh(), blocks, config, device="cpu", progress=False)

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    stopped = pretrain(
        fresh(),
        blocks,
        PretrainConfig(**{**config.__dict__, "time_limit_s": 0.0}),
        run_dir=run_dir,
        device="cpu",
        progress=False,
    )
    assert not stopped.complete and stopped.steps_done < 30 and (run_dir / CHECKPOINT).exists()
    resumed_model = fresh()
    resumed = pretrain(resumed_model, blocks, config, run_dir=run_dir, device="cpu", progress=False)
    assert resumed.complete and len(resumed.losses) == 30
    assert resumed.losses == pytest.approx(straight.losses, rel=1e-4)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_pretrain_command_killed_mid_run_resumes_from_its_checkpoint(tmp_path):
    """`bloomwatch pretrain` killed with SIGKILL continues from its last checkpoint, then registers the base."""
    data = tmp_path / "data"
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(e.text for e in keyword_examples(3000)))
    env = {
        **os.environ,
        "BLOOMWATCH_HOME": str(tmp_path / "home"),
        "BLOOMWATCH_DATA_DIR": str(data),
        "BLOOMWATCH_TORCH_THREADS": "1",
    }
    cmd = [sys.executable, "-c", "from app.cli import app; app()", "pretrain", "--preset", "tiny", "--max-tokens", "480000",
           "--seq-len", "32", "--batch-size", "8", "--extra", str(corpus), "--checkpoint-every-s", "1"]  # fmt: skip
    run = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    runs = tmp_path / "home" / "pretrain-runs"
    deadline = time.monotonic() + 120
    while not list(runs.glob("*/checkpoint.pt")) and time.monotonic() < deadline:
        time.sleep(0.2)
    # killed as soon as the first checkpoint (~1 s in) exists: the run must still be going, and on
    # a fast idle host a 468-step run had already finished 1.5 s after its first checkpoint
    run.send_signal(signal.SIGKILL)
    run.wait()
    checkpoint = next(runs.glob("*/checkpoint.pt"))
    steps_at_kill = torch.load(checkpoint, weights_only=True)["step"]
    assert 0 < steps_at_kill < 1875
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    base = tmp_path / "home" / "models" / "base"
    assert (base / "current").read_text().strip() == "v1"
    metrics = json.loads((base / "v1" / "metrics.json").read_text())
    assert metrics["steps"] == 1875 and metrics["tokens_seen"] == 1875 * 8 * 32
    assert metrics["heldout_perplexity"] > 1
    curve = metrics["loss_curve"]
    assert curve[0][0] == 1 and curve[-1][0] == 1871  # one curve from the first step, across the kill
    assert curve[-1][1] < curve[0][1]


def test_continuing_a_registered_base_counts_its_tokens_and_extends_its_curve(tmp_path):
    """`pretrain --continue-from v1` keeps v1's tokenizer and weights, trains up to the new total on a
    fresh schedule, and registers v2 with the tokens and loss curve of both runs."""
    from rich.console import Console
    from transformers import AutoTokenizer

    from training.base_model import PretrainOptions, run_pretraining
    from training.registry import BASE, Registry

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(e.text for e in keyword_examples(3000)))
    registry = Registry(tmp_path / "models")
    common = dict(preset="tiny", seq_len=32, batch_size=8, extra_files=[corpus], progress=False)
    run = dict(data_dir=tmp_path / "no-data", home=tmp_path / "home", registry=registry, console=Console(quiet=True))
    run_pretraining(PretrainOptions(max_tokens=40_960, **common), **run)
    v2 = run_pretraining(PretrainOptions(max_tokens=81_920, continue_from="v1", **common), **run)
    v1 = registry.get(BASE, "v1")
    assert v2.version == "v2" and v2.manifest["parent"] == "base-v1"
    assert (
        "--continue-from v1" in v2.manifest["command"] and "--preset" not in v2.manifest["command"]
    )  # v1's architecture
    assert v2.metrics["tokens_seen"] == 81_920 and v2.metrics["steps"] == 320
    steps = [step for step, _ in v2.metrics["loss_curve"]]
    assert steps[: len(v1.metrics["loss_curve"])] == [step for step, _ in v1.metrics["loss_curve"]]
    assert steps == sorted(steps) and steps[-1] > 160
    assert AutoTokenizer.from_pretrained(v2.path).get_vocab() == AutoTokenizer.from_pretrained(v1.path).get_vocab()
    assert v2.metrics["heldout_perplexity"] < v1.metrics["heldout_perplexity"]
    with pytest.raises(ValueError, match="already seen"):
        run_pretraining(PretrainOptions(max_tokens=81_920, continue_from="v2", **common), **run)


def test_languages_give_their_own_run_a_multilingual_tokenizer_and_the_manifest_lists_them(tmp_path):
    """`pretrain --languages zh,de`: its own run directory (continued by the same command in any order),
    a cased tokenizer with Chinese characters as tokens, per-language perplexity, the languages in the
    manifest; an English base's tokenizer cannot be continued with other languages."""
    from rich.console import Console
    from transformers import AutoTokenizer

    from training.base_model import MULTILINGUAL_VOCAB, PretrainOptions, run_pretraining
    from training.registry import Registry

    data = tmp_path / "data"
    (data / "unlabeled").mkdir(parents=True)
    for name, sentences, space in (("zh", _ZH, ""), ("de", _DE, " ")):  # every line has every sentence, rotated
        lines = (space.join(sentences[i % len(sentences) :] + sentences[: i % len(sentences)]) for i in range(400))
        (data / "unlabeled" / f"{name}.txt").write_text("\n".join(lines))
    english = tmp_path / "english.txt"
    english.write_text("\n".join(e.text for e in keyword_examples(1000)))
    registry = Registry(tmp_path / "models")
    common = dict(preset="tiny", seq_len=32, batch_size=8, max_tokens=8192, extra_files=[english], progress=False)
    run = dict(data_dir=data, home=tmp_path / "home", registry=registry, console=Console(quiet=True))

    v1 = run_pretraining(PretrainOptions(vocab_size=300, **common), **run)
    assert v1.manifest["languages"] == ["en"] and v1.manifest["tokenizer"] == "lowercase"
    assert "languages" not in v1.manifest["recipe"] and "unlabeled/zh" not in v1.manifest["corpus"]["characters"]

    v2 = run_pretraining(PretrainOptions(languages=["zh", "de"], **common), **run)
    assert v2.manifest["languages"] == ["de", "en", "zh"] and v2.manifest["tokenizer"] == "multilingual"
    assert v2.manifest["recipe"]["vocab_size"] == MULTILINGUAL_VOCAB and "--languages de,zh" in v2.manifest["command"]
    assert {"unlabeled/zh", "unlabeled/de"} <= set(v2.manifest["corpus"]["characters"])
    assert v2.manifest["run_dir"] != v1.manifest["run_dir"]
    assert set(v2.metrics["heldout_perplexity_by_language"]) == {"zh", "de"}
    tokenizer = AutoTokenizer.from_pretrained(v2.path)
    assert len(tokenizer("酒店很好", add_special_tokens=False)["input_ids"]) == 4
    assert tokenizer("Essen")["input_ids"] != tokenizer("essen")["input_ids"]

    v3 = run_pretraining(PretrainOptions(languages=["de", "zh"], **common), **run)
    assert v3.manifest["run_dir"] == v2.manifest["run_dir"]  # the same run, resumed: nothing trained again
    assert v3.metrics["loss_curve"] == v2.metrics["loss_curve"]
    with pytest.raises(ValueError, match="lowercase tokenizer"):
        run_pretraining(PretrainOptions(languages=["zh"], continue_from="v1", **{**common, "max_tokens": 16384}), **run)
