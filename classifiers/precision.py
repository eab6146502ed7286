"""Which number format a classifier server computes in, and the check that bf16 is safe for a model.

On a CPU with native bf16 (AVX-512 BF16 or AMX) a bf16 matmul runs about four times as fast as
an fp32 one (~107 vs ~380-485 GFLOP/s on one thread of this project's 2-core EPYC host) and the embedded engine
about twice as fast end to end (bench/RESULTS.md, "Serving"); without those instructions torch
emulates bf16 and it is many times slower. bf16 keeps 8 bits of mantissa, so probabilities move
by up to a few 1e-2 and a text near a decision boundary can change label. `auto` therefore
serves bf16 only where the CPU has it and where the version, run both ways on a fixed set of
probe texts when it is loaded, keeps its labels (`BF16_MIN_AGREEMENT`, the issue's criterion);
otherwise fp32. The model version served and recorded does not depend on the precision.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from bloomwatch.cpu import has_native_bf16, require_native_bf16
from classifiers.embedded import EmbeddedEngine, softmax
from training.registry import ModelVersion
from training.synthetic import synthetic_texts

log = logging.getLogger(__name__)

BF16_MIN_AGREEMENT = 0.995  # share of probe texts whose bf16 label equals the fp32 one
# asked of the built-in corpus, whose templates give 157 distinct sentiment and 72 topic sentences:
# under a second per precision on a compact model; with so few, 99.5% means not one label changes
PROBE_TEXTS = 400
VLLM_DTYPES = {"fp32": "float32", "bf16": "bfloat16"}


@dataclass(frozen=True)
class Agreement:
    """bf16 against fp32 on the same texts: what the load-time guard, the test and the benchmark report."""

    texts: int
    label_agreement: float  # share of texts with the same argmax
    max_prob_diff: float  # largest |p_bf16 - p_fp32| over texts x classes

    @property
    def passed(self) -> bool:
        return self.label_agreement >= BF16_MIN_AGREEMENT


def agreement(reference: EmbeddedEngine, other: EmbeddedEngine, texts: list[str]) -> Agreement:
    token_ids = reference.tokenize(texts)
    expected, got = softmax(reference.logits(token_ids)), softmax(other.logits(token_ids))
    return Agreement(
        texts=len(texts),
        label_agreement=float((expected.argmax(-1) == got.argmax(-1)).mean()),
        max_prob_diff=float(np.abs(expected - got).max()),
    )


def probe_texts(task: str) -> list[str]:
    """Built-in templated sentences: always present, whatever data the server's host has."""
    return synthetic_texts(task, PROBE_TEXTS)


def check_serve_precision(precision: str) -> None:
    """Refuse, before anything loads, a precision this CPU cannot compute (NoNativeBf16, one line).

    An explicit bf16 on a CPU without native bf16 is an error rather than a silent fp32: whoever
    set it expects bf16's speed, and an AVX2-only host's oneDNN fails the first bf16 forward pass."""
    if precision == "bf16":
        require_native_bf16("set BLOOMWATCH_SERVE_PRECISION=auto or fp32")


def load_engine(version: ModelVersion, precision: str, **engine_options) -> EmbeddedEngine:
    """The engine `precision` (a `serve_precision` setting) asks for; `auto` decides as above."""
    check_serve_precision(precision)
    if precision != "auto":
        return EmbeddedEngine.from_version(version, precision=precision, **engine_options)
    fp32 = EmbeddedEngine.from_version(version, precision="fp32", **engine_options)
    if not has_native_bf16():
        log.info("serving %s in fp32: this CPU has no native bf16", version.name)
        return fp32
    bf16 = EmbeddedEngine.from_version(version, precision="bf16", **engine_options)
    check = agreement(fp32, bf16, probe_texts(version.task))
    chosen = bf16 if check.passed else fp32
    log.info(
        "serving %s in %s: bf16 kept %.2f%% of fp32's labels on %d probe texts (minimum %.1f%%), max |prob diff| %.2e",
        version.name, chosen.precision, 100 * check.label_agreement, check.texts, 100 * BF16_MIN_AGREEMENT, check.max_prob_diff,
    )  # fmt: skip
    return chosen


def vllm_dtype(version: ModelVersion, precision: str) -> str:
    """vLLM's --dtype for a `serve_precision` setting; int8 is the embedded engine's alone (fp32 here)."""
    if precision == "auto":
        return VLLM_DTYPES[load_engine(version, "auto").precision]
    check_serve_precision(precision)
    return VLLM_DTYPES.get(precision, "float32")
