"""The one batched, no-grad path from structures to arrays of vectors or predictions.

Every front-end (``DIMEncoder.transform``, ``DeepInfoMaxFeaturizer.featurize_many``,
``DIMRegressor.predict``) calls ``encode`` or ``encode_or_collect``; none owns model code.
Structures are preprocessed ``CHUNK`` at a time, so memory is bounded for any n.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .data.batch import PackedCrystals, batches_by_sites
from .data.inputs import check_all, prepare_all, prepare_or_collect
from .model import SiteNetDIM, SiteNetPredictor
from .runtime import on_device, tqdm_disable

CHUNK = 4096  # structures preprocessed at a time


def _width(model: SiteNetDIM | SiteNetPredictor) -> int:
    return model.n_outputs if isinstance(model, SiteNetPredictor) else model.config.vector_dim


def _encoder_config(model: SiteNetDIM | SiteNetPredictor):
    return (model.encoder if isinstance(model, SiteNetPredictor) else model).config


@torch.inference_mode()
def encode_packed(
    model: nn.Module, packed: PackedCrystals, batch_sites: int, device: torch.device
) -> np.ndarray:
    """Outputs of preprocessed crystals, batched by primitive sites after sorting by
    supercell size (little padding); rows come back in input order."""
    out = np.empty((len(packed), _width(model)), dtype=np.float32)
    order = np.argsort(packed.n_super, kind="stable")
    for idx in batches_by_sites(packed.n_prim, order, batch_sites):
        out[idx] = model(packed.batch(idx).to(device)).float().cpu().numpy()
    return out


def encode(
    model: SiteNetDIM | SiteNetPredictor,
    entries: Sequence,
    labels: Sequence | None = None,
    *,
    batch_sites: int = 2048,
    device: str | torch.device = "auto",
    progress: bool | None = False,
) -> np.ndarray:
    """``(n, width)`` float32 outputs (vectors, or a head's outputs); raises
    ``StructureError`` naming a bad entry before any expensive work."""
    labels = list(range(len(entries))) if labels is None else labels
    config = _encoder_config(model)
    check_all(entries, labels, config)
    chunks = []
    with on_device(model, device) as dev:
        starts = range(0, len(entries), CHUNK)
        for start in tqdm(starts, disable=tqdm_disable(progress), desc="encode", unit="chunk"):
            part = slice(start, start + CHUNK)
            packed = prepare_all(entries[part], labels[part], config, offset=start, checked=True)
            chunks.append(encode_packed(model, packed, batch_sites, dev))
    if not chunks:
        return np.empty((0, _width(model)), dtype=np.float32)
    return np.concatenate(chunks)


def encode_or_collect(
    model: SiteNetDIM | SiteNetPredictor,
    entries: Sequence,
    *,
    batch_sites: int = 2048,
    device: str | torch.device = "auto",
    progress: bool | None = False,
) -> tuple[np.ndarray, dict[int, BaseException]]:
    """Outputs with NaN rows for entries that fail, and those entries' exceptions by
    position (matminer's ``ignore_errors=True``); chunked like ``encode``."""
    out = np.full((len(entries), _width(model)), np.nan, dtype=np.float32)
    errors: dict[int, BaseException] = {}
    config = _encoder_config(model)
    with on_device(model, device) as dev:
        starts = range(0, len(entries), CHUNK)
        for start in tqdm(starts, disable=tqdm_disable(progress), desc="encode", unit="chunk"):
            crystals, good, failed = prepare_or_collect(entries[start : start + CHUNK], config)
            errors.update({start + i: err for i, err in failed.items()})
            if crystals:
                rows = start + np.asarray(good)
                out[rows] = encode_packed(model, PackedCrystals(crystals), batch_sites, dev)
    return out, errors
