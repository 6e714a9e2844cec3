"""Data-parallel training with PyTorch's own stack: under ``torchrun`` (or any launcher
that sets ``RANK``/``WORLD_SIZE``/``MASTER_ADDR``), the training loop joins the process
group, each rank trains on its share of every epoch's batches, and gradients and losses
are averaged over the ranks. Outside a launcher everything here is a no-op.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class World:
    """This process's place in the process group (rank 0 of 1 when not distributed)."""

    rank: int = 0
    size: int = 1

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def main(self) -> bool:
        """The rank that writes checkpoints, saved models and progress."""
        return self.rank == 0


def launched() -> bool:
    """True inside a multi-process launch (``torchrun`` sets ``WORLD_SIZE``)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def join() -> World:
    """The process group this process belongs to, initialised from the launcher's
    environment on first use (gloo for CPU tensors, NCCL for CUDA ones where there is a
    GPU); rank 0 of 1 outside a launcher."""
    if not dist.is_available():
        return World()
    if not dist.is_initialized():
        if not launched():
            return World()
        dist.init_process_group("cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo")
        # leave the group before the interpreter tears down: a gloo group still alive at
        # exit can abort the process ("terminate called without an active exception")
        atexit.register(_leave)
    return current()


def _leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def local_device(device: torch.device) -> torch.device:
    """Under a launcher, a CUDA device without an index becomes this process's GPU
    (``LOCAL_RANK``), as ``torchrun`` expects."""
    if device.type == "cuda" and device.index is None and "LOCAL_RANK" in os.environ:
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
    return device


def shard(items: list, world: World) -> list:
    """This rank's share of ``items``: every ``size``-th from ``rank``, after padding with
    items from the start so that every rank gets the same number (as
    ``DistributedSampler`` does): all ranks must take the same number of steps."""
    if not world.distributed or not items:
        return items
    per_rank = -(-len(items) // world.size)  # ceil
    return [items[i % len(items)] for i in range(world.rank, per_rank * world.size, world.size)]


def broadcast_parameters(model: nn.Module, world: World) -> None:
    """Every rank starts from rank 0's weights and buffers."""
    if world.distributed:
        for tensor in [*model.parameters(), *model.buffers()]:
            dist.broadcast(tensor.data, src=0)


def average_gradients(params: list[nn.Parameter], world: World) -> None:
    """Mean gradient over the ranks, in one flattened all-reduce. A parameter that has a
    gradient on some rank counts as zero on the others; one that has none anywhere keeps
    ``None``, as in a single process (so AdamW skips it there too)."""
    if not world.distributed or not params:
        return
    has = torch.tensor([p.grad is not None for p in params], dtype=torch.float32,
                       device=params[0].device)  # fmt: skip
    dist.all_reduce(has, op=dist.ReduceOp.MAX)
    used = [p for p, h in zip(params, has.tolist()) if h]
    if not used:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in used]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world.size
    offset = 0
    for p in used:
        n = p.numel()
        p.grad = flat[offset : offset + n].view_as(p).clone()
        offset += n


def sum_over_ranks(values: dict[str, float], world: World, device: torch.device) -> dict:
    """Element-wise sum of a dict of numbers over the ranks (same keys on every rank)."""
    if not world.distributed:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return dict(zip(keys, t.tolist()))


def current() -> World:
    """The process group already joined, without joining one."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size())
    return World()


def map_sharded(fn, items: list, world: World) -> list:
    """``[fn(x) for x in items]`` with the work split over the ranks (every ``size``-th
    item from ``rank``) and the results gathered back in order on every rank. An
    exception on any rank is raised on every rank (the first by position), so no rank
    waits for a collective that never comes."""
    if not world.distributed:
        return [fn(x) for x in items]
    mine: list = []
    failure = None
    for position in range(world.rank, len(items), world.size):
        try:
            mine.append(fn(items[position]))
        except Exception as err:  # noqa: BLE001 - re-raised below on every rank
            failure = (position, err)
            break
    gathered: list = [None] * world.size
    dist.all_gather_object(gathered, (mine, failure))
    failures = [f for _, f in gathered if f is not None]
    if failures:
        raise min(failures, key=lambda f: f[0])[1]
    out = [None] * len(items)
    for rank, (results, _) in enumerate(gathered):
        out[rank :: world.size] = results
    return out
