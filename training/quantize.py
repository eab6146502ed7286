"""Lower-precision forms of a model: optional int8 dynamic quantisation for CPU serving, with its
accuracy cost measured, and bf16 storage on disk.

Linear layers get int8 weights (activations quantised on the fly); the export sits next to the
fp32 weights as `int8/` so the HF directory stays loadable by vLLM and `from_pretrained`.
"""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path

import torch

INT8_DIR = "int8"


def store_in_bf16(directory: Path) -> None:
    """Round a model directory's weights to bf16 in place (half the bytes), and say so in its
    config and manifest: what `scripts/ship_defaults.py` ships and `bench/bf16_storage.py` measures.
    Both engines and fine-tuning load the weights in the dtype they ask for, as they load fp32 ones."""
    from safetensors.torch import load_file, save_file

    weights = Path(directory) / "model.safetensors"
    save_file(
        {k: t.to(torch.bfloat16).contiguous() for k, t in load_file(weights).items()},
        weights,
        metadata={"format": "pt"},
    )
    for name, update in (("config.json", {"dtype": "bfloat16"}),
                         ("bloomwatch.json", {"stored_dtype": "bfloat16 (rounded from the fp32 weights it was trained in; fine-tuning loads it in fp32)"})):  # fmt: skip
        path = Path(directory) / name
        path.write_text(json.dumps({**json.loads(path.read_text()), **update}, indent=2))


def quantize_int8(model: torch.nn.Module) -> torch.nn.Module:
    """torch.ao eager dynamic quantisation: deprecated in favour of torchao, which is not a dependency."""
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (DeprecationWarning, UserWarning))
        return quantize_dynamic(copy.deepcopy(model).cpu().eval(), {torch.nn.Linear}, dtype=torch.qint8)


def save_int8(q_model: torch.nn.Module, directory: Path) -> None:
    (Path(directory) / INT8_DIR).mkdir(exist_ok=True)
    torch.save(q_model.state_dict(), Path(directory) / INT8_DIR / "state_dict.pt")


def load_int8(directory: Path) -> torch.nn.Module:
    """Rebuild the fp32 model from the HF files, quantise it, load the int8 weights."""
    from transformers import BloomForSequenceClassification

    model = quantize_int8(BloomForSequenceClassification.from_pretrained(directory, use_safetensors=True))
    model.load_state_dict(torch.load(Path(directory) / INT8_DIR / "state_dict.pt", weights_only=True))
    return model
