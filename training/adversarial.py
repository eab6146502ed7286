"""Adversarial training on the word embeddings: FGM (Miyato et al., 2017).

Perturbing the embedded input in the direction that increases the loss makes the classifier
robust to small changes in wording (typos, near-synonyms in user reviews), which is what the
stream sees. The perturbation is applied to the embedding layer's *output* through a forward
hook, so it also works when the embedding matrix is frozen (LoRA, AdaLoRA, prefix tuning).

Per training step: loss.backward(); fgm.adversarial_step(lambda: forward().loss).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from peft import PeftModel
    from transformers import PreTrainedModel


class FGM:
    def __init__(self, model: PreTrainedModel | PeftModel, eps: float = 1.0):
        self.eps = eps
        self._delta: torch.Tensor | None = None
        self._embedded: torch.Tensor | None = None
        self._handle = model.get_input_embeddings().register_forward_hook(self._hook)

    def _hook(self, module, inputs, output):
        if self._delta is not None:
            return output + self._delta
        if torch.is_grad_enabled():
            if not output.requires_grad:  # frozen embedding matrix: still need d loss / d input
                output.requires_grad_(True)
            output.retain_grad()
            self._embedded = output
        return output

    def adversarial_step(self, compute_loss: Callable[[], torch.Tensor]) -> float | None:
        """After the clean backward: add eps * g/||g|| to the embeddings, backprop the adversarial loss."""
        embedded, self._embedded = self._embedded, None
        if embedded is None or embedded.grad is None:
            return None
        grad = embedded.grad.detach()
        norm = torch.linalg.vector_norm(grad)
        if norm == 0 or not torch.isfinite(norm):
            return None
        self._delta = self.eps * grad / norm
        try:
            loss = compute_loss()
            loss.backward()
        finally:
            self._delta = None
            self._embedded = None
        return loss.item()

    def close(self) -> None:
        self._handle.remove()
