"""The MiniLM teacher (training/encoder_teacher.py) on the real packaged all-MiniLM-L6-v2: its files
are checked against the hub's digests (a tampered copy is refused), a few fine-tuning steps move
it, and the fine-tuned teacher is cached and read back with the same predictions."""

import shutil

import numpy as np
import pytest
from training_corpus import keyword_examples

from bloomwatch.tasks import labels_for
from training import encoder_teacher
from training.encoder_teacher import PINNED_SHA256, TeacherUnavailable, minilm_teacher, pretrained_dir

LABELS = labels_for("sentiment")

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_the_packaged_files_are_all_minilm_l6_v2():
    folder = pretrained_dir()
    assert {p.name for p in folder.iterdir()} >= set(PINNED_SHA256)


def test_a_tampered_copy_is_refused(tmp_path, monkeypatch):
    copy = tmp_path / "model"
    shutil.copytree(pretrained_dir(), copy)
    with open(copy / "vocab.txt", "a", encoding="utf-8") as vocab:
        vocab.write("[unused-extra]\n")
    package = __import__(encoder_teacher.PACKAGE)
    monkeypatch.setattr(package, "get_model_path", lambda: copy)  # the fault: a package that ships other files
    with pytest.raises(TeacherUnavailable, match="vocab.txt has SHA-256 .* not all-MiniLM-L6-v2's"):
        pretrained_dir()


def test_the_fine_tuned_teacher_is_cached_and_read_back(tmp_path):
    train, val = keyword_examples(48, seed=1), keyword_examples(12, seed=2)
    texts = [e.text for e in keyword_examples(6, seed=3)]
    kwargs = dict(cache_dir=tmp_path, seed=13, progress=False, max_steps=3, log=lambda _: None)
    teacher = minilm_teacher(train, val, LABELS, **kwargs)
    probs = teacher.proba(texts)
    assert probs.shape == (6, len(LABELS)) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert teacher.val_macro_f1 is not None and teacher.name == "minilm"

    again = minilm_teacher(train, val, LABELS, **kwargs)
    assert np.allclose(again.proba(texts), probs, atol=1e-5) and again.identity == teacher.identity
    assert again.val_macro_f1 == teacher.val_macro_f1
    (cached,) = (tmp_path / "encoders").iterdir()
    assert (cached / "teacher.json").exists() and (cached / "checkpoint").is_dir()
