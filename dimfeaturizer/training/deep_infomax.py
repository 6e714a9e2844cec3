"""Deep InfoMax pretraining as an objective: local and global DIM (Jensen-Shannon) with KL,
false samples, and gradients isolated between the two levels."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..config import RETIRED_AT, drop_retired
from ..data.batch import Batch
from ..model import Kernels, SiteNetDIM
from ..model.layers import gather_rows, segment_mean
from ..model.sitenet import Critic
from .false_samples import (
    ALL_FALSE_SAMPLE_KINDS,
    FALSE_SAMPLE_KINDS,
    GEOMETRY,
    derangement,
    gaussian,
    perturbed_distances,
    remap_species,
    species_permutation,
)
from .objective import Objective

# default sizes of the geometry false samples: Gaussian site displacement (Å per axis)
# and symmetric strain (per component)
GEOMETRY_SCALES = {"displacement": 0.2, "strain": 0.05}
# objective parameters retired from the package (see config.RETIRED_AT), with the one value
# every run now has: a training record may hold them at that value
RETIRED_PARAMS = {"pair_weighting": "inverse_square", "denoise": 0.0, "typicality": 0.0}
# false sample kinds retired the same way: named when asked for
RETIRED_FALSE_SAMPLE_KINDS = ("substitution",)


def pair_weights(distances: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Weights 1/(d+1)^2 of a row's pair terms, normalised over its own valid neighbours."""
    w = (distances + 1.0).pow(-2) * mask
    return w / w.sum(-1, keepdim=True)


def other_pairs(batch: Batch) -> torch.Tensor:
    """The real pairs of each row without its self pair (S, J): what a geometry
    perturbation changes (the self pair stays at distance 0)."""
    others = batch.mask.clone()
    others[torch.arange(len(others), device=others.device), batch.row_local] = False
    return others


def jensen_shannon_term(
    z_up: torch.Tensor, c_up: torch.Tensor, owner: torch.Tensor, sign: float, n: int
) -> torch.Tensor:
    """softplus(sign * T) of each constituent against its owner's vector, averaged per
    owner (n,): sign -1 for true pairs, +1 for false ones."""
    return segment_mean(F.softplus(sign * Critic.score(z_up, c_up, owner)), owner, n)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, 1)) averaged over dimensions, one value per item."""
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1.0).mean(-1)


@dataclass(frozen=True)
class DeepInfoMax(Objective):
    """Self-supervised pretraining of a ``SiteNetDIM`` (the design note's defaults).

    Two parameter groups, ``local`` (local encoder + critic) and ``global`` (global
    encoder + critic): the paper's two optimisers. Early stopping watches ``dim``, the
    sum of the local and global DIM losses. ``displacement`` (Å) and ``strain`` size the
    geometry false samples, where ``false_samples`` has them. Pair terms are weighted
    1/(d+1)^2.
    """

    alpha: float = 1.0
    beta: float = 0.1
    false_samples: tuple[str, ...] = FALSE_SAMPLE_KINDS
    displacement: float = GEOMETRY_SCALES["displacement"]
    strain: float = GEOMETRY_SCALES["strain"]

    monitor = "dim"
    min_batch_crystals = 2  # every false sample needs another crystal of the batch
    added_later = dict(GEOMETRY_SCALES)
    # every identity held the pair weighting (denoise and typicality were left out at 0)
    identity_constants = {"pair_weighting": RETIRED_PARAMS["pair_weighting"]}

    def __post_init__(self):
        object.__setattr__(self, "false_samples", tuple(self.false_samples))
        retired = set(self.false_samples) & set(RETIRED_FALSE_SAMPLE_KINDS)
        if retired:
            raise ValueError(
                f"false sample kinds {sorted(retired)}: removed from dimfeaturizer; "
                f"reachable at the git tag {RETIRED_AT}"
            )
        unknown = set(self.false_samples) - set(ALL_FALSE_SAMPLE_KINDS)
        if unknown:
            raise ValueError(
                f"unknown false sample kinds {sorted(unknown)}; use {ALL_FALSE_SAMPLE_KINDS}"
            )
        for name in ("displacement", "strain"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    @classmethod
    def from_params(cls, params: dict) -> DeepInfoMax:
        """The objective that a training record's ``objective_params`` (config.json's
        ``training``) describe; a retired parameter (``RETIRED_PARAMS``) at its one value
        is dropped, at another refused."""
        return cls(**drop_retired(params, RETIRED_PARAMS, "objective parameter"))

    @property
    def needs_vectors(self) -> bool:
        """Whether the packed crystals must carry pair vectors (geometry false samples)."""
        return any(kind in GEOMETRY for kind in self.false_samples)

    def param_groups(self, model: SiteNetDIM) -> list[dict]:
        return [
            {"name": "local", "params": model.local_parameters()},
            {"name": "global", "params": model.global_parameters()},
        ]

    def kernels(self, model: SiteNetDIM, compile: bool) -> Kernels:
        return Kernels.of(model, compile)

    def total(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        local = self.alpha * terms["dim_local"] + self.beta * terms["kl_local"]
        return local + self.alpha * terms["dim_global"] + self.beta * terms["kl_global"]

    def summarise(self, means: dict[str, float]) -> dict[str, float]:
        return {"dim": means["dim_local"] + means["dim_global"]}

    def terms(
        self, model: SiteNetDIM, batch: Batch, generator: torch.Generator, kernels: Kernels
    ) -> dict[str, torch.Tensor]:
        scales = {"displacement": self.displacement, "strain": self.strain}
        return dim_losses(model, batch, generator, self.false_samples, kernels, scales)


def dim_losses(
    model: SiteNetDIM,
    batch: Batch,
    generator: torch.Generator,
    false_samples: tuple[str, ...] = FALSE_SAMPLE_KINDS,
    kernels: Kernels | None = None,
    geometry_scales: dict[str, float] | None = None,
) -> dict[str, torch.Tensor]:
    """Local and global DIM (Jensen-Shannon) and KL losses of one batch.

    The global level reads detached site vectors, so its loss never reaches the local
    encoder; synthetic global false samples are encoded without gradients.
    """
    if batch.n_crystals < 2:
        raise ValueError("a Deep InfoMax batch needs at least two crystals")
    device = batch.mask.device
    b = batch.n_crystals
    rc, mask, dist, nbr = batch.row_crystal, batch.mask, batch.distances, batch.neighbour_species
    elements = model.elements

    # ---- local level: site vector vs its (neighbour, distance) pairs
    k = kernels or Kernels.of(model)
    # compiled kernels take every pair: the rows' edge terms, computed once, serve every
    # false sample that keeps the rows' geometry; eager code computes each distinct bond
    # once inside ``local`` instead (edge terms included)
    edge = k.edge_terms(dist) if k.compiled else None
    site_mu, site_logvar = k.local(elements, batch.row_species, nbr, dist, mask, edge)
    z_local = site_mu + (0.5 * site_logvar).exp() * gaussian(site_mu.shape, generator, device)
    critic = model.local_critic

    # constituents and weights of every row; a false set that is another row's true set
    # (other crystal) gathers them, keeping its own mask and weights
    hidden = k.constituents(elements, nbr, dist)
    weights = pair_weights(dist, mask)

    def local_term(constituents, w, sign):
        t = critic.score_pairs(z_local, constituents)
        return (w * F.softplus(sign * t)).sum(-1)

    true_local = local_term(hidden, weights, -1.0)

    def donor_rows(donor_crystal):  # row (b, p) -> row (d, p mod M_d)
        d = donor_crystal[rc]
        return batch.crystal_start[d] + batch.row_local % batch.n_prim[d]

    other = donor_rows(derangement(b, generator, device))
    false_local = [local_term(gather_rows(hidden, other), weights[other], 1.0)]
    # kind -> (row species, neighbour species, owner crystal per row, distances or None
    # for the rows' own)
    synthetic = {}
    if "composition" in false_samples:
        donor = derangement(b, generator, device)
        row_s, nbr_s = remap_species(batch, donor[rc])
        synthetic["composition"] = (row_s, nbr_s, rc, None)
        false_local.append(local_term(k.constituents(elements, nbr_s, dist), weights, 1.0))
    if "polymorph" in false_samples:
        donor = derangement(b, generator, device)  # crystal b gets d = donor[b]'s geometry
        owner = torch.argsort(donor)[rc]  # row of crystal d belongs to b with donor[b] = d
        row_s, nbr_s = remap_species(batch, owner)
        synthetic["polymorph"] = (row_s, nbr_s, owner, None)
        q = donor_rows(donor)
        false_local.append(local_term(k.constituents(elements, nbr_s[q], dist[q]), weights[q], 1.0))
    valid_perm = None
    if "permutation" in false_samples:
        perm, valid_perm = species_permutation(batch, generator)
        row_s, nbr_s = remap_species(batch, rc, perm)
        synthetic["permutation"] = (row_s, nbr_s, rc, None)
    moved_weights = None  # the self pair never moves: a geometry false set leaves it out
    for kind in GEOMETRY:
        if kind in false_samples:
            scale = (geometry_scales or GEOMETRY_SCALES)[kind]
            moved = perturbed_distances(batch, generator, kind, scale)
            synthetic[kind] = (batch.row_species, nbr, rc, moved)
            if moved_weights is None:
                moved_weights = pair_weights(dist, other_pairs(batch))
            false_local.append(local_term(k.constituents(elements, nbr, moved),
                                          moved_weights.nan_to_num(), 1.0))  # fmt: skip
    dim_local = (true_local + torch.stack(false_local).mean(0)).mean()
    kl_local = gaussian_kl(site_mu, site_logvar).mean()

    # ---- global level: crystal vector vs its (detached) site vectors
    sites = site_mu.detach()
    g_mu, g_logvar = model.global_(sites, rc, b)
    g_noise = gaussian(g_mu.shape, generator, device)
    zg = model.global_critic.u_z(g_mu + (0.5 * g_logvar).exp() * g_noise)
    uc = model.global_critic.u_c(sites)

    def global_term(site_up, owner, sign):
        return jensen_shannon_term(zg, site_up, owner, sign, b)

    true_global = global_term(uc, rc, -1.0)
    other_owner = torch.argsort(derangement(b, generator, device))[rc]
    false_global = [global_term(uc, other_owner, 1.0)]
    available = [torch.ones(b, device=device)]
    for kind, (row_s, nbr_s, owner, moved) in synthetic.items():
        with torch.no_grad():
            if moved is None:  # the rows' own geometry: its edge terms are reused
                reused = None if edge is None else edge.detach()
                fake_sites, _ = k.local(elements, row_s, nbr_s, dist, mask, reused)
            else:
                fake_sites, _ = k.local(elements, row_s, nbr_s, moved, mask)
        false_global.append(global_term(model.global_critic.u_c(fake_sites), owner, 1.0))
        ok = valid_perm if kind == "permutation" else torch.ones(b, dtype=torch.bool, device=device)
        available.append(ok.float())
    avail = torch.stack(available)
    false_g = (torch.stack(false_global).nan_to_num() * avail).sum(0) / avail.sum(0)
    dim_global = (true_global + false_g).mean()
    kl_global = gaussian_kl(g_mu, g_logvar).mean()
    return {
        "dim_local": dim_local,
        "kl_local": kl_local,
        "dim_global": dim_global,
        "kl_global": kl_global,
    }
