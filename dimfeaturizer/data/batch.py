"""Many crystals packed into flat arrays, and padded batches cut from them."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch

from .structure import CrystalArrays


@dataclass
class Batch:
    """B crystals with S primitive sites in total ("rows"), neighbours padded to J.

    Attributes
    ----------
    row_species : (S,) long
        Atomic number of each row's (primitive) site.
    neighbour_species : (S, J) long
        Atomic number of supercell site j; 0 where padded.
    distances : (S, J) float32
        Minimum-image distance row -> j (Å); 0 where padded.
    mask : (S, J) bool
        True for real neighbours.
    row_crystal : (S,) long
        Crystal (0..B-1) of each row; rows of a crystal are contiguous.
    row_local : (S,) long
        Index of the row's site within its primitive cell.
    crystal_start : (B,) long
        First row of each crystal.
    n_prim : (B,) long
        Primitive sites M of each crystal.
    prim_species : (B, M_max) long
        Atomic numbers of each crystal's primitive sites; 0 where padded.
    targets : (B, T) float32 or None
        Labels of the crystals, where the packed crystals carry them.
    features : (B, F) float32 or None
        Per-crystal descriptors (e.g. standardised composition) that a prediction head
        reads beside the crystal vector, where the packed crystals carry them.
    vectors : (S, J, 3) float32 or None
        Displacements whose lengths are ``distances``, where the packed crystals carry
        them (pretraining that perturbs geometry).
    lattices : (B, 3, 3) float32 or None
        Each crystal's supercell lattice vectors (rows), with ``vectors``.
    """

    row_species: torch.Tensor
    neighbour_species: torch.Tensor
    distances: torch.Tensor
    mask: torch.Tensor
    row_crystal: torch.Tensor
    row_local: torch.Tensor
    crystal_start: torch.Tensor
    n_prim: torch.Tensor
    prim_species: torch.Tensor
    targets: torch.Tensor | None = None
    features: torch.Tensor | None = None
    vectors: torch.Tensor | None = None
    lattices: torch.Tensor | None = None

    @property
    def n_crystals(self) -> int:
        return int(self.n_prim.shape[0])

    def to(self, device: torch.device | str) -> Batch:
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        return Batch(**{k: None if v is None else v.to(device) for k, v in moved.items()})


class PackedCrystals:
    """Preprocessed crystals in flat arrays: the cache that training epochs reuse.

    ``species`` holds every crystal's N supercell species back to back and ``distances``
    every (M, N) distance block flattened; offsets locate crystal i. ``targets``, if
    given, are one row of labels per crystal, ``(n, T)`` float32, carried into batches;
    ``features`` likewise carry per-crystal descriptors for a head, ``(n, F)`` float32.
    ``vectors`` (every pair's displacement, ``(sum M N, 3)``) and ``lattices`` (each
    supercell's, ``(n, 3, 3)``) are kept when every crystal has them.
    """

    def __init__(
        self,
        crystals: Sequence[CrystalArrays],
        targets: np.ndarray | None = None,
        features: np.ndarray | None = None,
    ):
        if not crystals:
            raise ValueError("no crystals to pack")
        self.targets = _rows(targets, len(crystals), "target")
        self.features = _rows(features, len(crystals), "feature")
        self.n_prim = np.array([c.n_prim for c in crystals], dtype=np.int64)
        self.n_super = np.array([c.n_super for c in crystals], dtype=np.int64)
        self.species = np.concatenate([c.species for c in crystals]).astype(np.int64)
        self.distances = np.concatenate([c.distances.ravel() for c in crystals])
        self.species_offset = np.concatenate([[0], np.cumsum(self.n_super)[:-1]])
        self.distance_offset = np.concatenate([[0], np.cumsum(self.n_prim * self.n_super)[:-1]])
        self.vectors = self.lattices = None
        if all(c.vectors is not None for c in crystals):
            self.vectors = np.concatenate([c.vectors.reshape(-1, 3) for c in crystals])
            self.lattices = np.stack([c.lattice for c in crystals]).astype(np.float32)

    def __len__(self) -> int:
        return len(self.n_prim)

    def subset(self, indices: np.ndarray) -> PackedCrystals:
        indices = np.asarray(indices)
        rows = [None if a is None else a[indices] for a in (self.targets, self.features)]
        return PackedCrystals([self.crystal(i) for i in indices], *rows)

    def with_targets(self, targets: np.ndarray | None) -> PackedCrystals:
        """The same crystals carrying ``targets`` (arrays shared, not copied)."""
        out = copy.copy(self)
        out.targets = _rows(targets, len(self), "target")
        return out

    def with_features(self, features: np.ndarray | None) -> PackedCrystals:
        """The same crystals carrying per-crystal head ``features`` (arrays shared)."""
        out = copy.copy(self)
        out.features = _rows(features, len(self), "feature")
        return out

    def crystal(self, i: int) -> CrystalArrays:
        m, n = self.n_prim[i], self.n_super[i]
        s, d = self.species_offset[i], self.distance_offset[i]
        return CrystalArrays(
            species=self.species[s : s + n].astype(np.int16),
            distances=self.distances[d : d + m * n].reshape(m, n),
            vectors=None if self.vectors is None else self.vectors[d : d + m * n].reshape(m, n, 3),
            lattice=None if self.lattices is None else self.lattices[i],
        )

    def batch(self, indices: np.ndarray) -> Batch:
        """Padded batch of the crystals ``indices`` (vectorised, no per-site loops)."""
        indices = np.asarray(indices, dtype=np.int64)
        m, n = self.n_prim[indices], self.n_super[indices]
        row_crystal = np.repeat(np.arange(len(indices)), m)
        crystal_start = np.cumsum(m) - m
        row_local = np.arange(m.sum()) - crystal_start[row_crystal]
        row_n = n[row_crystal]
        cols = np.arange(n.max())
        mask = cols[None, :] < row_n[:, None]
        species_at = self.species_offset[indices][row_crystal]
        dist_at = self.distance_offset[indices][row_crystal] + row_local * row_n
        neighbour_species = np.where(
            mask, self.species[np.where(mask, species_at[:, None] + cols, 0)], 0
        )
        pair_at = np.where(mask, dist_at[:, None] + cols, 0)
        distances = np.where(mask, self.distances[pair_at], 0.0)
        vectors = None
        if self.vectors is not None:
            vectors = torch.from_numpy(np.where(mask[..., None], self.vectors[pair_at], 0.0))
        prim_cols = np.arange(m.max())
        prim_mask = prim_cols[None, :] < m[:, None]
        prim_at = self.species_offset[indices][:, None] + prim_cols
        prim_species = np.where(prim_mask, self.species[np.where(prim_mask, prim_at, 0)], 0)
        return Batch(
            row_species=torch.from_numpy(self.species[species_at + row_local]),
            neighbour_species=torch.from_numpy(neighbour_species),
            distances=torch.from_numpy(distances.astype(np.float32)),
            mask=torch.from_numpy(mask),
            row_crystal=torch.from_numpy(row_crystal),
            row_local=torch.from_numpy(row_local),
            crystal_start=torch.from_numpy(crystal_start),
            n_prim=torch.from_numpy(m),
            prim_species=torch.from_numpy(prim_species),
            targets=None if self.targets is None else torch.from_numpy(self.targets[indices]),
            features=None if self.features is None else torch.from_numpy(self.features[indices]),
            vectors=None if vectors is None else vectors.float(),
            lattices=None if self.lattices is None else torch.from_numpy(self.lattices[indices]),
        )


def _rows(values: np.ndarray | None, n: int, what: str) -> np.ndarray | None:
    """Per-crystal ``values`` as ``(n, K)`` float32, one row per crystal (None stays
    None)."""
    if values is None:
        return None
    values = np.asarray(values, dtype=np.float32)
    if len(values) != n:
        raise ValueError(f"{len(values)} {what} rows for {n} crystals")
    return values.reshape(n, -1)


def batches_by_sites(
    n_prim: np.ndarray, order: np.ndarray, max_rows: int, min_crystals: int = 1
) -> list[np.ndarray]:
    """Cut ``order`` into consecutive batches of at most ``max_rows`` primitive sites.

    A batch always holds at least one crystal (and ``min_crystals`` where possible: a
    batch is only closed once it holds ``min_crystals``, even if that exceeds
    ``max_rows``, and a short tail is merged into the batch before it).
    """
    sizes = n_prim[order]
    batches, start, rows = [], 0, 0
    for i, size in enumerate(sizes):  # one step per crystal, not per site
        if rows + size > max_rows and i - start >= max(min_crystals, 1):
            batches.append(order[start:i])
            start, rows = i, 0
        rows += size
    batches.append(order[start:])
    if len(batches) > 1 and len(batches[-1]) < min_crystals:
        tail = batches.pop()
        batches[-1] = np.concatenate([batches[-1], tail])
    return batches
