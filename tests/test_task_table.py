"""The task table is data: a third task declared in a tasks file (BLOOMWATCH_TASKS_FILE), with
labels of its own and a small model trained here, runs through publish -> worker -> store ->
/api/documents/{id} -> the dashboard API without a line of code naming it; and a tasks file that
cannot declare tasks is refused with a clear error."""

from __future__ import annotations

import json
import random
from pathlib import Path

import httpx
import pytest
from conftest import build_tiny_classifier, declared_task_file, tiny_registry_at
from dashboard_support import run_python
from pipeline_support import running_pipeline, wait_until
from transformers import AutoTokenizer, BloomForSequenceClassification

from bloomwatch.net import free_port
from bloomwatch.tasks import InvalidTaskFile, Unscored, labels_for, tasks
from training.data import Example
from training.finetune import FinetuneConfig, finetune
from training.registry import Registry

URGENCY = ("routine", "urgent")
SUBJECTS = (
    "The payment system",
    "Our main website",
    "The warehouse scanner",
    "The customer portal",
    "The mail server",
    "The billing export",
)
PHRASES = {
    "urgent": ("is down, fix it immediately", "failed: emergency, act now", "stopped working, critical outage"),
    "routine": (
        "weekly report is attached as usual",
        "newsletter goes out next month",
        "has its regular maintenance on Friday",
    ),
}
# a subject the model never saw, with each label's phrases
PUBLISHED = {
    f"ur-{label}-{i}": (label, f"The payroll service {phrase}")
    for label in URGENCY
    for i, phrase in enumerate(PHRASES[label])
}


def tasks_file(path: Path, body: str) -> Path:
    path.write_text(body, encoding="utf-8")
    return path


@pytest.fixture
def use_tasks_file(monkeypatch):
    def use(path: Path) -> None:
        monkeypatch.setenv("BLOOMWATCH_TASKS_FILE", str(path))

    return use


def test_a_malformed_tasks_file_is_refused_with_the_reason(tmp_path, use_tasks_file):
    use_tasks_file(tasks_file(tmp_path / "tasks.toml", '[[task]]\nname = "urgency"\nlabels = ["routine", "urgent"\n'))
    with pytest.raises(InvalidTaskFile, match=r"tasks file .*tasks\.toml"):
        tasks()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('[[task]]\nname = "sentiment"\nlabels = ["a", "b"]\nurl = "http://127.0.0.1:9"\n', "declared twice"),
        ('[[task]]\nname = "urgency"\nlabels = ["routine"]\nurl = "http://127.0.0.1:9"\n', "two or more distinct"),
        (
            '[[task]]\nname = "Urgency"\nlabels = ["routine", "urgent"]\nurl = "http://127.0.0.1:9"\n',
            "lower-case identifier",
        ),
        ('[[task]]\nname = "urgency"\nlabels = ["routine", "urgent"]\n', "url must be"),
        (
            '[[task]]\nname = "urgency"\nlabels = ["routine", "urgent"]\nurl = "http://127.0.0.1:9"\ncolour = "red"\n',
            "unknown keys",
        ),
    ],
)
def test_a_task_the_table_cannot_hold_is_refused(tmp_path, use_tasks_file, body, reason):
    use_tasks_file(tasks_file(tmp_path / "tasks.toml", body))
    with pytest.raises(InvalidTaskFile, match=reason):
        tasks()


def _fields_a_task_name_would_shadow() -> list[str]:
    """Every documents column that is not a task's, every dashboard filter parameter, every documents
    search parameter: derived, so a new column or parameter is checked as soon as it exists."""
    from bloomwatch.schemas import DocumentQuery
    from dashboards.filters import Filters
    from store.documents import COLUMNS

    task_columns = {column for task in tasks() for column in task.score_columns}
    parameters = [field.alias or name for name, field in Filters.model_fields.items()]
    searched = [field.alias or name for name, field in DocumentQuery.model_fields.items()]
    return sorted({*(column for column in COLUMNS if column not in task_columns), *parameters, *searched})


def test_a_task_named_like_a_document_field_or_a_query_parameter_is_refused(tmp_path, use_tasks_file):
    for name in _fields_a_task_name_would_shadow():
        use_tasks_file(
            tasks_file(
                tmp_path / f"{name}.toml",
                f'[[task]]\nname = "{name}"\nlabels = ["a", "b"]\nurl = "http://127.0.0.1:9"\n',
            )
        )
        with pytest.raises(InvalidTaskFile, match="reserved"):
            tasks()


# Runs in a fresh interpreter (chDB: one engine per process, and the table is read at import).
_STORE_COLUMNS = """
import json, sys
from store.connect import open_client
from store.documents import DocumentStore
store = DocumentStore(open_client(sys.argv[1]))
store.ensure_schema()
if sys.argv[2] == "insert":
    store.client.command("INSERT INTO documents (id, text, sentiment_model) VALUES ('old', 'stored before', 'sentiment-v1')")
columns = [name for name, in store.client.query("SELECT name FROM system.columns WHERE table = 'documents' ORDER BY position").result_rows]
old = store.client.query("SELECT * FROM documents WHERE id = 'old'").named_results()
print(json.dumps({"columns": columns, "old": [{k: str(v) for k, v in row.items()} for row in old]}))
"""


def test_a_store_made_before_a_task_gains_its_columns_where_a_fresh_store_has_them(tmp_path, monkeypatch):
    monkeypatch.delenv("BLOOMWATCH_TASKS_FILE", raising=False)
    run_python(_STORE_COLUMNS, f"chdb://{tmp_path / 'earlier'}", "insert")
    monkeypatch.setenv("BLOOMWATCH_TASKS_FILE", str(declared_task_file(tmp_path / "tasks.toml", "urgency", URGENCY, 9)))
    earlier = json.loads(run_python(_STORE_COLUMNS, f"chdb://{tmp_path / 'earlier'}", "read"))
    fresh = json.loads(run_python(_STORE_COLUMNS, f"chdb://{tmp_path / 'fresh'}", "read"))
    assert earlier["columns"] == fresh["columns"]
    assert fresh["columns"][fresh["columns"].index("topic_unscored") + 1 :][:5] == [
        "urgency",
        "urgency_routine",
        "urgency_urgent",
        "urgency_model",
        "urgency_unscored",
    ]
    (old,) = earlier["old"]  # not scored by the new task, and read so: first label, probabilities 0, no model
    assert (old["urgency"], old["urgency_urgent"], old["urgency_model"]) == ("routine", "0.0", "")
    assert (old["urgency_unscored"], old["sentiment_unscored"]) == (Unscored.STORED_BEFORE_TASK, "")


def urgency_examples(n: int, seed: int) -> list[Example]:
    rng = random.Random(seed)
    labels = [URGENCY[i % 2] for i in range(n)]
    return [Example(f"{rng.choice(SUBJECTS)} {rng.choice(PHRASES[label])}", label, "synthetic") for label in labels]


def register_trained_urgency_model(registry: Registry, scratch: Path) -> str:
    """A tiny BLOOM classifier fine-tuned here on synthetic urgency texts, made `current` for urgency;
    its registry version name (urgency-v1)."""
    start = build_tiny_classifier("urgency", scratch / "untrained")
    config = FinetuneConfig(
        method="full",
        batch_size=16,
        lr=3e-3,
        warmup_ratio=0.0,
        max_len=24,
        max_steps=30,
        patience=100,
        evals_per_epoch=1,
    )
    tokenizer = AutoTokenizer.from_pretrained(start)
    result = finetune(
        BloomForSequenceClassification.from_pretrained(start), tokenizer, urgency_examples(48, seed=1),
        urgency_examples(16, seed=2), labels_for("urgency"), config, device="cpu", progress=False,
    )  # fmt: skip
    assert result.best_eval["val_macro_f1"] == 1.0, result.evals

    def save(directory: Path) -> None:
        result.model.save_pretrained(directory, safe_serialization=True)
        tokenizer.save_pretrained(directory)

    version = registry.register(
        "urgency", save, manifest={"base": "random:tiny", "method": "full"}, metrics=result.best_eval
    )
    return version.name


@pytest.fixture(scope="module")
def urgency_pipeline(kafka_broker, tmp_path_factory):
    """Classifier servers for sentiment, topic and urgency (its URL from the tasks file) and a
    worker, every process reading the same tasks file; the published documents stored."""
    root = tmp_path_factory.mktemp("task-table")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(
            "BLOOMWATCH_TASKS_FILE", str(declared_task_file(root / "tasks.toml", "urgency", URGENCY, free_port()))
        )
        registry = tiny_registry_at(root / "registry")
        model = register_trained_urgency_model(registry, root)
        with running_pipeline(registry.root, kafka_broker, root / "pipeline") as deployment:
            documents = [
                {"id": i, "source": "ops-desk", "kind": "news", "text": text} for i, (_, text) in PUBLISHED.items()
            ]
            deployment.publish(documents)
            wait_until(lambda: deployment.count() == len(documents), 120, f"{len(documents)} documents stored")
            yield deployment, model


@pytest.mark.kafka
def test_a_third_task_is_scored_stored_and_served_by_its_own_trained_model(urgency_pipeline):
    deployment, model = urgency_pipeline
    for document_id, (label, _) in PUBLISHED.items():
        stored = httpx.get(f"{deployment.api}/api/documents/{document_id}", timeout=30).json()
        urgency = stored["urgency"]
        assert (urgency["label"], urgency["model"]) == (label, model), stored
        assert list(urgency["probs"]) == list(URGENCY) and abs(sum(urgency["probs"].values()) - 1) < 1e-4
        assert stored["sentiment"]["model"] == "sentiment-v1" and stored["topic"]["model"] == "topic-v1"

    found = httpx.get(f"{deployment.api}/api/documents/search", params={"label": "urgent"}, timeout=30).json()
    assert sorted(d["id"] for d in found["documents"]) == sorted(
        i for i, (label, _) in PUBLISHED.items() if label == "urgent"
    )
    stats = httpx.get(f"{deployment.api}/api/stats", timeout=30).json()
    assert stats["by_urgency"] == {"routine": 3, "urgent": 3} and sum(stats["by_sentiment"].values()) == len(PUBLISHED)


@pytest.mark.kafka
def test_the_dashboard_api_reports_the_third_task(urgency_pipeline):
    deployment, _ = urgency_pipeline
    options = httpx.get(f"{deployment.api}/api/dashboard/options", timeout=30).json()
    assert {"name": "urgency", "labels": list(URGENCY), "watched_label": None} in options["tasks"]
    assert options["values"]["urgency"] == list(URGENCY)
    panels = httpx.get(f"{deployment.api}/api/dashboard/panels", timeout=60).json()["panels"]
    mix = panels["urgency_mix"]
    assert dict(zip(mix["urgency"], mix["documents"], strict=True)) == {"routine": 3, "urgent": 3}
    urgent_only = httpx.get(f"{deployment.api}/api/dashboard/panels", params={"urgency": "urgent"}, timeout=60).json()[
        "panels"
    ]
    assert urgent_only["totals"]["documents"] == [3]


@pytest.mark.kafka
def test_labels_and_the_labelling_queue_take_the_third_task(urgency_pipeline):
    deployment, _ = urgency_pipeline
    accepted = httpx.post(
        f"{deployment.api}/labels",
        json={"document_id": "ur-urgent-0", "task": "urgency", "label": "urgent"},
        timeout=30,
    )
    assert accepted.status_code == 200 and accepted.json()["accepted_ids"] == ["ur-urgent-0"]
    refused = httpx.post(
        f"{deployment.api}/labels",
        json={"document_id": "ur-urgent-0", "task": "urgency", "label": "sports"},
        timeout=30,
    )
    assert "is not a urgency label" in refused.json()["rejected"][0]["reason"]
    queue = httpx.get(f"{deployment.api}/api/labels/queue", params={"task": "urgency", "n": 10}, timeout=30).json()
    assert {item["document_id"] for item in queue["items"]} <= set(PUBLISHED) and queue["items"]
