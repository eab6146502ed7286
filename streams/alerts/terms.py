"""Words over-represented in a window's negative documents against the baseline period:
weighted log-odds ratios with an informative Dirichlet prior (Monroe, Colaresi & Quinn 2008,
"Fightin' Words"). The prior (both corpora pooled, scaled to `prior_size` pseudo-counts) shrinks
rare words toward the background rate, so a word seen twice does not top the list, and the
z-score ranks words by evidence rather than by raw frequency ratio.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable

_WORD = re.compile(r"[^\W\d_][\w'-]*[^\W_]|[^\W\d_]", re.UNICODE)


def word_counts(texts: Iterable[str]) -> Counter[str]:
    return Counter(word for text in texts for word in _WORD.findall(text.lower()))


def over_represented(
    focus: Counter[str], background: Counter[str], *, top: int = 10, min_z: float = 1.96, prior_size: float = 1000.0
) -> list[dict[str, float | str]]:
    """Terms of `focus` with the largest log-odds z-score against `background` (z >= min_z)."""
    pooled = focus + background
    total_pooled = sum(pooled.values())
    n_focus, n_background = sum(focus.values()), sum(background.values())
    if not n_focus or not n_background:
        return []
    a0 = prior_size
    scored = []
    for word, count in pooled.items():
        a = a0 * count / total_pooled
        y_f, y_b = focus.get(word, 0), background.get(word, 0)
        delta = math.log((y_f + a) / (n_focus + a0 - y_f - a)) - math.log((y_b + a) / (n_background + a0 - y_b - a))
        z = delta / math.sqrt(1 / (y_f + a) + 1 / (y_b + a))
        if z >= min_z:
            scored.append({"term": word, "z": round(z, 2), "count": y_f})
    scored.sort(key=lambda item: -item["z"])
    return scored[:top]
