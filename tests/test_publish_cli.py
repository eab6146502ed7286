"""`bloomwatch publish`: JSONL and CSV files with bad rows; good rows land on the topic, bad rows are
reported by line, nothing is generated silently."""

import pytest
from kafka_consume import consume, unique_topics
from typer.testing import CliRunner

from app.cli import app
from bloomwatch.settings import get_settings

pytestmark = pytest.mark.kafka

JSONL = (
    "\n".join(
        [
            '{"id": "n1", "source": "wire", "text": "Oil prices climbed on supply worries."}',
            '{"id": "n2", "source": "wire", "text": ""}',
            "{not json",
            '{"source": "wire", "text": "A row without an id."}',
            "",
            '{"id": "n5", "source": "wire", "kind": "news", "text": "Team wins the final.", "url": "https://example.org/a"}',
        ]
    )
    + "\n"
)

CSV = (
    "id,source,text,region\n"
    "r1,shop-a,Great blender and fast delivery,EU\n"
    "r2,,No source on this row,US\n"
    ',shop-a,"A review with no id, quoted",EU\n'
    'r4,shop-a,"Two lines\nof text",EU,one cell too many\n'
    "r5,shop-b,Terrible support,\n"
)


@pytest.fixture
def topics(kafka_broker, monkeypatch) -> dict[str, str]:
    names = unique_topics("cli")
    for field, name in names.items():
        monkeypatch.setenv(f"BLOOMWATCH_{field.upper()}", name)
    monkeypatch.setenv("BLOOMWATCH_KAFKA_BOOTSTRAP", kafka_broker)
    get_settings.cache_clear()
    yield names
    get_settings.cache_clear()


def test_publish_jsonl_reports_bad_lines_and_publishes_the_rest(kafka_broker, topics, tmp_path):
    path = tmp_path / "news.jsonl"
    path.write_bytes(JSONL.encode() + b'{"id": "n7", "source": "wire", "text": "\xff\xfe"}\n')

    result = CliRunner().invoke(app, ["publish", "--topic", "news", str(path)])

    assert result.exit_code == 1, result.output
    assert "2 accepted, 4 rejected" in result.output
    assert "line 2 (id n2): text: Value error, text is empty" in result.output
    assert "line 3: not valid JSON" in result.output
    assert "line 4: id: Field required" in result.output
    assert "line 7: line is not valid UTF-8" in result.output
    messages = consume(kafka_broker, [topics["topic_news"]], expected=2)
    assert sorted(key for _, key, _ in messages) == [b"n1", b"n5"]
    assert all(value["kind"] == "news" for _, _, value in messages)  # the topic's kind by default


def test_publish_csv_with_metadata_columns_and_id_from_text(kafka_broker, topics, tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text(CSV)
    rejects = tmp_path / "rejects.jsonl"

    result = CliRunner().invoke(app, ["publish", "--topic", "reviews", str(path), "--rejects", str(rejects)])

    assert result.exit_code == 1, result.output
    assert "2 accepted, 3 rejected" in result.output
    assert "line 3 (id r2): source: Field required" in result.output
    assert "line 4: id: Field required" in result.output
    assert "line 5: row has 5 fields; the header has 4" in result.output
    assert len(rejects.read_text().splitlines()) == 3
    messages = consume(kafka_broker, [topics["topic_reviews"]], expected=2)
    by_id = {key: value for _, key, value in messages}
    assert set(by_id) == {b"r1", b"r5"}
    assert by_id[b"r1"]["metadata"] == {"region": "EU"} and by_id[b"r1"]["kind"] == "review"

    options = ["--id-from", "text", "--source", "shop-x"]
    again = CliRunner().invoke(app, ["publish", "--topic", "reviews", str(path), *options])
    assert "4 accepted, 1 rejected" in again.output, again.output
    messages = consume(kafka_broker, [topics["topic_reviews"]], expected=6)
    hashed = [value for _, key, value in messages if key.startswith(b"sha256:")]
    assert [value["text"] for value in hashed] == ["A review with no id, quoted"]
    assert {value["source"] for _, key, value in messages if key == b"r2"} == {"shop-x"}


def test_unreadable_records_are_rejected_by_line_and_the_file_goes_on(kafka_broker, topics, tmp_path):
    """A record the readers cannot parse (a 5,000-digit integer, nesting past the recursion limit,
    a CSV field over the csv module's 131,072 characters) or that no Kafka message could carry
    (metadata over its bound, a time ClickHouse cannot store) is one rejected line, not the end of
    the file (issue 25, items 1, 5, 7 and 17)."""
    jsonl = tmp_path / "news.jsonl"
    jsonl.write_text("\n".join([
        '{"id": "j1", "source": "wire", "text": "First story."}',
        '{"id": "j2", "source": "wire", "text": "Huge number.", "n": ' + "7" * 5_000 + "}",
        "[" * 100_000,
        '{"id": "j4", "source": "wire", "text": "Huge metadata.", "metadata": {"k": "' + "m" * 1_100_000 + '"}}',
        '{"id": "j5", "source": "wire", "text": "Year one.", "published_at": "0001-01-01T00:00:00Z"}',
        '{"id": "j6", "source": "wire", "text": "Last story."}',
    ]) + "\n")  # fmt: skip
    published = CliRunner().invoke(app, ["publish", "--topic", "news", str(jsonl)])
    assert published.exit_code == 1, published.output
    assert "2 accepted, 4 rejected" in published.output
    for line, why in [(2, "not valid JSON: Exceeds the limit (4300 digits)"), (3, "not valid JSON: JSON nested too deeply"),
                      (4, "metadata: Value error, metadata is"), (5, "outside the range ClickHouse")]:  # fmt: skip
        assert f"line {line}" in published.output and why in published.output, (line, published.output)

    csv_file = tmp_path / "reviews.csv"
    csv_file.write_text("id,source,text\nc1,shop,Fine.\nc2,shop," + "x" * 140_000 + "\nc3,shop,Also fine.\n")
    from_csv = CliRunner().invoke(app, ["publish", "--topic", "reviews", str(csv_file)])
    assert from_csv.exit_code == 1, from_csv.output
    assert (
        "2 accepted, 1 rejected" in from_csv.output
        and "line 3: unreadable CSV: field larger than field limit" in from_csv.output
    )

    labels = tmp_path / "labels.jsonl"
    labels.write_text("\n".join([
        '{"document_id": "j1", "task": "sentiment", "label": "positive", "n": ' + "7" * 5_000 + "}",
        '{"document_id": "j1", "task": "sentiment", "label": "positive", "labelled_at": "0001-01-01T00:00:00Z"}',
        '{"document_id": "j6", "task": "sentiment", "label": "negative"}',
    ]) + "\n")  # fmt: skip
    labelled = CliRunner().invoke(app, ["label", str(labels)])
    assert labelled.exit_code == 1, labelled.output
    assert "1 accepted, 2 rejected" in labelled.output

    assert sorted(key for _, key, _ in consume(kafka_broker, [topics["topic_news"]], expected=2)) == [b"j1", b"j6"]
    assert sorted(key for _, key, _ in consume(kafka_broker, [topics["topic_reviews"]], expected=2)) == [b"c1", b"c3"]
    assert [key for _, key, _ in consume(kafka_broker, [topics["topic_labels"]], expected=1)] == [b"j6"]


def test_publish_without_topic_routes_each_row_by_kind_like_post_documents(kafka_broker, topics, tmp_path):
    """Issue 27, item 7: a mixed file goes where POST /documents would send each document; a row
    without a kind is rejected (it names no topic); `--topic news` still takes only news."""
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join([
        '{"id": "m1", "source": "wire", "kind": "news", "text": "Rates were left unchanged."}',
        '{"id": "m2", "source": "shop", "kind": "review", "text": "Broke after a week."}',
        '{"id": "m3", "source": "shop", "text": "A row that names no kind."}',
        '{"id": "m4", "source": "shop", "kind": "review", "text": "Works as described."}',
    ]) + "\n")  # fmt: skip

    routed = CliRunner().invoke(app, ["publish", str(path)])

    assert routed.exit_code == 1, routed.output
    assert "3 accepted, 1 rejected" in routed.output and "line 3 (id m3): kind: Field required" in routed.output
    messages = consume(kafka_broker, [topics["topic_news"], topics["topic_reviews"]], expected=3)
    assert sorted((topic, key) for topic, key, _ in messages) == [
        (topics["topic_news"], b"m1"), (topics["topic_reviews"], b"m2"), (topics["topic_reviews"], b"m4"),
    ]  # fmt: skip

    to_news = CliRunner().invoke(app, ["publish", "--topic", "news", str(path)])
    assert "2 accepted, 2 rejected" in to_news.output, to_news.output  # m1, and m3 as news; the reviews refused
    assert "line 2 (id m2): kind: a 'review' document does not belong on topic" in to_news.output
