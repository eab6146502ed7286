"""Which training examples a multi-dataset run uses: temperature sampling across datasets.

The sentiment sets differ fourteen-fold in size (tweets_tweeteval 1.6k, reviews_imdb 22k). Taken
whole, the largest sources set what the model learns and what its validation score rewards; taken
equally, the small ones would be repeated many times. Temperature sampling (as in multilingual
training, Arivazhagan et al. 2019; Conneau et al. 2020) gives dataset i a share proportional to
n_i ** alpha: alpha 1 keeps the natural proportions, 0 makes them equal. No example is repeated: a
dataset smaller than its share gives all it has and the rest is shared out among the others.
"""

from __future__ import annotations

import random

from training.data import Example


def subsample(examples: list[Example], limit: int | None, seed: int) -> list[Example]:
    if not limit or len(examples) <= limit:
        return examples
    return random.Random(seed).sample(examples, limit)


def by_source(examples: list[Example]) -> dict[str, list[Example]]:
    out: dict[str, list[Example]] = {}
    for e in examples:
        out.setdefault(e.source, []).append(e)
    return out


def mix_sizes(sizes: dict[str, int], total: int, alpha: float) -> dict[str, int]:
    """Examples per dataset: shares proportional to size ** alpha, summing to `total` (or to all there is)."""
    take = {name: 0 for name in sizes}
    open_ = {name for name, n in sizes.items() if n > 0}
    left = min(total, sum(sizes.values()))
    while left > 0 and open_:
        weights = {name: sizes[name] ** alpha for name in open_}
        norm = sum(weights.values())
        full = {name for name in open_ if sizes[name] - take[name] <= left * weights[name] / norm}
        if full:  # these cannot fill their share: take all of them, share the rest out again
            for name in full:
                left -= sizes[name] - take[name]
                take[name] = sizes[name]
            open_ -= full
            continue
        shares = {name: int(left * weights[name] / norm) for name in open_}
        for name in sorted(open_, key=lambda n: -weights[n])[: left - sum(shares.values())]:
            shares[name] += 1  # the rounding remainder, to the largest
        for name, n in shares.items():
            take[name] += n
        left = 0
    return take


def training_mix(
    train: list[Example],
    *,
    mix_total: int | None,
    mix_alpha: float,
    max_per_source: dict[str, int],
    max_train_examples: int | None,
    seed: int,
) -> list[Example]:
    """The examples a run trains on: the temperature mix (when `mix_total` is set), then the
    per-dataset caps, then the overall cap."""
    groups = by_source(train)
    caps = dict(max_per_source)
    if mix_total:
        mixed = mix_sizes({s: len(items) for s, items in groups.items()}, mix_total, mix_alpha)
        caps = {s: min(n, caps.get(s, n)) for s, n in mixed.items()}
    train = [e for source, items in groups.items() for e in subsample(items, caps.get(source), seed)]
    return subsample(train, max_train_examples, seed)
