"""The base a classifier is fine-tuned from: a named checkpoint, or one pre-trained here.

Pre-training is the expensive part of a from-scratch run, so the result is cached under
`<home>/pretrained/<key>`, keyed by everything that determines it (corpus fingerprint, preset,
vocabulary, pre-training settings, seed): a retraining job or an ablation re-uses it, and a
change of any input builds a new one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

from training.data import Example, fingerprint


def _corpus(train: list[Example], extra: list[Path]) -> list[str]:
    texts = [e.text for e in train]
    for path in extra:
        texts += [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    return texts


def build_base(options, train: list[Example], home: Path, console) -> tuple[str, dict]:
    """(directory or hub id to `from_pretrained`, description for the manifest)."""
    if options.base:
        return options.base, {"kind": "checkpoint", "name": options.base}

    from transformers import BloomForCausalLM

    from training.modeling import bloom_config, preset
    from training.pretrain import pretrain
    from training.tokenizer import train_bpe_tokenizer

    texts = _corpus(train, options.extra_corpus)
    vocab_size = options.vocab_size or preset(options.preset)["vocab_size"]
    recipe = {
        "preset": options.preset,
        "vocab_size": vocab_size,
        "corpus": fingerprint([Example(t, "", "") for t in texts]),
        "pretrain": asdict(options.pretrain),
        "seed": options.seed,
    }
    key = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]
    out = Path(home) / "pretrained" / f"{options.task}-{options.preset}-{key}"
    info = {"kind": "pretrained-here", "dir": str(out), **recipe}
    if (out / "pretrain.json").exists():
        console.print(f"re-using pre-trained base {out}")
        return str(out), {**info, **json.loads((out / "pretrain.json").read_text())}

    import torch

    torch.manual_seed(options.seed)
    console.print(f"training a {vocab_size}-token byte-level BPE tokenizer on {len(texts)} texts")
    tokenizer = train_bpe_tokenizer(texts, vocab_size=vocab_size)
    model = BloomForCausalLM(bloom_config(options.preset, tokenizer))
    n_params = sum(p.numel() for p in model.parameters())
    console.print(f"pre-training BLOOM preset {options.preset!r} ({n_params / 1e6:.1f} M parameters), {options.pretrain.steps} steps")
    losses = pretrain(model, tokenizer, texts, options.pretrain, device=options.device, progress=options.progress)
    stats = {
        "parameters": n_params,
        "loss_first_20": sum(losses[:20]) / len(losses[:20]),
        "loss_last_20": sum(losses[-20:]) / len(losses[-20:]),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.with_name(out.name + ".partial")
    model.save_pretrained(staging, safe_serialization=True)
    tokenizer.save_pretrained(staging)
    (staging / "pretrain.json").write_text(json.dumps(stats, indent=2))
    staging.rename(out)
    return str(out), {**info, **stats}
