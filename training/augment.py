"""EDA-style text augmentation (Wei & Zou, 2019), pluggable by name.

Only the operations that need no external lexicon are built in (no WordNet offline): random
swap, random deletion and random insertion of a word taken from the same text, and `hedge`, which
adds a non-committal phrase ("I think.", "to be honest,"). Register a new operation with
`@augmenter("name")`; `--augment swap,delete` picks them by name.

`hedge` teaches that a hedge is not a verdict: the datasets differ in style (tweets and user
reviews hedge, edited news does not), and a model that reads a hedge as "neutral" flips its
label when a user softens a clear complaint. " I guess." is deliberately not in the list: it is
the edit the robustness report measures (training/robustness.py), so that figure stays a test
on a phrase the model has not been taught.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from typing import NamedTuple

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


_HEDGES_AFTER = (
    "I think.",
    "I suppose.",
    "to be honest.",
    "in my opinion.",
    "just saying.",
    "so yeah.",
    "if you ask me.",
    "for what it's worth.",
    "anyway.",
    "I must say.",
)
_HEDGES_BEFORE = ("Honestly,", "To be fair,", "I think", "In my opinion,", "Well,", "So,", "Frankly,", "I mean,")


@augmenter("hedge")
def add_hedge(words: list[str], p: float, rng: random.Random) -> list[str]:
    if rng.random() < 0.7:
        return [*words, *rng.choice(_HEDGES_AFTER).split()]
    return [*rng.choice(_HEDGES_BEFORE).split(), *words]


def parse_ops(spec: str | None) -> list[str]:
    ops = [op.strip() for op in (spec or "").split(",") if op.strip()]
    unknown = [op for op in ops if op not in AUGMENTERS]
    if unknown:
        raise ValueError(f"unknown augmentation(s) {unknown}; known: {', '.join(AUGMENTERS)}")
    return ops


class Augmented(NamedTuple):
    """The training set after augmentation; `origin[i]` is the index of the example that row i
    was made from (an original is its own origin), so a consistency loss can pair them."""

    examples: list[Example]
    origin: list[int]


def augment_examples(
    examples: list[Example], ops: list[str], *, copies: int = 1, p: float = 0.1, share: float = 1.0, seed: int = 13
) -> Augmented:
    """The originals plus `copies` augmented variants of each of a random `share` of them, every
    variant using one random op (a share below 1 buys the invariance for less training time)."""
    out, origin = list(examples), list(range(len(examples)))
    if not ops or copies <= 0:
        return Augmented(out, origin)
    rng = random.Random(seed)
    for i, example in enumerate(examples):
        words = example.text.split()
        if not words or rng.random() >= share:
            continue
        for _ in range(copies):
            op = AUGMENTERS[rng.choice(ops)]
            out.append(replace(example, text=" ".join(op(words, p, rng))))
            origin.append(i)
    return Augmented(out, origin)
