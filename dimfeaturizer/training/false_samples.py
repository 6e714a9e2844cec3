"""Synthetic false samples: crystals the Deep InfoMax critics must learn to reject.

Every synthetic crystal is the batch's own geometry (rows) with species donated by some
crystal of the batch, so all false samples are built by index arithmetic on one padded
batch: no new structures, no pymatgen. The one kind the paper does not use, ``substitution``
(one element swapped for its neighbour in the periodic table, the "dopant"-like false
sample the paper proposes as future work), swaps species by a table look-up. The
geometry kinds keep species and move atoms: they perturb the batch's pair vectors.
"""

from __future__ import annotations

import functools

import torch

from ..data.batch import Batch
from ..data.elements import FEATURE_NAMES, MAX_Z, raw_element_table

# the paper's synthetic false samples (the default); SUBSTITUTION and GEOMETRY are opt-in
FALSE_SAMPLE_KINDS = ("composition", "polymorph", "permutation")
SUBSTITUTION = "substitution"
# the crystal's own species on a perturbed geometry: every site displaced, or the lattice
# strained (these need the packed crystals' pair vectors)
GEOMETRY = ("displacement", "strain")
ALL_FALSE_SAMPLE_KINDS = (*FALSE_SAMPLE_KINDS, SUBSTITUTION, *GEOMETRY)
F_BLOCK = (range(57, 72), range(89, 104))


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
    batch: Batch,
    source: torch.Tensor,
    permutation: torch.Tensor | None = None,
    species: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Species of each row and its neighbours when crystal ``source[r]`` donates them.

    Supercell site j of a row's geometry takes the species of the donor's primitive site
    ``j % M_donor`` (after ``permutation`` of the donor's sites, if given), so the
    synthetic crystal keeps the donor's composition on the row's positions. ``species``
    replaces the batch's own ``prim_species`` table.
    """
    species = batch.prim_species if species is None else species
    m_src = batch.n_prim[source]
    cols = torch.arange(batch.mask.shape[1], device=source.device)
    k_nbr = cols[None, :] % m_src[:, None]
    k_row = batch.row_local % m_src
    if permutation is not None:
        k_nbr = permutation[source[:, None], k_nbr]
        k_row = permutation[source, k_row]
    nbr = species[source[:, None], k_nbr].masked_fill(~batch.mask, 0)
    return species[source, k_row], nbr


def substitutes() -> tuple[torch.Tensor, torch.Tensor]:
    """Each element's chemically closest stand-ins: ``(table (MAX_Z+1, K), count)``.

    Same group, one row up or down (Na -> Li/K, O -> S, Cl -> F/Br); in the f-block the
    previous and next element of the same series. Unused slots of ``table`` are 0.
    """
    raw = raw_element_table()
    row = raw[:, FEATURE_NAMES.index("row")].astype(int)
    group = raw[:, FEATURE_NAMES.index("group")].astype(int)
    z = range(1, MAX_Z + 1)
    series = {n: s for s in F_BLOCK for n in s}
    options = []
    for a in z:
        if a in series:
            options.append([b for b in (a - 1, a + 1) if b in series[a]])
        else:
            options.append([b for b in z if b not in series and group[b - 1] == group[a - 1]
                            and abs(row[b - 1] - row[a - 1]) == 1])
    width = max(len(o) for o in options)
    table = torch.zeros((MAX_Z + 1, width), dtype=torch.long)
    count = torch.zeros(MAX_Z + 1, dtype=torch.long)
    for a, o in zip(z, options, strict=True):
        table[a, : len(o)] = torch.tensor(o, dtype=torch.long)
        count[a] = len(o)
    return table, count


@functools.cache
def _substitutes_on(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``substitutes()`` built once per device, not per batch."""
    return tuple(t.to(device) for t in substitutes())


def substitute_species(batch: Batch, generator: torch.Generator) -> torch.Tensor:
    """``prim_species`` with one element of each crystal swapped for a stand-in.

    The element is that of a random primitive site; every site of that element changes
    to one stand-in the crystal does not already contain (where it has one), so the false
    crystal keeps the stoichiometry and geometry and differs only in that element.
    """
    species = batch.prim_species
    device = species.device
    table, count = _substitutes_on(device)
    b = species.shape[0]
    rows = torch.arange(b, device=device)
    u = torch.rand(b, generator=generator, device=generator.device).to(device)
    chosen = species[rows, (u * batch.n_prim).long().clamp(max=species.shape[1] - 1)]
    options = table[chosen]  # (B, K)
    real = torch.arange(table.shape[1], device=device)[None, :] < count[chosen][:, None]
    # prefer a stand-in the crystal lacks: merging two of its elements is another change
    fresh = real & ~(options[:, :, None] == species[:, None, :]).any(-1)
    allowed = torch.where(fresh.any(1, keepdim=True), fresh, real)
    keys = torch.rand(options.shape, generator=generator, device=generator.device).to(device)
    new = options[rows, keys.masked_fill(~allowed, -1.0).argmax(1)]
    return torch.where(species == chosen[:, None], new[:, None], species)


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
