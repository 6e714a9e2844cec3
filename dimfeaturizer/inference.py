"""The one batched, no-grad path from structures to arrays of vectors or predictions.

Every front-end (``DIMEncoder.transform``, ``DeepInfoMaxFeaturizer.featurize_many``,
``DIMRegressor.predict``) calls ``encode`` or ``encode_or_collect``; none owns model code.
Structures are preprocessed ``CHUNK`` at a time, so memory is bounded for any n. The
model runs after each chunk's preprocessing, not beside it: overlapping them in a thread
(GIL contention) or a process (pickling a Structure costs as much as preparing it) was
measured slower on 2 cores than giving the model both cores.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .data.batch import Batch, PackedCrystals, batches_by_sites
from .data.inputs import check_all, prepare_all, prepare_or_collect
from .model import Kernels, SiteNetDIM, SiteNetPredictor
from .runtime import on_device, tqdm_disable

CHUNK = 4096  # structures preprocessed at a time
logger = logging.getLogger(__name__)


def _width(model: SiteNetDIM | SiteNetPredictor, with_hidden: bool = False) -> int:
    if not isinstance(model, SiteNetPredictor):
        return model.config.vector_dim
    return model.n_outputs + (model.hidden if with_hidden else 0)


def _encoder(model: SiteNetDIM | SiteNetPredictor) -> SiteNetDIM:
    return model.encoder if isinstance(model, SiteNetPredictor) else model


def _encoder_config(model: SiteNetDIM | SiteNetPredictor):
    return _encoder(model).config


class Forward:
    """``model(batch)``, through compiled per-pair kernels if asked (on CPU no faster than
    eager, which computes each distinct bond once; vectors differ from eager ones by
    float rounding, ~1e-6). If the compiler is missing
    or fails (no C++ toolchain, unsupported platform) it warns once and runs eagerly."""

    def __init__(self, model: nn.Module, compile: bool, with_hidden: bool = False):
        self.model = model
        self.local = Kernels.of(_encoder(model), compile=True).local if compile else None
        # a predictor's hidden layer after its outputs (an encoder takes no such option)
        self.options = {"with_hidden": True} if with_hidden else {}

    def __call__(self, batch: Batch) -> torch.Tensor:
        if self.local is None:
            return self.model(batch, **self.options)
        try:
            return self.model(batch, self.local, **self.options)
        except torch.OutOfMemoryError:
            raise
        except Exception as err:  # noqa: BLE001 - a compiler failure: encode eagerly
            logger.warning("torch.compile failed (%s: %s); encoding eagerly",
                           type(err).__name__, err)  # fmt: skip
            self.local = None
            return self.model(batch, **self.options)


@torch.inference_mode()
def encode_packed(
    model: nn.Module,
    packed: PackedCrystals,
    batch_sites: int,
    device: torch.device,
    forward: Callable | None = None,
    with_hidden: bool = False,
) -> np.ndarray:
    """Outputs of preprocessed crystals, batched by primitive sites after sorting by
    supercell size (little padding); rows come back in input order. ``forward``
    replaces ``model(batch)`` (a compiled ``Forward``, built with the same
    ``with_hidden``); ``with_hidden``: a predictor's hidden layer after its outputs."""
    forward = forward or Forward(model, compile=False, with_hidden=with_hidden)
    out = np.empty((len(packed), _width(model, with_hidden)), dtype=np.float32)
    order = np.argsort(packed.n_super, kind="stable")
    for idx in batches_by_sites(packed.n_prim, order, batch_sites):
        out[idx] = forward(packed.batch(idx).to(device)).float().cpu().numpy()
    return out


def encode(
    model: SiteNetDIM | SiteNetPredictor,
    entries: Sequence,
    labels: Sequence | None = None,
    *,
    batch_sites: int = 2048,
    device: str | torch.device = "auto",
    progress: bool | None = False,
    compile: bool = False,
    features: np.ndarray | None = None,
    with_hidden: bool = False,
) -> np.ndarray:
    """``(n, width)`` float32 outputs (vectors, or a head's outputs); raises
    ``StructureError`` naming a bad entry before any expensive work. ``compile``: run
    the per-pair kernels through ``torch.compile`` (see ``Forward``). ``features``:
    ``(n, F)`` per-crystal descriptors for a head that reads them. ``with_hidden``: a
    predictor's hidden layer after its outputs (``SiteNetPredictor.forward``)."""
    labels = list(range(len(entries))) if labels is None else labels
    check_all(entries, labels, _encoder_config(model))
    out, _ = _encode_chunks(model, entries, labels, False, batch_sites, device, progress,
                            compile, features, with_hidden)  # fmt: skip
    return out


def encode_or_collect(
    model: SiteNetDIM | SiteNetPredictor,
    entries: Sequence,
    *,
    batch_sites: int = 2048,
    device: str | torch.device = "auto",
    progress: bool | None = False,
    compile: bool = False,
    features: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[int, BaseException]]:
    """Outputs with NaN rows for entries that fail, and those entries' exceptions by
    position (matminer's ``ignore_errors=True``); chunked like ``encode``."""
    return _encode_chunks(model, entries, None, True, batch_sites, device, progress, compile,
                          features)  # fmt: skip


def _encode_chunks(model, entries, labels, collect: bool, batch_sites, device, progress,
                   compile, features, with_hidden: bool = False
                   ) -> tuple[np.ndarray, dict[int, BaseException]]:
    """The one chunked loop behind ``encode`` (entries already checked: a failure raises)
    and ``encode_or_collect`` (a failing entry is a NaN row and its exception)."""
    fill = np.nan if collect else 0.0
    out = np.full((len(entries), _width(model, with_hidden)), fill, dtype=np.float32)
    errors: dict[int, BaseException] = {}
    config = _encoder_config(model)
    with on_device(model, device) as dev:
        forward = Forward(model, compile, with_hidden)
        starts = range(0, len(entries), CHUNK)
        for start in tqdm(starts, disable=tqdm_disable(progress), desc="encode", unit="chunk"):
            part = slice(start, start + CHUNK)
            if collect:
                crystals, good, failed = prepare_or_collect(entries[part], config)
                errors.update({start + i: err for i, err in failed.items()})
                if not crystals:
                    continue
                rows = start + np.asarray(good)
                packed = PackedCrystals(crystals)
            else:
                packed = prepare_all(entries[part], labels[part], config, offset=start,
                                     checked=True)  # fmt: skip
                rows = np.arange(start, start + len(packed))
            packed = packed.with_features(None if features is None else features[rows])
            out[rows] = encode_packed(model, packed, batch_sites, dev, forward, with_hidden)
    return out, errors
