"""What the training loop asks of an objective: parameter groups, named loss terms of a
batch, and how they combine.

The loop (``loop.fit``) knows nothing else about what is being learned. A new loss term
is one more entry of ``terms``' dictionary (and its weight in ``total``); the loop logs
every entry as ``train_<name>`` / ``val_<name>`` by itself.
"""

from __future__ import annotations

import dataclasses
import json
from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from torch import nn

from ..data.batch import Batch
from ..model import Kernels


class Objective(ABC):
    """One learning problem for ``loop.fit``; subclasses are frozen dataclasses, so that
    their fields (the objective's hyper-parameters) identify a checkpoint."""

    #: epoch metric that early stopping minimises, on the validation slice when there is one
    monitor: str = "loss"
    #: smallest number of crystals a batch may hold
    min_batch_crystals: int = 1

    @abstractmethod
    def param_groups(self, model: nn.Module) -> list[dict]:
        """torch optimiser parameter groups, each with a ``"name"``; a group may set its
        own ``"lr"`` / ``"weight_decay"`` (else the ``TrainConfig``'s)."""

    @abstractmethod
    def terms(
        self, model: nn.Module, batch: Batch, generator: torch.Generator, kernels: Kernels
    ) -> dict[str, torch.Tensor]:
        """Named scalar loss terms of one batch (``generator``: all of its randomness)."""

    def total(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        """The loss to minimise: by default the sum of the terms."""
        return torch.stack(list(terms.values())).sum()

    def summarise(self, means: dict[str, float]) -> dict[str, float]:
        """Metrics derived from an epoch's mean terms (e.g. a monitored sum)."""
        return {}

    @abstractmethod
    def kernels(self, model: nn.Module, compile: bool) -> Kernels:
        """The per-pair kernels of ``model``'s encoder, compiled or not."""

    #: fields added after checkpoints existed, with their defaults: left out of the
    #: identity at those defaults, so that an older checkpoint of the same run resumes
    added_later: ClassVar[dict] = {}
    #: fields removed after checkpoints existed whose identity held them, with the one
    #: value every run now has: still in the identity, so those checkpoints still resume
    identity_constants: ClassVar[dict] = {}

    def identity(self) -> str:
        """The hyper-parameters that make two runs the same run (checkpoint fingerprint)."""
        fields = dataclasses.asdict(self) if dataclasses.is_dataclass(self) else {}
        fields = {k: v for k, v in fields.items()
                  if k not in self.added_later or v != self.added_later[k]}  # fmt: skip
        fields = {**self.identity_constants, **fields}
        return json.dumps({type(self).__name__: fields}, sort_keys=True, default=list)
