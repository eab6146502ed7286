"""The pre-training corpus: unlabelled in-domain text sampled by domain, plus training texts and user files.

The shared `unlabeled/` folder is one file per domain (reviews, news, finance, social), each
shuffled with a fixed seed, so the first lines of a file are a fair sample of it. Domains are
sampled by weight rather than read in order: news and reviews would otherwise crowd out the
tweets and finance headlines two of the four sentiment test sets are drawn from. The last lines
of each file are held out (never trained on) to measure perplexity.

Other languages (`languages=("zh", "de", ...)`) are added whole rather than sampled: each
`unlabeled/<lang>.txt` but its held-out tail, plus the train split of the language's labelled
folders. They are small beside the English domains (a few million characters each at most), and a
multilingual base needs all the text there is in them.

Evaluation text never enters the corpus: only the `train` split of the labelled sets is added,
and the unlabelled files were built without any val/test text (see their README).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from training.data import LANGUAGE_SOURCES, MissingData, shared_split_path

# Share of the sampled unlabelled characters per domain file (`<name>.txt`).
DOMAIN_WEIGHTS: dict[str, float] = {"reviews": 0.30, "news": 0.25, "finance": 0.20, "social": 0.25}
# Labelled training texts (train split only) of each domain, taken before its unlabelled text.
DOMAIN_SOURCES: dict[str, tuple[str, ...]] = {
    "reviews": ("reviews_mr", "reviews_imdb"),
    "news": ("news_agnews",),
    "finance": ("finance_fpb",),
    "social": ("tweets_tweeteval",),
}
HELDOUT_LINES = 300  # per domain, from the end of each file
# per language file: as many, but at most this share of a small file (fr.txt has 501 lines)
HELDOUT_SHARE = 0.05


@dataclass
class Corpus:
    train: list[str]
    heldout: list[str]
    parts: dict[str, int] = field(default_factory=dict)  # characters per part, for the manifest
    fingerprint: str = ""
    # the held-out lines again, by language ("en" = the domain files'), to measure each on its own
    heldout_by_language: dict[str, list[str]] = field(default_factory=dict)


def text_lines(path: Path) -> list[str]:
    """The documents of a plain text file: one a line, stripped, blank lines skipped."""
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _take_chars(lines: list[str], budget: int) -> list[str]:
    taken, used = [], 0
    for line in lines:
        if used >= budget:
            break
        taken.append(line)
        used += len(line)
    return taken


def _training_texts(data_dir: Path, source: str) -> list[str]:
    path = shared_split_path(data_dir, source, "train")
    if not path.exists():
        return []
    return [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _language_part(data_dir: Path, lang: str, with_training_texts: bool) -> tuple[list[str], list[str], dict[str, int]]:
    """(training lines, held-out lines, characters per part) of one language: the train split of its
    labelled folders and its unlabelled file but the tail."""
    train: list[str] = []
    parts: dict[str, int] = {}
    for source in LANGUAGE_SOURCES[lang] if with_training_texts else ():
        texts = _training_texts(data_dir, source)
        if texts:
            train += texts
            parts[f"{source}/train"] = sum(map(len, texts))
    path = data_dir / "unlabeled" / f"{lang}.txt"
    if not path.exists():
        return train, [], parts
    lines = text_lines(path)
    cut = len(lines) - min(HELDOUT_LINES, int(len(lines) * HELDOUT_SHARE))
    train += lines[:cut]
    parts[f"unlabeled/{lang}"] = sum(map(len, lines[:cut]))
    return train, lines[cut:], parts


def build_corpus(
    data_dir: Path,
    *,
    chars: int,
    extra_files: Sequence[Path] = (),
    with_training_texts: bool = True,
    languages: Sequence[str] = (),
) -> Corpus:
    """About `chars` characters of English sampled by domain (training texts of the domain first,
    then unlabelled text), all the text of each of `languages` (codes of LANGUAGE_SOURCES), plus
    every line of `extra_files`."""
    unknown = sorted(set(languages) - set(LANGUAGE_SOURCES))
    if unknown:
        raise ValueError(f"no corpus for language(s) {unknown}; known: {', '.join(sorted(LANGUAGE_SOURCES))}")
    data_dir = Path(data_dir)
    train: list[str] = []
    heldout: list[str] = []
    parts: dict[str, int] = {}
    for domain, weight in DOMAIN_WEIGHTS.items():
        budget = int(chars * weight)
        if with_training_texts:
            for source in DOMAIN_SOURCES[domain]:
                texts = _take_chars(_training_texts(data_dir, source), budget)
                train += texts
                parts[f"{source}/train"] = used = sum(map(len, texts))
                budget -= used
        path = data_dir / "unlabeled" / f"{domain}.txt"
        if path.exists():
            lines = text_lines(path)
            taken = _take_chars(lines[:-HELDOUT_LINES], budget)
            train += taken
            heldout += lines[-HELDOUT_LINES:]
            parts[f"unlabeled/{domain}"] = sum(map(len, taken))
    by_language = {"en": list(heldout)} if heldout else {}
    for lang in sorted(set(languages)):
        texts, held, lang_parts = _language_part(data_dir, lang, with_training_texts)
        train += texts
        heldout += held
        parts.update(lang_parts)
        if held:
            by_language[lang] = held
    for path in extra_files:
        texts = text_lines(Path(path))
        train += texts
        parts[str(path)] = sum(map(len, texts))
    if not heldout:  # no unlabelled files: hold out a slice of what there is
        cut = max(1, len(train) // 50)
        train, heldout = train[:-cut], train[-cut:]
    if not train:
        raise MissingData(f"no pre-training text in {data_dir} (unlabeled/ or training splits) and no extra files")
    digest = hashlib.sha256()
    for text in train:
        digest.update(text.encode())
        digest.update(b"\x00")
    return Corpus(
        train=train, heldout=heldout, parts=parts, fingerprint=digest.hexdigest()[:16], heldout_by_language=by_language
    )
