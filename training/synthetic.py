"""A small built-in labelled corpus so `bloomwatch up` can train a first model with no data at all.

Templated sentences, clearly synthetic: enough for a working demo model, never a quality claim.
Sentiment has sentences in every language of bloomwatch/phrasebook.py; topic in English only, as
there is no labelled topic data in other languages.
Only the built-in tasks have templates, keyed by task name: a task added in a tasks file has labels
these sentences know nothing of, so it trains on data of its own (`--data`).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from bloomwatch.phrasebook import LANGUAGES, PHRASEBOOKS
from training.data import Example, MissingData

_TOPIC = {
    "world": [
        "Leaders met in {place} for peace talks",
        "Protests spread across {place} after the election",
        "The UN sent aid to {place} after the floods",
        "Troops withdrew from the border near {place}",
    ],
    "sports": [
        "The striker scored twice as {team} won the final",
        "{team} signed a new coach before the season",
        "The champion retired after losing in {place}",
        "{team} clinched the title with a late goal",
    ],
    "business": [
        "Shares of {firm} rose after strong quarterly earnings",
        "{firm} agreed to buy a rival for two billion dollars",
        "The central bank left interest rates unchanged",
        "{firm} cut jobs as profits fell",
    ],
    "sci_tech": [
        "{firm} unveiled a faster chip for laptops",
        "Scientists in {place} launched a satellite to study the sun",
        "A new browser update fixes security flaws",
        "Researchers trained a robot to sort recycling",
    ],
}
_FILL = {
    "place": ["Geneva", "Nairobi", "Lima", "Seoul", "Oslo", "Cairo"],
    "team": ["United", "the Lions", "Real", "the Giants", "City"],
    "firm": ["Acme Corp", "Globex", "Initech", "Umbrella", "Hooli"],
}


def _sentiment(rng: random.Random, language: str) -> tuple[str, str]:
    return PHRASEBOOKS[language].sentence(rng)


def _topic(rng: random.Random, language: str) -> tuple[str, str]:
    label = rng.choice(list(_TOPIC))
    return rng.choice(_TOPIC[label]).format(**{k: rng.choice(v) for k, v in _FILL.items()}) + ".", label


# by task name: one templated (text, label) per call, and the languages it has templates in
_TEMPLATES = {"sentiment": _sentiment, "topic": _topic}
_LANGUAGES = {"sentiment": LANGUAGES, "topic": ("en",)}


def synthetic_examples(task: str, n: int = 600, seed: int = 13, languages: Sequence[str] = ("en",)) -> list[Example]:
    """Up to `n` distinct labelled sentences (fewer if the templates run out), the languages taking
    turns; MissingData for a task without templates, since its labels mean nothing to these
    sentences, or without templates in one of `languages` (topic has English ones only)."""
    if task not in _TEMPLATES:
        raise MissingData(
            f"task {task!r} has no built-in synthetic corpus (only {', '.join(_TEMPLATES)} have one): "
            f"train it on labelled data of its own, `bloomwatch train --task {task} --data FILE`"
        )
    if missing := [language for language in languages if language not in _LANGUAGES[task]]:
        raise MissingData(
            f"no synthetic {task} sentences in {', '.join(missing)}; there are some in {', '.join(_LANGUAGES[task])}"
        )
    rng = random.Random(seed)
    out: dict[str, Example] = {}
    for i in range(n):
        text, label = _TEMPLATES[task](rng, languages[i % len(languages)])
        out.setdefault(text, Example(text, label, "synthetic"))
    return list(out.values())


def synthetic_texts(task: str, n: int, seed: int = 13) -> list[str]:
    """Up to `n` sentences to run a model of `task` on, labels unused (e.g. a precision probe): the
    task's own templates, else those of every task that has some, alternately."""
    if task in _TEMPLATES:
        return [example.text for example in synthetic_examples(task, n, seed)]
    per_task = [[example.text for example in synthetic_examples(name, n, seed)] for name in _TEMPLATES]
    return [text for texts in zip(*per_task, strict=False) for text in texts][:n]
