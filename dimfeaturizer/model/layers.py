"""Building blocks shared by the encoder, the critics and the prediction head."""

from __future__ import annotations

import torch
from torch import nn


def mlp(sizes: list[int], last_activation: bool = False) -> nn.Sequential:
    """Linear layers of ``sizes`` with mish between them (and after the last if asked)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_activation:
            layers.append(nn.Mish())
    return nn.Sequential(*layers)


def segment_mean(values: torch.Tensor, segment: torch.Tensor, n_segments: int) -> torch.Tensor:
    """Mean of ``values`` rows grouped by ``segment`` (every segment must be non-empty)."""
    shape = (n_segments, *values.shape[1:])
    total = values.new_zeros(shape).index_add_(0, segment, values)
    count = values.new_zeros(n_segments).index_add_(0, segment, values.new_ones(len(segment)))
    return total / count.view(-1, *([1] * (values.dim() - 1)))


def segment_max(values: torch.Tensor, segment: torch.Tensor, n_segments: int) -> torch.Tensor:
    """Column-wise maximum of ``values`` rows grouped by ``segment`` (every segment must be
    non-empty)."""
    index = segment.view(-1, *([1] * (values.dim() - 1))).expand_as(values)
    out = values.new_zeros((n_segments, *values.shape[1:]))
    return out.scatter_reduce(0, index, values, reduce="amax", include_self=False)


class DistanceBasis(nn.Module):
    """A distance as ``[d, exp(-((d - c_k) / w)^2) for k < K]``: the raw value beside a
    smooth Gaussian expansion (centres ``c_k`` evenly on ``[0, d_max]``, width their
    spacing), so a linear layer on it can respond sharply to a bond length."""

    def __init__(self, n_gaussians: int, d_max: float):
        super().__init__()
        self.register_buffer("centres", torch.linspace(0.0, d_max, n_gaussians), persistent=False)
        self.width = d_max / max(n_gaussians - 1, 1)

    @property
    def size(self) -> int:
        return 1 + len(self.centres)

    def forward(self, distances: torch.Tensor) -> torch.Tensor:
        d = distances.unsqueeze(-1)
        if not len(self.centres):
            return d
        return torch.cat([d, torch.exp(-(((d - self.centres) / self.width) ** 2))], dim=-1)


def gather_rows(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``values[index]`` for an integer ``index`` of any shape, through ``index_select``:
    the same values, and a backward that adds rows with ``index_add`` instead of
    ``index_put``'s accumulation, whose deterministic CPU path sorts every index (the
    largest single cost of a training step before)."""
    flat = values.index_select(0, index.reshape(-1))
    return flat.reshape(*index.shape, *values.shape[1:])
