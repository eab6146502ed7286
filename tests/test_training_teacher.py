"""Distillation from the ensemble teacher (training/teacher.py) on real tiny BLOOM classifiers: the
soft-target loss pulls the student toward the teacher's distribution, the labels are cached and
reused, no evaluation text is labelled, and a distilled run resumes exactly."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import tiny_registry_at
from training_corpus import finetune_tiny, keyword_examples, tiny_sentiment_classifier

from bloomwatch.tasks import labels_for
from training import teacher as teacher_module
from training.behaviour_suite import behaviour_suite
from training.data import Example, MissingData
from training.evaluate import predict_proba
from training.finetune import FinetuneConfig
from training.finetune_state import CheckpointMismatch
from training.teacher import UNLABELED_FILES, EnsembleTeacher, SoftExample, teacher_labels

LABELS = labels_for("sentiment")

pytestmark = pytest.mark.usefixtures("one_torch_thread")


TRAIN, VAL = keyword_examples(90, seed=1), keyword_examples(30, seed=2)
# the teacher disagrees with the keywords: every unlabelled text is mostly "neutral"
TEACHER = (0.15, 0.7, 0.15)
SOFT = [SoftExample(e.text, TEACHER, "unlabeled/toy") for e in keyword_examples(90, seed=5)]


def config(**overrides) -> FinetuneConfig:
    return FinetuneConfig(
        **{"epochs": 2, "batch_size": 16, "lr": 3e-3, "max_len": 16, "patience": 100, "evals_per_epoch": 2, **overrides}
    )


def kl_to_teacher(model, keyword_tokenizer) -> float:
    probs = torch.tensor(predict_proba(model, keyword_tokenizer, [s.text for s in SOFT], max_len=16))
    target = torch.tensor([TEACHER] * len(SOFT))
    return float(F.kl_div(probs.log(), target, reduction="batchmean"))


def test_the_soft_loss_moves_the_student_toward_the_teacher(keyword_tokenizer):
    before = kl_to_teacher(tiny_sentiment_classifier(keyword_tokenizer), keyword_tokenizer)
    labels_only = finetune_tiny(keyword_tokenizer, TRAIN, VAL, config()).model
    distilled = finetune_tiny(keyword_tokenizer, TRAIN, VAL, config(), soft=SOFT).model
    after, without = kl_to_teacher(distilled, keyword_tokenizer), kl_to_teacher(labels_only, keyword_tokenizer)
    assert after < before / 2 and after < without / 2, (before, without, after)


def test_a_distilled_run_resumes_exactly_and_its_teacher_is_part_of_the_run(keyword_tokenizer, tmp_path):
    def run(cfg, soft=SOFT):
        return finetune_tiny(keyword_tokenizer, TRAIN, VAL, cfg, soft=soft)

    whole = run(config())
    cut = run(config(checkpoint_dir=str(tmp_path), time_limit_s=0.0))
    assert cut.stopped_by_time_limit and len(cut.step_losses) == 1
    resumed = run(config(checkpoint_dir=str(tmp_path)))
    assert resumed.resumed_at_step == 1
    assert resumed.step_losses == pytest.approx(whole.step_losses, abs=1e-6)
    with pytest.raises(CheckpointMismatch):  # another weight
        run(config(checkpoint_dir=str(tmp_path), distill_weight=0.5))
    with pytest.raises(CheckpointMismatch):  # another teacher's labels
        run(config(checkpoint_dir=str(tmp_path)), soft=[SoftExample(s.text, (0.7, 0.15, 0.15), s.source) for s in SOFT])


@pytest.fixture
def unlabeled(tmp_path):
    """A data dir whose unlabelled files hold 20 lines each; the second line of the first file is a
    test text (other case and spacing), the third a behaviour-suite sentence."""
    folder = tmp_path / "data" / "unlabeled"
    folder.mkdir(parents=True)
    for name in UNLABELED_FILES:
        lines = [f"{name} line {i}: the order was {['great', 'awful', 'listed'][i % 3]}" for i in range(20)]
        (folder / f"{name}.txt").write_text("\n".join(lines) + "\n")
    first = folder / f"{UNLABELED_FILES[0]}.txt"
    lines = first.read_text().splitlines()
    suite_sentence = behaviour_suite().cases[0].text
    lines[1:3] = ["THE   test text we must never train on", suite_sentence]
    first.write_text("\n".join(lines) + "\n")
    return tmp_path / "data", suite_sentence


def test_teacher_labels_are_cached_reused_and_skip_evaluation_text(tmp_path, unlabeled, monkeypatch):
    data_dir, suite_sentence = unlabeled
    teacher = ensemble(tmp_path)
    evaluation = [Example("the test text we must never train on", "negative", "toy")]
    kwargs = dict(data_dir=data_dir, cache_dir=tmp_path / "cache", per_file=5, log=lambda _: None)

    soft, path = teacher_labels(teacher, evaluation, LABELS, **kwargs)
    assert path.parent == tmp_path / "cache" and path.exists()
    texts = [s.text for s in soft]
    assert len(soft) == 5 * len(UNLABELED_FILES) and len(set(texts)) == len(texts)
    assert not {t.lower() for t in texts} & {"the test text we must never train on", suite_sentence.lower()}
    assert texts[:3] == [
        f"{UNLABELED_FILES[0]} line {i}: the order was {w}" for i, w in ((0, "great"), (3, "great"), (4, "awful"))
    ]
    probs = np.array([s.probs for s in soft])
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-4) and (probs > 0).all()

    def no_scoring(*args, **kwargs):
        raise AssertionError("the cached labels were scored again")

    monkeypatch.setattr(teacher_module, "_bloom_proba", no_scoring)
    monkeypatch.setattr(teacher_module, "_tfidf_proba", no_scoring)
    again, same_path = teacher_labels(teacher, evaluation, LABELS, **kwargs)
    assert same_path == path and again == soft
    assert list((tmp_path / "cache").iterdir()) == [path]  # written atomically: no temporary left
    with pytest.raises(AssertionError, match="scored again"):  # another sample is another artefact
        teacher_labels(teacher, evaluation, LABELS, **{**kwargs, "per_file": 6})


def test_the_teacher_is_the_mean_of_the_bloom_and_the_tfidf(tmp_path, unlabeled, monkeypatch):
    data_dir, _ = unlabeled
    monkeypatch.setattr(
        teacher_module, "_bloom_proba", lambda model, texts, *a, **k: np.tile([0.2, 0.2, 0.6], (len(texts), 1))
    )
    monkeypatch.setattr(
        teacher_module, "_tfidf_proba", lambda train, texts, *a, **k: np.tile([0.6, 0.2, 0.2], (len(texts), 1))
    )
    soft, _ = teacher_labels(
        ensemble(tmp_path), [], LABELS, data_dir=data_dir, cache_dir=tmp_path / "cache", per_file=2, log=lambda _: None
    )
    assert {s.probs for s in soft} == {(0.4, 0.2, 0.4)}


def test_no_unlabelled_text_is_one_clear_error(tmp_path):
    with pytest.raises(MissingData, match="no unlabelled text for the teacher"):
        teacher_labels(ensemble(tmp_path), [], LABELS, data_dir=tmp_path / "nothing", cache_dir=tmp_path / "cache")


def ensemble(tmp_path) -> EnsembleTeacher:
    version = tiny_registry_at(tmp_path / "registry").current("sentiment")
    return EnsembleTeacher(version, TRAIN, LABELS, max_len=32, seed=13, progress=False, log=lambda _: None)
