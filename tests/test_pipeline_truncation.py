"""Over-long documents through the real pipeline: the worker keeps a review's end for its
sentiment (where a review gives its verdict) and the start everywhere else (the task table's
keep_end_kinds, bloomwatch/tasks.py); the stored scores are the ones the model gives those tokens."""

import httpx
import numpy as np
import pytest
from conftest import tiny_registry_at
from pipeline_support import running_pipeline, wait_until
from serving_support import varied_texts

from classifiers.embedded import softmax
from classifiers.precision import load_engine
from training.registry import Registry

pytestmark = pytest.mark.kafka

LONG_TEXT = " ".join(varied_texts(60))  # over 512 tokens: both ends differ


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> Registry:
    """Tiny random classifiers drawn wide enough (initializer_range 0.1) that which tokens they
    see moves their probabilities by far more than the store's rounding."""
    return tiny_registry_at(tmp_path_factory.mktemp("registry"), initializer_range=0.1)


def expected_probs(registry: Registry, task: str, side: str) -> np.ndarray:
    """What the servers compute: the precision `auto` picks for this model, as `serve` does."""
    engine = load_engine(registry.current(task), "auto")
    return softmax(engine.logits(engine.tokenize([LONG_TEXT], -1, side)))[0]


def test_a_long_reviews_sentiment_is_read_from_its_end_and_everything_else_from_its_start(
    registry, kafka_broker, tmp_path
):
    with running_pipeline(registry.root, kafka_broker, tmp_path) as deployment:
        deployment.publish(
            [
                {"id": "long-review", "source": "shop", "kind": "review", "text": LONG_TEXT},
                {"id": "long-news", "source": "wire", "kind": "news", "text": LONG_TEXT},
            ]
        )
        wait_until(lambda: deployment.count() == 2, 120, "both documents stored")
        stored = {
            i: httpx.get(f"{deployment.api}/api/documents/{i}", timeout=30).json() for i in ("long-review", "long-news")
        }

    def probs(document: dict, task: str) -> list[float]:
        return list(document[task]["probs"].values())

    end, start = expected_probs(registry, "sentiment", "left"), expected_probs(registry, "sentiment", "right")
    assert np.abs(end - start).max() > 1e-2  # the two cuts are told apart (0.07 measured; bf16 moves 1e-3)
    assert probs(stored["long-review"], "sentiment") == pytest.approx(list(end), abs=1e-3)
    assert probs(stored["long-news"], "sentiment") == pytest.approx(list(start), abs=1e-3)
    topic_start = list(expected_probs(registry, "topic", "right"))
    for document in stored.values():
        assert probs(document, "topic") == pytest.approx(topic_start, abs=1e-3)
