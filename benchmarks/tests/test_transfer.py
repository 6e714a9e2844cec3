"""The transfer-learning benchmark command on a tiny real dataset (few epochs)."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import pytest

from benchmarks import transfer
from benchmarks.protocol import make_splits
from dimfeaturizer import DIMEncoder


@pytest.fixture
def data(mp_entries, tmp_path):
    from matminer.utils.io import store_dataframe_as_json

    frame = pd.DataFrame({
        "structure": [e["structure"] for e in mp_entries.values()],
        "e_form": [e["e_form"] for e in mp_entries.values()],
        "gap": [e["gap"] for e in mp_entries.values()],
    }, index=list(mp_entries))
    path = tmp_path / "data.json.gz"
    store_dataframe_as_json(frame, str(path), pbar=False)
    weights = tmp_path / "weights"
    DIMEncoder(pretrained=None, random_state=0).fit().save_pretrained(weights)
    return frame, path, weights


def test_transfer_benchmark_runs_resumes_and_reports(data, tmp_path, capsys):
    frame, path, weights = data
    out = tmp_path / "out"
    argv = ["--data", str(path), "--sizes", "4", "--repeats", "2", "--n-jobs", "1",
            "--pretrained", str(weights), "--set", "epochs=2", "device=cpu",
            "--rows", "finetune", "finetune_random", "finetune_transfer", "finetune_frozen",
            "dim_ridge", "--cache-dir", str(tmp_path / "cache"), "--out", str(out)]
    assert transfer.main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["command"].endswith(" ".join(argv))
    assert results["scored_on"] == "test set" and results["overrides"]["epochs"] == 2
    records = results["records"]
    assert len(records) == 5 * 2 * 2  # rows x targets x repeats
    assert all(np.isfinite(r["mae"]) and r["fit_cpu_s"] >= 0 for r in records)
    assert all(r["epochs_run"] <= 2 for r in records if r["row"].startswith("finetune"))
    # the two saved donors, and the checkpoints a killed run would resume them from
    assert {p.name for p in (out / "donors").iterdir()} == {
        "e_form", "gap", "e_form-ckpt", "gap-ckpt"
    }
    # (the default ensemble keeps one checkpoint per member)
    assert (out / "donors" / "gap-ckpt" / "member-0" / "checkpoint.pt").is_file()
    summary = (out / "summary.md").read_text()
    assert "fine-tuned from random weights" in summary and "Wall seconds" in summary
    assert (out / "boxplots.png").read_bytes()[:4] == b"\x89PNG"
    # the scored set is the protocol's test set; subsets come from the label pool
    stored = pickle.loads((out / "data.pkl").read_bytes())
    splits = make_splits(len(frame))
    assert list(stored["scored"].index) == list(frame.index[splits.test])
    assert list(stored["pool"].index) == list(frame.index[splits.label_pool])
    # rerunning resumes: nothing is fitted again, the same records come back
    capsys.readouterr()
    assert transfer.main(argv) == 0
    assert "0 fits to run, 20 done" in capsys.readouterr().err
    assert json.loads((out / "results.json").read_text())["records"] == records
    # a partial report: only what is in records.jsonl, nothing fitted
    lines = (out / "records.jsonl").read_text().splitlines()
    (out / "records.jsonl").write_text("\n".join(lines[:7]) + "\n")
    assert transfer.main([*argv, "--report-only"]) == 0
    assert len(json.loads((out / "results.json").read_text())["records"]) == 7


def test_validation_mode_never_reads_the_test_set(data, tmp_path):
    frame, path, weights = data
    out = tmp_path / "val"
    assert transfer.main(["--data", str(path), "--sizes", "3", "--repeats", "1", "--n-jobs",
                          "1", "--pretrained", str(weights), "--set", "epochs=1",
                          "--rows", "finetune", "--target", "e_form", "--validation",
                          "--out", str(out)]) == 0
    stored = pickle.loads((out / "data-validation.pkl").read_bytes())
    splits = make_splits(len(frame))
    test = set(frame.index[splits.test])
    assert not test & set(stored["scored"].index) and not test & set(stored["pool"].index)
    assert set(stored["scored"].index) | set(stored["pool"].index) == set(
        frame.index[splits.label_pool])
    assert "validation slice" in (out / "summary.md").read_text()


def test_overrides_are_json_or_strings():
    assert transfer.parse_overrides(["epochs=3", "device=cpu", "encoder_learning_rate=1e-3"]) == {
        "epochs": 3, "device": "cpu", "encoder_learning_rate": 1e-3}


def test_fine_tuned_rows_start_where_dimregressor_does(tmp_path):
    """Without --pretrained the fine-tuned rows are DIMRegressor()'s own starts; the random
    control keeps one architecture."""
    from dimfeaturizer import DEFAULT_PRETRAINED, DIMRegressor

    default = transfer._regressor("finetune", "e_form", 0, None, tmp_path, {})
    assert default.pretrained == DIMRegressor().pretrained
    control = transfer._regressor("finetune_random", "e_form", 0, None, tmp_path, {})
    assert control.pretrained is None and control.config == DEFAULT_PRETRAINED
    given = transfer._regressor("finetune", "e_form", 0, "my-weights", tmp_path, {})
    assert given.pretrained == "my-weights"
