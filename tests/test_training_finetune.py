"""Fine-tuning methods, early stopping, the learning-rate schedule and adapter merging on real tiny BLOOM classifiers."""

import time
from pathlib import Path

import pytest
import torch
from sklearn.metrics import f1_score
from training_corpus import finetune_tiny, keyword_examples, tiny_sentiment_classifier
from transformers import BloomForSequenceClassification

from bloomwatch.settings import Settings
from bloomwatch.tasks import labels_for
from training.data import Example
from training.defaults import default_options
from training.evaluate import predict_proba
from training.finetune import FinetuneConfig, finetune, merge_for_serving
from training.modeling import bloom_config
from training.registry import ModelVersion
from training.retrain.job import retrain_options
from training.runtime import adamw_with_schedule
from training.tokenizer import train_bpe_tokenizer

LABELS = labels_for("sentiment")

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def retrain_finetune_config() -> FinetuneConfig:
    """What `bloomwatch retrain` fine-tunes a sentiment model with (its default settings)."""
    current = ModelVersion(task="sentiment", version="v1", path=Path("/nonexistent"), manifest={})
    return retrain_options(default_options("sentiment"), current, Settings().retrain).finetune


def mean(xs):
    return sum(xs) / len(xs)


@pytest.mark.parametrize(
    "method, lr, fgm_eps",
    [("full", 3e-3, 0.0), ("full", 3e-3, 0.5), ("lora", 1e-2, 0.0), ("adalora", 1e-2, 0.0), ("prefix", 1e-2, 0.0)],
)
def test_each_method_trains_with_falling_loss(keyword_tokenizer, method, lr, fgm_eps):
    train = keyword_examples(240, seed=1)
    config = FinetuneConfig(
        method=method,
        epochs=5,
        batch_size=16,
        lr=lr,
        warmup_ratio=0.0,
        max_len=16,
        max_steps=40,
        fgm_eps=fgm_eps,
        patience=100,
        evals_per_epoch=1,
    )
    result = finetune_tiny(keyword_tokenizer, train, keyword_examples(30, seed=2), config)
    assert len(result.step_losses) == 40
    assert mean(result.step_losses[-8:]) < mean(result.step_losses[:8]) - 0.05, result.step_losses


def test_early_stopping_stops_and_restores_the_best(keyword_tokenizer):
    train = keyword_examples(240, seed=1)
    # validation labels contradict training: the better the model learns, the worse validation gets
    flipped = {"negative": "positive", "positive": "negative", "neutral": "neutral"}
    val = [Example(e.text, flipped[e.label], e.source) for e in keyword_examples(60, seed=2)]
    config = FinetuneConfig(
        epochs=6, batch_size=16, lr=3e-3, warmup_ratio=0.0, max_len=16, patience=2, evals_per_epoch=2
    )
    result = finetune_tiny(keyword_tokenizer, train, val, config)
    assert result.stopped_early
    assert len(result.evals) < 12  # stopped before the last epoch
    assert result.best_eval is not result.evals[-1]
    probs = predict_proba(result.model, keyword_tokenizer, [e.text for e in val], max_len=16)
    restored = f1_score([e.label for e in val], [LABELS[i] for i in probs.argmax(1)], average="macro", zero_division=0)
    assert restored == pytest.approx(result.best_eval["val_macro_f1"])


@pytest.mark.parametrize("method", ["lora", "adalora"])
def test_merged_adapter_model_equals_adapter_logits(keyword_tokenizer, method):
    train = keyword_examples(120, seed=1)
    config = FinetuneConfig(method=method, epochs=2, batch_size=16, lr=1e-2, max_len=16, max_steps=12, patience=100)
    model = finetune_tiny(keyword_tokenizer, train, keyword_examples(15, seed=3), config).model
    enc = keyword_tokenizer([e.text for e in keyword_examples(20, seed=4)], padding=True, return_tensors="pt")
    with torch.no_grad():
        adapter_logits = model(**enc).logits
        merged = merge_for_serving(model, method)
        assert type(merged) is BloomForSequenceClassification
        merged_logits = merged(**enc).logits
    torch.testing.assert_close(merged_logits, adapter_logits, atol=1e-5, rtol=1e-5)


def test_a_retrain_adapts_the_embeddings_of_the_words_it_trains_on(keyword_tokenizer):
    """`lora_embeddings` (set by retrain_options: new labels bring new words) puts LoRA on the word
    embeddings; merged for serving, the rows of the tokens trained on have moved and no other row
    has. Whether that makes a retrain learn new vocabulary is tests/test_retrain_pipeline.py's."""
    assert retrain_finetune_config().lora_embeddings
    train = keyword_examples(120, seed=1)
    model = tiny_sentiment_classifier(keyword_tokenizer)
    before = model.transformer.word_embeddings.weight.detach().clone()
    config = FinetuneConfig(
        method="lora", lora_embeddings=True, epochs=2, batch_size=16, lr=1e-2, max_len=16, max_steps=12, patience=100
    )
    merged = merge_for_serving(
        finetune(
            model, keyword_tokenizer, train, keyword_examples(15, seed=3), LABELS, config, device="cpu", progress=False
        ).model,
        "lora",
    )
    assert type(merged) is BloomForSequenceClassification
    moved = (merged.transformer.word_embeddings.weight.detach() - before).abs().sum(dim=1) > 0
    seen = {t for e in train for t in keyword_tokenizer(e.text)["input_ids"]}
    assert moved.any() and set(moved.nonzero().flatten().tolist()) <= seen
    with pytest.raises(ValueError, match="lora_embeddings is a LoRA option"):
        finetune_tiny(keyword_tokenizer, train, train[:3], FinetuneConfig(method="adalora", lora_embeddings=True))


def test_prefix_tuning_cannot_be_merged(keyword_tokenizer):
    with pytest.raises(ValueError, match="cannot be merged"):
        merge_for_serving(tiny_sentiment_classifier(keyword_tokenizer), "prefix")


def test_binary_dataset_examples_leave_the_absent_class_untouched(keyword_tokenizer):
    """Loss masking: an example from a polarity dataset (no `neutral`) sends no gradient to the neutral logit."""
    from training.finetune import allowed_labels

    binary = [e for e in keyword_examples(60, source="reviews_mr") if e.label != "neutral"]
    users = [e for e in keyword_examples(30, seed=1, source="user-file") if e.label != "neutral"]
    mask = allowed_labels(binary + users, LABELS)
    assert mask[: len(binary)].tolist() == [[True, False, True]] * len(binary)
    assert mask[len(binary) :].all()  # a sample without neutral does not make a dataset binary

    model = tiny_sentiment_classifier(keyword_tokenizer)
    config = FinetuneConfig(
        epochs=1, batch_size=len(binary), lr=1e-3, max_steps=1, evals_per_epoch=1, patience=5, mask_absent_labels=True
    )
    before = model.score.weight.detach().clone()
    finetune(model, keyword_tokenizer, binary, binary[:6], LABELS, config, device="cpu", progress=False)
    # AdamW with weight decay 0.01 only shrinks the untouched row; the gradient-driven rows move far more
    moved = (model.score.weight.detach() - before).abs().sum(dim=1)
    assert moved[1] < 1e-3 * moved[0] + 1e-5 and moved[0] > 0 and moved[2] > 0


def test_training_fine_tunes_from_the_registered_base(tmp_path, monkeypatch):
    """With a base in models/base (bloomwatch pretrain), `train` starts from it instead of pre-training."""
    import json as _json

    from bloomwatch.settings import get_settings
    from training.pipeline import TrainOptions, train_task
    from training.pretrain import PretrainConfig
    from training.registry import BASE, Registry

    monkeypatch.setenv("BLOOMWATCH_HOME", str(tmp_path))
    get_settings.cache_clear()
    registry = Registry(tmp_path / "models")

    def save_base(directory):
        torch.manual_seed(0)
        BloomForCausalLM(bloom_config("tiny", tokenizer_for_base)).save_pretrained(directory)
        tokenizer_for_base.save_pretrained(directory)

    from transformers import BloomForCausalLM

    tokenizer_for_base = train_bpe_tokenizer([e.text for e in keyword_examples(300)], vocab_size=300)
    base = registry.register(BASE, save_base, manifest={"kind": "pretrained-here"}, metrics={"tokens_seen": 1234})
    data = tmp_path / "labelled.jsonl"
    data.write_text("\n".join(_json.dumps({"text": e.text, "label": e.label}) for e in keyword_examples(200)))
    options = TrainOptions(task="sentiment", data_file=data, baseline=False, progress=False,
                           pretrain=PretrainConfig(steps=1), finetune=FinetuneConfig(max_steps=3, max_len=32))  # fmt: skip
    version = train_task(options=options, registry=registry, home=tmp_path)
    get_settings.cache_clear()
    assert version.manifest["base"]["kind"] == "registered-base"
    assert version.manifest["base"]["dir"] == str(base.path) and version.manifest["base"]["tokens_seen"] == 1234
    assert not (tmp_path / "pretrained").exists()  # nothing was pre-trained on the spot


def test_a_left_out_dataset_is_scored_but_never_trained_or_validated_on(tmp_path, monkeypatch):
    """`train --leave-out tweets_tweeteval`: a transfer measurement on text the model has not seen."""
    from bloomwatch.settings import get_settings
    from training.data import label_counts
    from training.pipeline import Splits, TrainOptions, train_task
    from training.pretrain import PretrainConfig
    from training.registry import Registry

    monkeypatch.setenv("BLOOMWATCH_HOME", str(tmp_path))
    get_settings.cache_clear()
    kept, left_out = keyword_examples(90, seed=1, source="kept"), keyword_examples(90, seed=2, source="left")
    splits = Splits(
        kept[:60] + left_out[:60], kept[60:75] + left_out[60:75], kept[75:] + left_out[75:], "two toy sets", []
    )
    options = TrainOptions(task="sentiment", leave_out=["left"], baseline=False, progress=False,
                           pretrain=PretrainConfig(steps=1), finetune=FinetuneConfig(max_steps=2, max_len=32))  # fmt: skip
    version = train_task(options=options, registry=Registry(tmp_path / "models"), home=tmp_path, splits=splits)
    get_settings.cache_clear()
    assert set(version.metrics["test"]) == {"kept", "left"}
    assert version.manifest["data"]["train_label_counts"] == label_counts(kept[:60])
    assert version.manifest["data"]["sources"] == ["kept", "left"]  # the test split still has both
    with pytest.raises(ValueError, match="no such dataset"):
        train_task(
            options=TrainOptions(task="sentiment", leave_out=["nope"], baseline=False, progress=False),
            registry=Registry(tmp_path / "m2"),
            home=tmp_path,
            splits=splits,
        )


def test_a_run_a_time_limit_may_cut_still_anneals_by_that_limit():
    """The decay follows the steps or the clock, whichever is further along: a run the budget
    stops at a tenth of its steps ends at a learning rate of zero, not at nine tenths of the peak."""
    model = torch.nn.Linear(4, 4)
    optimizer, scheduler = adamw_with_schedule(
        model, lr=1e-3, weight_decay=0.0, warmup_steps=2, total_steps=10_000, anneal_within_s=0.5
    )
    lrs = []
    for _ in range(3):
        optimizer.step()
        scheduler.step()
        lrs.append(optimizer.param_groups[0]["lr"])
    time.sleep(0.55)
    optimizer.step()
    scheduler.step()
    assert lrs[:2] == pytest.approx([5e-4, 1e-3], rel=0.02)  # warm-up by steps (then the clock counts)
    assert 5e-4 < lrs[2] < 1e-3  # decaying
    assert optimizer.param_groups[0]["lr"] == 0.0  # the limit reached: annealed


def test_only_the_sentiment_recipe_anneals_to_its_budget_and_a_retrain_never_does():
    assert (
        default_options("sentiment").finetune.anneal_to_time_limit
        and not default_options("topic").finetune.anneal_to_time_limit
    )
    assert not retrain_finetune_config().anneal_to_time_limit


def test_consistency_trains_each_copy_beside_its_original(keyword_tokenizer):
    """UDA-style consistency (`FinetuneConfig.consistency`): every augmented copy shares a batch
    with its original (the term compares the two), each row is drawn once an epoch, batches keep
    their size, and a run with the term on still learns the task. Its effect on robustness is
    measured on the real model (bench/RESULTS.md), not on this toy."""
    import numpy as np

    from training.augment import augment_examples
    from training.finetune import _paired_batches

    train, origin = augment_examples(keyword_examples(240, seed=1), ["hedge"], seed=1)
    batches = _paired_batches(origin, [len(e.text) for e in train], 16, np.random.default_rng(0))
    assert sorted(row for batch in batches for row in batch) == list(range(len(train)))
    assert all(origin[row] in batch for batch in batches for row in batch)
    assert max(len(batch) for batch in batches) == 16

    config = FinetuneConfig(
        epochs=4, batch_size=16, lr=3e-3, warmup_ratio=0.0, max_len=24, patience=100, evals_per_epoch=1, consistency=1.0
    )
    result = finetune_tiny(keyword_tokenizer, train, keyword_examples(30, seed=2), config, origin=origin)
    assert len(result.step_losses) == 4 * len(batches)
    assert mean(result.step_losses[-8:]) < mean(result.step_losses[:8]) - 0.3, result.step_losses
    assert result.best_eval["val_macro_f1"] > 0.9
