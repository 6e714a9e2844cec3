"""Devices, seeds and determinism: the few helpers training and inference both need."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import numpy as np
import torch
from torch import nn

T = TypeVar("T")


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` is CUDA where there is one, else the CPU."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def tqdm_disable(progress: bool | None) -> bool | None:
    """tqdm's ``disable`` for a ``progress`` setting (None: bars only on a terminal)."""
    return None if progress is None else not progress


def tensor_bytes(t: torch.Tensor) -> np.ndarray:
    """A tensor's raw bytes, flat (any dtype, bf16 included; any device): for hashing
    weights by value."""
    return t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy()


def derive_seeds(random_state: int | np.random.RandomState | None) -> tuple[int, int]:
    """``(model_seed, train_seed)`` of a scikit-learn ``random_state``.

    The one place a ``random_state`` becomes the weights' seed and the training's seed, so
    every way of asking for "the untrained model for k" gives the same weights.
    """
    if random_state is None or isinstance(random_state, (int, np.integer)):
        random_state = np.random.RandomState(random_state)
    if not isinstance(random_state, np.random.RandomState):
        raise TypeError(
            f"random_state must be an int, a numpy RandomState or None; "
            f"got {type(random_state).__name__}"
        )
    model_seed, train_seed = random_state.randint(0, 2**31 - 1, size=2)
    return int(model_seed), int(train_seed)


def member_seeds(
    random_state: int | np.random.RandomState | None, n_members: int
) -> list[tuple[int, int]]:
    """``(model_seed, train_seed)`` of each member of an ensemble: member 0's are
    ``derive_seeds(random_state)``'s (a one-member ensemble is the single model), the
    others continue the same stream, so every member starts and splits differently."""
    if random_state is None or isinstance(random_state, (int, np.integer)):
        random_state = np.random.RandomState(random_state)
    return [derive_seeds(random_state) for _ in range(n_members)]


def generator(key: list[int], device: torch.device) -> torch.Generator:
    """A torch generator seeded from ``key`` (e.g. ``[seed, epoch]``), independent of any
    global random state."""
    mixed = int(np.random.SeedSequence(key).generate_state(1, np.uint64)[0] >> 1)
    return torch.Generator(device=device).manual_seed(mixed)


@contextmanager
def on_device(model: nn.Module, device: str | torch.device) -> Iterator[torch.device]:
    """The model in eval mode on ``device`` for the block; back on CPU (and in its
    previous mode) afterwards, so a fitted estimator always pickles from CPU."""
    device = resolve_device(device)
    was_training = model.training
    model.eval().to(device)
    try:
        yield device
    finally:
        model.to("cpu").train(was_training)


def deterministic_on_cpu(device_of: Callable[..., str | torch.device]):
    """Decorator: run the function with torch's deterministic algorithms when
    ``device_of(*args)`` is the CPU.

    The backward of advanced indexing (an accumulating ``index_put_``) adds with atomics
    when torch uses more than one CPU thread; the deterministic variant makes CPU training
    and checkpoint resume bit-reproducible. The global flag is restored afterwards.
    """

    def decorate(fn: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs) -> T:
            if resolve_device(device_of(*args, **kwargs)).type != "cpu":
                return fn(*args, **kwargs)
            previous = torch.are_deterministic_algorithms_enabled()
            warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
            torch.use_deterministic_algorithms(True)
            try:
                return fn(*args, **kwargs)
            finally:
                torch.use_deterministic_algorithms(previous, warn_only=warn_only)

        return wrapper

    return decorate
