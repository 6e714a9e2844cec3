"""Model configuration: one frozen dataclass, saved beside the weights as config.json."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

# the element table's identity (data/element_table.csv): saved beside every set of
# weights and checked when they load
TABLE_NAME = "pymatgen-9-v1"

# fields added after weights were published, with their defaults: left out of config.json
# at those defaults, so the weights stay readable by releases that predate them
ADDED_LATER = {"distance_basis": 0, "distance_basis_max": 8.0}
# research options removed from the package (they stay reachable at this git tag)
RETIRED_AT = "research-record-2026-12 (commit 80e828b on main)"
# retired fields, with the one value every model now has: a config.json that holds one at
# that value still loads; at any other value it describes a model this package cannot build
RETIRED = {"denoising_head": False, "typicality_critic": False, "readout": "mu"}


def drop_retired(data: dict, retired: dict, what: str) -> dict:
    """``data`` without its ``retired`` keys, each of which must hold its one value;
    another value raises ``ValueError`` naming the option (``what``: the kind of option)."""
    for key in sorted(data.keys() & retired.keys()):
        if data[key] != retired[key]:
            raise ValueError(
                f"{what} {key}={data[key]!r}: this option was removed from dimfeaturizer; "
                f"it is reachable at the git tag {RETIRED_AT}"
            )
    return {k: v for k, v in data.items() if k not in retired}


@dataclass(frozen=True)
class SiteNetConfig:
    """Architecture and input construction of a Site-Net encoder with Deep InfoMax heads.

    Defaults are the paper's (and ``SITENET_DIM.md``'s) choices. The input-construction
    fields (``max_sites``, ``symprec``, ``max_cell_sites``) are part of the model: vectors
    are only comparable between structures prepared with the same values.
    """

    max_sites: int = 50  # target size of the roughly cubic supercell
    max_cell_sites: int = 256  # primitive cells larger than this are rejected
    symprec: float = 0.01  # Å, tolerance for finding the primitive cell
    site_dim: int = 64
    distance_dim: int = 64
    # Gaussians (centres evenly from 0 to distance_basis_max Å) beside the raw distance
    # as the distance layer's input; 0 = the raw distance alone (the design's default)
    distance_basis: int = 0
    distance_basis_max: float = 8.0
    attention_hidden: int = 64
    value_dim: int = 64
    local_dim: int = 32
    pre_pool_hidden: int = 64
    pool_dim: int = 128
    post_pool_hidden: int = 64
    global_dim: int = 128
    upscale_hidden: int = 64
    upscale_dim: int = 128
    # u_z of the global critic as one linear layer instead of [64, 128]: a critic no more
    # complex than a linear downstream model (the bundled weights use it)
    linear_global_critic: bool = False
    element_table: str = TABLE_NAME

    def __post_init__(self):
        if self.distance_basis < 0:
            raise ValueError(f"distance_basis must be >= 0, got {self.distance_basis}")
        if self.distance_basis_max <= 0:
            raise ValueError(f"distance_basis_max must be > 0, got {self.distance_basis_max}")

    def input_fields(self) -> tuple:
        """The input-construction fields: two encoders take the same prepared arrays only
        where these agree."""
        return (self.max_sites, self.max_cell_sites, self.symprec)

    @property
    def vector_dim(self) -> int:
        """Width of the encoder's output vector: the crystal mean mu."""
        return self.global_dim

    def to_dict(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items()
                if k not in ADDED_LATER or v != ADDED_LATER[k]}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict) -> SiteNetConfig:
        """The config a saved ``to_dict`` (config.json's ``"model"``) describes; a retired
        field (``RETIRED``) at its one value is dropped, at another refused."""
        data = drop_retired(data, RETIRED, "model config")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        return cls(**data)
