"""BLOOM models built from a named size preset, for training from scratch on a CPU.

A real checkpoint (`--base bigscience/bloom-560m` or a local HF directory) replaces all of this;
the presets exist because no hub download is possible in CI and because a small domain model
pre-trained here is what a 2-core machine can fine-tune in minutes.
"""

import logging
import re

from transformers import BloomConfig, PreTrainedTokenizerBase

PRESETS: dict[str, dict[str, int]] = {
    # vocab_size is the tokenizer's target size for this preset
    # head size hidden/n_head stays >= 32: vLLM's CPU attention rejects smaller heads (16 fails)
    "tiny": {"hidden_size": 64, "n_layer": 2, "n_head": 2, "vocab_size": 2_000},
    # the default of `bloomwatch train`: fits pre-training + fine-tuning in 30 min on 2 busy cores
    "compact": {"hidden_size": 192, "n_layer": 4, "n_head": 6, "vocab_size": 6_000},
    "small": {"hidden_size": 256, "n_layer": 4, "n_head": 8, "vocab_size": 8_000},
    "base": {"hidden_size": 512, "n_layer": 6, "n_head": 8, "vocab_size": 16_000},
}


def preset(name: str) -> dict[str, int]:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}") from None


def bloom_config(preset_name: str, tokenizer: PreTrainedTokenizerBase, **overrides) -> BloomConfig:
    sizes = preset(preset_name)
    return BloomConfig(
        vocab_size=len(tokenizer),
        hidden_size=sizes["hidden_size"],
        n_layer=sizes["n_layer"],
        n_head=sizes["n_head"],
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **overrides,
    )


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class _NewHeadReport(logging.Filter):
    """Turns transformers' multi-line LOAD REPORT into one line when all it says is "score.* MISSING".

    A base model (pre-trained causal LM) has no classification head, so `from_pretrained` of a
    sequence classifier always initialises `score.weight` and reports it as a table that reads like
    an error. Any other finding (unexpected or mismatched keys, other missing weights) passes as is.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = _ANSI.sub("", record.getMessage())
        if "LOAD REPORT" not in message:
            return True
        rows = [[cell.strip() for cell in line.split("|")] for line in message.splitlines() if "|" in line][1:]
        if not rows or any(not row[0].startswith("score.") or row[1] != "MISSING" for row in rows):
            return True
        heads = ", ".join(row[0] for row in rows)
        record.msg, record.args = f"new classification head ({heads}) initialised for fine-tuning, as expected", ()
        record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def expect_new_classification_head() -> None:
    """Call before loading a base model as a classifier: its missing-head report becomes one INFO line."""
    logger = logging.getLogger("transformers.modeling_utils")
    if not any(isinstance(f, _NewHeadReport) for f in logger.filters):
        logger.addFilter(_NewHeadReport())
