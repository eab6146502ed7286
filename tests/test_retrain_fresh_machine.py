"""Retraining on a deployment that has none of the data its model was trained on (issue 27): the
shipped-style model, the documents it stored and scored, and the users' labels, with
BLOOMWATCH_DATA_DIR pointing at an empty directory and the model's training file deleted.

Real processes as in test_retrain_pipeline.py: Kafka, the worker, embedded classifier servers with
hot reload, and `bloomwatch label` / `retrain` / `models rollback` as commands. The tests share one
deployment and run in file order: an expected error is one line; a dry run decides and promotes
nothing; a retrain that replays the stored documents is promoted and served; a rollback undoes it.
"""

from __future__ import annotations

import json

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
from retrain_support import slang_examples, train_current_model, write_original_corpus

from training.registry import Registry
from training.retrain.gate import HOLDOUT
from training.retrain.splits import STORED
from training.synthetic import synthetic_examples

pytestmark = [pytest.mark.kafka, pytest.mark.slow]  # a few minutes on 2 busy cores: the slow suite

N_LABELS = 300


@pytest.fixture(scope="module")
def fresh(kafka_broker, tmp_path_factory):
    root = tmp_path_factory.mktemp("fresh")
    empty = root / "no-shared-data"
    empty.mkdir()
    registry = Registry(root / "registry")
    corpus = write_original_corpus(root / "original.jsonl")
    train_current_model(registry, root / "home", corpus)
    corpus.unlink()  # the model's manifest names its training file; this machine does not have it
    with retrain_deployment(kafka_broker, root, registry, {"BLOOMWATCH_DATA_DIR": str(empty)}) as deployment:
        yield deployment, registry


def test_nothing_stored_to_check_forgetting_on_is_one_line_not_a_traceback(fresh):
    deployment, registry = fresh
    response = httpx.post(f"{deployment.api}/labels", json={"document_id": "typed-in", "task": "sentiment", "label": "positive",
                                                            "text": "The new drop absolutely slaps."}, timeout=10)  # fmt: skip
    assert response.status_code == 200
    wait_until(lambda: deployment.labels_stored() >= 1, 60, "the label stored")
    retrain = run_cli(deployment, "retrain", "--task", "sentiment")
    assert retrain.returncode == 1
    assert (
        "sentiment: failed -: nothing to check forgetting on: sentiment-v1's training data is not on this machine"
        in retrain.stdout
    )
    assert "Traceback" not in retrain.stderr, retrain.stderr[-3000:]
    assert registry.current_version_name("sentiment") == "v1"


def test_a_dry_run_prints_the_paired_decision_and_promotes_nothing(fresh, tmp_path):
    deployment, registry = fresh
    old = [
        {"id": f"old-{i}", "source": "old-wire", "kind": "news", "text": e.text}
        for i, e in enumerate(synthetic_examples("sentiment"))
    ]
    slang = slang_examples(N_LABELS)
    publish_and_wait(deployment, old + slang)
    labels_file = tmp_path / "labels.jsonl"
    labels_file.write_text(
        "".join(json.dumps({"document_id": e["id"], "task": "sentiment", "label": e["label"]}) + "\n" for e in slang)
    )
    published = run_cli(deployment, "label", str(labels_file))
    assert published.returncode == 0, published.stderr
    wait_until(lambda: deployment.labels_stored() >= N_LABELS + 1, 60, "labels stored")

    dry = run_cli(deployment, "retrain", "--task", "sentiment", "--dry-run")
    assert dry.returncode == 0, dry.stderr[-4000:]
    assert "sentiment: dry_run v2: would be promoted: new-label holdout" in dry.stdout, dry.stdout + dry.stderr[-3000:]
    assert STORED in dry.stdout and HOLDOUT in dry.stdout  # the figures, one line per test
    assert registry.current_version_name("sentiment") == "v1" and served_version(deployment) == "sentiment-v1"
    assert "Traceback" not in dry.stderr


def test_a_retrain_without_the_training_data_is_promoted_served_and_rolled_back(fresh):
    deployment, registry = fresh
    retrain = run_cli(deployment, "retrain", "--task", "sentiment")
    assert retrain.returncode == 0, retrain.stderr[-4000:]
    assert "sentiment: promoted v3" in retrain.stdout, retrain.stdout + retrain.stderr[-3000:]
    wait_until(lambda: served_version(deployment) == "sentiment-v3", 60, "the classifier to hot-reload v3")

    promoted = next(d for d in sentiment_decisions(deployment) if d["decision"] == "promoted")
    metrics = promoted["metrics"]
    assert "stored documents with sentiment-v1's confident answers" in metrics["reference"]
    assert metrics["same_examples"] and promoted["replay_examples"] > 0
    gate = metrics["gate"]
    assert gate[STORED]["n"] > 0 and gate[HOLDOUT]["n"] >= metrics["rules"]["min_holdout"]
    assert gate[HOLDOUT]["p_better"] < 0.05 and gate[HOLDOUT]["candidate"]["acc"] > gate[HOLDOUT]["current"]["acc"]
    assert metrics["duplicate_labels"] > 0  # slang repeats sentences: one example per text

    roll_back_and_check(deployment, registry, undone="v3")
