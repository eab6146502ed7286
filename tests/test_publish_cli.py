"""`bloomwatch publish`: JSONL and CSV files with bad rows; good rows land on the topic, bad rows are
reported by line, nothing is generated silently."""

import pytest
from kafka_consume import consume, unique_topics
from typer.testing import CliRunner

from bloomwatch.cli import app
from bloomwatch.settings import get_settings

pytestmark = pytest.mark.kafka

JSONL = "\n".join([
    '{"id": "n1", "source": "wire", "text": "Oil prices climbed on supply worries."}',
    '{"id": "n2", "source": "wire", "text": ""}',
    "{not json",
    '{"source": "wire", "text": "A row without an id."}',
    "",
    '{"id": "n5", "source": "wire", "kind": "news", "text": "Team wins the final.", "url": "https://example.org/a"}',
]) + "\n"

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
