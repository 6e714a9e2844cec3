"""What users pass in -> checked structures -> packed arrays, with errors that name the
entry (its position, and its index label where the input has one)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from pymatgen.core import IStructure

from ..config import SiteNetConfig
from ..distributed import World, map_sharded
from ..exceptions import StructureError
from .batch import PackedCrystals
from .structure import CrystalArrays, check_structure, prepare


def as_structure_list(X: object) -> tuple[list, list]:
    """Entries and their labels (index labels of a pandas input, else positions).

    Accepts a list/tuple, a 1-D array, a Series, or a single-column DataFrame or 2-D
    array (as ``ColumnTransformer`` passes).
    """
    if isinstance(X, IStructure):
        raise TypeError(
            "expected a sequence of pymatgen Structures, got one Structure: pass a list, "
            "e.g. [structure]"
        )
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
    """``entry 3`` or ``entry 3 (index 'mp-149')``."""
    return f"entry {position}" + ("" if label == position else f" (index {label!r})")


def prepare_one(structure: object, config: SiteNetConfig, vectors: bool = False) -> CrystalArrays:
    return prepare(check_structure(structure, config), config, vectors)


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
    world: World | None = None,
    vectors: bool = False,
) -> PackedCrystals:
    """Preprocess every entry (``checked``: ``check_all`` already passed, skip the checks;
    ``vectors``: keep pair displacements, for geometry false samples).

    With a distributed ``world`` (training under ``torchrun``), each rank preprocesses its
    share and every rank gets all of them, in order; every rank must call it."""

    def one(item):
        position, entry, label = item
        try:
            if checked:
                return prepare(entry, config, vectors)
            return prepare_one(entry, config, vectors)
        except StructureError as err:
            raise StructureError(f"{describe(position, label)}: {err}") from None

    items = [(offset + i, e, lab) for i, (e, lab) in enumerate(zip(entries, labels))]
    return PackedCrystals(map_sharded(one, items, world or World()))


def prepare_or_collect(
    entries: Sequence, config: SiteNetConfig
) -> tuple[list[CrystalArrays], list[int], dict[int, BaseException]]:
    """Preprocess what can be, and keep each failing entry's exception by position (the
    path of matminer's ``ignore_errors=True``: bad entries never stop the others)."""
    crystals, good, errors = [], [], {}
    for position, entry in enumerate(entries):
        try:
            crystals.append(prepare_one(entry, config))
            good.append(position)
        except Exception as err:  # noqa: BLE001 - any failure becomes that entry's NaN row
            errors[position] = err
    return crystals, good, errors
