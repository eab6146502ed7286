"""Shared helpers of the training tests: a tiny labelled corpus that a tiny BLOOM learns in a few
steps (keyword-driven labels), and a one-thread fixture (tiny models on a shared CPU run fastest
on one thread)."""

import random

import pytest
import torch

from training.data import Example

_WORDS = {
    "negative": ["awful", "broken", "terrible", "rude", "slow"],
    "neutral": ["listed", "scheduled", "located", "announced", "released"],
    "positive": ["great", "lovely", "superb", "friendly", "fast"],
}
_FILLER = ["the", "phone", "hotel", "order", "service", "was", "is", "today", "really", "and"]


def keyword_examples(n: int, seed: int = 0, source: str = "toy") -> list[Example]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        label = list(_WORDS)[i % 3]
        words = rng.sample(_FILLER, 4) + [rng.choice(_WORDS[label])]
        rng.shuffle(words)
        out.append(Example(" ".join(words), label, source))
    return out


@pytest.fixture(scope="module")
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
