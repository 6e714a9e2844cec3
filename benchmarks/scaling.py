"""Throughput per worker and per rank: featurisation on a Dask ``LocalCluster`` and
pretraining under ``torchrun``, against one process doing the same job.

    python -m benchmarks.scaling --data ../shared/data/mp_eform_gap.json.gz \\
        --workers 1 2 --out benchmarks/results/scaling.json

Featurisation reads JSON files (one structure each) on the workers, as a cluster job
would; the one-process row reads the same files with ``io.read_structures`` and calls
``DIMEncoder().transform``. Pretraining runs ``dimfeaturizer pretrain`` for one epoch
(eager kernels) with the machine's cores split between the ranks; structures/s counts the
training structures (the validation tenth excluded).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from .speed import DEFAULT_DATA, emit, load_structures


def write_files(structures: list, folder: Path) -> list[str]:
    paths = []
    for i, s in enumerate(structures):
        path = folder / f"s{i:06d}.json"
        s.to(filename=str(path))
        paths.append(str(path))
    return paths


def one_process(paths: list[str]) -> dict:
    from dimfeaturizer.estimators import DIMEncoder
    from dimfeaturizer.io import read_structures

    encoder = DIMEncoder().fit()
    t0 = time.perf_counter()
    encoder.transform(read_structures(paths))
    seconds = time.perf_counter() - t0
    return {"n": len(paths), "seconds": seconds, "structures_per_s": len(paths) / seconds}


def dask_cluster(paths: list[str], workers: int, files_per_partition: int) -> dict:
    """Two passes over the files on a fresh ``LocalCluster``: the first includes each
    worker's one model load, the second is the steady state."""
    from distributed import Client, LocalCluster

    from dimfeaturizer.cluster import featurize_dask
    from dimfeaturizer.estimators import DIMEncoder

    threads = max(1, (os.cpu_count() or 1) // workers)
    with LocalCluster(n_workers=workers, threads_per_worker=threads, processes=True,
                      dashboard_address=None) as cluster, Client(cluster):  # fmt: skip
        out = {"workers": workers, "threads_per_worker": threads, "n": len(paths)}
        for run in ("first", "second"):
            frame = featurize_dask(paths, DIMEncoder(), files_per_partition=files_per_partition)
            t0 = time.perf_counter()
            result = frame.compute()
            seconds = time.perf_counter() - t0
            out[f"{run}_structures_per_s"] = len(paths) / seconds
        out["failed"] = int(result["error"].notna().sum())
    return out


def torchrun_pretraining(folder: Path, ranks: int, out: Path) -> dict:
    threads = max(1, (os.cpu_count() or 1) // ranks)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc_per_node={ranks}", "-m", "dimfeaturizer", "pretrain", str(folder),
           "--out", str(out), "--epochs", "1", "--seed", "0", "--device", "cpu"]  # fmt: skip
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"torchrun with {ranks} ranks failed:\n{done.stderr[-3000:]}")
    wall = time.perf_counter() - t0
    training = json.loads((out / "config.json").read_text())["training"]
    epoch = training["history"][-1]
    return {"ranks": ranks, "threads_per_rank": threads, "n": training["n_structures"],
            "epoch_s": epoch["seconds"], "structures_per_s": epoch["structures_per_s"],
            "wall_s_incl_start_and_preprocessing": wall}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    warnings.simplefilter("ignore")
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=DEFAULT_DATA)
    p.add_argument("--n", type=int, default=3000, help="structures to featurise")
    p.add_argument("--n-train", type=int, default=2000, help="structures to pretrain on")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--files-per-partition", type=int, default=250)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    structures = load_structures(args.data, max(args.n, args.n_train))
    results = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count()}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "featurise").mkdir()
        (tmp / "train").mkdir()
        write_files(structures[: args.n_train], tmp / "train")
        results["torchrun"] = [torchrun_pretraining(tmp / "train", r, tmp / f"out{r}")
                               for r in args.workers]  # fmt: skip
        paths = write_files(structures[: args.n], tmp / "featurise")
        results["one_process"] = one_process(paths)
        results["dask"] = [dask_cluster(paths, w, args.files_per_partition)
                           for w in args.workers]  # fmt: skip
    emit(results, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
