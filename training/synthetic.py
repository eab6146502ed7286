"""A small built-in labelled corpus so `bloomwatch up` can train a first model with no data at all.

Templated sentences, clearly synthetic: enough for a working demo model, never a quality claim.
Only the built-in tasks have templates, keyed by task name: a task added in a tasks file has labels
these sentences know nothing of, so it trains on data of its own (`--data`).
"""

from __future__ import annotations

import random

from training.data import Example, MissingData

_SUBJECTS = [
    "the film",
    "this phone",
    "the hotel",
    "our order",
    "the service",
    "the company's results",
    "the update",
    "the new menu",
]
_PHRASES = {
    "negative": [
        "was terrible",
        "is a huge disappointment",
        "broke after two days",
        "was slow and rude",
        "fell short of every expectation",
        "is the worst I have tried",
        "left us angry",
        "reported a painful loss",
    ],
    "neutral": [
        "was released on Tuesday",
        "is available in three colours",
        "will be reviewed next quarter",
        "has a new address",
        "was discussed at the meeting",
        "is described in the report",
        "opens at nine",
        "lists the usual features",
    ],
    "positive": [
        "was wonderful",
        "exceeded every expectation",
        "is the best I have tried",
        "made us very happy",
        "works beautifully",
        "delivered record growth",
        "is fast and friendly",
        "is a real delight",
    ],
}
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


def _sentiment(rng: random.Random) -> tuple[str, str]:
    label = rng.choice(list(_PHRASES))
    return f"{rng.choice(_SUBJECTS).capitalize()} {rng.choice(_PHRASES[label])}.", label


def _topic(rng: random.Random) -> tuple[str, str]:
    label = rng.choice(list(_TOPIC))
    return rng.choice(_TOPIC[label]).format(**{k: rng.choice(v) for k, v in _FILL.items()}) + ".", label


# by task name: one templated (text, label) per call
_TEMPLATES = {"sentiment": _sentiment, "topic": _topic}


def synthetic_examples(task: str, n: int = 600, seed: int = 13) -> list[Example]:
    """Up to `n` distinct labelled sentences (fewer if the templates run out); MissingData for a
    task without templates, since its labels mean nothing to these sentences."""
    if task not in _TEMPLATES:
        raise MissingData(
            f"task {task!r} has no built-in synthetic corpus (only {', '.join(_TEMPLATES)} have one): "
            f"train it on labelled data of its own, `bloomwatch train --task {task} --data FILE`"
        )
    rng = random.Random(seed)
    out: dict[str, Example] = {}
    for _ in range(n):
        text, label = _TEMPLATES[task](rng)
        out.setdefault(text, Example(text, label, "synthetic"))
    return list(out.values())


def synthetic_texts(task: str, n: int, seed: int = 13) -> list[str]:
    """Up to `n` sentences to run a model of `task` on, labels unused (e.g. a precision probe): the
    task's own templates, else those of every task that has some, alternately."""
    if task in _TEMPLATES:
        return [example.text for example in synthetic_examples(task, n, seed)]
    per_task = [[example.text for example in synthetic_examples(name, n, seed)] for name in _TEMPLATES]
    return [text for texts in zip(*per_task, strict=False) for text in texts][:n]
