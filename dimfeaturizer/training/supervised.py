"""Supervised fine-tuning as an objective: the encoder and a head trained end to end on
labels the packed crystals carry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from ..data.batch import Batch
from ..model import Kernels, SiteNetPredictor
from .objective import Objective

REGRESSION_LOSSES = ("l1", "mse", "huber")
# a learned log-scale is clipped here: exp(±10) spans any standardised error
LOG_SCALE_CLIP = 10.0


@dataclass(frozen=True)
class Supervised(Objective):
    """Regression (``loss`` on standardised targets) or classification (cross-entropy on
    class indices, optionally weighted per class).

    Parameter groups ``encoder`` and ``head`` take their own learning rates (``None``: the
    ``TrainConfig``'s); ``freeze_encoder`` trains the head alone on the fixed vectors.

    ``learned_std``: the model's outputs are k predictions then k log-scales; the
    predictions train on ``loss`` as without it, and the log-scales on the Laplace
    likelihood of the predictions' (detached) errors, so each member also learns how far
    off it tends to be for a crystal like this one. Early stopping then watches ``loss``'s
    term alone: the scale never chooses the predictions' epoch.
    """

    task: str = "regression"
    loss: str = "l1"
    class_weights: tuple[float, ...] | None = None
    encoder_learning_rate: float | None = None
    head_learning_rate: float | None = None
    freeze_encoder: bool = False
    learned_std: bool = False

    added_later: ClassVar[dict] = {"learned_std": False}

    @property
    def monitor(self) -> str:
        return self.loss if self.learned_std else "loss"

    def __post_init__(self):
        if self.task not in ("regression", "classification"):
            raise ValueError(f"task must be 'regression' or 'classification', not {self.task!r}")
        if self.task == "regression" and self.loss not in REGRESSION_LOSSES:
            raise ValueError(f"unknown regression loss {self.loss!r}; use {REGRESSION_LOSSES}")
        if self.learned_std and self.task != "regression":
            raise ValueError("learned_std is for regression")
        if self.class_weights is not None:
            object.__setattr__(self, "class_weights", tuple(map(float, self.class_weights)))

    def param_groups(self, model: SiteNetPredictor) -> list[dict]:
        head = {"name": "head", "params": list(model.head.parameters())}
        if self.head_learning_rate is not None:
            head["lr"] = self.head_learning_rate
        if self.freeze_encoder:
            return [head]
        encoder = {"name": "encoder", "params": model.encoder.encoder_parameters()}
        if self.encoder_learning_rate is not None:
            encoder["lr"] = self.encoder_learning_rate
        return [encoder, head]

    def kernels(self, model: SiteNetPredictor, compile: bool) -> Kernels:
        return Kernels.of(model.encoder, compile)

    def terms(
        self, model: SiteNetPredictor, batch: Batch, generator: torch.Generator, kernels: Kernels
    ) -> dict[str, torch.Tensor]:
        if batch.targets is None:
            raise ValueError("supervised training needs crystals packed with targets")
        if self.freeze_encoder:
            with torch.no_grad():
                vectors = model.vectors(batch, kernels.local)
            out = model.head_of(vectors, batch).float()
        else:
            out = model(batch, kernels.local).float()
        target = batch.targets
        if self.task == "classification":
            weight = None
            if self.class_weights is not None:
                weight = torch.tensor(self.class_weights, device=out.device)
            ce = F.cross_entropy(out, target[:, 0].long(), weight=weight)
            return {"cross_entropy": ce}
        terms = {}
        if self.learned_std:
            out, log_scale = out.chunk(2, dim=1)
            terms["scale_nll"] = laplace_nll((target - out).detach(), log_scale)
        loss = {"l1": F.l1_loss, "mse": F.mse_loss, "huber": F.huber_loss}[self.loss]
        return {self.loss: loss(out, target), **terms}


def laplace_nll(errors: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of ``errors`` under Laplace distributions of scale
    ``exp(log_scale)`` (constant dropped); log-scales clipped to ±``LOG_SCALE_CLIP``."""
    s = log_scale.clamp(-LOG_SCALE_CLIP, LOG_SCALE_CLIP)
    return (errors.abs() * torch.exp(-s) + s).mean()
