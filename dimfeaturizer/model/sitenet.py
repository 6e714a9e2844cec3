"""Site-Net encoder (one attention block) with its two Deep InfoMax heads.

Bond features are ``[h_p, h_j, e_pj]``; every layer that reads them is linear first, so
it is computed as ``W_p h_p + W_j h_j + W_e e_pj``: the site parts once per element or
row, only ``W_e e_pj`` per pair. Same arithmetic as concatenating, without the
(S, J, 192) tensor.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..config import SiteNetConfig
from ..data.batch import Batch
from ..data.elements import element_features
from ..runtime import derive_seeds
from .layers import DistanceBasis, gather_rows, mlp, segment_max, segment_mean


def _distinct_pairs(
    codes: torch.Tensor, distances: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The distinct (integer code, distance) pairs of two same-shape tensors, found with
    one integer sort on the code and the float's bits: ``(codes, distances, inverse)``,
    the first two 1-D, ``inverse`` gathering them back to the input's shape."""
    bits = distances.contiguous().view(torch.int32).long() & 0xFFFFFFFF
    keys, inverse = torch.unique((codes.long() << 32) | bits, return_inverse=True)
    return keys >> 32, (keys & 0xFFFFFFFF).to(torch.int32).view(torch.float32), inverse


def _dedupe(distances: torch.Tensor) -> bool:
    """Whether per-pair work is computed once per distinct value and gathered: eagerly
    (a compiled graph needs static shapes) and unless gradients must reach the
    distances themselves (the distinct values are found on their bits)."""
    return not torch.compiler.is_compiling() and not distances.requires_grad


class LocalEncoder(nn.Module):
    """Pairs -> local-environment vectors (mu, log sigma^2), one per primitive site."""

    def __init__(self, config: SiteNetConfig):
        super().__init__()
        n_feat = element_features().shape[1]
        self.site_embed = nn.Sequential(
            nn.Linear(n_feat, config.site_dim), nn.Mish(), nn.LayerNorm(config.site_dim)
        )
        self.distance_basis = DistanceBasis(config.distance_basis, config.distance_basis_max)
        self.distance_embed = nn.Sequential(
            nn.Linear(self.distance_basis.size, config.distance_dim), nn.Mish(),
            nn.LayerNorm(config.distance_dim),
        )
        bond = 2 * config.site_dim + config.distance_dim
        self.attention = mlp([bond, config.attention_hidden, 1])
        self.values = mlp([bond, config.attention_hidden, config.value_dim])
        self.mu = nn.Linear(config.value_dim, config.local_dim)
        self.logvar = nn.Linear(config.value_dim, config.local_dim)
        self.site_dim = config.site_dim

    def _first_layers(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The attention and value MLPs' first layers stacked: one (2H, bond) matmul."""
        first_att, first_val = self.attention[0], self.values[0]
        weight = torch.cat([first_att.weight, first_val.weight])
        return weight, torch.cat([first_att.bias, first_val.bias])

    def edge_terms(self, distances: torch.Tensor) -> torch.Tensor:
        """``W_e e_pj`` for every pair, (S, J, 2H): depends on geometry only, so false
        samples that keep a row's geometry reuse it.

        A function of one number per pair, so it is computed once per distinct distance
        and gathered: a crystal's symmetry repeats its bond lengths, and padding is one
        value (see ``_dedupe`` for when every pair is computed instead)."""
        if not _dedupe(distances):
            return self._edge(distances)
        # on the float's bits: torch sorts integers several times faster than floats
        bits, inverse = torch.unique(distances.contiguous().view(torch.int32),
                                     return_inverse=True)  # fmt: skip
        return gather_rows(self._edge(bits.view(torch.float32)), inverse)

    def _edge(self, distances: torch.Tensor) -> torch.Tensor:
        weight, _ = self._first_layers()
        edge = self.distance_embed(self.distance_basis(distances))
        return edge @ weight[:, 2 * self.site_dim :].T

    def _pair_layers(
        self, table: torch.Tensor, row_species: torch.Tensor, neighbour_species: torch.Tensor,
        edge_terms: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Attention logit and value hidden layer of bonds ``[h_row, h_nbr, e]``:
        ``row_species`` broadcasts against ``neighbour_species`` and ``edge_terms``."""
        weight, bias = self._first_layers()
        d = self.site_dim
        row_part = table[row_species] @ weight[:, :d].T
        nbr_part = (table @ weight[:, d : 2 * d].T)[neighbour_species]
        hidden = F.mish(nbr_part + edge_terms + (row_part + bias))
        n_att = self.attention[0].out_features
        h_att, h_val = hidden.split([n_att, hidden.shape[-1] - n_att], dim=-1)
        return self.attention[2](h_att).squeeze(-1), h_val

    def forward(
        self,
        elements: torch.Tensor,
        row_species: torch.Tensor,
        neighbour_species: torch.Tensor,
        distances: torch.Tensor,
        mask: torch.Tensor,
        edge_terms: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        table = self.site_embed(elements)  # (Z+1, site_dim)
        if edge_terms is None and _dedupe(distances):
            # a bond's logit and value depend on (row species, neighbour species,
            # distance) alone: computed once per distinct triple (symmetry-equivalent
            # bonds repeat them), then gathered back to every pair
            pair = row_species[:, None] * len(table) + neighbour_species
            species, distinct, inverse = _distinct_pairs(pair, distances)
            logits, h_val = self._pair_layers(
                table, species // len(table), species % len(table), self._edge(distinct)
            )
            logits, h_val = gather_rows(logits, inverse), gather_rows(h_val, inverse)
        else:
            if edge_terms is None:
                edge_terms = self._edge(distances)
            logits, h_val = self._pair_layers(table, row_species[:, None], neighbour_species,
                                              edge_terms)  # fmt: skip
        logits = logits.masked_fill(~mask, float("-inf"))
        attn = torch.softmax(logits, dim=-1).masked_fill(~mask, 0.0)
        # the value MLP ends linearly and attention weights sum to 1, so pooling the
        # hidden layer first and projecting once is the same sum without a per-pair matmul
        pooled = self.values[2](torch.einsum("sj,sjh->sh", attn, h_val))
        return self.mu(pooled), self.logvar(pooled)


class GlobalEncoder(nn.Module):
    """Local-environment vectors -> crystal vector (mu, log sigma^2) by mean pooling."""

    def __init__(self, config: SiteNetConfig):
        super().__init__()
        self.pre_pool = mlp([config.local_dim, config.pre_pool_hidden, config.pool_dim], True)
        self.post_pool = mlp([config.pool_dim, config.post_pool_hidden], True)
        self.mu = nn.Linear(config.post_pool_hidden, config.global_dim)
        self.logvar = nn.Linear(config.post_pool_hidden, config.global_dim)

    def forward(
        self, site_vectors: torch.Tensor, row_crystal: torch.Tensor, n_crystals: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar, _ = self.pooled(site_vectors, row_crystal, n_crystals)
        return mu, logvar

    def pooled(
        self, site_vectors: torch.Tensor, row_crystal: torch.Tensor, n_crystals: int,
        site_max: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``forward``'s (mu, log sigma^2) and, with ``site_max``, each pooled feature's
        largest value over a crystal's sites (B, pool_dim), where the mean would blur a
        property set by one extreme environment; one pre-pool pass serves both."""
        features = self.pre_pool(site_vectors)
        hidden = self.post_pool(segment_mean(features, row_crystal, n_crystals))
        maxima = segment_max(features, row_crystal, n_crystals) if site_max else None
        return self.mu(hidden), self.logvar(hidden), maxima


class Critic(nn.Module):
    """Deep InfoMax score T = u_z(z) . u_c(c), both upscaled to a shared space."""

    def __init__(self, z_dim: int, c_dim: int, hidden: int, out: int, linear_z: bool = False):
        super().__init__()
        self.u_z = nn.Linear(z_dim, out) if linear_z else mlp([z_dim, hidden, out])
        self.u_c = mlp([c_dim, hidden, out])

    @staticmethod
    def score(z_up: torch.Tensor, c_up: torch.Tensor, owner: torch.Tensor) -> torch.Tensor:
        """T of each upscaled constituent ``c_up`` (R, out) against its owner's upscaled
        vector in ``z_up`` (B, out) -> (R,)."""
        return (z_up[owner] * c_up).sum(-1)


class LocalCritic(Critic):
    """Scores a site vector against its (neighbour species, distance) constituents.

    Constituents are the raw element features of neighbour j and the distance. The last
    layer of u_c is folded into the z side, so no (S, J, upscale_dim) tensor is built.
    """

    def constituents(
        self, elements: torch.Tensor, neighbour_species: torch.Tensor, distances: torch.Tensor
    ) -> torch.Tensor:
        """Hidden layer of u_c for every pair, (S, J, hidden): a function of the pair's
        (neighbour species, distance), so computed once per distinct one and gathered
        (see ``_dedupe``)."""
        first = self.u_c[0]
        n_feat = elements.shape[1]
        table = elements @ first.weight[:, :n_feat].T  # (Z+1, hidden)
        inverse = None
        if _dedupe(distances):
            neighbour_species, distances, inverse = _distinct_pairs(neighbour_species,
                                                                    distances)  # fmt: skip
        hidden = F.mish(
            table[neighbour_species]
            + distances.unsqueeze(-1) * first.weight[:, n_feat]
            + first.bias
        )
        return hidden if inverse is None else gather_rows(hidden, inverse)

    def score_pairs(self, z: torch.Tensor, constituents: torch.Tensor) -> torch.Tensor:
        """T of each site vector ``z`` (S, z_dim) against its row of ``constituents``
        (S, J, hidden) -> (S, J)."""
        last = self.u_c[2]
        zu = self.u_z(z)  # (S, out)
        return (
            torch.einsum("sh,sjh->sj", zu @ last.weight, constituents) + (zu @ last.bias)[:, None]
        )


class SiteNetDIM(nn.Module):
    """The full model: encoder (local + global) and the Deep InfoMax critics.

    Only ``local``/``global_`` produce features; the critics exist for training and are
    saved with the weights so that pretraining can continue from a checkpoint.
    """

    def __init__(self, config: SiteNetConfig | None = None):
        super().__init__()
        self.config = config or SiteNetConfig()
        c = self.config
        n_feat = element_features().shape[1]
        self.register_buffer("elements", torch.from_numpy(element_features()), persistent=False)
        self.local = LocalEncoder(c)
        self.global_ = GlobalEncoder(c)
        self.local_critic = LocalCritic(c.local_dim, n_feat + 1, c.upscale_hidden, c.upscale_dim)
        self.global_critic = Critic(
            c.global_dim, c.local_dim, c.upscale_hidden, c.upscale_dim, c.linear_global_critic
        )

    def local_parameters(self) -> list[nn.Parameter]:
        return [*self.local.parameters(), *self.local_critic.parameters()]

    def global_parameters(self) -> list[nn.Parameter]:
        return [*self.global_.parameters(), *self.global_critic.parameters()]

    def forward(
        self, batch: Batch, local: Callable | None = None, site_max: bool = False
    ) -> torch.Tensor:
        """The crystal vectors (B, global_dim): the deterministic mean mu, no noise; with
        ``site_max``, followed by the pooled features' maxima over sites (B, pool_dim).

        ``local`` replaces ``self.local`` (its compiled version, see ``Kernels``).
        """
        site_mu, _ = (local or self.local)(
            self.elements, batch.row_species, batch.neighbour_species, batch.distances,
            batch.mask,
        )
        mu, _, maxima = self.global_.pooled(site_mu, batch.row_crystal, batch.n_crystals,
                                            site_max)  # fmt: skip
        return mu if maxima is None else torch.cat([mu, maxima], dim=1)

    def encoder_parameters(self) -> list[nn.Parameter]:
        """What produces the vector: what fine-tuning trains (the critics are excluded)."""
        return [*self.local.parameters(), *self.global_.parameters()]


def untrained_model(
    config: SiteNetConfig | None = None, random_state: int | np.random.RandomState | None = None
) -> SiteNetDIM:
    """Random weights of ``config``'s architecture: the paper's untrained control.

    The one recipe: ``DIMEncoder(pretrained=None, config=config, random_state=k)`` draws
    exactly these weights for the same ``k``.
    """
    return initialised_model(config, derive_seeds(random_state)[0])


def initialised_model(config: SiteNetConfig | None, seed: int) -> SiteNetDIM:
    """A model whose weights are torch's default initialisation under ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SiteNetDIM(config).eval()
