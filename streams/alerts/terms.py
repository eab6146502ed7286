"""Words over-represented in a window's negative documents against the baseline period:
weighted log-odds ratios with an informative Dirichlet prior (Monroe, Colaresi & Quinn 2008,
"Fightin' Words"). The prior (both corpora pooled, scaled to `prior_size` pseudo-counts) shrinks
rare words toward the background rate, so a word seen twice does not top the list, and the
z-score ranks words by evidence rather than by raw frequency ratio.

Stop words ("a", "of", "und") are dropped before counting, by each text's language: English from
scikit-learn's list (318 words; the stop-words package's 1,333 English words include complaint
terms such as "problem" and "order"), other languages from the stop-words package, and none for a
language neither knows.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Iterable
from typing import TypedDict

_WORD = re.compile(r"[^\W\d_][\w'-]*[^\W_]|[^\W\d_]", re.UNICODE)


@functools.cache
def stop_words(lang: str) -> frozenset[str]:
    """The stop words of a language code (`en`, `de-AT`, `und`): an undetermined language reads as
    English, the only language today's models read. The lists are imported here, on an alert's
    first evidence, not at worker start (scikit-learn alone takes about a second to import)."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
    from stop_words import LANGUAGE_MAPPING, get_stop_words

    code = lang.lower().split("-")[0]
    if code in ("en", "und", ""):
        return frozenset(ENGLISH_STOP_WORDS)
    return frozenset(get_stop_words(code)) if code in LANGUAGE_MAPPING else frozenset()


def word_counts(texts: Iterable[tuple[str, str]]) -> Counter[str]:
    """Word counts of (text, lang) pairs, lowercased, each text's stop words left out."""
    counts: Counter[str] = Counter()
    for text, lang in texts:
        stop = stop_words(lang)
        counts.update(word for word in _WORD.findall(text.lower()) if word not in stop)
    return counts


class Term(TypedDict):
    """An over-represented word as an alert's evidence shows it."""

    term: str
    z: float  # log-odds z-score, 2 decimals
    count: int  # in the focus texts


def over_represented(
    focus: Counter[str], background: Counter[str], *, top: int = 10, min_z: float = 1.96, prior_size: float = 1000.0
) -> list[Term]:
    """Terms of `focus` with the largest log-odds z-score against `background` (z >= min_z).

    A word's odds are its count against every other word's: with a one-word vocabulary (texts
    that are all the same word, which any publisher can send) there are no other words, the odds
    are undefined and nothing is over-represented."""
    pooled = focus + background
    total_pooled = sum(pooled.values())
    n_focus, n_background = sum(focus.values()), sum(background.values())
    if not n_focus or not n_background or len(pooled) < 2:
        return []
    a0 = prior_size
    scored: list[Term] = []
    for word, count in pooled.items():
        a = a0 * count / total_pooled
        y_f, y_b = focus.get(word, 0), background.get(word, 0)
        # the other words' (pseudo-)counts are positive: a < a0 when the vocabulary has two words or more
        delta = math.log((y_f + a) / (n_focus + a0 - y_f - a)) - math.log((y_b + a) / (n_background + a0 - y_b - a))
        z = delta / math.sqrt(1 / (y_f + a) + 1 / (y_b + a))
        if z >= min_z:
            scored.append({"term": word, "z": round(z, 2), "count": y_f})
    scored.sort(key=lambda item: -item["z"])
    return scored[:top]
