"""One structure -> the arrays Site-Net reads.

primitive cell -> Niggli-reduced basis -> roughly cubic supercell of at most
``max_sites`` sites -> minimum-image distances from each primitive site to every
supercell site. The Niggli basis makes the supercell (and so the vector) independent of
how the crystal was written down: any cell choice, site order, origin or orientation
of the same crystal gives the same arrays up to floating-point noise.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import spglib
from pymatgen.core import IStructure

from ..config import SiteNetConfig
from ..exceptions import StructureError
from .elements import MAX_Z

spglib.error.OLD_ERROR_HANDLING = False

# the 27 lattice translations checked for the minimum image
_SHIFTS = np.stack(np.meshgrid(*[np.arange(-1, 2)] * 3, indexing="ij"), -1).reshape(-1, 3)
# pure-translation search is done here up to this many sites; pymatgen beyond
_VECTORISED_TRANSLATION_LIMIT = 64
# two sites closer than this (Å) are overlapping atoms or a wrongly scaled cell: the
# shortest real bond, H-H, is 0.74 Å
MIN_SITE_DISTANCE = 0.5


@dataclass(frozen=True)
class CrystalArrays:
    """Model inputs of one crystal.

    Attributes
    ----------
    species : (N,) int16
        Atomic numbers of the supercell sites, image-major: site ``k`` is a copy of
        primitive site ``k % M``, and sites ``0..M-1`` are the primitive cell.
    distances : (M, N) float32
        Minimum-image distance (Å) in the supercell from primitive site ``p`` to site
        ``k``; ``distances[p, p] == 0`` is the self pair.
    vectors : (M, N, 3) float32 or None
        The minimum-image displacements (Å, Cartesian in the Niggli frame) whose lengths
        are ``distances``: only where asked for, by pretraining that perturbs geometry.
    lattice : (3, 3) float32 or None
        The supercell's lattice vectors (rows, same frame), with ``vectors``: a perturbed
        geometry needs the images to find its own minimum image.
    """

    species: np.ndarray
    distances: np.ndarray
    vectors: np.ndarray | None = None
    lattice: np.ndarray | None = None

    @property
    def n_prim(self) -> int:
        return self.distances.shape[0]

    @property
    def n_super(self) -> int:
        return self.distances.shape[1]


def check_structure(structure: object, config: SiteNetConfig) -> IStructure:
    """Raise ``StructureError`` (without position) if the encoder cannot take ``structure``.

    Cheap for every cell the encoder can take; a cell above ``max_cell_sites`` costs one
    spglib symmetry search (about a second for 2,000 sites) to tell whether its primitive
    cell is small enough.
    """
    if not isinstance(structure, IStructure):
        kind = type(structure).__name__
        hint = " (molecules have no lattice)" if kind in {"Molecule", "IMolecule"} else ""
        raise StructureError(f"expected a pymatgen Structure, got {kind}{hint}")
    if len(structure) == 0:
        raise StructureError("structure has no sites")
    try:  # a site's ``specie`` exists only if it is ordered: one pass checks both
        numbers = np.fromiter((site.specie.Z for site in structure), dtype=np.int64)
    except AttributeError:
        raise StructureError(
            f"structure {structure.composition.reduced_formula} is disordered (partial "
            "occupancies); order it first, e.g. with OrderDisorderedStructureTransformation"
        ) from None
    matrix = structure.lattice.matrix
    if not (np.isfinite(matrix).all() and np.isfinite(structure.frac_coords).all()):
        raise StructureError("structure has non-finite lattice or coordinates")
    if abs(np.linalg.det(matrix)) < 1e-6:
        raise StructureError("structure has a degenerate (zero-volume) lattice")
    bad = (numbers < 1) | (numbers > MAX_Z)
    if bad.any():
        symbol = structure[int(np.flatnonzero(bad)[0])].specie
        raise StructureError(f"element {symbol} is outside the feature table (Z = 1..{MAX_Z})")
    if len(structure) > config.max_cell_sites:
        n_prim = _primitive_size(matrix, structure.frac_coords, numbers, config.symprec)
        if n_prim > config.max_cell_sites:
            raise StructureError(
                f"primitive cell has {n_prim} sites, above the limit of "
                f"{config.max_cell_sites}"
            )
    return structure


def prepare(structure: IStructure, config: SiteNetConfig, vectors: bool = False) -> CrystalArrays:
    """Model inputs of one (already checked) structure; refuses overlapping sites.

    ``vectors``: keep the pair displacement vectors too (geometry false samples)."""
    lattice = structure.lattice.matrix
    frac = structure.frac_coords
    numbers = np.asarray(structure.atomic_numbers, dtype=np.int64)
    if _has_pure_translation(lattice, frac, numbers, config.symprec):
        prim = structure.get_primitive_structure(tolerance=config.symprec)
        lattice, frac = prim.lattice.matrix, prim.frac_coords
        numbers = np.asarray(prim.atomic_numbers, dtype=np.int64)
    n_prim = len(numbers)
    if n_prim > config.max_cell_sites:
        raise StructureError(
            f"primitive cell has {n_prim} sites, above the limit of {config.max_cell_sites}"
        )
    reduced = spglib.niggli_reduce(lattice)
    if reduced is None:  # spglib gives up only on pathological lattices
        reduced = lattice
    frac = np.mod(frac @ lattice @ np.linalg.inv(reduced), 1.0)
    repeats = supercell_repeats(reduced, n_prim, config.max_sites)
    distances, displacements = _supercell_geometry(reduced, frac, repeats, vectors)
    others = distances.copy()
    others[np.arange(n_prim), np.arange(n_prim)] = np.inf  # not the self pairs
    if others.min() < MIN_SITE_DISTANCE:
        raise StructureError(
            f"two sites are {others.min():.2f} Å apart, closer than {MIN_SITE_DISTANCE} Å: "
            "overlapping atoms or a wrongly scaled lattice"
        )
    return CrystalArrays(
        species=np.tile(numbers, int(np.prod(repeats))).astype(np.int16),
        distances=distances,
        vectors=displacements,
        lattice=None if displacements is None else (reduced * repeats[:, None]).astype(np.float32),
    )


def supercell_repeats(lattice: np.ndarray, n_prim: int, max_sites: int) -> np.ndarray:
    """Repeats ``(n_a, n_b, n_c)`` of a roughly cubic supercell with at most ``max_sites``:
    one repeat at a time goes to the currently shortest edge of ``supercell_box``
    (lowest axis on ties)."""
    return repeats_for_box(supercell_box(lattice), n_prim, max_sites)


def supercell_box(lattice: np.ndarray) -> np.ndarray:
    """Edges of the cell's orthogonalised box: ``|diag(R)|`` of ``L = R Q`` (RQ
    decomposition), i.e. the cell's height over the ``b``-``c`` face, the part of ``b``
    normal to ``c``, and ``|c|`` (computed directly; scipy's ``rq`` costs more than the
    rest of the choice)."""
    (a0, a1, a2), (b0, b1, b2), (c0, c1, c2) = lattice.tolist()  # 3-vectors: plain floats
    bc = (b1 * c2 - b2 * c1, b2 * c0 - b0 * c2, b0 * c1 - b1 * c0)
    area = math.sqrt(bc[0] * bc[0] + bc[1] * bc[1] + bc[2] * bc[2])
    c_len = math.sqrt(c0 * c0 + c1 * c1 + c2 * c2)
    height = abs(a0 * bc[0] + a1 * bc[1] + a2 * bc[2]) / area
    return np.array([height, area / c_len, c_len])


def repeats_for_box(box: np.ndarray, n_prim: int, max_sites: int) -> np.ndarray:
    box, repeats = [float(x) for x in box], [1, 1, 1]
    while True:
        edges = [e * r for e, r in zip(box, repeats)]
        shortest = min(edges) * (1 + 1e-6)
        axis = next(i for i, e in enumerate(edges) if e <= shortest)
        if n_prim * repeats[0] * repeats[1] * repeats[2] // repeats[axis] * (
            repeats[axis] + 1
        ) > max_sites:
            return np.array(repeats, dtype=np.int64)
        repeats[axis] += 1


@functools.lru_cache(maxsize=256)
def _images(repeats: tuple[int, int, int]) -> np.ndarray:
    """The supercell's cell offsets (R, 3), image-major as the species are tiled."""
    grid = np.meshgrid(*[np.arange(r) for r in repeats], indexing="ij")
    images = np.stack(grid, -1).reshape(-1, 3)
    images.flags.writeable = False
    return images


def _supercell_geometry(
    lattice: np.ndarray, frac: np.ndarray, repeats: np.ndarray, vectors: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """Minimum-image distances (M, N) from each primitive site to each supercell site,
    and (if asked) the displacements (M, N, 3) they are the lengths of."""
    n_prim = len(frac)
    images = _images(tuple(int(r) for r in repeats))
    frac_super = ((frac[None, :, :] + images[:, None, :]) / repeats).reshape(-1, 3)
    super_lattice = lattice * repeats[:, None]
    diff = frac_super[None, :, :] - frac_super[:n_prim, None, :]
    diff -= np.round(diff)
    cart = diff @ super_lattice  # (M, N, 3)
    shifts = _SHIFTS @ super_lattice  # (27, 3)
    sq = (cart**2).sum(-1)[..., None] + 2.0 * cart @ shifts.T + (shifts**2).sum(-1)[None, None, :]
    dist = np.sqrt(np.maximum(sq.min(-1), 0.0))
    self_pairs = np.arange(n_prim), np.arange(n_prim)
    dist[self_pairs] = 0.0
    if not vectors:
        return dist.astype(np.float32), None
    displacements = cart + shifts[sq.argmin(-1)]
    displacements[self_pairs] = 0.0
    return dist.astype(np.float32), displacements.astype(np.float32)


def _primitive_size(
    lattice: np.ndarray, frac: np.ndarray, numbers: np.ndarray, tol: float
) -> int:
    """Sites of the primitive cell: the cell's sites over its pure translations (spglib)."""
    try:
        dataset = spglib.get_symmetry_dataset((lattice, frac, numbers), symprec=tol)
    except spglib.error.SpglibError:
        return len(numbers)
    identity = np.all(dataset.rotations == np.eye(3, dtype=dataset.rotations.dtype), axis=(1, 2))
    return len(numbers) // max(int(identity.sum()), 1)


def _has_pure_translation(
    lattice: np.ndarray, frac: np.ndarray, numbers: np.ndarray, tol: float
) -> bool:
    """Whether a lattice translation other than the cell's maps the crystal onto itself."""
    n = len(numbers)
    if n == 1:
        return False
    counts = np.bincount(numbers)
    values = np.flatnonzero(counts)
    counts = counts[values]
    if counts.min() == 1 or math.gcd(*counts.tolist()) == 1:
        return False  # a pure translation would permute every species' sites in cycles
    if n > _VECTORISED_TRANSLATION_LIMIT:
        return True  # let pymatgen decide, at its own cost
    rare = np.flatnonzero(numbers == values[np.argmin(counts)])
    candidates = frac[rare[1:]] - frac[rare[0]]  # (C, 3)
    # a translation must first map the rare species onto itself: that cheap test leaves
    # few candidates (usually none) for the check over every site
    candidates = candidates[_maps_onto(frac[rare], frac[rare], candidates, lattice, tol)]
    if not len(candidates):
        return False
    same = numbers[:, None] == numbers[None, :]
    return bool(_maps_onto(frac, frac, candidates, lattice, tol, same).any())


def _maps_onto(
    source: np.ndarray,
    target: np.ndarray,
    shifts: np.ndarray,
    lattice: np.ndarray,
    tol: float,
    allowed: np.ndarray | None = None,
) -> np.ndarray:
    """For each fractional shift, whether every shifted ``source`` site lies within
    ``tol`` Å of some ``target`` site (an ``allowed`` one, if given)."""
    diff = source[None, :, None, :] + shifts[:, None, None, :] - target[None, None, :, :]
    diff -= np.round(diff)
    close = np.linalg.norm(diff @ lattice, axis=-1) < tol  # (C, N, N)
    if allowed is not None:
        close &= allowed
    return close.any(-1).all(-1)
