"""The one training loop: Deep InfoMax pretraining with checkpoints and exact resume.

Randomness is drawn from generators seeded by ``(seed, epoch)``, so an epoch's shuffle,
false samples and noise do not depend on what ran before it: resuming from the
checkpoint written after epoch k replays epochs k+1.. exactly (on CPU).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.batch import PackedCrystals, batches_by_sites
from ..model.sitenet import SiteNetDIM
from .objective import ALL_FALSE_SAMPLE_KINDS, FALSE_SAMPLE_KINDS, Kernels, Losses, dim_losses

logger = logging.getLogger(__name__)
CHECKPOINT = "checkpoint.pt"
METRICS = ("dim_local", "kl_local", "dim_global", "kl_global")


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of pretraining (defaults: the design note's)."""

    epochs: int = 100
    batch_sites: int = 1200
    learning_rate: float = 1e-4
    weight_decay: float = 1e-4
    alpha: float = 1.0
    beta: float = 0.1
    false_samples: tuple[str, ...] = FALSE_SAMPLE_KINDS
    pair_weighting: str = "inverse_square"
    validation_fraction: float = 0.1
    patience: int = 10
    device: str = "auto"
    amp: bool = True  # bfloat16 autocast, CUDA only
    seed: int = 0
    checkpoint_dir: str | None = None
    progress: bool = True
    # torch.compile the per-pair kernels: ~2x faster on CPU, ~35 s to compile once;
    # "auto" compiles when the run is long enough (>= 20,000 structure-epochs)
    compile: bool | str = "auto"

    def __post_init__(self):
        unknown = set(self.false_samples) - set(ALL_FALSE_SAMPLE_KINDS)
        if unknown:
            raise ValueError(
                f"unknown false sample kinds {sorted(unknown)}; use {ALL_FALSE_SAMPLE_KINDS}"
            )
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError("validation_fraction must be in [0, 1)")


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)
    best_epoch: int = -1
    stopped_early: bool = False


def resolve_device(device: str | torch.device) -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _generator(key: list[int], device: torch.device) -> torch.Generator:
    mixed = int(np.random.SeedSequence(key).generate_state(1, np.uint64)[0] >> 1)
    return torch.Generator(device=device).manual_seed(mixed)


def _fingerprint(packed: PackedCrystals, config: TrainConfig, model: SiteNetDIM) -> str:
    h = hashlib.sha256()
    for arr in (packed.n_prim, packed.n_super, packed.species, packed.distances):
        h.update(np.ascontiguousarray(arr).tobytes())
    skip = {"device", "progress", "checkpoint_dir", "epochs", "patience", "compile"}
    h.update(
        json.dumps(
            {k: v for k, v in dataclasses.asdict(config).items() if k not in skip},
            sort_keys=True,
            default=list,
        ).encode()
    )
    h.update(json.dumps(model.config.to_dict(), sort_keys=True).encode())
    return h.hexdigest()


def _split(n: int, config: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    n_val = int(round(n * config.validation_fraction))
    if config.validation_fraction > 0 and n >= 4:
        n_val = max(n_val, 2)
    else:
        n_val = 0
    perm = np.random.default_rng([config.seed, 2**31 - 1]).permutation(n)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def _kernels(model: SiteNetDIM, config: TrainConfig, n_train: int) -> Kernels:
    wanted = config.compile
    if wanted == "auto":
        wanted = n_train * config.epochs >= 20_000
    return Kernels.of(model, compile=bool(wanted))


def _run_epoch_or_fall_back(model, packed, indices, config, epoch, device, kernels, optimizers):
    """A training epoch; if compiled kernels fail (no C++ toolchain, unsupported
    platform), restore the state from before the epoch and run it eagerly instead."""
    compiled = kernels.compiled
    if compiled:
        saved = copy.deepcopy((model.state_dict(), [o.state_dict() for o in optimizers]))
    run = functools.partial(
        _run_epoch,
        model,
        packed,
        indices,
        config,
        epoch,
        device,
        optimizers=optimizers,
        desc=f"epoch {epoch}",
    )
    try:
        out = run(kernels)
    except Exception as err:  # noqa: BLE001 - any compiler failure means: run eagerly
        if not compiled:
            raise
        logger.warning("torch.compile failed (%s); training eagerly", type(err).__name__)
        model.load_state_dict(saved[0])
        for opt, state in zip(optimizers, saved[1]):
            opt.load_state_dict(state)
        kernels = Kernels.of(model, compile=False)
        out = run(kernels)
    return {**out, "kernels": kernels}


def _run_epoch(model, packed, indices, config, epoch, device, kernels, optimizers=None, desc=""):
    """Mean losses over one pass; trains if ``optimizers`` are given."""
    train = optimizers is not None
    # validation draws the same false samples every epoch: its losses are comparable
    key = [config.seed, epoch, 1] if train else [config.seed, 0, 0]
    order = np.random.default_rng(key).permutation(indices) if train else indices
    batches = batches_by_sites(packed.n_prim, order, config.batch_sites, min_crystals=2)
    gen = _generator(key, device)
    amp = config.amp and device.type == "cuda"
    sums = dict.fromkeys(METRICS, 0.0)
    weight = 0.0
    model.train(train)
    bar = tqdm(batches, desc=desc, disable=not config.progress, leave=False, unit="batch")
    for idx in bar:
        batch = packed.batch(idx).to(device)
        with (
            torch.set_grad_enabled(train),
            torch.autocast(device.type, torch.bfloat16, enabled=amp),
        ):
            losses: Losses = dim_losses(
                model, batch, gen, config.false_samples, config.pair_weighting, kernels
            )
        if train:
            for opt in optimizers:
                opt.zero_grad(set_to_none=True)
            losses.total(config.alpha, config.beta).backward()
            for opt in optimizers:
                opt.step()
        for k, v in losses.as_floats().items():
            sums[k] += v * len(idx)
        weight += len(idx)
        bar.set_postfix(
            local=f"{sums['dim_local'] / weight:.3f}", glob=f"{sums['dim_global'] / weight:.3f}"
        )
    return {k: v / weight for k, v in sums.items()}


def _deterministic_on_cpu(fn):
    """Run ``fn(model, packed, config)`` with torch's deterministic algorithms on CPU.

    The backward of advanced indexing (an accumulating ``index_put_``) adds with
    atomics when torch uses more than one CPU thread, so without this two runs with
    the same seed differ in the last bits; the deterministic variant makes CPU
    pretraining (and checkpoint resume) bit-reproducible. The global flag is restored.
    """

    @functools.wraps(fn)
    def wrapper(model, packed, config):
        if resolve_device(config.device).type != "cpu":
            return fn(model, packed, config)
        previous = torch.are_deterministic_algorithms_enabled()
        warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
        torch.use_deterministic_algorithms(True)
        try:
            return fn(model, packed, config)
        finally:
            torch.use_deterministic_algorithms(previous, warn_only=warn_only)

    return wrapper


@_deterministic_on_cpu
def pretrain(model: SiteNetDIM, packed: PackedCrystals, config: TrainConfig) -> TrainResult:
    """Deep InfoMax pretraining of ``model`` in place; returns the per-epoch history.

    Early stopping watches the held-out DIM loss (local + global; the training loss when
    there is no validation slice) and the weights of the best epoch are restored.
    """
    device = resolve_device(config.device)
    if len(packed) < 2:
        raise ValueError("pretraining needs at least two structures")
    train_idx, val_idx = _split(len(packed), config)
    model.to(device)
    optimizers = [
        torch.optim.AdamW(
            params, lr=config.learning_rate, weight_decay=config.weight_decay, amsgrad=True
        )
        for params in (model.local_parameters(), model.global_parameters())
    ]
    result = TrainResult()
    best_loss, best_state, bad_epochs, start = float("inf"), None, 0, 0
    ckpt_path = Path(config.checkpoint_dir) / CHECKPOINT if config.checkpoint_dir else None
    fingerprint = _fingerprint(packed, config, model)
    if ckpt_path is not None and ckpt_path.exists():
        state = torch.load(ckpt_path, map_location=device, weights_only=True)
        if state["fingerprint"] != fingerprint:
            raise ValueError(
                f"{ckpt_path} was written for other data or hyper-parameters; "
                "use another checkpoint_dir or delete it"
            )
        model.load_state_dict(state["model"])
        for opt, s in zip(optimizers, state["optimizers"]):
            opt.load_state_dict(s)
        result.history = state["history"]
        best_loss, best_state = state["best_loss"], state["best_state"]
        bad_epochs, start = state["bad_epochs"], state["epoch"] + 1
        result.best_epoch = state["best_epoch"]
        logger.info("resuming from %s after epoch %d", ckpt_path, state["epoch"])
    kernels = _kernels(model, config, len(train_idx))
    for epoch in range(start, config.epochs):
        if bad_epochs >= config.patience:
            result.stopped_early = True
            break
        t0 = time.perf_counter()
        train = _run_epoch_or_fall_back(
            model, packed, train_idx, config, epoch, device, kernels, optimizers
        )
        kernels = train.pop("kernels")
        seconds = time.perf_counter() - t0
        row = {
            "epoch": epoch,
            **{f"train_{k}": v for k, v in train.items()},
            "seconds": seconds,
            "structures_per_s": len(train_idx) / seconds,
        }
        monitor = train["dim_local"] + train["dim_global"]
        if len(val_idx):
            with torch.no_grad():
                val = _run_epoch(
                    model, packed, val_idx, config, epoch, device, kernels, desc="validation"
                )
            row.update({f"val_{k}": v for k, v in val.items()})
            monitor = val["dim_local"] + val["dim_global"]
        result.history.append(row)
        logger.info(" ".join(f"{k}={v:.4g}" for k, v in row.items()))
        if monitor < best_loss:
            best_loss, bad_epochs, result.best_epoch = monitor, 0, epoch
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad_epochs += 1
        if ckpt_path is not None:
            _save_checkpoint(
                ckpt_path,
                {
                    "fingerprint": fingerprint,
                    "model_config": model.config.to_dict(),  # to rebuild the model to export
                    "epoch": epoch,
                    "model": model.state_dict(),
                    "optimizers": [opt.state_dict() for opt in optimizers],
                    "history": result.history,
                    "best_loss": best_loss,
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
