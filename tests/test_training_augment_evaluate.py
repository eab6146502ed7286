"""EDA operations and the scoring rules (binary scoring of a binary dataset, ECE)."""

import random

import numpy as np
import pytest

from training.augment import AUGMENTERS, augment_examples, parse_ops
from training.data import Example
from training.evaluate import expected_calibration_error, score


def test_eda_ops_keep_words_from_the_text():
    rng = random.Random(0)
    words = "the film was a quiet delight".split()
    swapped = AUGMENTERS["swap"](words, 0.3, rng)
    assert sorted(swapped) == sorted(words) and swapped != words
    assert set(AUGMENTERS["delete"](words, 0.5, rng)) <= set(words)
    inserted = AUGMENTERS["insert"](words, 0.3, rng)
    assert len(inserted) == len(words) + 2 and set(inserted) == set(words)


def test_augment_adds_copies_and_rejects_unknown_ops():
    base = [Example("a b c d", "positive", "s"), Example("e f g h", "negative", "s")]
    out, origin = augment_examples(base, parse_ops("swap,delete"), copies=2, seed=1)
    assert out[:2] == base and len(out) == 6
    assert origin == [0, 1, 0, 0, 1, 1]  # each copy names the example it was made from
    assert [e.label for e in out[2:]] == ["positive", "positive", "negative", "negative"]
    with pytest.raises(ValueError, match="unknown augmentation"):
        parse_ops("synonym")


def test_hedge_keeps_the_text_and_label_and_never_uses_the_measured_phrase():
    rng = random.Random(3)
    words = "the battery died after a week".split()
    hedged = [" ".join(AUGMENTERS["hedge"](words, 0.1, rng)) for _ in range(200)]
    assert all(" ".join(words) in h and h != " ".join(words) for h in hedged)
    assert not any("guess" in h.lower() for h in hedged)  # robustness.py's edit stays unseen
    base = [Example(f"text {i}", "negative", "s") for i in range(1000)]
    out = augment_examples(base, ["hedge"], share=0.3, seed=1).examples
    assert 250 < len(out) - len(base) < 350 and all(e.label == "negative" for e in out)


def test_binary_dataset_scored_on_its_two_classes():
    labels = ("negative", "neutral", "positive")
    # neutral is the 3-class argmax of the first row, but between negative/positive it is negative
    probs = np.array([[0.3, 0.6, 0.1], [0.1, 0.2, 0.7]])
    result = score(["negative", "positive"], probs, labels)
    assert result["labels"] == ["negative", "positive"]
    assert result["acc"] == 1.0 and result["confusion_matrix"] == [[1, 0], [0, 1]]
    assert set(result["per_class"]) >= {"negative", "positive", "macro avg"}


def test_ece_zero_when_calibrated_and_large_when_overconfident():
    assert expected_calibration_error(np.array([0.75] * 4), np.array([1, 1, 1, 0.0])) == pytest.approx(0.0)
    assert expected_calibration_error(np.array([0.99] * 4), np.array([0, 0, 0, 1.0])) == pytest.approx(0.74)
