"""Synthetic false samples: crystals the Deep InfoMax critics must learn to reject.

Every synthetic crystal is the batch's own geometry (rows) with species donated by some
crystal of the batch, so all false samples are built by index arithmetic on one padded
batch: no new structures, no pymatgen. The geometry kinds (not the paper's) keep species
and move atoms: they perturb the batch's pair vectors.
"""

from __future__ import annotations

import functools

import torch

from ..data.batch import Batch

# the paper's synthetic false samples (the default); GEOMETRY is opt-in
FALSE_SAMPLE_KINDS = ("composition", "polymorph", "permutation")
# the crystal's own species on a perturbed geometry: every site displaced, or the lattice
# strained (these need the packed crystals' pair vectors)
GEOMETRY = ("displacement", "strain")
ALL_FALSE_SAMPLE_KINDS = (*FALSE_SAMPLE_KINDS, *GEOMETRY)


def gaussian(
    shape: tuple[int, ...], generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    """Standard normal draws from ``generator`` (on its own device), moved to ``device``."""
    return torch.randn(shape, generator=generator, device=generator.device).to(device)


def derangement(n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """A random permutation with no fixed point (n >= 2): a random cycle."""
    perm = torch.randperm(n, generator=generator, device=generator.device).to(device)
    out = torch.empty_like(perm)
    out[perm] = perm.roll(-1)
    return out


def remap_species(
    batch: Batch, source: torch.Tensor, permutation: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Species of each row and its neighbours when crystal ``source[r]`` donates them.

    Supercell site j of a row's geometry takes the species of the donor's primitive site
    ``j % M_donor`` (after ``permutation`` of the donor's sites, if given), so the
    synthetic crystal keeps the donor's composition on the row's positions.
    """
    species = batch.prim_species
    m_src = batch.n_prim[source]
    cols = torch.arange(batch.mask.shape[1], device=source.device)
    k_nbr = cols[None, :] % m_src[:, None]
    k_row = batch.row_local % m_src
    if permutation is not None:
        k_nbr = permutation[source[:, None], k_nbr]
        k_row = permutation[source, k_row]
    nbr = species[source[:, None], k_nbr].masked_fill(~batch.mask, 0)
    return species[source, k_row], nbr


def species_permutation(
    batch: Batch, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-crystal permutation of primitive sites that moves at least one species.

    Returns ``(perm (B, M_max), valid (B,))``; crystals of a single element cannot be
    permuted into a false sample and are ``valid == False``.
    """
    species = batch.prim_species
    device = species.device
    b, m_max = species.shape
    cols = torch.arange(m_max, device=device)
    present = cols[None, :] < batch.n_prim[:, None]
    keys = torch.rand((b, m_max), generator=generator, device=generator.device).to(device)
    perm = torch.argsort(keys.masked_fill(~present, 2.0), dim=1)
    differs_from_first = (species != species[:, :1]) & present
    valid = differs_from_first.any(1)
    unchanged = ((species.gather(1, perm) == species) | ~present).all(1)
    # fallback: swap site 0 with the first site of another species
    other = differs_from_first.float().argmax(1)
    swap = cols[None, :].expand(b, m_max).clone()
    swap[:, 0] = other
    swap[torch.arange(b, device=device), other] = 0
    perm = torch.where((unchanged & valid)[:, None], swap, perm)
    return perm, valid


def perturbed_distances(
    batch: Batch, generator: torch.Generator, kind: str, scale: float
) -> torch.Tensor:
    """Pair distances (S, J) of each crystal on a perturbed geometry, its species kept.

    ``displacement``: every supercell site moves by a Gaussian vector of ``scale`` Å per
    axis (a periodic distortion of the supercell); ``strain``: the lattice is deformed by a
    random symmetric strain of ``scale`` per component. Each pair takes its minimum image
    in the perturbed supercell (supercells of <= 50 sites are a few bonds across, so the
    real geometry's image is often not the nearest any more).
    """
    if batch.vectors is None or batch.lattices is None:
        raise ValueError(
            f"the {kind!r} false sample needs pair vectors: pack the crystals with "
            "prepare_all(..., vectors=True)"
        )
    vectors, rc = batch.vectors, batch.row_crystal
    device = vectors.device
    b, j = batch.n_crystals, vectors.shape[1]
    lattices = batch.lattices

    if kind == "displacement":
        u = gaussian((b, j, 3), generator, device) * scale
        own = u[rc, batch.row_local]  # a row's site is supercell site row_local
        moved = vectors + (u[rc] - own[:, None, :])
    elif kind == "strain":
        a = gaussian((b, 3, 3), generator, device) * scale
        deform = torch.eye(3, device=device) + 0.5 * (a + a.transpose(1, 2))  # (B, 3, 3)
        moved = torch.einsum("sjk,slk->sjl", vectors, deform[rc])
        lattices = torch.einsum("bik,blk->bil", lattices, deform)  # each row a -> (I+e) a
    else:
        raise ValueError(f"unknown geometry false sample {kind!r}; use {GEOMETRY}")
    images = torch.einsum("kc,bcd->bkd", _shifts_on(device), lattices)[rc]  # (S, 27, 3)
    candidates = moved[:, :, None, :] + images[:, None, :, :]  # (S, J, 27, 3)
    nearest = torch.linalg.vector_norm(candidates, dim=-1).amin(-1)
    return nearest * batch.mask


@functools.cache
def _shifts_on(device: torch.device) -> torch.Tensor:
    """The 27 lattice translations (-1, 0, 1)^3 that the minimum image is sought among."""
    grid = torch.arange(-1, 2, dtype=torch.float32)
    return torch.cartesian_prod(grid, grid, grid).to(device)
