"""The sentiment behaviour suite: CheckList-style tests (Ribeiro et al., 2020) generated from templates.

Test splits say how often a model agrees with annotators on text like its training data; they do
not say whether it gets the plain cases a user tries first: a clear complaint about a product,
"no complaints", a profit warning, an opening time, or a complaint with "Thanks." after it. The
suite asks exactly that, in groups:

- minimum-functionality groups, each sentence with its gold label: `clear_negative`,
  `clear_positive`, `intensity` (mild and strong wording), `negation`, `finance` (headlines),
  `neutral` (plain facts);
- invariance groups (`invariance_<kind>`): a base sentence and the same sentence with a greeting,
  sign-off, courtesy phrase, user name, URL, emoji or hashtag added. The label must not change.
  The phrases are many and none is one of augmentation's hedges (training/augment.py), so the
  figure measures whether invariance generalises rather than whether a listed phrase was learnt.

It is an evaluation only: `assert_not_trained_on` stops a training run whose training set holds
any of its sentences. Generation is deterministic (fixed lists, a seeded sampler), so every model
is scored on the same sentences.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from string import Formatter

from bloomwatch.errors import ExpectedError
from training.data import Example, normalise_text

PRODUCTS = (
    "laptop", "phone", "blender", "vacuum cleaner", "coffee maker", "pair of headphones", "keyboard",
    "winter jacket", "backpack", "mattress", "kettle", "printer", "camera", "tablet", "charger", "monitor",
    "router", "smartwatch", "toaster", "speaker", "office chair", "microwave", "hair dryer", "desk lamp",
    "suitcase", "rice cooker", "electric toothbrush", "running shoes", "sofa", "washing machine",
)  # fmt: skip
SERVICES = (
    "delivery service", "customer support", "airline", "hotel", "restaurant", "bank", "insurance company",
    "internet provider", "taxi app", "gym", "repair shop", "pharmacy", "courier", "food delivery app",
    "car rental company", "cleaning service", "mobile carrier", "train company", "online store", "hair salon",
)  # fmt: skip
COMPANIES = (
    "Northwind Traders", "Contoso", "Fabrikam", "Tailspin Toys", "Wide World Importers", "Litware",
    "Proseware", "Adventure Works", "Alpine Ski House", "Blue Yonder Airlines", "Coho Winery",
    "Fourth Coffee", "Lucerne Publishing", "Trey Research", "Woodgrove Bank", "Humongous Insurance",
    "Southridge Video", "Consolidated Messenger", "Relecloud", "Datum Corporation",
)  # fmt: skip
PLACES = (
    "The pharmacy", "The bakery", "The library", "Our local branch", "The shop on Main Street", "The museum",
    "The post office", "The help desk", "The showroom", "The clinic", "The swimming pool", "The ticket office",
)  # fmt: skip

# {x} is a product or a service noun
_NEGATIVE = (
    "Awful {x}: it stopped working within a week.", "This {x} is a complete waste of money.",
    "I regret choosing this {x}, it is a total letdown.", "The {x} was a nightmare from start to finish.",
    "Absolutely terrible {x}, I want my money back.", "Worst {x} I have ever paid for.",
    "Do not waste your money on this {x}.", "The {x} is unreliable and overpriced.",
    "Very disappointed with the {x}, it failed me twice in one month.", "Horrible experience with this {x}.",
    "The {x} is a disaster and nobody answers my complaints.", "I hate this {x}, it is useless.",
    "Stay away from this {x}, it is a scam.", "The {x} left me angry and out of pocket.",
    "Dreadful {x}, broken promises and no refund.", "My experience with the {x} was miserable.",
)  # fmt: skip
_POSITIVE = (
    "Excellent {x}, it works perfectly every time.", "This {x} is worth every penny.",
    "I love this {x}, best decision I made all year.", "The {x} was a pleasure from start to finish.",
    "Fantastic {x}, I would happily pay for it again.", "Best {x} I have ever paid for.",
    "I highly recommend this {x} to everyone.", "The {x} is reliable and great value.",
    "Very happy with the {x}, it has never failed me.", "Wonderful experience with this {x}.",
    "The {x} is superb and the staff behind it are lovely.", "Brilliant {x}, it made my week.",
    "Five stars for this {x}, simply outstanding.", "The {x} exceeded my expectations in every way.",
    "Great {x}, quick, friendly and dependable.", "My experience with the {x} was delightful.",
)  # fmt: skip
# (template, label): mild and strong wording of the same verdict
_INTENSITY = (
    ("The {x} is a little disappointing.", "negative"), ("The {x} is slightly worse than I hoped.", "negative"),
    ("The {x} is somewhat annoying to deal with.", "negative"), ("The {x} is incredibly bad.", "negative"),
    ("The {x} is utterly, unbelievably awful.", "negative"), ("The {x} is extremely frustrating.", "negative"),
    ("The {x} is pretty good.", "positive"), ("The {x} is quite nice, I am pleased.", "positive"),
    ("The {x} is rather pleasant.", "positive"), ("The {x} is incredibly good.", "positive"),
    ("The {x} is absolutely amazing.", "positive"), ("The {x} is extremely impressive.", "positive"),
)  # fmt: skip
_NEGATION = (
    ("The {x} is not good at all.", "negative"), ("I would not recommend this {x} to anyone.", "negative"),
    ("The {x} was not worth the money.", "negative"), ("I am not happy with the {x}.", "negative"),
    ("Nothing about the {x} was pleasant.", "negative"), ("The {x} never works when I need it.", "negative"),
    ("I can't say I enjoyed the {x}.", "negative"), ("The {x} is no good, sadly.", "negative"),
    ("I have no complaints about this {x}.", "positive"), ("The {x} never disappoints.", "positive"),
    ("The {x} is not bad at all, I am impressed.", "positive"), ("I can't fault the {x}.", "positive"),
    ("The {x} has never let me down.", "positive"), ("No problems at all with the {x}.", "positive"),
    ("I was not disappointed by the {x} one bit.", "positive"), ("Nothing went wrong with the {x}, it was perfect.", "positive"),
)  # fmt: skip
_FINANCE = (
    ("{c} shares rally after a record quarterly profit.", "positive"), ("{c} raises its full-year guidance as sales jump.", "positive"),
    ("{c} beats earnings estimates and lifts its dividend.", "positive"), ("{c} stock soars on strong demand.", "positive"),
    ("{c} wins a major contract; shares climb 8%.", "positive"), ("{c} posts double-digit revenue growth, shares surge.", "positive"),
    ("{c} issues a profit warning and its shares plunge.", "negative"), ("{c} to cut 2,000 jobs as losses widen.", "negative"),
    ("{c} shares tumble after the company slashes its outlook.", "negative"), ("{c} misses revenue forecasts and suspends its dividend.", "negative"),
    ("{c} files for bankruptcy protection.", "negative"), ("Regulators fine {c} and its stock sinks.", "negative"),
)  # fmt: skip
# {p} a place, {x} a product, {c} a company; fillers below
_NEUTRAL = (
    "{p} opens at {time} on {day}.", "{p} is open from {time} until 6 pm.", "{p} is closed on {day}.",
    "The {x} comes in {colour} and {colour2}.", "The {x} is available in {colour}.", "The {x} was delivered on {date}.",
    "The {x} weighs {grams} grams.", "The {x} has a {months}-month warranty.", "Orders placed before {time} ship the same day.",
    "{c} will publish its quarterly report on {date}.", "{c} will hold its annual meeting on {day}, {date}.",
    "{c} has moved its head office to a new address.", "The new {x} goes on sale on {date}.",
)  # fmt: skip
_FILLERS = {
    "time": ("8 am", "9 am", "9:30 am", "10 am", "noon"),
    "day": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "colour": ("black", "white", "grey", "navy blue", "dark green", "red"),
    "colour2": ("silver", "beige", "light blue", "yellow"),
    "date": ("3 March", "14 April", "1 June", "22 September", "30 November", "10 January"),
    "grams": ("250", "480", "900", "1,200"),
    "months": ("12", "24", "36"),
}

# invariance: what a user adds around a verdict without changing it (kind -> (phrases, where))
INVARIANCE: dict[str, tuple[tuple[str, ...], str]] = {
    "greeting": (("Hi,", "Hello!", "Hey there,", "Good morning,", "Good evening.", "Hi all,", "Hello team,",
                  "Greetings,", "Hey,", "Dear support,", "Hi folks,", "Morning!"), "before"),
    "signoff": (("Cheers.", "Regards, Sam", "Best wishes.", "Kind regards.", "Sent from my phone.", "Talk soon.",
                 "Bye for now.", "- Alex", "Warm regards, Priya", "Take care.", "See you.", "Yours, J."), "after"),
    "courtesy": (("Please let me know.", "Thank you for reading.", "Any help is appreciated.", "Please advise.",
                  "Thanks in advance.", "I appreciate your time.", "Please forward this to the team.",
                  "Sorry for the long message.", "Hope you are well.", "Thanks for listening.", "Many thanks.",
                  "Please pass this on."), "after"),
    "username": (("@maria_k", "@jdoe88", "@TheRealTom", "@nina.s", "@pat_r", "@kofi22", "@lee_w", "@ana_m",
                  "@sam_t", "@zoe_x"), "before"),
    "url": (("https://example.com/r/4821", "http://bit.ly/3xYz12", "www.example.org/review/77",
             "https://t.co/Qw3rTy9", "https://shop.example.net/item?id=5521", "http://example.com/p/9"), "after"),
    "emoji": (("📦", "🛒", "✈️", "📱", "🍕", "☕", "🏨", "🚗", "🎧", "💻", "🧾", "🗓️"), "after"),
    "hashtag": (("#review", "#customerservice", "#monday", "#shopping", "#travel", "#tech", "#update",
                 "#feedback", "#order", "#delivery", "#home", "#weekend"), "after"),
}  # fmt: skip

GROUP_SIZES = {
    "clear_negative": 120,
    "clear_positive": 120,
    "intensity": 60,
    "negation": 120,
    "finance": 96,
    "neutral": 96,
}
INVARIANCE_BASES = 60  # base sentences per invariance kind
MFT_GROUPS = tuple(GROUP_SIZES)


@dataclass(frozen=True)
class Case:
    """A minimum-functionality test: `text` must be labelled `label`."""

    group: str
    text: str
    label: str


@dataclass(frozen=True)
class Pair:
    """An invariance test: `edited` must get the label `base` gets."""

    group: str
    base: str
    edited: str


@dataclass(frozen=True)
class Suite:
    cases: tuple[Case, ...]
    pairs: tuple[Pair, ...]

    def texts(self) -> set[str]:
        """Every sentence the suite shows a model, normalised as the data loader does."""
        return {
            normalise_text(t)
            for t in itertools.chain((c.text for c in self.cases), (t for p in self.pairs for t in (p.base, p.edited)))
        }


def _fill(template: str, rng: random.Random) -> str:
    values = {k: rng.choice(v) for k, v in _FILLERS.items()}
    values.update(x=rng.choice(PRODUCTS), c=rng.choice(COMPANIES), p=rng.choice(PLACES))
    return template.format(**values)


def _sample(candidates: Iterable[tuple[str, str]], n: int, rng: random.Random) -> list[tuple[str, str]]:
    unique = sorted(set(candidates))
    return rng.sample(unique, min(n, len(unique)))


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(template) if name}


def _cases(group: str, labelled_templates: Iterable[tuple[str, str]], rng: random.Random) -> list[Case]:
    """Templates crossed with every noun they name (random fillers where they name more), then a
    fixed-seed sample of the group's size."""
    nouns = {frozenset("x"): ("x", PRODUCTS + SERVICES), frozenset("c"): ("c", COMPANIES)}
    candidates = []
    for template, label in labelled_templates:
        if (key := frozenset(_fields(template))) in nouns:
            name, values = nouns[key]
            candidates += [(template.format(**{name: v}), label) for v in values]
        else:
            candidates += [(_fill(template, rng), label) for _ in range(40)]
    return [Case(group, text, label) for text, label in _sample(candidates, GROUP_SIZES[group], rng)]


def _pairs(kind: str, bases: list[Case], rng: random.Random) -> list[Pair]:
    phrases, where = INVARIANCE[kind]
    chosen = rng.sample(bases, min(INVARIANCE_BASES, len(bases)))
    out = []
    for i, case in enumerate(chosen):
        phrase = phrases[i % len(phrases)]
        edited = f"{phrase} {case.text}" if where == "before" else f"{case.text} {phrase}"
        out.append(Pair(f"invariance_{kind}", case.text, edited))
    return out


@cache
def behaviour_suite(seed: int = 13) -> Suite:
    """The suite (the same sentences for the same seed, on every machine)."""
    rng = random.Random(seed)
    cases = [
        *_cases("clear_negative", ((t, "negative") for t in _NEGATIVE), rng),
        *_cases("clear_positive", ((t, "positive") for t in _POSITIVE), rng),
        *_cases("intensity", _INTENSITY, rng),
        *_cases("negation", _NEGATION, rng),
        *_cases("finance", _FINANCE, rng),
        *_cases("neutral", ((t, "neutral") for t in _NEUTRAL), rng),
    ]
    bases = [c for c in cases if c.group in ("clear_negative", "clear_positive", "finance", "neutral")]
    pairs = [p for kind in INVARIANCE for p in _pairs(kind, bases, rng)]
    return Suite(tuple(cases), tuple(pairs))


class SuiteSentenceInTraining(ExpectedError, ValueError):
    """A training set holds behaviour-suite sentences: refused (one line), never trained on."""


def assert_not_trained_on(examples: Iterable[Example], suite: Suite | None = None) -> None:
    """Raise if any training example is a suite sentence: the suite is an evaluation, never training data."""
    texts = (suite or behaviour_suite()).texts()
    leaked = sorted({e.text for e in examples if normalise_text(e.text) in texts})
    if leaked:
        raise SuiteSentenceInTraining(
            f"{len(leaked)} behaviour-suite sentence(s) in the training set, e.g. {leaked[:3]}: the suite is evaluation only; remove them from the training data"
        )
