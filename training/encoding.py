"""Turning texts into token ids for training and evaluation: head + tail truncation.

A long review states its verdict at the end ("... a waste of two hours"), so cutting it from the
right throws away the most telling part. Keeping the first quarter and the last three quarters of
the token budget (the head + tail recipe of Sun et al., 2019, "How to Fine-Tune BERT for Text
Classification?") keeps both the topic sentence and the conclusion. Short texts are untouched.
"""

from __future__ import annotations

from collections.abc import Sequence

HEAD_SHARE = 0.25


def head_tail(ids: list[int], max_len: int) -> list[int]:
    if len(ids) <= max_len:
        return ids
    head = int(max_len * HEAD_SHARE)
    return ids[:head] + ids[len(ids) - (max_len - head) :]


def encode(tokenizer, texts: Sequence[str], max_len: int) -> list[list[int]]:
    """Token ids (with the tokenizer's special tokens) of each text, at most `max_len`, head + tail."""
    return [head_tail(ids, max_len) for ids in tokenizer(list(texts))["input_ids"]]
