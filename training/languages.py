"""The languages a classifier reads: those of the texts it was trained on (issue 29).

A model's manifest lists them (`languages`), and documents in any other language get no score of
it, so the list must say what the model learnt, not every trace its data holds. Each shared set
holds texts the identifier reads as another language: English headlines it calls Nigerian Pidgin
(finance_tweets 1.4 %), English tweets among German ones (tweets_sb10k_de 1.6 %), Galician among
Spanish ones (0.9 %), a few tenths of a percent elsewhere; a model has not learnt to classify a
language from those. A language counts when it holds at least `MIN_SHARE` (2 %) of the training texts, above
every such stray share of the shared sets (each measured on its own, where it is largest), and at
least `MIN_EXAMPLES` (20) of them, so that a run on a few hundred texts does not count five stray
ones as a language; 2 % of the default 40,000-example mix is 800 texts seen every epoch, enough
for a fine-tune to give them weight. Texts whose language is undetermined (`und`: emoji, a number,
one word) count for no language. The texts are measured on a fixed-seed sample of
`SAMPLE_TEXTS`, which puts a 2 % share within half a point (two standard errors) and costs
under 2 s (6 s for 4,000 full IMDB reviews) on the 2-core host.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bloomwatch.language import UNDETERMINED, languages_of

MIN_SHARE = 0.02
MIN_EXAMPLES = 20
SAMPLE_TEXTS = 4000


@dataclass(frozen=True)
class TrainingLanguages:
    languages: list[str]  # ISO 639-1 codes, sorted: what the manifest lists
    counts: dict[str, int]  # texts per detected language in the sample, `und` included, most first
    sample: int  # texts measured

    def record(self) -> dict:
        """The measurement, for the manifest's data description."""
        return {"sample": self.sample, "counts": self.counts, "min_share": MIN_SHARE, "min_examples": MIN_EXAMPLES}


def training_languages(texts: Sequence[str], *, seed: int, inherited: Iterable[str] = ()) -> TrainingLanguages:
    """The languages of `texts` that reach both thresholds, with `inherited` (a retrained model's
    parent's: the candidate still reads what its parent did, through the replay and its weights)."""
    sample = list(texts) if len(texts) <= SAMPLE_TEXTS else random.Random(seed).sample(list(texts), SAMPLE_TEXTS)
    counts = Counter(code for code, _ in languages_of(sample))
    needed = max(MIN_EXAMPLES, MIN_SHARE * len(sample))
    read = {code for code, n in counts.items() if code != UNDETERMINED and n >= needed}
    return TrainingLanguages(sorted(read | set(inherited)), dict(counts.most_common()), len(sample))
