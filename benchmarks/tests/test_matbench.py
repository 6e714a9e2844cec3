"""The matbench command on a tiny matbench-format file: official folds, resumable records,
the report beside the leaderboard, ensembles' calibration."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from benchmarks import matbench


@pytest.fixture
def task(mp_entries, tmp_path):
    from matminer.utils.io import store_dataframe_as_json

    frame = pd.DataFrame({"structure": [e["structure"] for e in mp_entries.values()],
                          "e_form": [e["e_form"] for e in mp_entries.values()]},
                         index=list(mp_entries))  # fmt: skip
    path = tmp_path / "matbench_jdft2d.json.gz"  # named like the task: the leaderboard shows
    store_dataframe_as_json(frame, str(path), pbar=False)
    return frame, path


def test_folds_are_matbench_s():
    from sklearn.model_selection import KFold

    ours = [test.tolist() for _, test in matbench.FOLDS.split(np.arange(50))]
    theirs = [test.tolist() for _, test in
              KFold(5, shuffle=True, random_state=18012019).split(np.arange(50))]
    assert ours == theirs
    assert sorted(sum(ours, [])) == list(range(50))


def test_matbench_runs_resumes_and_reports(task, tmp_path, capsys):
    frame, path = task
    out = tmp_path / "out"
    argv = ["--data", str(path), "--rows", "ensemble5", "magpie_rf", "--folds", "0", "1",
            "--set", "epochs=2", "device=cpu", "n_models=2", "pretrained=null",
            "validation_fraction=0.2", "--out", str(out)]  # fmt: skip
    assert matbench.main(argv) == 0
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    assert [(r["row"], r["fold"]) for r in records] == [
        ("ensemble5", 0), ("ensemble5", 1), ("magpie_rf", 0), ("magpie_rf", 1)]
    y = frame["e_form"].to_numpy()
    for r in records:  # the score is the fold's own MAE of the stored predictions
        assert r["mae"] == pytest.approx(np.mean(np.abs(y[r["test"]] - r["pred"])))
        assert r["n_train"] + len(r["test"]) == len(y)
    ens = records[0]
    assert len(ens["std"]) == len(ens["test"]) and 0 <= ens["within_1std"] <= 1
    assert "spearman_err_std" not in records[2]  # one forest: no spread to report
    assert ens["val_mae"] > 0 and "val_mae" not in records[2]  # in-fold, members only
    assert all(r["command"].startswith("python -m benchmarks.matbench") for r in records)
    md = (out / "summary.md").read_text()
    assert "MODNet 0.1.12 | 33.19" in md and "2 of 5" in md and "Spearman" in md
    # resumes: nothing refitted, the same report
    capsys.readouterr()
    assert matbench.main(argv) == 0
    assert "MAE" not in capsys.readouterr().err
    assert len((out / "records.jsonl").read_text().splitlines()) == 4
    # another command into the same folder: the report holds every row and both commands
    other = ["--data", str(path), "--rows", "magpie_rf", "--folds", "2", "--out", str(out)]
    assert matbench.main(other) == 0
    md = (out / "summary.md").read_text()
    assert "ensemble of 5" in md and "3 of 5" in md and md.count("python -m benchmarks") == 2


def test_a_row_without_held_out_labels_reports_no_in_fold_score():
    """validation_fraction=0 (the estimators' default) holds nothing out: the record's
    val_mae is None and the table leaves its in-fold cell empty, beside a row that has it."""
    records = [{"row": "ensemble5", "fold": f, "mae": 30.0 + f, "fit_s": 1.0, "val_mae": None}
               for f in range(2)]
    records += [{"row": "finetune", "fold": 0, "mae": 40.0, "fit_s": 1.0, "val_mae": 35.5}]
    lines = matbench.table(records, "matbench_jdft2d", "meV/atom").splitlines()
    ensemble = next(line for line in lines if line.startswith("| ensemble of 5"))
    single = next(line for line in lines if line.startswith("| fine-tuned from the bundled"))
    assert ensemble.split("|")[4].strip() == "" and "30.0 / 31.0" in ensemble
    assert single.split("|")[4].strip() == "35.50"


def test_a_file_without_one_target_column_is_refused(mp_entries, tmp_path):
    from matminer.utils.io import store_dataframe_as_json

    frame = pd.DataFrame({"structure": [e["structure"] for e in mp_entries.values()],
                          "a": 1.0, "b": 2.0})  # fmt: skip
    store_dataframe_as_json(frame, str(tmp_path / "x.json.gz"), pbar=False)
    with pytest.raises(ValueError, match="one target column"):
        matbench.load_task(str(tmp_path / "x.json.gz"))
