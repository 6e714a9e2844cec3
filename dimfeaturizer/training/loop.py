"""The one training loop: epochs, batches by sites, optimiser groups, early stopping on a
named metric, checkpoints with exact resume, progress, compile, AMP, CPU determinism, and data
parallelism under ``torchrun`` (each rank trains on its share of every epoch's batches;
gradients and losses are averaged over the ranks; rank 0 writes the checkpoints).

It trains whatever an ``Objective`` describes and knows nothing about Deep InfoMax or
labels. Randomness is drawn from generators seeded by ``(seed, epoch)``, so an epoch's
shuffle, false samples and noise do not depend on what ran before it: resuming from the
checkpoint written after epoch k replays epochs k+1.. exactly (on CPU).
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..data.batch import PackedCrystals, batches_by_sites
from ..distributed import (
    World,
    average_gradients,
    broadcast_parameters,
    join,
    local_device,
    shard,
    sum_over_ranks,
)
from ..model import Kernels
from ..runtime import (
    deterministic_on_cpu,
    generator,
    resolve_device,
    tensor_bytes,
    tqdm_disable,
)
from .objective import Objective

logger = logging.getLogger(__name__)
CHECKPOINT = "checkpoint.pt"
# epochs x training structures from which compile="auto" compiles off the CPU (on the CPU
# eager code, which computes each distinct pair once, is the faster: 295 against 169
# structures/s pretraining, benchmarks/results/speed.md)
COMPILE_FROM = 20_000
SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class TrainConfig:
    """How to train, whatever the objective (defaults: the design note's).

    ``learning_rate`` and ``weight_decay`` apply to every parameter group that does not
    set its own. ``learning_rate_schedule``: ``"constant"`` learning rates, or
    ``"cosine"``: each group's rate times ``(1 + cos(pi * epoch / epochs)) / 2``, a
    function of the epoch alone (so a resumed run replays it exactly).
    ``progress``: tqdm bars (``None``: where the output is a terminal).
    """

    epochs: int = 100
    batch_sites: int = 1200
    learning_rate: float = 1e-4
    weight_decay: float = 1e-4
    validation_fraction: float = 0.1
    patience: int = 10
    learning_rate_schedule: str = "constant"
    device: str = "auto"
    amp: bool = True  # bfloat16 autocast, CUDA only
    seed: int = 0
    checkpoint_dir: str | None = None
    progress: bool | None = True
    # torch.compile the per-pair kernels (~10-35 s to compile); "auto" compiles off the CPU
    # when the run is long enough (COMPILE_FROM structure-epochs)
    compile: bool | str = "auto"

    def __post_init__(self):
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError("validation_fraction must be in [0, 1)")
        if self.epochs < 0 or self.patience < 1 or self.batch_sites < 1:
            raise ValueError("epochs must be >= 0, patience and batch_sites >= 1")
        if self.learning_rate_schedule not in SCHEDULES:
            raise ValueError(
                f"learning_rate_schedule must be one of {SCHEDULES}, "
                f"not {self.learning_rate_schedule!r}"
            )

    def rate_factor(self, epoch: int) -> float:
        """The multiple of each group's learning rate used in ``epoch``."""
        if self.learning_rate_schedule == "constant":
            return 1.0
        return 0.5 * (1.0 + math.cos(math.pi * epoch / max(self.epochs, 1)))


@dataclass
class TrainResult:
    """Per-epoch history (every term of the objective, train and validation), the epoch
    whose weights were kept, and whether early stopping ended the run."""

    history: list[dict] = field(default_factory=list)
    best_epoch: int = -1
    stopped_early: bool = False


def validation_split(
    n: int, fraction: float, seed: int, stratify: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted ``(train, validation)`` positions: a seeded random fraction held out (at
    least 2 where there is any, none below 4 items); ``stratify`` keeps each class's share
    (every class with >= 2 members keeps one in training)."""
    rng = np.random.default_rng([seed, 2**31 - 1])
    if fraction <= 0 or n < 4:
        return np.arange(n), np.arange(0)
    if stratify is None:
        n_val = max(int(round(n * fraction)), 2)
        perm = rng.permutation(n)
        return np.sort(perm[n_val:]), np.sort(perm[:n_val])
    val = []
    for cls in np.unique(stratify):
        members = rng.permutation(np.flatnonzero(stratify == cls))
        take = min(int(round(len(members) * fraction)), max(len(members) - 1, 0))
        val.extend(members[:take])
    val = np.sort(np.asarray(val, dtype=np.int64))
    return np.setdiff1d(np.arange(n), val), val


def _fingerprint(
    packed: PackedCrystals,
    config: TrainConfig,
    model: nn.Module,
    objective: Objective,
    world: World | None = None,
) -> dict[str, str]:
    """What makes two runs the same run, one hash per part, so a refused checkpoint can
    say which part differs."""

    def digest(*chunks: bytes) -> str:
        h = hashlib.sha256()
        for chunk in chunks:
            h.update(chunk)
        return h.hexdigest()

    arrays = [packed.n_prim, packed.n_super, packed.species, packed.distances]
    if packed.targets is not None:
        arrays.append(packed.targets)
    skip = {"device", "progress", "checkpoint_dir", "epochs", "patience", "compile"}
    if config.learning_rate_schedule != "constant":  # the cap sets the schedule's length
        skip = skip - {"epochs"}
    settings = {k: v for k, v in asdict(config).items() if k not in skip}
    if config.learning_rate_schedule == "constant":  # runs that predate schedules keep
        del settings["learning_rate_schedule"]  # their identity
    if world is not None and world.distributed:  # ranks change batches and random draws
        settings["ranks"] = world.size
    # the starting weights, not only their shapes: two runs of one architecture from other
    # weights (two pretrained models, two random draws) must never resume each other;
    # buffers include the non-persistent ones (element table, distance basis centres)
    tensors = sorted({**dict(model.named_buffers()), **model.state_dict()}.items())
    return {
        "data": digest(*(np.ascontiguousarray(a).tobytes() for a in arrays)),
        "hyper-parameters": digest(json.dumps(settings, sort_keys=True, default=list).encode()),
        "objective": digest(objective.identity().encode()),
        "starting weights": digest(*(
            f"{name}{list(t.shape)}{t.dtype}".encode() + tensor_bytes(t).tobytes()
            for name, t in tensors
        )),
    }  # fmt: skip


def _refuse_other_run(path: Path, saved: object, fingerprint: dict[str, str]) -> None:
    """Resume only the same run; otherwise say which part differs."""
    if saved == fingerprint:
        return
    if not isinstance(saved, dict):
        raise ValueError(
            f"{path} was written by an older dimfeaturizer, whose checkpoints do not record "
            "their starting weights; delete it or use another checkpoint_dir"
        )
    differ = [part for part in fingerprint if saved.get(part) != fingerprint[part]]
    raise ValueError(
        f"{path} was written for other {', '.join(differ)}; use another checkpoint_dir or "
        "delete it"
    )


class _Run:
    """The state of one call of ``fit``: model, objective, data, optimiser, kernels."""

    def __init__(self, model, objective, packed, config, device, world: World):
        self.model, self.objective, self.packed, self.config = model, objective, packed, config
        self.device, self.world = device, world
        groups = objective.param_groups(model)
        self.group_names = [g["name"] for g in groups]
        self.optimizer = torch.optim.AdamW(
            [{k: v for k, v in g.items() if k != "name"} for g in groups],
            lr=config.learning_rate,
            weight_decay=config.weight_decay,
            amsgrad=True,
        )
        self.base_rates = [g["lr"] for g in self.optimizer.param_groups]
        self.kernels: Kernels | None = None
        self.params = [p for g in self.optimizer.param_groups for p in g["params"]]

    def set_rates(self, epoch: int) -> None:
        factor = self.config.rate_factor(epoch)
        for group, base in zip(self.optimizer.param_groups, self.base_rates):
            group["lr"] = base * factor

    def use_kernels(self, n_train: int) -> None:
        wanted = self.config.compile
        if wanted == "auto":
            long_run = n_train * self.config.epochs >= COMPILE_FROM
            wanted = long_run and self.device.type != "cpu"
        self.kernels = self.objective.kernels(self.model, bool(wanted))

    def epoch(self, indices: np.ndarray, epoch: int, train: bool, desc: str) -> dict[str, float]:
        """Mean terms over one pass (weighted by crystals), plus ``loss``; trains if
        ``train``."""
        config, objective = self.config, self.objective
        # validation draws the same randomness every epoch: its losses are comparable
        key = [config.seed, epoch, 1] if train else [config.seed, 0, 0]
        order = np.random.default_rng(key).permutation(indices) if train else indices
        batches = batches_by_sites(
            self.packed.n_prim, order, config.batch_sites, objective.min_batch_crystals
        )
        world = self.world
        if world.distributed:  # this rank's batches, and its own random draws
            batches, key = shard(batches, world), [*key, world.rank]
        gen = generator(key, self.device)
        amp = config.amp and self.device.type == "cuda"
        sums: dict[str, float] = {}
        seen = 0
        self.model.train(train)
        disable = tqdm_disable(config.progress) if world.main else True
        bar = tqdm(batches, desc=desc, disable=disable, leave=False, unit="batch")
        for idx in bar:
            batch = self.packed.batch(idx).to(self.device)
            with (
                torch.set_grad_enabled(train),
                torch.autocast(self.device.type, torch.bfloat16, enabled=amp),
            ):
                terms = objective.terms(self.model, batch, gen, self.kernels)
                loss = objective.total(terms)
            if train:
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                average_gradients(self.params, world)
                self.optimizer.step()
            for name, value in {**terms, "loss": loss}.items():
                sums[name] = sums.get(name, 0.0) + float(value.detach()) * len(idx)
            seen += len(idx)
            bar.set_postfix(loss=f"{sums['loss'] / seen:.4f}")
        # every rank gets the same epoch means, so every rank takes the same decisions
        totals = sum_over_ranks({**sums, "_seen": float(seen)}, world, self.device)
        seen = totals.pop("_seen")
        means = {k: v / seen for k, v in totals.items()}
        return {**means, **objective.summarise(means)}

    def train_epoch(self, indices: np.ndarray, epoch: int) -> dict[str, float]:
        """A training epoch; if compiled kernels fail (no C++ toolchain, unsupported
        platform), restore the state from before the epoch and run it eagerly. Not when
        distributed: one rank alone restarting its epoch would pair its collectives with
        the others' wrongly, so there the failure stops the run (and ``torchrun`` the
        other ranks)."""
        if not self.kernels.compiled or self.world.distributed:
            return self.epoch(indices, epoch, True, f"epoch {epoch}")
        saved = copy.deepcopy((self.model.state_dict(), self.optimizer.state_dict()))
        try:
            return self.epoch(indices, epoch, True, f"epoch {epoch}")
        except Exception as err:  # noqa: BLE001 - any compiler failure means: run eagerly
            logger.warning("torch.compile failed (%s); training eagerly", type(err).__name__)
            self.model.load_state_dict(saved[0])
            self.optimizer.load_state_dict(saved[1])
            self.kernels = self.objective.kernels(self.model, False)
            return self.epoch(indices, epoch, True, f"epoch {epoch}")


def _device_of(model, objective, packed, config, **_) -> str:
    return config.device


@deterministic_on_cpu(_device_of)
def fit(
    model: nn.Module,
    objective: Objective,
    packed: PackedCrystals,
    config: TrainConfig,
    *,
    split: tuple[np.ndarray, np.ndarray] | None = None,
) -> TrainResult:
    """Train ``model`` in place on ``objective``; returns the per-epoch history.

    ``split``: ``(train, validation)`` positions into ``packed`` (default: a seeded
    ``validation_fraction``). Early stopping watches ``objective.monitor`` on the
    validation slice (on the training pass when there is none), and the weights of the
    best epoch are restored.
    """
    device = local_device(resolve_device(config.device))
    world = join()
    if len(packed) < objective.min_batch_crystals:
        raise ValueError(
            f"training needs at least {objective.min_batch_crystals} structures, "
            f"got {len(packed)}"
        )
    if split is None:
        split = validation_split(len(packed), config.validation_fraction, config.seed)
    train_idx, val_idx = (np.asarray(s, dtype=np.int64) for s in split)
    model.to(device)
    broadcast_parameters(model, world)
    run = _Run(model, objective, packed, config, device, world)
    result = TrainResult()
    best, best_state, bad_epochs, start = float("inf"), None, 0, 0
    ckpt_path = Path(config.checkpoint_dir) / CHECKPOINT if config.checkpoint_dir else None
    fingerprint = (
        None if ckpt_path is None else _fingerprint(packed, config, model, objective, world)
    )
    if ckpt_path is not None and ckpt_path.exists():
        state = torch.load(ckpt_path, map_location=device, weights_only=True)
        _refuse_other_run(ckpt_path, state.get("fingerprint"), fingerprint)
        model.load_state_dict(state["model"])
        run.optimizer.load_state_dict(state["optimizer"])
        result.history = state["history"]
        best, best_state = state["best"], state["best_state"]
        bad_epochs, start = state["bad_epochs"], state["epoch"] + 1
        result.best_epoch = state["best_epoch"]
        logger.info("resuming from %s after epoch %d", ckpt_path, state["epoch"])
    run.use_kernels(len(train_idx))
    for epoch in range(start, config.epochs):
        if bad_epochs >= config.patience:
            result.stopped_early = True
            break
        t0 = time.perf_counter()
        run.set_rates(epoch)
        train = run.train_epoch(train_idx, epoch)
        seconds = time.perf_counter() - t0
        row = {
            "epoch": epoch,
            "learning_rate": run.optimizer.param_groups[0]["lr"],
            **{f"train_{k}": v for k, v in train.items()},
            "seconds": seconds,
            "structures_per_s": len(train_idx) / seconds,
        }
        watched = train
        if len(val_idx):
            with torch.no_grad():
                watched = run.epoch(val_idx, epoch, False, "validation")
            row.update({f"val_{k}": v for k, v in watched.items()})
        result.history.append(row)
        if world.main:
            logger.info(" ".join(f"{k}={v:.4g}" for k, v in row.items()))
        if watched[objective.monitor] < best:
            best, bad_epochs, result.best_epoch = watched[objective.monitor], 0, epoch
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad_epochs += 1
        if ckpt_path is not None and world.main:
            _save_checkpoint(
                ckpt_path,
                {
                    "fingerprint": fingerprint,
                    "epoch": epoch,
                    "model": model.state_dict(),
                    "optimizer": run.optimizer.state_dict(),
                    "history": result.history,
                    "best": best,
                    "best_state": best_state,
                    "best_epoch": result.best_epoch,
                    "bad_epochs": bad_epochs,
                },
            )
    else:
        result.stopped_early = bad_epochs >= config.patience and start < config.epochs
    if best_state is not None:
        model.load_state_dict(best_state)
    model.to("cpu").eval()
    return result


def _save_checkpoint(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # a kill mid-write leaves the previous checkpoint intact
    (path.parent / "history.json").write_text(json.dumps(state["history"], indent=1))
