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


@pytest.fixture
def killed_at(monkeypatch):
    """``with killed_at(k): fit(...)``: the training run inside is interrupted as epoch
    ``k`` starts, as a kill would (epochs before it checkpointed); the block must raise
    ``KeyboardInterrupt``, and training runs normally again after it."""
    from contextlib import contextmanager

    from dimfeaturizer.training import loop

    train_epoch = loop._Run.train_epoch

    def interrupted(epoch):
        def run_epoch(run, indices, this_epoch):
            if this_epoch == epoch:
                raise KeyboardInterrupt
            return train_epoch(run, indices, this_epoch)

        return run_epoch

    @contextmanager
    def killed(epoch: int):
        monkeypatch.setattr(loop._Run, "train_epoch", interrupted(epoch))
        try:
            with pytest.raises(KeyboardInterrupt):
                yield
        finally:
            monkeypatch.setattr(loop._Run, "train_epoch", train_epoch)

    return killed
