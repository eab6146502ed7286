"""Documents in six languages through the real pipeline (broker, classifier servers, worker, chDB).
Sentiment serves two lines (training/registry.py): the main line's English model and, on the line
`multilingual`, a model trained here on English, Chinese, German, Spanish and French that declares
those languages. The English document is scored by the main line's model, the other four by the
multilingual one, and the store keeps which model scored each; the topic model, English only,
scores the English one; a Japanese document is stored with no score and the reason
`unsupported_language`, and counted in no share, no label count and no training set, only in
volumes, `/metrics` and `status`. A negative burst of Chinese reviews fires an alert grouped by
language (slow)."""

from __future__ import annotations

import random
from pathlib import Path

import httpx
import pytest
from alerts_support import BurstStream, WebhookReceiver, alert_env, labelled_texts, rules_toml
from conftest import tiny_registry_at
from pipeline_support import Deployment, running_pipeline, start_classifier, wait_until
from transformers import AutoTokenizer

from bloomwatch.net import free_port
from bloomwatch.phrasebook import LANGUAGES, PHRASEBOOKS
from bloomwatch.tasks import Unscored, labels_for
from training.finetune import FinetuneConfig
from training.languages import training_languages
from training.registry import Registry
from training.retrain.job import other_line_models, trainable_labels, untrainable_reason
from training.retrain.worker_api import WorkerAPI
from training.synthetic import synthetic_examples
from training.tokenizer import TokenizerKind, train_bpe_tokenizer

pytestmark = pytest.mark.kafka

JAPANESE = "このホテルは最悪でした。部屋は汚くて、スタッフも失礼でした。"
WINDOW_S = 10


def sentences(language: str, n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [PHRASEBOOKS[language].sentence(rng)[0] for _ in range(n)]


LINE = "multilingual"


def register_multilingual_sentiment(registry: Registry, scratch: Path) -> str:
    """A tiny BLOOM fine-tuned here on the synthetic sentences of every phrasebook language, made
    current on sentiment's line `multilingual` with the languages measured on its training texts;
    its version name."""
    from training_corpus import finetune_tiny

    train = synthetic_examples("sentiment", 1500, seed=1, languages=LANGUAGES)
    val = synthetic_examples("sentiment", 300, seed=2, languages=LANGUAGES)
    texts = [example.text for example in train]
    tokenizer = train_bpe_tokenizer(texts * 4, vocab_size=700, kind=TokenizerKind.MULTILINGUAL)
    tokenizer.save_pretrained(scratch / "tokenizer")
    tokenizer = AutoTokenizer.from_pretrained(scratch / "tokenizer")
    config = FinetuneConfig(
        method="full", batch_size=32, lr=3e-3, warmup_ratio=0.0, max_len=32, max_steps=120, patience=100,
        evals_per_epoch=1,
    )  # fmt: skip
    result = finetune_tiny(tokenizer, train, val, config)
    assert result.best_eval["val_macro_f1"] > 0.9, result.evals
    languages = training_languages(texts, seed=0).languages
    assert languages == sorted(LANGUAGES)

    def save(directory: Path) -> None:
        result.model.save_pretrained(directory, safe_serialization=True)
        tokenizer.save_pretrained(directory)

    manifest = {"base": "random:tiny", "method": "full", "languages": languages}
    version = registry.register("sentiment", save, manifest=manifest, metrics=result.best_eval, promote=False)
    return registry.promote("sentiment", version.version, line=LINE).name


@pytest.fixture(scope="module")
def multilingual_registry(tmp_path_factory) -> tuple[Registry, str]:
    """Main lines: tiny models that declare no languages (English); sentiment's `multilingual` line: the model above."""
    root = tmp_path_factory.mktemp("languages")
    registry = tiny_registry_at(root / "registry")
    return registry, register_multilingual_sentiment(registry, root)


@pytest.fixture(scope="module")
def six_languages(multilingual_registry, kafka_broker, tmp_path_factory):
    registry, model = multilingual_registry
    published = {f"doc-{language}": sentences(language, 1, seed=5)[0] for language in LANGUAGES}
    published["doc-ja"] = JAPANESE
    with running_pipeline(registry.root, kafka_broker, tmp_path_factory.mktemp("pipeline")) as deployment:
        deployment.publish(
            [{"id": i, "source": "world-shop", "kind": "review", "text": text} for i, text in published.items()]
        )
        wait_until(lambda: deployment.count() == len(published), 120, f"{len(published)} documents stored")
        yield deployment, model


def stored(deployment: Deployment, document_id: str) -> dict:
    return httpx.get(f"{deployment.api}/api/documents/{document_id}", timeout=30).json()


def test_each_document_is_scored_by_the_first_line_that_reads_it_or_left_unscored_with_the_reason(
    six_languages, multilingual_registry
):
    deployment, multilingual = six_languages
    registry, _ = multilingual_registry
    english = registry.current("sentiment").name
    models = httpx.get(f"{deployment.sentiment_url}/v1/models", timeout=30).json()["data"]
    assert [(m["id"], m["line"], m["languages"]) for m in models] == [
        (english, "", ["en"]), (multilingual, LINE, sorted(LANGUAGES)),
    ]  # fmt: skip
    for language in LANGUAGES:
        document = stored(deployment, f"doc-{language}")
        assert document["detected_lang"] == language, document
        sentiment = document["sentiment"]
        expected = english if language == "en" else multilingual  # the main line first, for what it reads
        assert (sentiment["model"], sentiment["unscored"]) == (expected, None), document
        assert set(sentiment["probs"]) == set(labels_for("sentiment"))
        english_only_topic = document["topic"]
        assert english_only_topic["unscored"] == (None if language == "en" else Unscored.UNSUPPORTED_LANGUAGE)

    japanese = stored(deployment, "doc-ja")
    assert japanese["detected_lang"] == "ja"
    for task in ("sentiment", "topic"):
        assert japanese[task] == {
            "label": None, "probs": {}, "model": None, "unscored": Unscored.UNSUPPORTED_LANGUAGE,
        }  # fmt: skip


def test_an_unscored_document_counts_in_volumes_and_metrics_but_in_no_share_or_label_count(six_languages):
    deployment, _ = six_languages
    stats = httpx.get(f"{deployment.api}/api/stats", timeout=30).json()
    assert stats["documents"] == len(LANGUAGES) + 1 and stats["by_language"]["ja"] == 1
    assert sum(stats["by_sentiment"].values()) == len(LANGUAGES) and sum(stats["by_topic"].values()) == 1
    assert stats["unscored"] == {
        "sentiment": {Unscored.UNSUPPORTED_LANGUAGE: 1}, "topic": {Unscored.UNSUPPORTED_LANGUAGE: len(LANGUAGES)},
    }  # fmt: skip
    assert stats["recent"]["documents"] == len(LANGUAGES)
    for label in labels_for("sentiment"):
        found = httpx.get(f"{deployment.api}/api/documents/search", params={"label": label}, timeout=30).json()
        assert "doc-ja" not in {document["id"] for document in found["documents"]}
    metrics = httpx.get(f"{deployment.api}/metrics", timeout=30).text
    assert 'bloomwatch_documents_unscored_total{reason="unsupported_language",task="sentiment"} 1.0' in metrics
    count = httpx.get(f"{deployment.api}/api/documents/count", timeout=30).json()
    assert count["unscored"]["sentiment"] == {Unscored.UNSUPPORTED_LANGUAGE: 1}


def test_a_label_on_an_unscored_or_other_line_document_is_kept_but_never_trained_on(
    six_languages, multilingual_registry
):
    """The retraining job retrains the main line: a label on a document no model read, or on one
    the multilingual line scored, is stored, and left out of its training set with the reason."""
    deployment, multilingual = six_languages
    registry, _ = multilingual_registry
    labelled = ("doc-ja", "doc-zh", "doc-en")
    for document_id in labelled:
        accepted = httpx.post(
            f"{deployment.api}/labels",
            json={"document_id": document_id, "task": "sentiment", "label": "negative"},
            timeout=30,
        )
        assert accepted.json()["accepted_ids"] == [document_id]
    worker = WorkerAPI(deployment.api, headers={})
    wait_until(lambda: len(worker.labels("sentiment")) == len(labelled), 60, "the labels stored")
    labels = worker.labels("sentiment")
    assert {label["document_id"]: (label["unscored"], label["model"]) for label in labels} == {
        "doc-ja": (Unscored.UNSUPPORTED_LANGUAGE, None), "doc-zh": (None, multilingual),
        "doc-en": (None, registry.current("sentiment").name),
    }  # fmt: skip
    other_lines = other_line_models(registry, "sentiment")
    assert other_lines == {multilingual}
    assert [label["document_id"] for label in trainable_labels(labels, other_lines)] == ["doc-en"]
    assert {label["document_id"]: untrainable_reason(label, other_lines) for label in labels} == {
        "doc-ja": "on_unsupported_language_documents", "doc-zh": "on_other_line_documents", "doc-en": None,
    }  # fmt: skip


@pytest.mark.slow
def test_a_negative_burst_of_chinese_reviews_fires_an_alert_grouped_by_language(
    multilingual_registry, kafka_broker, tmp_path
):
    registry, multilingual = multilingual_registry
    port = free_port()
    server = start_classifier("sentiment", registry.root, port, tmp_path / "logs")
    topic_port = free_port()
    topic = start_classifier("topic", registry.root, topic_port, tmp_path / "logs")
    try:
        url = f"http://127.0.0.1:{port}"
        negative, other = labelled_texts(url, candidates=sentences("zh", 400, seed=9), model=multilingual)
        rules = tmp_path / "rules.toml"
        rules.write_text(rules_toml(WINDOW_S, group_by="lang"))
        with WebhookReceiver(free_port()) as receiver:
            deployment = Deployment(
                root=tmp_path, bootstrap=kafka_broker, sentiment_url=url, topic_url=f"http://127.0.0.1:{topic_port}",
                extra_env=alert_env(rules, receiver.url),
            )  # fmt: skip
            deployment.create_topics()
            worker = deployment.start_worker("worker-zh")
            stream = BurstStream(
                deployment.settings, negative, other, burst_at_s=3.5 * WINDOW_S, burst_s=3 * WINDOW_S,
                bursting=("shop-shanghai",), quiet=("shop-beijing",), lang="zh",
            )  # fmt: skip
            publishing = stream.start()
            try:
                firing = receiver.wait_for("firing", timeout_s=4 * WINDOW_S + 90)
            finally:
                stream.stop.set()
                publishing.join(timeout=30)
                worker.stop(timeout_s=60)
        assert firing.signed and firing.payload["group_key"] == "lang=zh", firing.payload
    finally:
        server.stop()
        topic.stop()
