"""The structure-only yardstick: groups, centring, pair-order accuracy, and a small run in
which composition-only features score exactly chance."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from benchmarks import polymorphs
from dimfeaturizer import DEFAULT_PRETRAINED


def test_groups_need_two_members_in_the_same_pool():
    formulas = np.array(["NaCl", "KCl", "NaCl", "TiO2", "TiO2", "TiO2", "KCl"])
    ids = polymorphs.polymorph_groups(formulas, np.array([0, 1, 2, 3, 4, 5]))
    assert ids[1] == -1  # KCl has one member among these positions (the other is elsewhere)
    assert ids[0] == ids[2] != ids[3] == ids[4] == ids[5]
    assert sorted(set(ids[ids >= 0])) == [0, 1]


def test_centred_subtracts_the_group_mean():
    x = np.array([[1.0, 2.0], [3.0, 6.0], [5.0, 0.0]])
    np.testing.assert_allclose(polymorphs.centred(x, np.array([0, 0, 1])),
                               [[-1, -2], [1, 2], [0, 0]])  # fmt: skip
    np.testing.assert_allclose(polymorphs.centred(np.array([1.0, 3.0, 7.0]), np.array([0, 0, 0])),
                               [-8 / 3, -2 / 3, 10 / 3])  # fmt: skip


def test_equal_features_centre_to_exact_zeros():
    """Groups of three with values whose mean is not exact in floating point: a feature
    equal across the group must centre to 0.0, not a residue a scaler would blow up."""
    rng = np.random.default_rng(1)
    row = rng.normal(size=50) * 10.0 ** rng.integers(-3, 4, size=50)
    x = np.vstack([row, row, row, row + 1.0, row + 1.0, row + 1.0])
    out = polymorphs.centred(x, np.array([0, 0, 0, 1, 1, 1]))
    assert (out == 0.0).all()
    # differences that are real survive
    y = polymorphs.centred(np.array([[1.0], [1.0 + 1e-6], [1.0]]), np.array([0, 0, 0]))
    assert (y != 0).all()


def test_pair_order_accuracy():
    groups = np.array([0, 0, 0, 1, 1])
    y = np.array([0.0, 1.0, 2.0, 5.0, 3.0])
    assert polymorphs.pair_order_accuracy(y, y, groups) == 1.0
    assert polymorphs.pair_order_accuracy(y, -y, groups) == 0.0
    assert polymorphs.pair_order_accuracy(y, np.zeros(5), groups) == 0.5  # ties: half
    # group 0 right (3 pairs), group 1 wrong (1 pair); pairs across groups never count
    pred = np.array([0.0, 1.0, 2.0, 0.0, 9.0])
    assert polymorphs.pair_order_accuracy(y, pred, groups) == 0.75
    # a pair with equal true values is left out
    assert polymorphs.pair_order_accuracy(np.array([1.0, 1.0]), np.array([0.0, 1.0]),
                                          np.array([0, 0])) != polymorphs.pair_order_accuracy(
        np.array([1.0, 2.0]), np.array([0.0, 1.0]), np.array([0, 0]))  # fmt: skip


@pytest.fixture(scope="module")
def frame(mp_entries):
    """Real fixture crystals, each with three strained copies of slightly different
    energy: polymorph groups in both pools of the protocol's split."""
    rows = []
    rng = np.random.default_rng(0)
    for e in mp_entries.values():
        for k in range(4):
            s = e["structure"].copy()
            if k:
                s.apply_strain(0.03 * k)
            rows.append({"structure": s, "e_form": e["e_form"] + 0.05 * k + rng.normal(0, 0.01),
                         "gap": e["gap"]})  # fmt: skip
    return pd.DataFrame(rows)


def test_design_centres_targets_within_each_pool(frame):
    data = polymorphs.design(frame)
    for pool in ("train", "test"):
        part = data[pool]
        assert len(part["structures"]) == len(part["y"]) == len(part["groups"]) > 0
        sums = pd.Series(part["y"]).groupby(part["groups"]).sum()
        np.testing.assert_allclose(sums, 0, atol=1e-12)
        formulas = pd.Series([s.composition.reduced_formula for s in part["structures"]])
        assert (formulas.groupby(part["groups"]).nunique() == 1).all()


def test_composition_alone_is_chance_and_structure_is_not(frame, tmp_path):
    argv_common = ["--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "out")]
    data = tmp_path / "data.json.gz"
    from matminer.utils.io import store_dataframe_as_json

    store_dataframe_as_json(frame, str(data), pbar=False)
    argv = ["--data", str(data), "--featurisers", "magpie", "dim_untrained", "typicality",
            *argv_common]
    assert polymorphs.main(argv) == 0
    records = json.loads((tmp_path / "out" / "results.json").read_text())["records"]
    by_name = {r["featuriser"]: r for r in records}
    assert by_name["magpie"]["pair_order"] == 0.5  # centred composition features are zero
    # strain changes the energy monotonically here; a structure vector can see it
    assert by_name["dim_untrained"]["pair_order"] > 0.5
    # uniform strain keeps every first shell: nothing to tell the group members apart
    assert by_name["typicality"]["pair_order"] == 0.5
    assert by_name["typicality"]["scale"].startswith("none")
    assert "| magpie | 0.500 |" in (tmp_path / "out" / "summary.md").read_text()
    lines = (tmp_path / "out" / "records.jsonl").read_text().splitlines()
    assert polymorphs.main(argv) == 0  # resumes: nothing scored twice
    assert (tmp_path / "out" / "records.jsonl").read_text().splitlines() == lines


def test_mlp_diagnostic_is_its_own_measurement(frame, tmp_path):
    """``--head mlp`` fits raw vectors to raw targets; composition alone still scores
    chance (its predictions are equal within a group), and its records never stand in for
    the Ridge yardstick's (or the reverse)."""
    from matminer.utils.io import store_dataframe_as_json

    data = tmp_path / "data.json.gz"
    store_dataframe_as_json(frame, str(data), pbar=False)
    out = tmp_path / "out"
    argv = ["--data", str(data), "--featurisers", "magpie", "dim_untrained",
            "--cache-dir", str(tmp_path / "cache"), "--out", str(out)]  # fmt: skip
    assert polymorphs.main([*argv, "--head", "mlp"]) == 0
    mlp = {r["featuriser"]: r for r in json.loads((out / "results.json").read_text())["records"]}
    assert {r["head"] for r in mlp.values()} == {"mlp"}
    assert mlp["magpie"]["pair_order"] == 0.5
    assert 0.0 <= mlp["dim_untrained"]["pair_order"] <= 1.0
    assert "MLP head" in (out / "summary.md").read_text()
    assert polymorphs.main(argv) == 0  # the Ridge yardstick is scored, not read from MLP
    ridge = json.loads((out / "results.json").read_text())["records"]
    assert {r["head"] for r in ridge} == {"ridge"}
    assert len((out / "records.jsonl").read_text().splitlines()) == 4


def test_finetune_diagnostic_trains_from_each_start(frame, tmp_path):
    """``--head finetune``: a DIMRegressor from the pretrained weights and one from an
    untrained draw; different starts give different predictions, composition names are
    refused, and the record says what was measured."""
    data = polymorphs.design(frame)
    quick = {"epochs": 2, "patience": 1}
    records = {
        name: polymorphs.score(name, data, None, tmp_path, 1, "selected", "e_form",
                               "finetune", quick)  # fmt: skip
        for name in ("dim", "dim_untrained")
    }
    for r in records.values():
        assert r["head"] == "finetune" and 0.0 <= r["pair_order"] <= 1.0
        assert r["n_test"] == len(data["test"]["y"]) and np.isfinite(r["mae"])
    assert records["dim"]["mae"] != records["dim_untrained"]["mae"]
    folders = sorted(p.name for p in (tmp_path / "finetune").iterdir())  # a kill resumes
    assert len(folders) == 2 and folders[0].endswith("-dim-e_form")
    assert all(f.startswith(DEFAULT_PRETRAINED) for f in folders)
    with pytest.raises(ValueError, match="fine-tuning starts from"):
        polymorphs.finetuned("magpie", None, tmp_path)
