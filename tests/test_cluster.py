"""Featurisation on a Dask cluster (a ``LocalCluster`` with 2 worker processes): the same
vectors as ``DIMEncoder.transform``, the input's index, one model load per worker, files
read on the workers, failures as NaN rows with their reason, and the command line's
``--scheduler`` writing Parquet."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("distributed")
import dask.dataframe as dd  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

from dimfeaturizer import DIMEncoder  # noqa: E402
from dimfeaturizer.cli import main  # noqa: E402
from dimfeaturizer.cluster import featurize_dask  # noqa: E402

ENCODER = dict(pretrained=None, random_state=0)


@pytest.fixture(scope="module")
def client():
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                     dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        yield client


@pytest.fixture(scope="module")
def series(mp_entries):
    return pd.Series({k: e["structure"] for k, e in mp_entries.items()}, dtype=object)


def loads(client) -> dict:
    return client.run(lambda: __import__("dimfeaturizer.cluster").cluster.LOADS["count"])


def test_series_gives_transform_vectors_in_order(client, series):
    before = sum(loads(client).values())
    frame = featurize_dask(series, DIMEncoder(**ENCODER), structures_per_partition=4)
    assert frame.npartitions == math.ceil(len(series) / 4)
    out = frame.compute()
    expected = DIMEncoder(**ENCODER).fit().transform(list(series))
    assert list(out.index) == list(series.index)
    assert list(out.columns) == [f"dim_{i}" for i in range(128)] + ["error"]
    np.testing.assert_allclose(out.filter(like="dim_").to_numpy(), expected, rtol=0, atol=1e-6)
    assert out["error"].isna().all()
    # one model per worker process, not one per partition
    after = loads(client)
    assert all(n <= 1 for n in after.values())
    assert 1 <= sum(after.values()) - before <= 2 < frame.npartitions
    frame = featurize_dask(series, DIMEncoder(**ENCODER), structures_per_partition=4)
    frame.compute()
    assert loads(client) == after  # loaded models are reused by later computations


def test_files_are_read_on_the_workers_and_failures_are_nan_rows(client, series, tmp_path):
    for name, s in list(series.items())[:5]:
        s.to(str(tmp_path / f"{name}.json"))
    (tmp_path / "broken.cif").write_text("not a crystal")
    disordered = series.iloc[0].copy()
    disordered.replace_species({disordered[0].specie: {disordered[0].specie: 0.5, "Li": 0.5}})
    disordered.to(str(tmp_path / "disordered.json"))
    frame = featurize_dask(str(tmp_path / "*"), DIMEncoder(**ENCODER), files_per_partition=3)
    assert frame.npartitions == 3  # 7 files, 3 per partition: the graph holds paths only
    out = frame.compute()
    assert len(out) == 7
    bad = out[out["error"].notna()]
    assert sorted(bad.index) == [str(tmp_path / "broken.cif"), str(tmp_path / "disordered.json")]
    assert "cannot read" in bad.loc[str(tmp_path / "broken.cif"), "error"]
    assert "disorder" in bad.loc[str(tmp_path / "disordered.json"), "error"]
    assert bad.filter(like="dim_").isna().all().all()
    good = out[out["error"].isna()]
    expected = DIMEncoder(**ENCODER).fit().transform(list(series.iloc[:5]))
    order = [str(tmp_path / f"{name}.json") for name in series.index[:5]]
    np.testing.assert_allclose(good.loc[order].filter(like="dim_").to_numpy(), expected,
                               rtol=0, atol=1e-6)  # fmt: skip


def test_file_names_with_glob_characters_are_read(client, series, tmp_path):
    path = tmp_path / "odd[1].json"
    series.iloc[0].to(str(path))
    out = featurize_dask([str(path)], DIMEncoder(**ENCODER)).compute()
    assert list(out.index) == [str(path)] and out["error"].isna().all()


def test_bad_arguments_are_refused(series, tmp_path):
    strings = dd.from_pandas(series.astype(str).astype("string"), npartitions=2)
    with pytest.raises(TypeError, match="convert-string"):  # what dask makes of objects
        featurize_dask(strings, DIMEncoder(**ENCODER))
    with pytest.raises(ValueError, match="frozen"):
        featurize_dask(series, DIMEncoder(frozen=False))
    with pytest.raises(FileNotFoundError, match="no files match"):
        featurize_dask(str(tmp_path / "nothing-*.cif"))
    with pytest.raises(TypeError, match="expected a dask Series"):
        featurize_dask(42)


def test_command_line_scheduler_writes_parquet(client, series, tmp_path, capsys):
    pytest.importorskip("pyarrow")
    folder = tmp_path / "in"
    folder.mkdir()
    for name, s in list(series.items())[:4]:
        s.to(str(folder / f"{name}.json"))
    out = tmp_path / "features.parquet"
    address = client.scheduler.address
    argv = ["featurize", str(folder), "-o", str(out), "--scheduler", address,
            "--pretrained", "none", "--files-per-partition", "2"]  # fmt: skip
    assert main(argv) == 0
    written = pd.read_parquet(out)
    assert len(list(out.glob("*.parquet"))) == 2  # one file per partition
    control = main(["featurize", str(folder), "-o", str(tmp_path / "local.csv"),
                    "--pretrained", "none"])  # fmt: skip
    assert control == 0
    local = pd.read_csv(tmp_path / "local.csv", index_col=0)
    np.testing.assert_allclose(written.loc[local.index].filter(like="dim_").to_numpy(),
                               local.to_numpy(), rtol=0, atol=1e-5)  # fmt: skip
    (folder / "broken.cif").write_text("garbage")
    capsys.readouterr()
    assert main([*argv[:3], str(tmp_path / "again.parquet"), *argv[4:]]) == 1
    assert "1 of 5 entries failed" in capsys.readouterr().err
    assert main([*argv[:3], str(tmp_path / "more.parquet"), *argv[4:], "--ignore-errors"]) == 0
