"""EDA-style text augmentation (Wei & Zou, 2019), pluggable by name.

Only the operations that need no external lexicon are built in (no WordNet offline): random
swap, random deletion and random insertion of a word taken from the same text. Register a new
operation with `@augmenter("name")`; `--augment swap,delete` picks them by name.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace

from training.data import Example

Augmenter = Callable[[list[str], float, random.Random], list[str]]
AUGMENTERS: dict[str, Augmenter] = {}


def augmenter(name: str) -> Callable[[Augmenter], Augmenter]:
    def add(fn: Augmenter) -> Augmenter:
        AUGMENTERS[name] = fn
        return fn

    return add


def _count(words: list[str], p: float) -> int:
    return max(1, int(round(p * len(words))))


@augmenter("swap")
def random_swap(words: list[str], p: float, rng: random.Random) -> list[str]:
    words = list(words)
    if len(words) < 2:
        return words
    for _ in range(_count(words, p)):
        i, j = rng.sample(range(len(words)), 2)
        words[i], words[j] = words[j], words[i]
    return words


@augmenter("delete")
def random_deletion(words: list[str], p: float, rng: random.Random) -> list[str]:
    kept = [w for w in words if rng.random() > p]
    return kept or [rng.choice(words)]


@augmenter("insert")
def random_insertion(words: list[str], p: float, rng: random.Random) -> list[str]:
    words = list(words)
    for _ in range(_count(words, p)):
        words.insert(rng.randrange(len(words) + 1), rng.choice(words))
    return words


def parse_ops(spec: str | None) -> list[str]:
    ops = [op.strip() for op in (spec or "").split(",") if op.strip()]
    unknown = [op for op in ops if op not in AUGMENTERS]
    if unknown:
        raise ValueError(f"unknown augmentation(s) {unknown}; known: {', '.join(AUGMENTERS)}")
    return ops


def augment_examples(examples: list[Example], ops: list[str], *, copies: int = 1, p: float = 0.1, seed: int = 13) -> list[Example]:
    """The originals plus `copies` augmented variants of each, every variant using one random op."""
    if not ops or copies <= 0:
        return list(examples)
    rng = random.Random(seed)
    out = list(examples)
    for example in examples:
        words = example.text.split()
        if not words:
            continue
        for _ in range(copies):
            op = AUGMENTERS[rng.choice(ops)]
            out.append(replace(example, text=" ".join(op(words, p, rng))))
    return out
