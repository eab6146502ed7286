"""BLOOM models built from a named size preset, for training from scratch on a CPU.

A real checkpoint (`--base bigscience/bloom-560m` or a local HF directory) replaces all of this;
the presets exist because no hub download is possible in CI and because a small domain model
pre-trained here is what a 2-core machine can fine-tune in minutes.
"""

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
