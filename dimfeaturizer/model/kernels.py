"""The per-pair parts of a step, eager or through ``torch.compile``.

They dominate training time. Compiling fuses their gather/add/mish chains over every
pair; eager code instead computes each distinct bond once (``LocalEncoder``), and on CPU
the two now run within a few % of each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .sitenet import SiteNetDIM


@dataclass(frozen=True)
class Kernels:
    """``edge_terms``, ``local`` and ``constituents`` of a model: its own methods, or the
    same methods compiled."""

    edge_terms: Callable
    local: Callable
    constituents: Callable
    compiled: bool = False

    @classmethod
    def of(cls, model: SiteNetDIM, compile: bool = False) -> Kernels:
        fns = (model.local.edge_terms, model.local.forward, model.local_critic.constituents)
        if compile:
            fns = tuple(torch.compile(f, dynamic=True) for f in fns)
        return cls(*fns, compiled=compile)
