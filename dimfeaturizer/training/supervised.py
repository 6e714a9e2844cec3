"""Supervised fine-tuning as an objective: the encoder and a head trained end to end on
labels the packed crystals carry."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..data.batch import Batch
from ..model import Kernels, SiteNetPredictor
from .objective import Objective

REGRESSION_LOSSES = ("l1", "mse", "huber")


@dataclass(frozen=True)
class Supervised(Objective):
    """Regression (``loss`` on standardised targets) or classification (cross-entropy on
    class indices, optionally weighted per class).

    Parameter groups ``encoder`` and ``head`` take their own learning rates (``None``: the
    ``TrainConfig``'s); ``freeze_encoder`` trains the head alone on the fixed vectors.
    """

    task: str = "regression"
    loss: str = "l1"
    class_weights: tuple[float, ...] | None = None
    encoder_learning_rate: float | None = None
    head_learning_rate: float | None = None
    freeze_encoder: bool = False

    def __post_init__(self):
        if self.task not in ("regression", "classification"):
            raise ValueError(f"task must be 'regression' or 'classification', not {self.task!r}")
        if self.task == "regression" and self.loss not in REGRESSION_LOSSES:
            raise ValueError(f"unknown regression loss {self.loss!r}; use {REGRESSION_LOSSES}")
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
                vectors = model.encoder(batch, kernels.local)
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
        if self.loss == "l1":
            return {"l1": F.l1_loss(out, target)}
        if self.loss == "mse":
            return {"mse": F.mse_loss(out, target)}
        return {"huber": F.huber_loss(out, target)}
