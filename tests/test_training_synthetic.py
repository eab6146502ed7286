"""The built-in synthetic corpus is keyed by task: the built-in tasks get their own labels, any
other task is told to bring its data (a topic label would mean nothing to it)."""

import pytest

from bloomwatch.tasks import labels_for
from training.data import MissingData
from training.synthetic import synthetic_examples, synthetic_texts


@pytest.mark.parametrize("task", ["sentiment", "topic"])
def test_a_built_in_task_gets_every_one_of_its_labels_and_no_other(task):
    assert {example.label for example in synthetic_examples(task)} == set(labels_for(task))


def test_a_task_without_templates_is_told_to_pass_its_data():
    with pytest.raises(MissingData, match=r"'urgency' has no built-in synthetic corpus.*--task urgency --data FILE"):
        synthetic_examples("urgency")


def test_any_task_has_texts_to_run_a_model_on():
    assert synthetic_texts("topic", 50) == [example.text for example in synthetic_examples("topic", 50)]
    texts = synthetic_texts("urgency", 50)
    assert len(texts) == 50 and len(set(texts)) == 50
