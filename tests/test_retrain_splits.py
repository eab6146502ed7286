"""What a retrain trains on and what it is tested on (training/retrain/splits.py): never a text of
a fixed test, one example per normalised text, and without the original training data a
reference drawn from the deployment's stored documents and the current model's own answers."""

from bloomwatch.settings import Settings
from bloomwatch.tasks import labels_for
from training.data import Example, normalise_text
from training.retrain.gate import HOLDOUT
from training.retrain.splits import (
    BEHAVIOUR,
    REHEARSAL,
    STORED,
    Reference,
    behaviour_tests,
    build_splits,
    dedupe_labels,
    gate_sample,
    stored_reference,
)

LABELS = labels_for("sentiment")
SMOKE = "cliches are as thick as the cigarette smoke ."


def _label(doc: str, text: str, label: str, at: str = "2026-12-01T00:00:00+00:00") -> dict:
    return {"document_id": doc, "text": text, "label": label, "labelled_at": at, "source": "shop"}


def _reference(test: list[Example]) -> Reference:
    train = [Example(f"an old review {i} .", "positive", "reviews_mr") for i in range(100)]
    return Reference(train, train[:10], test, "the current model's data")


def test_a_text_of_a_fixed_test_in_the_labels_never_reaches_training():
    settings = Settings(retrain_holdout_share=0.0)  # nothing held out: every label would train
    reference = _reference([Example(SMOKE, "negative", "reviews_mr")])
    labels = [_label("d1", "Cliches are as  thick as the cigarette smoke .", "negative"),
              _label("d2", "the slang word of the week slaps", "positive")]  # fmt: skip
    splits, counts = build_splits(labels, reference, settings.retrain, seed=13)
    trained = {normalise_text(e.text) for e in splits.train + splits.val}
    assert SMOKE not in trained and "the slang word of the week slaps" in trained
    assert (
        counts["labels_in_fixed_tests"] == 1
        and counts["labels_train"] + len([e for e in splits.val if e.source == HOLDOUT]) == 1
    )


def test_the_gate_scores_a_fixed_sample_of_each_split_and_no_text_of_the_split_trains():
    split = [Example(f"a test review number {i} .", "negative", "reviews_mr") for i in range(40)]
    suite, _ = behaviour_tests("sentiment")
    sample = gate_sample(split + suite, per_source=10)
    # the same ten whatever the order the split comes in; the suite whole
    assert [e for e in sample if e.source == "reviews_mr"] == [e for e in gate_sample(split[::-1], 10)]
    assert len([e for e in sample if e.source == "reviews_mr"]) == 10 and len(sample) == 10 + len(suite)
    outside = next(e.text for e in split if e not in sample)
    settings = Settings(retrain_holdout_share=0.0, retrain_gate_per_source=10)
    splits, counts = build_splits([_label("d1", outside, "negative")], _reference(split), settings.retrain, seed=13)
    assert counts["labels_in_fixed_tests"] == 1 and counts["labels_train"] == 0
    assert len([e for e in splits.test if e.source == "reviews_mr"]) == 10


def test_a_behaviour_suite_sentence_in_the_labels_is_tested_never_trained():
    tests, untrainable = behaviour_tests("sentiment")
    assert tests and {e.source for e in tests} == {BEHAVIOUR} and behaviour_tests("topic") == ([], set())
    suite_text = tests[0].text
    labels = [
        _label("d1", suite_text.upper(), tests[0].label),
        _label("d2", "the slang word of the week slaps", "positive"),
    ]
    splits, counts = build_splits(labels, _reference([]), Settings(retrain_holdout_share=0.0).retrain, 13, untrainable)
    assert normalise_text(suite_text) not in {normalise_text(e.text) for e in splits.train + splits.val}
    assert counts["labels_in_fixed_tests"] == 1


def test_replay_leaves_out_the_texts_the_gate_tests():
    settings = Settings(retrain_holdout_share=1.0, retrain_replay_ratio=100.0)  # every label held out
    held_out = "An old review 7 ."
    splits, counts = build_splits([_label("d1", held_out, "negative")], _reference([]), settings.retrain, seed=13)
    assert counts["labels_holdout"] == 1 and counts["labels_train"] == 0
    assert len(splits.val) == 9  # the reference's 10 validation examples but the held-out text
    assert normalise_text(held_out) not in {normalise_text(e.text) for e in splits.train + splits.val}


def test_labels_are_one_per_normalised_text_and_the_latest_wins():
    labels = [_label("a", "Great  value", "positive", "2026-12-01T00:00:00+00:00"),
              _label("b", "great value", "negative", "2026-12-02T00:00:00+00:00"),
              _label("c", "other", "neutral")]  # fmt: skip
    kept, counts = dedupe_labels(labels)
    assert sorted((x["document_id"], x["label"]) for x in kept) == [("b", "negative"), ("c", "neutral")]
    assert counts == {"duplicate_labels": 1, "conflicting_labels": 1}


def test_without_original_data_the_reference_is_the_current_models_confident_answers_on_stored_documents():
    settings = Settings(retrain_reference_share=0.3, retrain_rehearsal_min_confidence=0.8)
    docs = [{"text": f"Stored document {i}.", "model": "sentiment-v1", "probs": [0.9, 0.05, 0.05] if i % 2 else [0.1, 0.1, 0.8]}
            for i in range(400)]  # fmt: skip
    docs += [{"text": "Stored document 1.", "model": "sentiment-v1", "probs": [0.9, 0.05, 0.05]},  # a duplicate
             {"text": "Scored by the old model.", "model": "sentiment-v0", "probs": [0.9, 0.05, 0.05]},
             {"text": "Unsure.", "model": "sentiment-v1", "probs": [0.5, 0.3, 0.2]},
             {"text": "Labelled by a user.", "model": "sentiment-v1", "probs": [0.9, 0.05, 0.05]}]  # fmt: skip
    reference = stored_reference(
        docs, "sentiment-v1", LABELS, {normalise_text("labelled by a user.")}, settings.retrain
    )
    everything = reference.train + reference.val + reference.test
    assert len(everything) == 400 and len({e.text for e in everything}) == 400
    assert {e.source for e in reference.test} == {STORED} and {e.source for e in reference.train} == {REHEARSAL}
    assert 0.2 < len(reference.test) / 400 < 0.4 and reference.val
    assert all(e.label == ("negative" if int(e.text.split()[-1][:-1]) % 2 else "positive") for e in everything)
    assert not {e.text for e in reference.test} & {e.text for e in reference.train + reference.val}
