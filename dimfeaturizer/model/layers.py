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
