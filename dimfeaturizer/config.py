"""Model configuration: one frozen dataclass, saved beside the weights as config.json."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

FORMAT_VERSION = 1


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
    attention_hidden: int = 64
    value_dim: int = 64
    local_dim: int = 32
    pre_pool_hidden: int = 64
    pool_dim: int = 128
    post_pool_hidden: int = 64
    global_dim: int = 128
    upscale_hidden: int = 64
    upscale_dim: int = 128
    element_table: str = "pymatgen-9-v1"

    def to_dict(self) -> dict:
        return {"format_version": FORMAT_VERSION, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, data: dict) -> SiteNetConfig:
        data = dict(data)
        version = data.pop("format_version", None)
        if version != FORMAT_VERSION:
            raise ValueError(
                f"config format_version {version!r} is not supported (expected {FORMAT_VERSION})"
            )
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        return cls(**data)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> SiteNetConfig:
        return cls.from_dict(json.loads(Path(path).read_text()))
