"""Retraining on the real pipeline: Kafka, the worker (labels table, API), embedded classifier
servers with hot reload, and `bloomwatch retrain` / `label` / `models rollback` as processes.

The tests share one deployment and run in file order, as an operator would: documents in a new
vocabulary arrive and are mis-scored, labels come in, a retrain is promoted and served; then a
deliberately bad retrain is refused; drift fires once; a rollback restores the first model.
The retrain settings for the tiny model (rate, gate margin) are retrain_support.RETRAIN_ENV.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pipeline_support import wait_until
from retrain_deployment import (
    publish_and_wait,
    retrain_deployment,
    roll_back_and_check,
    run_cli,
    sentiment_decisions,
    served_version,
)
from retrain_support import SLANG, accuracy, slang_examples, train_current_model, write_original_corpus

from bloomwatch.settings import Settings
from training.registry import Registry
from training.retrain.schedule import check_once
from training.retrain.splits import is_holdout
from training.retrain.worker_api import WorkerAPI
from training.synthetic import synthetic_examples

pytestmark = [pytest.mark.kafka, pytest.mark.slow]  # ~6 min on 2 busy cores: the slow suite

N_LABELS = 300


@pytest.fixture(scope="module")
def world(kafka_broker, tmp_path_factory):
    root = tmp_path_factory.mktemp("retrain")
    registry = Registry(root / "registry")
    train_current_model(registry, root / "home", write_original_corpus(root / "original.jsonl"))
    with retrain_deployment(kafka_broker, root, registry) as deployment:
        yield deployment, registry


def test_labels_on_new_vocabulary_retrain_and_the_promoted_model_is_served(world, tmp_path):
    deployment, registry = world
    slang = slang_examples(N_LABELS)
    publish_and_wait(deployment, slang)
    fresh = slang_examples(120, seed=99, prefix="fresh")
    acc_before, served = accuracy(deployment.sentiment_url, fresh)
    assert served == {"sentiment-v1"}

    labels_file = tmp_path / "labels.jsonl"
    lines = [json.dumps({"document_id": e["id"], "task": "sentiment", "label": e["label"]}) for e in slang]
    lines += [json.dumps({"document_id": "x", "task": "sentiment", "label": "great"}), "{not json"]
    labels_file.write_text("\n".join(lines) + "\n")
    published = run_cli(deployment, "label", str(labels_file), "--annotator", "tester")
    assert published.returncode == 1, published.stderr
    assert f"{N_LABELS} accepted, 2 rejected" in published.stderr
    assert f"line {N_LABELS + 1} (id x): label: Value error, label 'great' is not a sentiment label" in published.stderr
    assert f"line {N_LABELS + 2}: not valid JSON" in published.stderr
    labels_api = f"{deployment.api}/api/labels"
    wait_until(
        lambda: httpx.get(labels_api, params={"task": "sentiment"}).json()["count"] == N_LABELS, 60, "labels stored"
    )

    retrain = run_cli(deployment, "retrain", "--task", "sentiment")
    assert retrain.returncode == 0, retrain.stderr[-4000:]
    assert "sentiment: promoted v2" in retrain.stdout, retrain.stdout + retrain.stderr[-3000:]
    wait_until(lambda: served_version(deployment) == "sentiment-v2", 60, "the classifier to hot-reload v2")

    acc_after, served = accuracy(deployment.sentiment_url, fresh)
    assert served == {"sentiment-v2"}
    assert acc_after >= acc_before + 0.2, (acc_before, acc_after)
    publish_and_wait(deployment, fresh)
    now = datetime.now(UTC)
    summary = httpx.get(f"{deployment.api}/api/predictions/summary", params={
        "task": "sentiment", "model": "sentiment-v2", "since": (now - timedelta(hours=1)).isoformat(), "until": now.isoformat(),
    }).json()["sources"]  # fmt: skip
    assert sum(s["n"] for s in summary.values()) >= len(fresh)  # new rows carry the new version

    [decision] = sentiment_decisions(deployment)
    assert (decision["decision"], decision["version"], decision["parent"]) == ("promoted", "v2", "v1")
    assert decision["labels_total"] == N_LABELS and decision["labels_holdout"] > 0 and decision["replay_examples"] > 0
    assert decision["metrics"]["holdout"]["after"] > decision["metrics"]["holdout"]["before"]

    queue_file = tmp_path / "queue.csv"
    queued = run_cli(deployment, "label", "queue", "--task", "sentiment", "--n", "10", "--out", str(queue_file))
    assert queued.returncode == 0, queued.stderr
    rows = list(csv.DictReader(queue_file.open()))
    assert len(rows) == 10 and all(r["label"] == "" and r["text"] for r in rows)
    assert {r["document_id"].split("-")[0] for r in rows} == {"fresh"}  # the labelled ones are not queued again


def test_a_candidate_trained_on_wrong_labels_is_not_promoted(world):
    deployment, registry = world
    rotate = dict(zip(SLANG, list(SLANG)[1:] + list(SLANG)[:1], strict=True))
    wrong = [
        {
            "document_id": e["id"],
            "task": "sentiment",
            "label": e["label"] if is_holdout(e["text"], 0.2) else rotate[e["label"]],
        }
        for e in slang_examples(N_LABELS)
    ]
    stored_before = deployment.labels_stored()
    response = httpx.post(f"{deployment.api}/labels", json={"labels": wrong}, timeout=30)
    assert response.status_code == 200 and response.json()["accepted"] == N_LABELS
    single = httpx.post(f"{deployment.api}/labels", json={"document_id": "d", "task": "topic", "label": "negative"})
    assert single.json()["rejected"][0]["reason"].startswith(
        "label: Value error, label 'negative' is not a topic label"
    )

    def relabelled() -> bool:
        stored = {
            x["document_id"]: x["label"]
            for x in httpx.get(f"{deployment.api}/api/labels", params={"task": "sentiment"}).json()["labels"]
        }
        return all(stored[w["document_id"]] == w["label"] for w in wrong)

    # the holdout's labels are unchanged, so the table alone cannot say that all 300 events are in
    wait_until(
        lambda: deployment.labels_stored() >= stored_before + N_LABELS and relabelled(),
        60,
        "corrected labels to replace the first ones",
    )
    retrain = run_cli(deployment, "retrain", "--task", "sentiment")
    assert retrain.returncode == 0, retrain.stderr[-4000:]
    assert "sentiment: rejected v3" in retrain.stdout, retrain.stdout + retrain.stderr[-3000:]
    assert registry.current_version_name("sentiment") == "v2"
    latest = sentiment_decisions(deployment)[0]
    assert (latest["decision"], latest["version"]) == ("rejected", "v3")
    assert "holdout" in latest["reason"]


def test_drift_in_one_source_fires_the_trigger_once(world):
    deployment, registry = world
    reference = [{"id": f"ref-{i}", "text": e.text, "label": e.label, "source": "drift-wire", "kind": "news"}
                 for i, e in enumerate(synthetic_examples("sentiment")[:60])]  # fmt: skip
    publish_and_wait(deployment, reference, published_at=(datetime.now(UTC) - timedelta(hours=2)).isoformat())
    negative_slang = [e for e in slang_examples(400, seed=5, prefix="shift") if e["label"] == "negative"][:60]
    publish_and_wait(deployment, [{**e, "source": "drift-wire"} for e in negative_slang])

    settings = Settings(
        **{
            **deployment.settings.model_dump(),
            "retrain_drift_min_docs": 30,
            "retrain_min_new_labels": 10**6,
            "retrain_cron": "0 0 1 1 *",
        }
    )
    api = WorkerAPI(deployment.api)
    for _ in range(2):
        check_once(("sentiment",), settings.retrain, api, registry, last_check=datetime.now(UTC))
    drift = [d for d in sentiment_decisions(deployment) if d["trigger"] == "drift"]
    assert len(drift) == 1, drift
    assert drift[0]["parent"] == "v2" and "drift-wire: PSI" in drift[0]["metrics"]["trigger_detail"]
    assert drift[0]["decision"] == "skipped"  # no labels since the last run: nothing new to learn from


def test_rollback_restores_the_previous_model_and_is_audited(world):
    deployment, registry = world
    roll_back_and_check(deployment, registry, undone="v2")
