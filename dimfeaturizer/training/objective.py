"""False samples and the two Deep InfoMax losses (local and global), gradients isolated.

Every synthetic crystal is the batch's own geometry (rows) with species donated by some
crystal of the batch, so all false samples are built by index arithmetic on one padded
batch: no new structures, no pymatgen. The one kind the paper does not use, ``substitution``
(one element swapped for its neighbour in the periodic table, the "dopant"-like false
sample the paper proposes as future work), swaps species by a table look-up.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..data.batch import Batch
from ..data.elements import FEATURE_NAMES, MAX_Z, raw_element_table
from ..model.sitenet import SiteNetDIM, segment_mean

# the paper's synthetic false samples (the default); SUBSTITUTION is opt-in
FALSE_SAMPLE_KINDS = ("composition", "polymorph", "permutation")
SUBSTITUTION = "substitution"
ALL_FALSE_SAMPLE_KINDS = (*FALSE_SAMPLE_KINDS, SUBSTITUTION)
F_BLOCK = (range(57, 72), range(89, 104))


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


def pair_weights(distances: torch.Tensor, mask: torch.Tensor, scheme: str) -> torch.Tensor:
    """Weights of a row's pair terms, normalised over its own valid neighbours."""
    if scheme == "inverse_square":
        w = (distances + 1.0).pow(-2)
    elif scheme == "uniform":
        w = torch.ones_like(distances)
    else:
        raise ValueError(f"unknown pair weighting {scheme!r}")
    w = w * mask
    return w / w.sum(-1, keepdim=True)


def changed_pair_weights(
    weights: torch.Tensor, neighbours: torch.Tensor, false_neighbours: torch.Tensor
) -> torch.Tensor:
    """Pair weights restricted to the pairs a substitution changed, renormalised.

    The pairs it left alone are true pairs again; scoring them as false would only teach
    the critic to contradict itself.
    """
    w = weights * (false_neighbours != neighbours)  # padding is 0 in both
    return w / w.sum(-1, keepdim=True).clamp_min(1e-12)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, 1)) averaged over dimensions, one value per item."""
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1.0).mean(-1)


@dataclass
class Losses:
    dim_local: torch.Tensor
    kl_local: torch.Tensor
    dim_global: torch.Tensor
    kl_global: torch.Tensor

    def total(self, alpha: float, beta: float) -> torch.Tensor:
        local = alpha * self.dim_local + beta * self.kl_local
        return local + alpha * self.dim_global + beta * self.kl_global

    def as_floats(self) -> dict[str, float]:
        return {k: float(v.detach()) for k, v in vars(self).items()}


@dataclass(frozen=True)
class Kernels:
    """The per-pair parts of a training step: the model's own methods, or the same
    methods through ``torch.compile`` (fuses the gather/add/mish chains; ~2x on CPU)."""

    edge_terms: Callable
    local: Callable
    constituents: Callable
    compiled: bool = False

    @classmethod
    def of(cls, model: SiteNetDIM, compile: bool = False) -> Kernels:
        fns = (model.local.edge_terms, model.local.forward, model.local_critic.constituents)
        if compile:
            fns = tuple(torch.compile(f, dynamic=True) for f in fns)
        return cls(*fns, compiled=compile)


def dim_losses(
    model: SiteNetDIM,
    batch: Batch,
    generator: torch.Generator,
    false_samples: tuple[str, ...] = FALSE_SAMPLE_KINDS,
    pair_weighting: str = "inverse_square",
    kernels: Kernels | None = None,
    global_false_samples: tuple[str, ...] | None = None,
) -> Losses:
    """Local and global DIM (Jensen-Shannon) and KL losses of one batch.

    ``global_false_samples`` (default: ``false_samples``; a subset of it) sets the
    synthetic kinds the global level sees, for ablations that treat the levels differently.

    The global level reads detached site vectors, so its loss never reaches the local
    encoder; synthetic global false samples are encoded without gradients.
    """
    if batch.n_crystals < 2:
        raise ValueError("a Deep InfoMax batch needs at least two crystals")
    if global_false_samples is not None and not set(global_false_samples) <= set(false_samples):
        raise ValueError("global_false_samples must be a subset of false_samples")
    device = batch.mask.device
    b = batch.n_crystals
    rc, mask, dist, nbr = batch.row_crystal, batch.mask, batch.distances, batch.neighbour_species
    elements = model.elements

    def noise(shape):
        return torch.randn(shape, generator=generator, device=generator.device).to(device)

    # ---- local level: site vector vs its (neighbour, distance) pairs
    k = kernels or Kernels.of(model)
    edge = k.edge_terms(dist)  # every false sample below keeps the rows' geometry
    site_mu, site_logvar = k.local(elements, batch.row_species, nbr, dist, mask, edge)
    z_local = site_mu + (0.5 * site_logvar).exp() * noise(site_mu.shape)
    critic = model.local_critic

    # constituents and weights of every row; a false set that is another row's true set
    # (other crystal) gathers them, keeping its own mask and weights
    hidden = k.constituents(elements, nbr, dist)
    weights = pair_weights(dist, mask, pair_weighting)

    def local_term(constituents, w, sign):
        t = critic.score_pairs(z_local, constituents)
        return (w * F.softplus(sign * t)).sum(-1)

    true_local = local_term(hidden, weights, -1.0)

    def donor_rows(donor_crystal):  # row (b, p) -> row (d, p mod M_d)
        d = donor_crystal[rc]
        return batch.crystal_start[d] + batch.row_local % batch.n_prim[d]

    other = donor_rows(derangement(b, generator, device))
    false_local = [local_term(hidden[other], weights[other], 1.0)]
    synthetic = {}  # kind -> (row species, neighbour species, owner crystal per row)
    if "composition" in false_samples:
        donor = derangement(b, generator, device)
        row_s, nbr_s = remap_species(batch, donor[rc])
        synthetic["composition"] = (row_s, nbr_s, rc)
        false_local.append(local_term(k.constituents(elements, nbr_s, dist), weights, 1.0))
    if "polymorph" in false_samples:
        donor = derangement(b, generator, device)  # crystal b gets d = donor[b]'s geometry
        owner = torch.argsort(donor)[rc]  # row of crystal d belongs to b with donor[b] = d
        row_s, nbr_s = remap_species(batch, owner)
        synthetic["polymorph"] = (row_s, nbr_s, owner)
        q = donor_rows(donor)
        false_local.append(local_term(k.constituents(elements, nbr_s[q], dist[q]), weights[q], 1.0))
    if SUBSTITUTION in false_samples:
        row_s, nbr_s = remap_species(batch, rc, species=substitute_species(batch, generator))
        synthetic[SUBSTITUTION] = (row_s, nbr_s, rc)
        w = changed_pair_weights(weights, nbr, nbr_s)
        false_local.append(local_term(k.constituents(elements, nbr_s, dist), w, 1.0))
    valid_perm = None
    global_kinds = false_samples if global_false_samples is None else global_false_samples
    if "permutation" in global_kinds:
        perm, valid_perm = species_permutation(batch, generator)
        row_s, nbr_s = remap_species(batch, rc, perm)
        synthetic["permutation"] = (row_s, nbr_s, rc)
    dim_local = (true_local + torch.stack(false_local).mean(0)).mean()
    kl_local = gaussian_kl(site_mu, site_logvar).mean()

    # ---- global level: crystal vector vs its (detached) site vectors
    sites = site_mu.detach()
    g_mu, g_logvar = model.global_(sites, rc, b)
    zg = model.global_critic.u_z(g_mu + (0.5 * g_logvar).exp() * noise(g_mu.shape))
    uc = model.global_critic.u_c(sites)

    def global_term(site_up, owner, sign):
        t = (zg[owner] * site_up).sum(-1)
        return segment_mean(F.softplus(sign * t), owner, b)

    true_global = global_term(uc, rc, -1.0)
    other_owner = torch.argsort(derangement(b, generator, device))[rc]
    false_global = [global_term(uc, other_owner, 1.0)]
    available = [torch.ones(b, device=device)]
    for kind, (row_s, nbr_s, owner) in synthetic.items():
        if kind not in global_kinds:
            continue
        with torch.no_grad():
            fake_sites, _ = k.local(elements, row_s, nbr_s, dist, mask, edge.detach())
        false_global.append(global_term(model.global_critic.u_c(fake_sites), owner, 1.0))
        ok = valid_perm if kind == "permutation" else torch.ones(b, dtype=torch.bool, device=device)
        available.append(ok.float())
    avail = torch.stack(available)
    false_g = (torch.stack(false_global).nan_to_num() * avail).sum(0) / avail.sum(0)
    dim_global = (true_global + false_g).mean()
    kl_global = gaussian_kl(g_mu, g_logvar).mean()
    return Losses(dim_local, kl_local, dim_global, kl_global)
