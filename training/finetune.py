"""Fine-tuning a `BloomForSequenceClassification`: full, LoRA, AdaLoRA or prefix tuning (PEFT).

The model class and its last-token pooling are kept exactly as Hugging Face defines them, because
the served model (embedded engine or vLLM) must be the very same network. Adapters are merged
into the base weights before serving where the method allows it (LoRA, AdaLoRA): vLLM cannot load
LoRA adapters for BLOOM. Prefix tuning adds virtual key/value tokens to every attention layer and
cannot be folded into the weights, so a prefix-tuned model stays a PEFT model and is not servable.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, cast

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import f1_score
from sklearn.utils.class_weight import compute_class_weight

from bloomwatch.progress import progress_bar
from training import finetune_state
from training.adversarial import FGM
from training.data import SHARED_SOURCES, Example
from training.encoding import encode
from training.evaluate import predict_proba
from training.runtime import adamw_with_schedule, autocast, default_precision, pick_device, seed_everything

if TYPE_CHECKING:
    from peft import AdaLoraModel, PeftConfig, PeftModel
    from transformers import PreTrainedModel

    from training.teacher import SoftExample

METHODS = ("full", "lora", "adalora", "prefix")
MERGEABLE = ("full", "lora", "adalora")
# every linear layer of a BLOOM block
BLOOM_LINEAR = ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"]


@dataclass
class FinetuneConfig:
    method: str = "full"
    epochs: int = 4
    batch_size: int = 32
    grad_accum: int = 1
    lr: float = 3e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    grad_clip: float = 1.0
    max_len: int = 96
    class_weights: bool = False
    patience: int = 2
    evals_per_epoch: int = 2
    fgm_eps: float = 0.0
    # weight of the consistency term: KL from an original's prediction (held fixed) to its augmented
    # copy's (UDA, Xie et al., 2020), with each pair in one batch; 0 = copies are plain examples
    consistency: float = 0.0
    # polarity-set examples scored over their own labels only (see allowed_labels); off until its
    # effect on served 3-class predictions is measured on the full model (docs/training.md)
    mask_absent_labels: bool = False
    # weight of each soft-labelled example's loss (KL from the teacher's distribution, training/teacher.py)
    # against a hard-labelled example's cross-entropy; only used when `finetune` is given soft examples
    distill_weight: float = 1.0
    seed: int = 13
    max_steps: int | None = None  # cap for smoke runs and tests
    time_limit_s: float | None = None  # wall-clock cap: stop (keeping the best so far) when reached
    # the LR also decays by the clock, reaching ~0 at the cap (runtime.adamw_with_schedule)
    anneal_to_time_limit: bool = False
    # the run's state is saved here at every validation and a run given the same directory continues
    # from it (training/finetune_state.py); the LR then follows the steps only, since a clock-annealed
    # schedule would reach zero at the first sitting's budget
    checkpoint_dir: str | None = None
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    # LoRA on the word embeddings too (LoRA only): words the model has never seen mean nothing to its
    # linear layers until their embeddings move, so a retrain on new vocabulary needs it (job.py)
    lora_embeddings: bool = False
    prefix_tokens: int = 16

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class FinetuneResult:
    model: PreTrainedModel | PeftModel
    step_losses: list[float] = field(default_factory=list)
    evals: list[dict] = field(default_factory=list)
    best_eval: dict | None = None
    stopped_early: bool = False
    stopped_by_time_limit: bool = False
    resumed_at_step: int | None = None
    seconds: float = 0.0  # fine-tuning time over every sitting of the run


def apply_method(model: PreTrainedModel, config: FinetuneConfig, total_steps: int) -> PreTrainedModel | PeftModel:
    """Wrap the classifier for parameter-efficient methods; the classification head always trains."""
    if config.method not in METHODS:
        raise ValueError(f"unknown method {config.method!r}; known: {', '.join(METHODS)}")
    if config.method == "full":
        return model
    if config.lora_embeddings and config.method != "lora":
        raise ValueError(f"lora_embeddings is a LoRA option; method {config.method!r} cannot adapt the embeddings")
    from peft import AdaLoraConfig, LoraConfig, PrefixTuningConfig, TaskType, get_peft_model

    peft_config: PeftConfig
    if config.method == "lora":
        peft_config = LoraConfig(
            task_type=TaskType.SEQ_CLS,
            r=config.lora_r,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=[*BLOOM_LINEAR, "word_embeddings"] if config.lora_embeddings else BLOOM_LINEAR,
        )
    elif config.method == "adalora":
        peft_config = AdaLoraConfig(
            task_type=TaskType.SEQ_CLS,
            init_r=config.lora_r * 2,
            target_r=config.lora_r,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=BLOOM_LINEAR,
            total_step=total_steps,
            tinit=max(1, total_steps // 10),
            tfinal=max(1, total_steps // 5),
        )
    else:
        peft_config = PrefixTuningConfig(task_type=TaskType.SEQ_CLS, num_virtual_tokens=config.prefix_tokens)
    return get_peft_model(model, peft_config)


def merge_for_serving(model: PreTrainedModel | PeftModel, method: str) -> PreTrainedModel | PeftModel:
    """A plain `BloomForSequenceClassification` with adapters folded in (LoRA/AdaLoRA)."""
    if method == "full":
        return model
    if method not in MERGEABLE:
        raise ValueError(f"method {method!r} cannot be merged into the base weights")
    return cast("PeftModel", model).merge_and_unload()  # apply_method wrapped it for this method


def _batches(lengths: list[int], batch_size: int, rng: np.random.Generator) -> list[list[int]]:
    """Shuffled batches of similar length (sorted within pools of 50 batches) to cut padding."""
    order = rng.permutation(len(lengths))
    pool = batch_size * 50
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def _paired_batches(
    origin: list[int], lengths: list[int], batch_size: int, rng: np.random.Generator
) -> list[list[int]]:
    """`_batches` over groups (an original and its augmented copies), so a group never splits
    across batches; a batch holds about `batch_size` rows, as without pairing."""
    members: dict[int, list[int]] = {}
    for row, source in enumerate(origin):
        members.setdefault(source, []).append(row)
    groups = list(members.values())
    per_batch = max(1, batch_size // max(len(g) for g in groups))
    return [
        [row for g in batch for row in groups[g]] for batch in _batches([lengths[g[0]] for g in groups], per_batch, rng)
    ]


def _pairs_within(idx: list[int], origin: list[int]) -> tuple[list[int], list[int]]:
    """Positions in the batch of each augmented copy and of its original."""
    position = {row: k for k, row in enumerate(idx)}
    copies = [k for k, row in enumerate(idx) if origin[row] != row]
    return copies, [position[origin[idx[k]]] for k in copies]


def allowed_labels(examples: list[Example], labels: tuple[str, ...]) -> torch.Tensor:
    """[example, label] True where the label exists in the example's dataset (`SourceSpec.labels`).

    reviews_mr and reviews_imdb are polarity sets: no neutral class. Scored over all three
    classes, every one of their examples would push "neutral" down, and since those sets are
    also the lowercase / long-review ones, the model learns "this style of text is never
    neutral". Restricting their softmax to negative vs positive removes that signal. Any other
    source (a user's file, newly labelled documents) keeps the task's full label set.
    """
    full = torch.ones(len(labels), dtype=torch.bool)
    rows = []
    for e in examples:
        spec = SHARED_SOURCES.get(e.source)
        rows.append(torch.tensor([label in spec.labels for label in labels]) if spec and spec.labels else full)
    return torch.stack(rows)


def _with_soft_targets(
    logits: torch.Tensor, y: torch.Tensor, loss_fn, soft_rows: list[int], teacher: torch.Tensor, weight: float
) -> torch.Tensor:
    """The batch's loss, a mean over its rows: a hard-labelled row's `loss_fn`, a soft-labelled
    row's KL from the teacher's distribution times `weight` (rows `soft_rows`, their teacher
    distributions `teacher`, in that order). Weighting per row keeps a soft example worth `weight`
    labelled ones however the shuffle mixes a batch; a batch with no soft row is scored exactly as
    without a teacher."""
    if not soft_rows:
        return loss_fn(logits, y)
    soft = set(soft_rows)
    hard_rows = [k for k in range(len(logits)) if k not in soft]
    loss = weight * F.kl_div(F.log_softmax(logits[soft_rows], dim=-1), teacher, reduction="sum") / len(logits)
    if hard_rows:
        loss = loss + loss_fn(logits[hard_rows], y[hard_rows]) * len(hard_rows) / len(logits)
    return loss


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def finetune(
    model: PreTrainedModel,
    tokenizer,
    train: list[Example],
    val: list[Example],
    labels: tuple[str, ...],
    config: FinetuneConfig,
    *,
    device: str | None = None,
    progress: bool = True,
    origin: list[int] | None = None,
    soft: Sequence[SoftExample] = (),
) -> FinetuneResult:
    """Train, evaluating on `val` a few times per epoch; stop after `patience` evaluations without
    a better validation macro-F1 and return the model with the best evaluation's weights restored.

    `origin` (from `augment_examples`) pairs each augmented copy with its original; with
    `config.consistency` > 0 the pairs share batches and the copy's prediction is pulled towards
    the original's: a hedge may then change neither the label nor the confidence.

    `soft` (from `training.teacher`) join the training batches with the teacher's distribution as
    their target, weighted by `config.distill_weight`; validation and early stopping are unchanged.
    """
    seed_everything(config.seed)
    started = time.monotonic()
    dev = pick_device(device)
    precision = default_precision(dev)
    label_ids = {label: i for i, label in enumerate(labels)}
    n_hard = len(train)  # rows from n_hard on are the soft-labelled examples
    encoded = encode(tokenizer, [e.text for e in train] + [s.text for s in soft], config.max_len)
    targets = torch.tensor([label_ids[e.label] for e in train] + [0] * len(soft))  # a soft row's is never read
    teacher = torch.tensor([s.probs for s in soft], dtype=torch.float32).reshape(len(soft), len(labels))
    allowed = (
        allowed_labels(train, labels)
        if config.mask_absent_labels
        else torch.ones(n_hard, len(labels), dtype=torch.bool)
    )
    allowed = torch.cat([allowed, torch.ones(len(soft), len(labels), dtype=torch.bool)])
    if origin is not None:
        origin = [*origin, *range(n_hard, len(encoded))]
    steps_per_epoch = math.ceil(math.ceil(len(encoded) / config.batch_size) / config.grad_accum)
    total_steps = steps_per_epoch * config.epochs
    if config.max_steps:
        total_steps = min(total_steps, config.max_steps)
    model = apply_method(model, config, total_steps).to(dev)  # type: ignore[arg-type]  # transformers wraps `to` with functools.wraps, which mypy does not bind
    optimizer, scheduler = adamw_with_schedule(
        model,
        lr=config.lr,
        weight_decay=config.weight_decay,
        warmup_steps=int(config.warmup_ratio * total_steps),
        total_steps=total_steps,
        anneal_within_s=config.time_limit_s if config.anneal_to_time_limit and not config.checkpoint_dir else None,
    )
    weight = None
    if config.class_weights:
        present = sorted({label_ids[e.label] for e in train})
        balanced = compute_class_weight("balanced", classes=np.array(present), y=targets[:n_hard].numpy())
        weight = torch.ones(len(labels))
        weight[present] = torch.tensor(balanced, dtype=torch.float)
        weight = weight.to(dev)
    loss_fn = torch.nn.CrossEntropyLoss(weight=weight)
    fgm = FGM(model, config.fgm_eps) if config.fgm_eps > 0 else None
    rng = np.random.default_rng(config.seed)
    val_texts, val_gold = [e.text for e in val], [e.label for e in val]
    val_by_source: dict[str, list[int]] = {}
    for i, e in enumerate(val):
        val_by_source.setdefault(e.source, []).append(i)
    result = FinetuneResult(model)
    paired_origin = (
        origin if config.consistency > 0 and origin is not None and any(o != i for i, o in enumerate(origin)) else None
    )
    lengths = [len(x) for x in encoded]

    def epoch_batches() -> list[list[int]]:
        return (
            _paired_batches(paired_origin, lengths, config.batch_size, rng)
            if paired_origin is not None
            else _batches(lengths, config.batch_size, rng)
        )

    best_state, since_best, step, seconds_before = None, 0, 0, 0.0

    def evaluate_now(epoch: float) -> bool:
        nonlocal best_state, since_best
        probs = predict_proba(model, tokenizer, val_texts, max_len=config.max_len, device=str(dev))
        # each example judged over its dataset's own labels (as on the test splits: a polarity set
        # judged 3-way would be scored on the neutral class it never trains), pooled over examples
        predicted = list(val_gold)
        for idx in val_by_source.values():
            present = [i for i, label in enumerate(labels) if label in {val_gold[j] for j in idx}]
            for j, k in zip(idx, probs[idx][:, present].argmax(axis=1), strict=True):
                predicted[j] = labels[present[k]]
        record = {
            "epoch": round(epoch, 2),
            "step": step,
            "train_loss": float(np.mean(result.step_losses[-50:])) if result.step_losses else None,
            "val_acc": float(np.mean([p == g for p, g in zip(predicted, val_gold, strict=True)])),
            "val_macro_f1": float(f1_score(val_gold, predicted, average="macro", zero_division=0)),
        }
        result.evals.append(record)
        model.train()
        if result.best_eval is None or record["val_macro_f1"] > result.best_eval["val_macro_f1"]:
            result.best_eval, best_state, since_best = record, _state(model), 0
        else:
            since_best += 1
        bar.write(
            f"  eval @ epoch {record['epoch']}: val acc {record['val_acc']:.4f}  macro-F1 {record['val_macro_f1']:.4f}"
        )
        return since_best >= config.patience

    # (drawn through the shuffler so the seeded batch order matches the recorded results)
    batches_per_epoch = len(epoch_batches())  # the count and the draws do not depend on the lengths
    eval_points = {round(batches_per_epoch * k / config.evals_per_epoch) for k in range(1, config.evals_per_epoch + 1)}
    start_epoch, start_batch, finished, out_of_time, epoch_rng = 0, 0, False, False, finetune_state.numpy_state(rng)
    signature = finetune_state.run_signature(config.as_dict(), [(e.text, e.label) for e in train], [(e.text, e.label) for e in val],
                                             [(s.text, s.probs) for s in soft]) if config.checkpoint_dir else None  # fmt: skip
    saved = finetune_state.load(config.checkpoint_dir, signature) if config.checkpoint_dir and signature else None
    if saved is not None:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        torch.set_rng_state(saved["torch_rng"])
        finetune_state.restore_numpy_state(rng, saved["epoch_rng"])
        step, since_best, best_state, seconds_before = (
            saved["step"],
            saved["since_best"],
            saved["best_state"],
            saved["seconds"],
        )
        result.step_losses, result.evals, result.best_eval = saved["step_losses"], saved["evals"], saved["best_eval"]
        result.stopped_early, result.resumed_at_step = saved["stopped_early"], step
        start_epoch, start_batch, finished = saved["epoch"], saved["batch"], saved["finished"]

    def save_state(epoch: int, b: int, finished: bool) -> None:
        if config.checkpoint_dir:
            finetune_state.save(config.checkpoint_dir, {
                "signature": signature, "epoch": epoch, "batch": b, "finished": finished, "step": step, "since_best": since_best,
                "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "torch_rng": torch.get_rng_state(), "epoch_rng": epoch_rng, "best_state": best_state, "best_eval": result.best_eval,
                "evals": result.evals, "step_losses": result.step_losses, "stopped_early": result.stopped_early,
                "seconds": seconds_before + time.monotonic() - started,
            })  # fmt: skip

    bar = progress_bar(total=total_steps, desc=f"fine-tuning ({config.method})", disable=not progress, unit="step")
    bar.update(step)  # a resumed run starts where its checkpoint stopped
    model.train()
    for epoch in range(start_epoch, config.epochs):
        if finished:
            break
        epoch_rng = finetune_state.numpy_state(rng)
        for b, idx in enumerate(epoch_batches(), start=1):
            if epoch == start_epoch and b <= start_batch:
                continue  # trained before the checkpoint
            batch = tokenizer.pad({"input_ids": [encoded[i] for i in idx]}, return_tensors="pt")
            input_ids, mask = batch["input_ids"].to(dev), batch["attention_mask"].to(dev)
            y = targets[idx].to(dev)
            copies, originals = _pairs_within(idx, paired_origin) if paired_origin is not None else ([], [])
            soft_rows = [k for k, row in enumerate(idx) if row >= n_hard]
            soft_targets = teacher[[idx[k] - n_hard for k in soft_rows]].to(dev)

            def compute_loss() -> torch.Tensor:
                with autocast(dev, precision):
                    logits = model(input_ids=input_ids, attention_mask=mask).logits
                # a class the example's dataset never uses cannot be its answer: mask it out of the softmax
                logits = logits.float().masked_fill(~allowed[idx].to(dev), torch.finfo(torch.float32).min)
                loss = _with_soft_targets(logits, y, loss_fn, soft_rows, soft_targets, config.distill_weight)
                if copies:
                    target = torch.softmax(logits[originals], dim=-1).detach()
                    loss = loss + config.consistency * F.kl_div(
                        F.log_softmax(logits[copies], dim=-1), target, reduction="batchmean"
                    )
                return loss / config.grad_accum

            loss = compute_loss()
            loss.backward()
            if fgm is not None:
                fgm.adversarial_step(compute_loss)
            result.step_losses.append(loss.item() * config.grad_accum)
            if b % config.grad_accum == 0 or b == batches_per_epoch:
                torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], config.grad_clip)
                optimizer.step()
                scheduler.step()
                if config.method == "adalora":
                    cast("AdaLoraModel", model.base_model).update_and_allocate(step)
                optimizer.zero_grad(set_to_none=True)
                step += 1
                bar.update(1)
                bar.set_postfix(loss=f"{np.mean(result.step_losses[-20:]):.3f}")
            out_of_time = config.time_limit_s is not None and time.monotonic() - started > config.time_limit_s
            result.stopped_by_time_limit = out_of_time
            capped = config.max_steps is not None and step >= config.max_steps
            if b in eval_points or out_of_time or capped:
                result.stopped_early = evaluate_now(epoch + b / batches_per_epoch)
                finished = result.stopped_early or capped or (epoch == config.epochs - 1 and b == batches_per_epoch)
                save_state(epoch, b, finished)
            if finished or out_of_time:
                break
        if out_of_time:
            break
    bar.close()
    if fgm is not None:
        fgm.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    result.model = model
    result.seconds = seconds_before + time.monotonic() - started
    return result
