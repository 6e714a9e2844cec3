"""The one batched, no-grad path from structures to an (n, global_dim) array.

Both front-ends (``DIMEncoder.transform`` and ``DeepInfoMaxFeaturizer.featurize_many``)
call ``check_all`` + ``encode``; neither owns model code.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from .config import SiteNetConfig
from .data.batch import PackedCrystals, batches_by_sites
from .data.structure import CrystalArrays, check_structure, prepare
from .exceptions import StructureError
from .model.sitenet import SiteNetDIM
from .training.loop import resolve_device

CHUNK = 4096  # structures preprocessed at a time: bounds memory for any n


def as_structure_list(X: object) -> tuple[list, list]:
    """Entries and their labels (index labels of a pandas input, else positions).

    Accepts a list/tuple, a 1-D array, a Series, or a single-column DataFrame or 2-D
    array (as ``ColumnTransformer`` passes).
    """
    if isinstance(X, pd.DataFrame):
        if X.shape[1] != 1:
            raise ValueError(f"expected one column of structures, got {X.shape[1]} columns")
        return list(X.iloc[:, 0]), list(X.index)
    if isinstance(X, pd.Series):
        return list(X), list(X.index)
    if isinstance(X, np.ndarray):
        if X.ndim == 2 and X.shape[1] == 1:
            X = X[:, 0]
        if X.ndim != 1:
            raise ValueError(f"expected a 1-D sequence of structures, got shape {X.shape}")
        return list(X), list(range(len(X)))
    if isinstance(X, (str, bytes)) or not isinstance(X, Iterable):
        raise TypeError(f"expected a sequence of pymatgen Structures, got {type(X).__name__}")
    entries = list(X)
    return entries, list(range(len(entries)))


def describe(position: int, label: object) -> str:
    return f"entry {position}" + ("" if label == position else f" (index {label!r})")


def prepare_one(structure: object, config: SiteNetConfig) -> CrystalArrays:
    return prepare(check_structure(structure, config), config)


def check_all(entries: Sequence, labels: Sequence, config: SiteNetConfig) -> None:
    """Cheap checks of every entry before any expensive work, so a bad entry fails fast."""
    for position, (entry, label) in enumerate(zip(entries, labels)):
        try:
            check_structure(entry, config)
        except StructureError as err:
            raise StructureError(f"{describe(position, label)}: {err}") from None


def prepare_all(
    entries: Sequence,
    labels: Sequence,
    config: SiteNetConfig,
    offset: int = 0,
    checked: bool = False,
) -> PackedCrystals:
    """Preprocess every entry (``checked``: ``check_all`` already passed, skip the checks)."""
    crystals = []
    for position, (entry, label) in enumerate(zip(entries, labels), start=offset):
        try:
            crystals.append(prepare(entry, config) if checked else prepare_one(entry, config))
        except StructureError as err:
            raise StructureError(f"{describe(position, label)}: {err}") from None
    return PackedCrystals(crystals)


def encode_or_collect(
    model: SiteNetDIM,
    entries: Sequence,
    *,
    batch_sites: int = 2048,
    device: str | torch.device = "auto",
    progress: bool = False,
) -> tuple[np.ndarray, dict[int, BaseException]]:
    """Vectors with NaN rows for entries that fail, and those entries' exceptions.

    The path of matminer's ``ignore_errors=True``: bad entries never stop the others.
    """
    out = np.full((len(entries), model.config.global_dim), np.nan, dtype=np.float32)
    errors: dict[int, BaseException] = {}
    crystals, good = [], []
    for position, entry in enumerate(tqdm(entries, disable=not progress, desc="preprocess")):
        try:
            crystals.append(prepare_one(entry, model.config))
            good.append(position)
        except Exception as err:  # noqa: BLE001 - any failure becomes that entry's NaN row
            errors[position] = err
    if crystals:
        with on_device(model, device) as dev:
            out[good] = encode_packed(model, PackedCrystals(crystals), batch_sites, dev)
    return out, errors


@contextmanager
def on_device(model: SiteNetDIM, device: str | torch.device) -> Iterator[torch.device]:
    """The model in eval mode on ``device`` for the block; back on CPU (and in its
    previous mode) afterwards, so a fitted estimator always pickles from CPU."""
    device = resolve_device(device)
    was_training = model.training
    model.eval().to(device)
    try:
        yield device
    finally:
        model.to("cpu").train(was_training)


@torch.inference_mode()
def encode_packed(
    model: SiteNetDIM, packed: PackedCrystals, batch_sites: int, device: torch.device
) -> np.ndarray:
    """Vectors of preprocessed crystals, batched by primitive sites after sorting by
    supercell size (little padding); rows come back in input order."""
    out = np.empty((len(packed), model.config.global_dim), dtype=np.float32)
    order = np.argsort(packed.n_super, kind="stable")
    for idx in batches_by_sites(packed.n_prim, order, batch_sites):
        out[idx] = model(packed.batch(idx).to(device)).float().cpu().numpy()
    return out


def encode(
    model: SiteNetDIM,
    entries: Sequence,
    labels: Sequence | None = None,
    *,
    batch_sites: int = 2048,
    device: str | torch.device = "auto",
    progress: bool = False,
) -> np.ndarray:
    """``(n, global_dim)`` float32 vectors; raises ``StructureError`` naming a bad entry."""
    labels = list(range(len(entries))) if labels is None else labels
    config = model.config
    check_all(entries, labels, config)
    chunks = []
    with on_device(model, device) as dev:
        starts = range(0, len(entries), CHUNK)
        for start in tqdm(starts, disable=not progress, desc="DIMEncoder", unit="chunk"):
            part = slice(start, start + CHUNK)
            packed = prepare_all(entries[part], labels[part], config, offset=start, checked=True)
            chunks.append(encode_packed(model, packed, batch_sites, dev))
    if not chunks:
        return np.empty((0, config.global_dim), dtype=np.float32)
    return np.concatenate(chunks)
