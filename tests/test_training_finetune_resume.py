"""A fine-tuning run stopped by its budget continues from its checkpoint exactly where it stopped,
on real tiny BLOOM classifiers: the same batches, the same dropout, the same optimizer steps."""

import pytest
import torch
from training_corpus import finetune_tiny, keyword_examples

from bloomwatch.tasks import labels_for
from training.finetune import FinetuneConfig
from training.finetune_state import CHECKPOINT, CheckpointMismatch

LABELS = labels_for("sentiment")

pytestmark = pytest.mark.usefixtures("one_torch_thread")


TRAIN, VAL = keyword_examples(160, seed=1), keyword_examples(30, seed=2)


def config(**overrides) -> FinetuneConfig:
    # two epochs of 10 batches, dropout on: a resumed run that drew other batches or other dropout
    # masks would show other losses
    return FinetuneConfig(
        **{"epochs": 2, "batch_size": 16, "lr": 3e-3, "max_len": 16, "patience": 100, "evals_per_epoch": 2, **overrides}
    )


def run(keyword_tokenizer, cfg: FinetuneConfig):
    return finetune_tiny(keyword_tokenizer, TRAIN, VAL, cfg)


def test_a_run_cut_by_its_budget_continues_with_the_same_steps(keyword_tokenizer, tmp_path):
    whole = run(keyword_tokenizer, config())
    # a zero budget stops after the first step, saving the run there (as a budget hit mid-epoch does)
    cut = run(keyword_tokenizer, config(checkpoint_dir=str(tmp_path), time_limit_s=0.0))
    assert cut.stopped_by_time_limit and len(cut.step_losses) == 1
    assert (tmp_path / CHECKPOINT).exists()

    resumed = run(keyword_tokenizer, config(checkpoint_dir=str(tmp_path)))
    assert resumed.resumed_at_step == 1
    assert resumed.step_losses == pytest.approx(whole.step_losses, abs=1e-6)
    assert not resumed.stopped_by_time_limit


def test_a_finished_run_is_not_trained_again(keyword_tokenizer, tmp_path):
    first = run(keyword_tokenizer, config(checkpoint_dir=str(tmp_path)))
    again = run(keyword_tokenizer, config(checkpoint_dir=str(tmp_path)))
    assert again.resumed_at_step == len(first.step_losses) == 20
    assert again.step_losses == first.step_losses and again.best_eval == first.best_eval
    for name, weight in first.model.state_dict().items():
        assert torch.equal(weight, again.model.state_dict()[name]), name


def test_another_run_refuses_the_checkpoint(keyword_tokenizer, tmp_path):
    run(keyword_tokenizer, config(checkpoint_dir=str(tmp_path), time_limit_s=0.0))
    with pytest.raises(CheckpointMismatch, match="another run"):
        run(keyword_tokenizer, config(checkpoint_dir=str(tmp_path), lr=1e-3))
    # the budget is per sitting: a different one continues the same run
    assert run(keyword_tokenizer, config(checkpoint_dir=str(tmp_path), time_limit_s=600.0)).resumed_at_step == 1
