"""Progress off a terminal is plain timestamped lines: no carriage-return bars, no escape codes, no
library bars, and the expected new-classification-head report is one line of ours."""

import io
import re
import subprocess
import sys

from bloomwatch.progress import LoggedProgress, progress_bar

TIMESTAMPED = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ")


def assert_plain_log(text: str, max_line: int = 1000) -> None:
    """What every BloomWatch log must be: short lines, no escape codes, no carriage returns."""
    assert "\x1b" not in text, "escape code in log"
    assert "\r" not in text, "carriage return (a redrawn bar) in log"
    longest = max((len(line) for line in text.splitlines()), default=0)
    assert longest <= max_line, f"a line of {longest} characters"


def test_progress_off_a_terminal_logs_a_timestamped_line_per_tenth():
    stream = io.StringIO()  # not a terminal
    bar = progress_bar(range(200), desc="fine-tuning (full)", unit="step", file=stream, every_s=3600)
    assert isinstance(bar, LoggedProgress)
    for step in bar:
        bar.set_postfix(loss=f"{1 / (step + 1):.3f}")
        if step == 100:
            bar.write("  eval @ epoch 0.5: val acc 0.5000", file=stream)

    lines = stream.getvalue().splitlines()
    assert_plain_log(stream.getvalue())
    assert all(TIMESTAMPED.match(line) for line in lines), lines
    progress = [line for line in lines if "fine-tuning (full):" in line]
    assert len(progress) == 11  # the start, then every 10 %, the last at 100 %
    assert "0/200 step (0%)" in progress[0] and "200/200 step (100%)" in progress[-1]
    assert "loss=0.005" in progress[-1]
    assert any(line.endswith("eval @ epoch 0.5: val acc 0.5000") for line in lines)


def test_progress_lines_are_rate_limited_by_time_when_there_is_no_total():
    stream = io.StringIO()
    for _ in progress_bar(iter(range(10_000)), desc="scanning", file=stream, every_s=3600):
        pass
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and "scanning: 0 it," in lines[0] and "scanning: 10000 it," in lines[1]
    assert not any("eta" in line or "/?" in line for line in lines), lines  # no total: no ETA to show


TRAIN_AND_LOAD = """
import torch
from bloomwatch.progress import quiet_library_progress
quiet_library_progress()
from transformers import BloomForCausalLM, BloomForSequenceClassification
from training.modeling import bloom_config, expect_new_classification_head
from training.pretrain import PretrainConfig, pack_texts, pretrain
from training.tokenizer import train_bpe_tokenizer

texts = ["markets rallied after the central bank held rates", "the striker scored twice in the final"] * 50
tokenizer = train_bpe_tokenizer(texts, vocab_size=300)
model = BloomForCausalLM(bloom_config("tiny", tokenizer))
pretrain(model, pack_texts(texts, tokenizer, 16), PretrainConfig(steps=30, seq_len=16, batch_size=4))
model.save_pretrained(sys.argv[1])
tokenizer.save_pretrained(sys.argv[1])
expect_new_classification_head()
BloomForSequenceClassification.from_pretrained(sys.argv[1], num_labels=3)
"""


def test_training_output_in_a_file_is_plain(tmp_path):
    log = tmp_path / "train.log"
    with log.open("w") as out:
        subprocess.run(
            [sys.executable, "-c", "import sys\n" + TRAIN_AND_LOAD, str(tmp_path / "base")],
            stdout=out, stderr=subprocess.STDOUT, check=True, timeout=300, env={"OMP_NUM_THREADS": "1", **_env()},
        )  # fmt: skip
    text = log.read_text()
    assert_plain_log(text)
    assert "pre-training (causal LM): 30/30 step (100%)" in text
    assert "new classification head (score.weight) initialised for fine-tuning, as expected" in text
    for library_noise in ("LOAD REPORT", "Loading weights", "Writing model shards", "MISSING"):
        assert library_noise not in text, text


def _env() -> dict[str, str]:
    import os

    return {key: value for key, value in os.environ.items() if key != "HF_HUB_DISABLE_PROGRESS_BARS"}
