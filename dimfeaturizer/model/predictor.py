"""The encoder with a prediction head: what transfer learning trains end to end."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..data.batch import Batch
from .layers import mlp
from .sitenet import SiteNetDIM


class SiteNetPredictor(nn.Module):
    """Crystal vector (the encoder's μ) -> hidden (mish) -> ``n_outputs``.

    The head is the paper's (global vector -> 64 -> outputs). The encoder keeps its
    critics, so a fine-tuned encoder is still a complete ``SiteNetDIM`` that can be saved,
    loaded and used as a featuriser.
    """

    def __init__(self, encoder: SiteNetDIM, n_outputs: int, hidden: int = 64):
        super().__init__()
        self.encoder = encoder
        self.head = mlp([encoder.config.vector_dim, hidden, n_outputs])

    @property
    def n_outputs(self) -> int:
        return self.head[-1].out_features

    @property
    def hidden(self) -> int:
        return self.head[0].out_features

    def forward(self, batch: Batch, local: Callable | None = None) -> torch.Tensor:
        """``(B, n_outputs)`` raw outputs (standardised targets or class logits)."""
        return self.head(self.encoder(batch, local))
