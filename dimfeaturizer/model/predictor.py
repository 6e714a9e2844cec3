"""The encoder with a prediction head: what transfer learning trains end to end."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..data.batch import Batch
from .layers import mlp
from .sitenet import SiteNetDIM


class SiteNetPredictor(nn.Module):
    """Crystal vector (the encoder's μ) [+ its sites' maxima] [+ per-crystal features] ->
    hidden (mish) -> ``n_outputs``.

    The head is the paper's (global vector -> 64 -> outputs). With ``n_features`` > 0 it
    also reads the batch's ``features`` (e.g. standardised composition descriptors) beside
    the vector, so composition and structure are trained together end to end. The encoder
    keeps its critics, so a fine-tuned encoder is still a complete ``SiteNetDIM`` that can
    be saved, loaded and used as a featuriser.
    """

    def __init__(
        self,
        encoder: SiteNetDIM,
        n_outputs: int,
        hidden: int = 64,
        n_features: int = 0,
        site_max: bool = False,
    ):
        super().__init__()
        self.encoder = encoder
        self.n_features = n_features
        self.site_max = site_max
        width = encoder.config.vector_dim + (encoder.config.pool_dim if site_max else 0)
        self.head = mlp([width + n_features, hidden, n_outputs])

    @property
    def n_outputs(self) -> int:
        return self.head[-1].out_features

    @property
    def hidden(self) -> int:
        return self.head[0].out_features

    def forward(self, batch: Batch, local: Callable | None = None,
                with_hidden: bool = False) -> torch.Tensor:
        """``(B, n_outputs)`` raw outputs (standardised targets or class logits);
        ``with_hidden``: ``(B, n_outputs + hidden)``, the head's hidden layer after them
        (where a crystal lies among the training crystals, for the std)."""
        return self.head_of(self.vectors(batch, local), batch, with_hidden)

    def vectors(self, batch: Batch, local: Callable | None = None) -> torch.Tensor:
        """What the head reads from the encoder: the crystal vector (and, with
        ``site_max``, the pooled site features' maxima)."""
        return self.encoder(batch, local, site_max=self.site_max)

    def head_of(self, vectors: torch.Tensor, batch: Batch,
                with_hidden: bool = False) -> torch.Tensor:
        """The head on crystal ``vectors`` and, where it reads them, the batch's features
        (``with_hidden``: the hidden layer appended, as in ``forward``)."""
        if self.n_features:
            if batch.features is None or batch.features.shape[1] != self.n_features:
                raise ValueError(f"this head reads {self.n_features} features per crystal")
            vectors = torch.cat([vectors, batch.features.to(vectors.dtype)], dim=1)
        if not with_hidden:
            return self.head(vectors)
        hidden = self.head[:-1](vectors)
        return torch.cat([self.head[-1](hidden), hidden], dim=1)
