"""Shared fixtures: real Materials Project structures shipped in tests/structures."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from pymatgen.core import Structure

HERE = Path(__file__).parent
warnings.filterwarnings("ignore", module="pymatgen")
warnings.filterwarnings("ignore", module="spglib")


def _load() -> dict[str, dict]:
    data = json.loads((HERE / "tests" / "structures" / "mp_structures.json").read_text())
    for entry in data.values():
        entry["structure"] = Structure.from_dict(entry["structure"])
    return data


_DATA = _load()


@pytest.fixture(scope="session")
def mp_entries() -> dict[str, dict]:
    """name -> {"mp_id", "e_form", "gap", "structure"} for 14 real MP crystals
    (1 to 48 sites, cubic to triclinic, 1 to 4 elements)."""
    return _DATA


@pytest.fixture(scope="session")
def structures(mp_entries) -> list[Structure]:
    return [e["structure"] for e in mp_entries.values()]


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module: its tensors are tiny, and on a busy 2-core machine
    two threads contend (a training epoch can take 10x longer)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def untrained():
    """A fitted, frozen, random-weight encoder (fast; no bundled weights needed)."""
    from dimfeaturizer import DIMEncoder

    return DIMEncoder(pretrained=None, random_state=0).fit()
