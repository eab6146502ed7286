"""Loader behaviour on real files written here: every error names file and line; skips are counted."""

import json

import pytest

from training.data import (
    TASK_SOURCES,
    DataError,
    MissingData,
    SourceSpec,
    load_file,
    load_shared,
    shared_available,
    split_examples,
)


def write_jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


GOOD = {"text": "great phone", "label": "positive"}


@pytest.mark.parametrize(
    "bad_row, reason",
    [
        ({"text": "   ", "label": "positive"}, "empty or whitespace-only text"),
        ({"text": "fine", "label": "delighted"}, "unknown label 'delighted'"),
        ({"label": "positive"}, "missing field(s) ['text']"),
        ('{"text": "cut off', "invalid JSON"),
    ],
)
def test_jsonl_errors_name_file_and_line(tmp_path, bad_row, reason):
    path = write_jsonl(tmp_path / "d.jsonl", [GOOD, bad_row, {"text": "awful", "label": "negative"}])
    with pytest.raises(DataError) as err:
        load_file(path, "sentiment")
    assert err.value.line == 2
    assert str(err.value).startswith(f"{path}:2: ")
    assert reason in str(err.value)


def test_undecodable_bytes_are_located(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"text": "ok", "label": "neutral"}\n{"text": "caf\xe9", "label": "neutral"}\n')
    with pytest.raises(DataError, match=r"d.jsonl:2: undecodable bytes"):
        load_file(path, "sentiment")


def test_csv_missing_column_and_custom_fields(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("sentence,sentiment\nprofits rose,positive\nprofits fell,negative\n")
    with pytest.raises(DataError, match=r"d.csv:1: missing column\(s\) \['text', 'label'\]"):
        load_file(path, "sentiment")
    report = load_file(path, "sentiment", SourceSpec("fin", text_field="sentence", label_field="sentiment"))
    assert [(e.text, e.label, e.source) for e in report.examples] == [
        ("profits rose", "positive", "fin"),
        ("profits fell", "negative", "fin"),
    ]


def test_csv_bad_row_line_number_counts_quoted_newlines(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('text,label\n"two\nlines",positive\n"",negative\n')
    with pytest.raises(DataError, match=r"d.csv:4: empty"):
        load_file(path, "sentiment")


def test_binary_label_map_onto_task_labels(tmp_path):
    path = write_jsonl(tmp_path / "mr.jsonl", [{"text": "loved it", "label": 1}, {"text": "hated it", "label": 0}])
    spec = SourceSpec("mr", label_map={"0": "negative", "1": "positive"})
    assert [e.label for e in load_file(path, "sentiment", spec).examples] == ["positive", "negative"]
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"text": "meh", "label": 2}])
    with pytest.raises(DataError, match=r"bad.jsonl:1: unknown label '2'"):
        load_file(bad, "sentiment", spec)


def test_skip_invalid_counts_and_reports(tmp_path):
    path = write_jsonl(
        tmp_path / "d.jsonl",
        [GOOD, {"text": "", "label": "positive"}, {"text": "x", "label": "sports"}, {"text": "ok", "label": "neutral"}],
    )
    report = load_file(path, "sentiment", skip_invalid=True)
    assert len(report.examples) == 2
    assert [p.line for p in report.skipped] == [2, 3]
    assert "2 skipped invalid" in report.summary()


def test_duplicates_removed_and_reported(tmp_path):
    path = write_jsonl(
        tmp_path / "d.jsonl",
        [GOOD, {"text": "Great  phone ", "label": "positive"}, {"text": "bad", "label": "negative"}],
    )
    report = load_file(path, "sentiment")
    assert len(report.examples) == 2 and report.duplicates == 1
    assert "1 duplicates removed" in report.summary()


def test_shared_layout_and_user_split(tmp_path):
    sources = TASK_SOURCES["sentiment"]
    for source in sources:
        (tmp_path / source).mkdir()
        for split in ("train", "val", "test"):
            write_jsonl(
                tmp_path / source / f"{split}.jsonl", [{"id": "1", "text": f"{source} {split}", "label": "negative"}]
            )
    reports = load_shared(tmp_path, "sentiment", "val")
    assert [r.examples[0].source for r in reports] == list(sources)
    (tmp_path / sources[-1] / "test.jsonl").unlink()
    assert not shared_available(tmp_path, "sentiment")  # a partial data dir is not silently trained on
    examples = load_file(
        write_jsonl(
            tmp_path / "u.jsonl", [{"text": f"t{i}", "label": "world" if i % 2 else "sports"} for i in range(40)]
        ),
        "topic",
    ).examples
    parts = split_examples(examples)
    assert [len(parts[s]) for s in ("train", "val", "test")] == [32, 4, 4]


def test_other_languages_join_the_sentiment_sources_and_no_other_task_pretends_to_have_them():
    from training.data import LANGUAGE_SOURCES, task_sources

    assert task_sources("sentiment") == TASK_SOURCES["sentiment"]
    assert task_sources("sentiment", ["en", "zh", "de"]) == (
        *TASK_SOURCES["sentiment"], *LANGUAGE_SOURCES["zh"], *LANGUAGE_SOURCES["de"],
    )  # fmt: skip
    with pytest.raises(MissingData, match="no labelled topic data in 'zh'"):
        task_sources("topic", ["zh"])
