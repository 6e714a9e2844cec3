"""Site-Net encoder (one attention block) with its two Deep InfoMax heads.

Bond features are ``[h_p, h_j, e_pj]``; every layer that reads them is linear first, so
it is computed as ``W_p h_p + W_j h_j + W_e e_pj``: the site parts once per element or
row, only ``W_e e_pj`` per pair. Same arithmetic as concatenating, without the
(S, J, 192) tensor.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..config import SiteNetConfig
from ..data.batch import Batch
from ..data.elements import element_features


def _mlp(sizes: list[int], last_activation: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_activation:
            layers.append(nn.Mish())
    return nn.Sequential(*layers)


def segment_mean(values: torch.Tensor, segment: torch.Tensor, n_segments: int) -> torch.Tensor:
    """Mean of ``values`` rows grouped by ``segment`` (every segment must be non-empty)."""
    shape = (n_segments, *values.shape[1:])
    total = values.new_zeros(shape).index_add_(0, segment, values)
    count = values.new_zeros(n_segments).index_add_(0, segment, values.new_ones(len(segment)))
    return total / count.view(-1, *([1] * (values.dim() - 1)))


class LocalEncoder(nn.Module):
    """Pairs -> local-environment vectors (mu, log sigma^2), one per primitive site."""

    def __init__(self, config: SiteNetConfig):
        super().__init__()
        n_feat = element_features().shape[1]
        self.site_embed = nn.Sequential(
            nn.Linear(n_feat, config.site_dim), nn.Mish(), nn.LayerNorm(config.site_dim)
        )
        self.distance_embed = nn.Sequential(
            nn.Linear(1, config.distance_dim), nn.Mish(), nn.LayerNorm(config.distance_dim)
        )
        bond = 2 * config.site_dim + config.distance_dim
        self.attention = _mlp([bond, config.attention_hidden, 1])
        self.values = _mlp([bond, config.attention_hidden, config.value_dim])
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
        samples that keep a row's geometry reuse it."""
        edge = self.distance_embed(distances.unsqueeze(-1))  # (S, J, distance_dim)
        weight, _ = self._first_layers()
        return edge @ weight[:, 2 * self.site_dim :].T

    def forward(
        self,
        elements: torch.Tensor,
        row_species: torch.Tensor,
        neighbour_species: torch.Tensor,
        distances: torch.Tensor,
        mask: torch.Tensor,
        edge_terms: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if edge_terms is None:
            edge_terms = self.edge_terms(distances)
        table = self.site_embed(elements)  # (Z+1, site_dim)
        weight, bias = self._first_layers()
        d = self.site_dim
        row_part = table[row_species] @ weight[:, :d].T  # (S, 2H)
        nbr_part = (table @ weight[:, d : 2 * d].T)[neighbour_species]  # (S, J, 2H)
        hidden = F.mish(nbr_part + edge_terms + (row_part + bias)[:, None, :])
        n_att = self.attention[0].out_features
        h_att, h_val = hidden.split([n_att, hidden.shape[-1] - n_att], dim=-1)
        logits = self.attention[2](h_att).squeeze(-1).masked_fill(~mask, float("-inf"))
        attn = torch.softmax(logits, dim=-1).masked_fill(~mask, 0.0)
        # the value MLP ends linearly and attention weights sum to 1, so pooling the
        # hidden layer first and projecting once is the same sum without a per-pair matmul
        pooled = self.values[2](torch.einsum("sj,sjh->sh", attn, h_val))
        return self.mu(pooled), self.logvar(pooled)


class GlobalEncoder(nn.Module):
    """Local-environment vectors -> crystal vector (mu, log sigma^2) by mean pooling."""

    def __init__(self, config: SiteNetConfig):
        super().__init__()
        self.pre_pool = _mlp([config.local_dim, config.pre_pool_hidden, config.pool_dim], True)
        self.post_pool = _mlp([config.pool_dim, config.post_pool_hidden], True)
        self.mu = nn.Linear(config.post_pool_hidden, config.global_dim)
        self.logvar = nn.Linear(config.post_pool_hidden, config.global_dim)

    def forward(
        self, site_vectors: torch.Tensor, row_crystal: torch.Tensor, n_crystals: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = segment_mean(self.pre_pool(site_vectors), row_crystal, n_crystals)
        hidden = self.post_pool(pooled)
        return self.mu(hidden), self.logvar(hidden)


class Critic(nn.Module):
    """Deep InfoMax score T = u_z(z) . u_c(c), both upscaled to a shared space."""

    def __init__(self, z_dim: int, c_dim: int, hidden: int, out: int, linear_z: bool = False):
        super().__init__()
        self.u_z = nn.Linear(z_dim, out) if linear_z else _mlp([z_dim, hidden, out])
        self.u_c = _mlp([c_dim, hidden, out])


class LocalCritic(Critic):
    """Scores a site vector against its (neighbour species, distance) constituents.

    Constituents are the raw element features of neighbour j and the distance. The last
    layer of u_c is folded into the z side, so no (S, J, upscale_dim) tensor is built.
    """

    def constituents(
        self, elements: torch.Tensor, neighbour_species: torch.Tensor, distances: torch.Tensor
    ) -> torch.Tensor:
        """Hidden layer of u_c for every pair, (S, J, hidden)."""
        first = self.u_c[0]
        n_feat = elements.shape[1]
        table = elements @ first.weight[:, :n_feat].T  # (Z+1, hidden)
        return F.mish(
            table[neighbour_species]
            + distances.unsqueeze(-1) * first.weight[:, n_feat]
            + first.bias
        )

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

    # -- persistence (config.json + model.safetensors, see dimfeaturizer.hub) ----------
    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike,
        *,
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        local_files_only: bool = False,
    ) -> SiteNetDIM:
        """The model saved in a folder, a bundled model or a Hub repo (in eval mode)."""
        from ..hub import load_pretrained  # hub imports this module

        return load_pretrained(
            name_or_path, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only
        )

    def save_pretrained(self, directory: str | os.PathLike) -> Path:
        """Write ``config.json`` and ``model.safetensors`` into ``directory``."""
        from ..hub import save_pretrained

        return save_pretrained(self, directory)

    def push_to_hub(self, repo_id: str, **kwargs) -> str:
        """Upload to the Hub (kwargs as in ``dimfeaturizer.hub.push_to_hub``); returns the
        commit URL."""
        from ..hub import push_to_hub

        return push_to_hub(self, repo_id, **kwargs)

    def local_parameters(self) -> list[nn.Parameter]:
        return [*self.local.parameters(), *self.local_critic.parameters()]

    def global_parameters(self) -> list[nn.Parameter]:
        return [*self.global_.parameters(), *self.global_critic.parameters()]

    def encode_sites(
        self,
        row_species: torch.Tensor,
        neighbour_species: torch.Tensor,
        distances: torch.Tensor,
        mask: torch.Tensor,
        edge_terms: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.local(
            self.elements, row_species, neighbour_species, distances, mask, edge_terms
        )

    def forward(self, batch: Batch) -> torch.Tensor:
        """The crystal vectors (B, global_dim): the deterministic mean, no noise."""
        site_mu, _ = self.encode_sites(
            batch.row_species, batch.neighbour_species, batch.distances, batch.mask
        )
        mu, _ = self.global_(site_mu, batch.row_crystal, batch.n_crystals)
        return mu
