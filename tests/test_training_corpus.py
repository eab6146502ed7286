"""The pre-training corpus with other languages, on a small data directory written here."""

import json

import pytest

from training.corpus import build_corpus
from training.data import LANGUAGE_SOURCES, SHARED_SOURCES, TASK_SOURCES


def _split(data, folder: str, split: str, texts: list[str]) -> None:
    (data / folder).mkdir(parents=True, exist_ok=True)
    rows = [{"id": f"{folder}-{i}", "text": t, "label": "positive", "lang": folder[-2:]} for i, t in enumerate(texts)]
    (data / folder / f"{split}.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n")


@pytest.fixture
def data(tmp_path):
    """English reviews, Chinese and German unlabelled text, one Chinese and one German labelled folder."""
    unlabeled = tmp_path / "unlabeled"
    unlabeled.mkdir()
    (unlabeled / "reviews.txt").write_text("\n".join(f"english review {i}" for i in range(400)) + "\n")
    (unlabeled / "zh.txt").write_text("\n".join(f"中文第{i}行" for i in range(100)) + "\n\n")
    (unlabeled / "de.txt").write_text("\n".join(f"Deutsche Zeile {i}" for i in range(8000)) + "\n")
    for split in ("train", "val", "test"):
        _split(tmp_path, "reviews_hotels_zh", split, [f"酒店{split}{i}" for i in range(3)])
        _split(tmp_path, "feedback_db_de", split, [f"Bahn {split} {i}" for i in range(3)])
    return tmp_path


def test_languages_add_their_train_split_and_unlabelled_text_and_hold_out_its_tail(data):
    english = build_corpus(data, chars=1000)
    corpus = build_corpus(data, chars=1000, languages=["zh", "de", "fr"])
    assert corpus.train[: len(english.train)] == english.train  # English first, sampled as before
    assert "酒店train0" in corpus.train and "Bahn train 2" in corpus.train
    assert not [t for t in corpus.train + corpus.heldout if "val" in t or "test" in t]  # never evaluation text
    # the last lines held out: 300 of a large file, 5% of a small one
    assert corpus.heldout_by_language["de"] == [f"Deutsche Zeile {i}" for i in range(7700, 8000)]
    assert corpus.heldout_by_language["zh"] == [f"中文第{i}行" for i in range(95, 100)]
    assert corpus.heldout_by_language["en"] == english.heldout
    assert corpus.heldout == english.heldout + corpus.heldout_by_language["de"] + corpus.heldout_by_language["zh"]
    assert "中文第94行" in corpus.train and "中文第95行" not in corpus.train
    assert corpus.parts["unlabeled/zh"] == sum(len(f"中文第{i}行") for i in range(95))
    assert corpus.parts["reviews_hotels_zh/train"] == 3 * len("酒店train0")
    assert corpus.parts["feedback_db_de/train"] == sum(len(f"Bahn train {i}") for i in range(3))
    # what is not on this machine is skipped: no French file or folder, no other Chinese or German folder
    assert set(corpus.parts) - set(english.parts) == {
        "reviews_hotels_zh/train", "feedback_db_de/train", "unlabeled/zh", "unlabeled/de"
    }  # fmt: skip
    assert corpus.fingerprint != english.fingerprint


def test_an_unknown_language_fails():
    with pytest.raises(ValueError, match="no corpus for language"):
        build_corpus("/nonexistent", chars=1000, languages=["xx"])


def test_language_folders_carry_their_language_outside_the_english_recipe():
    assert sorted(LANGUAGE_SOURCES) == ["de", "es", "fr", "zh"]
    assert all(SHARED_SOURCES[name].lang == lang for lang, names in LANGUAGE_SOURCES.items() for name in names)
    assert len([name for names in LANGUAGE_SOURCES.values() for name in names]) == 10
    assert SHARED_SOURCES["reviews_hotels_zh"].labels == ("negative", "positive")
    assert SHARED_SOURCES["forum_stocks_zh"].labels is None  # three classes
    assert all(SHARED_SOURCES[name].lang == "en" for names in TASK_SOURCES.values() for name in names)
