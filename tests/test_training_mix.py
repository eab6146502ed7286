"""Temperature sampling across datasets: no dataset dominates, none is repeated, the draw is fixed."""

import pytest

from training.data import Example
from training.mix import mix_sizes, training_mix

# the sentiment training splits' sizes (../shared/data README)
SIZES = {"reviews_mr": 8528, "reviews_imdb": 22045, "finance_fpb": 3876, "tweets_tweeteval": 1599,
         "tweets_airline": 11503, "reviews_products": 17621, "reviews_services": 7380, "finance_tweets": 9539}  # fmt: skip


def test_square_root_shares_cap_the_largest_dataset_and_take_all_of_a_small_one():
    take = mix_sizes(SIZES, 40000, 0.5)
    assert sum(take.values()) == 40000 and all(take[s] <= SIZES[s] for s in SIZES)
    assert take["tweets_tweeteval"] == 1599  # its share is larger than the set: all of it, the rest shared out
    assert (
        max(take.values()) / 40000 < 0.2
    )  # proportional sampling would give IMDB 26.9 %, the two big review sets 48 %
    assert take["reviews_imdb"] / take["reviews_mr"] == pytest.approx((22045 / 8528) ** 0.5, rel=0.01)


def test_alpha_one_is_proportional_and_zero_is_equal():
    sizes = {"a": 1000, "b": 3000}
    assert mix_sizes(sizes, 400, 1.0) == {"a": 100, "b": 300}
    assert mix_sizes(sizes, 400, 0.0) == {"a": 200, "b": 200}
    assert mix_sizes(sizes, 10**6, 0.5) == sizes  # a total above what there is takes everything once


def test_the_mix_is_a_fixed_draw_that_respects_explicit_caps():
    train = [Example(f"{s} {i}", "negative", s) for s, n in (("a", 300), ("b", 900), ("c", 30)) for i in range(n)]
    mixed = training_mix(
        train, mix_total=300, mix_alpha=0.5, max_per_source={"b": 100}, max_train_examples=None, seed=1
    )
    counts = {s: sum(e.source == s for e in mixed) for s in "abc"}
    assert (
        counts["c"] == 30
        and counts["b"] == 100
        and counts["a"] == mix_sizes({"a": 300, "b": 900, "c": 30}, 300, 0.5)["a"]
    )
    assert mixed == training_mix(
        train, mix_total=300, mix_alpha=0.5, max_per_source={"b": 100}, max_train_examples=None, seed=1
    )
    assert len(set(mixed)) == len(mixed)  # nothing repeated
    assert (
        training_mix(train, mix_total=None, mix_alpha=0.5, max_per_source={}, max_train_examples=None, seed=1) == train
    )
