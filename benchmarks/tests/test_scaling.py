"""The scaling benchmark end to end on a few real crystals: one Dask worker, one rank."""

from __future__ import annotations

import json

import pandas as pd


def test_scaling_benchmark_runs(mp_entries, tmp_path):
    from matminer.utils.io import store_dataframe_as_json

    from benchmarks import scaling

    frame = pd.DataFrame({"structure": [e["structure"] for e in mp_entries.values()]})
    data = tmp_path / "data.json.gz"
    store_dataframe_as_json(frame, str(data), pbar=False)
    out = tmp_path / "scaling.json"
    assert scaling.main(["--data", str(data), "--n", "8", "--n-train", "6", "--workers", "1",
                         "--files-per-partition", "4", "--out", str(out)]) == 0  # fmt: skip
    results = json.loads(out.read_text())
    assert results["one_process"]["n"] == 8 and results["one_process"]["structures_per_s"] > 0
    (dask,) = results["dask"]
    assert dask["workers"] == 1 and dask["failed"] == 0 and dask["second_structures_per_s"] > 0
    (rank,) = results["torchrun"]
    assert rank["ranks"] == 1 and rank["n"] == 6 and rank["structures_per_s"] > 0
