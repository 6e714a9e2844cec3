"""The pretraining-levers benchmark: train-pool only, resumable, one record per lever."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import pytest

from benchmarks import levers
from benchmarks.protocol import make_splits


@pytest.fixture(scope="module")
def data_file(mp_entries, tmp_path_factory):
    """Fixture crystals and strained copies: polymorph groups in the train pool."""
    from matminer.utils.io import store_dataframe_as_json

    rows = []
    for e in mp_entries.values():
        for k in range(4):
            s = e["structure"].copy()
            if k:
                s.apply_strain(0.03 * k)
            rows.append({"structure": s, "e_form": e["e_form"] + 0.05 * k, "gap": e["gap"]})
    path = tmp_path_factory.mktemp("levers") / "data.json.gz"
    store_dataframe_as_json(pd.DataFrame(rows), str(path), pbar=False)
    return path


def test_design_never_touches_the_test_pool(mp_entries):
    df = pd.DataFrame({"structure": [e["structure"] for e in mp_entries.values()] * 4})
    d = levers.design(df, 10, 0)
    test_pool = set(make_splits(len(df)).test_pool)
    for part in ("pretrain", "yardstick", "label_pool", "validation"):
        assert not test_pool & set(d[part]), part
    assert not set(d["label_pool"]) & set(d["validation"])


def test_two_levers_run_and_resume(data_file, tmp_path, monkeypatch):
    monkeypatch.setattr(levers, "LABEL_POOL_SIZE", 24)
    monkeypatch.setattr(levers, "SIZES", (12,))
    monkeypatch.setattr(levers, "REPEATS", 2)
    out = tmp_path / "out"
    argv = ["--data", str(data_file), "--levers", "untrained", "displacement",
            "--n-pretrain", "12", "--epochs", "1", "--out", str(out)]
    assert levers.main(argv) == 0
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    assert [r["lever"] for r in records] == ["untrained", "displacement"]
    for r in records:
        assert 0.0 <= r["yardstick_pair_order"] <= 1.0
        assert np.isfinite([r["yardstick_mae"], r["e_form_12"], r["gap_12"]]).all()
    assert records[1]["n_pretrain"] == 12 and "displacement" in records[1]["settings"]
    run = levers.run_dir(out, argparse.Namespace(base=levers.hub.DEFAULT_PRETRAINED,
                                                 n_pretrain=12, epochs=1, seed=0))
    assert (run / "weights" / "displacement" / "config.json").exists()
    assert "| displacement |" in (out / "summary.md").read_text()
    assert "Seed noise" not in (out / "summary.md").read_text()
    assert levers.main(argv) == 0  # resumes: nothing scored twice
    assert len((out / "records.jsonl").read_text().splitlines()) == 2
    # a second seed adds its own rows (the untrained draw 1) and keeps the first seed's
    assert levers.main([*argv, "--seed", "0", "1"]) == 0
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    assert [(r["lever"], r["seed"]) for r in records[2:]] == [
        ("untrained", 1), ("displacement", 1)]
    scores = [{k: v for k, v in r.items() if k != "seed"} for r in (records[0], records[2])]
    assert scores[0] != scores[1]  # another random draw, other scores
    summary = (out / "summary.md").read_text()
    assert "| untrained | 1 |" in summary and "| displacement | 0 |" in summary
    # a later run of one lever at one seed still shows the spread the file holds
    assert levers.main([*argv[:3], "untrained", *argv[5:]]) == 0
    summary = (out / "summary.md").read_text()
    assert "## Seed noise" in summary and "| displacement | 1 |" in summary


def test_every_lever_builds_a_valid_encoder(tmp_path):
    """Each lever's settings are the package's (none of the options retired to the git
    tag research-record-2026-12), checked as fit would check them, without training."""
    args = argparse.Namespace(base=levers.hub.DEFAULT_PRETRAINED, n_pretrain=12, epochs=1,
                              seed=0)  # fmt: skip
    retired = {"denoise", "geometry+denoise", "typicality", "baseline+sites",
               "geometry+sites", "denoise+sites", "substitution", "uniform"}
    assert not retired & set(levers.LEVERS)
    for lever in levers.LEVERS:
        encoder, pretrain = levers.encoder_for(lever, args, tmp_path)
        assert pretrain
        encoder._validate_params()
        assert encoder.pretrained is None
        assert encoder.frozen is (levers.LEVERS[lever] is None)  # untrained: no training
    assert not any(tmp_path.iterdir())  # nothing was written
