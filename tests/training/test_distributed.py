"""Data parallelism under ``torchrun`` on CPU (gloo): two real processes train one tiny
encoder; the ranks end with identical weights and identical validation losses, the loss
falls, two ranks reach what one rank does with twice the batch, and the command line
trains, saves once and resumes the same way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dimfeaturizer.distributed import World, map_sharded, shard

HERE = Path(__file__).parent


def torchrun(*args: str, nproc: int = 2, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone",
         f"--nproc_per_node={nproc}", *args],
        capture_output=True, text=True, timeout=timeout, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    return done


def test_shard_gives_every_rank_the_same_number_of_items():
    items = list(range(5))
    shards = [shard(items, World(r, 2)) for r in range(2)]
    assert shards == [[0, 2, 4], [1, 3, 0]]  # padded from the start, as DistributedSampler
    assert shard(items, World()) == items
    assert [shard([7], World(r, 3)) for r in range(3)] == [[7], [7], [7]]
    assert sorted(x for r in range(3) for x in shard(list(range(9)), World(r, 3))) == list(
        range(9)
    )


def test_map_sharded_outside_a_launch_is_a_plain_map():
    assert map_sharded(lambda x: x * x, [1, 2, 3], World()) == [1, 4, 9]
    with pytest.raises(ZeroDivisionError):
        map_sharded(lambda x: 1 / x, [1, 0], World())


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp2")
    torchrun(str(HERE / "ddp_worker.py"), str(out), "32", "4")
    return out


def _history(folder: Path, rank: int) -> list[dict]:
    return json.loads((folder / f"history-{rank}.json").read_text())["history"]


def _losses(history: list[dict]) -> list[dict]:
    """The history without its timings, which differ between processes."""
    return [{k: v for k, v in row.items() if "seconds" not in k and "per_s" not in k}
            for row in history]


def test_ranks_end_with_identical_weights_and_losses(two_ranks):
    w0 = torch.load(two_ranks / "weights-0.pt", weights_only=True)
    w1 = torch.load(two_ranks / "weights-1.pt", weights_only=True)
    assert w0.keys() == w1.keys() and all(torch.equal(w0[k], w1[k]) for k in w0)
    h0, h1 = _history(two_ranks, 0), _history(two_ranks, 1)
    assert _losses(h0) == _losses(h1)  # the validation loss that stops training is shared
    assert json.loads((two_ranks / "history-0.json").read_text())["ranks"] == 2
    assert h0[-1]["train_loss"] < h0[0]["train_loss"]  # it learns
    # only rank 0 wrote the checkpoint, once
    assert sorted(p.name for p in (two_ranks / "ckpt").iterdir()) == [
        "checkpoint.pt", "history.json"
    ]


def test_two_ranks_match_one_rank_at_twice_the_batch(two_ranks, tmp_path):
    torchrun(str(HERE / "ddp_worker.py"), str(tmp_path), "64", "4", nproc=1)
    one, two = _history(tmp_path, 0), _history(two_ranks, 0)
    assert json.loads((tmp_path / "history-0.json").read_text())["ranks"] == 1
    for key in ("train_loss", "val_loss"):
        a, b = one[-1][key], two[-1][key]
        assert abs(a - b) <= 0.25 * max(abs(a), abs(b)), (key, a, b)


def test_sharded_preprocessing_is_the_single_process_one(tmp_path):
    """Each rank preprocesses every second structure; gathered back in order, every rank
    holds what one process computes alone, and a bad entry on one rank's share is raised
    on every rank (no rank left waiting in a collective)."""
    torchrun(str(HERE / "ddp_worker.py"), str(tmp_path), "32", "1", "packing")
    ranks = [json.loads((tmp_path / f"packing-{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["same"] and ranks[1]["same"]
    assert ranks[0]["error"] == ranks[1]["error"]
    assert ranks[0]["error"].startswith("entry 3") and "0.5" in ranks[0]["error"]


def test_fine_tuning_under_torchrun_gives_every_rank_the_same_model(tmp_path):
    torchrun(str(HERE / "ddp_worker.py"), str(tmp_path), "32", "3", "regressor")
    ranks = [json.loads((tmp_path / f"predictions-{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["predictions"] == ranks[1]["predictions"]
    assert _losses(ranks[0]["history"]) == _losses(ranks[1]["history"])


def test_command_line_under_torchrun_saves_once_and_resumes(tmp_path, mp_entries):
    from pymatgen.core import Structure

    folder = tmp_path / "cifs"
    folder.mkdir()
    small = sorted(mp_entries.items(), key=lambda kv: len(kv[1]["structure"]))[:8]
    for name, entry in small:
        Structure.to(entry["structure"], str(folder / f"{name}.json"))
    out, ckpt = tmp_path / "encoder", tmp_path / "ckpt"
    args = ["-m", "dimfeaturizer", "pretrain", str(folder), "--out", str(out),
            "--checkpoint-dir", str(ckpt), "--seed", "0", "--device", "cpu"]  # fmt: skip
    done = torchrun(*args, "--epochs", "2")
    assert done.stderr.count("saved to") == 1 and "on 2 ranks" in done.stderr
    first = json.loads((out / "config.json").read_text())["training"]
    assert first["ranks"] == 2 and first["epochs_run"] == 2
    torchrun(*args, "--epochs", "3")  # resumes after epoch 2 from the checkpoint
    again = json.loads((out / "config.json").read_text())["training"]
    assert again["epochs_run"] == 3
    assert again["history"][:2] == first["history"]
