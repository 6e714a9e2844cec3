"""Speed and memory of the encoder against matminer's engineered featurisers.

Run from the repository (reads the development corpus by default):

    python -m benchmarks.speed --data ../shared/data/mp_eform_gap.json.gz

Everything runs single-process on whatever machine runs it; each memory figure is the
peak resident set size of a fresh subprocess doing only that job.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from dimfeaturizer.hub import DEFAULT_PRETRAINED

DEFAULT_DATA = "../shared/data/mp_eform_gap.json.gz"


def load_structures(data: str, n: int, seed: int = 0) -> list:
    """``n`` random crystals with <= 50 sites from a matminer-format dataset."""
    from matminer.utils.io import load_dataframe_from_json

    from .protocol import filter_frame

    df = filter_frame(load_dataframe_from_json(data, pbar=False))
    idx = np.random.default_rng(seed).choice(len(df), size=min(n, len(df)), replace=False)
    return list(df["structure"].iloc[idx])


def _encoder(pretrained: str | None, device: str, compile: bool | str = "auto"):
    from dimfeaturizer.estimators import DIMEncoder

    return DIMEncoder(pretrained=pretrained, device=device, compile=compile,
                      random_state=0).fit()  # fmt: skip


def time_transform(
    structures: list, pretrained: str | None, device: str, compile: bool | str = "auto"
) -> dict:
    """Structures/s of ``DIMEncoder.transform`` (preprocessing included), after a warm-up
    on 50 structures (allocator, lazy imports, and the compilation if ``compile``)."""
    torch._dynamo.reset()  # no compiled code left over from another job of this process
    encoder = _encoder(pretrained, device, compile)
    t0 = time.perf_counter()
    encoder.transform(structures[:50])
    warm_up = time.perf_counter() - t0
    t0 = time.perf_counter()
    encoder.transform(structures)
    seconds = time.perf_counter() - t0
    return {
        "n": len(structures),
        "compile": compile,
        "warm_up_s": warm_up,
        "seconds": seconds,
        "structures_per_s": len(structures) / seconds,
        "ms_per_structure": 1000 * seconds / len(structures),
    }


def time_matminer(featurizer, structures: list) -> dict:
    """Median and mean per-structure time of a matminer featuriser, one process."""
    featurizer.set_n_jobs(1)
    if hasattr(featurizer, "fit"):
        featurizer.fit(structures[:5])
    times = []
    for s in structures:
        t0 = time.perf_counter()
        featurizer.featurize(s)
        times.append(time.perf_counter() - t0)
    times = np.array(times)
    return {
        "n": len(structures),
        "median_ms": 1000 * float(np.median(times)),
        "mean_ms": 1000 * float(times.mean()),
        "structures_per_s": 1 / float(times.mean()),
    }


def time_pretraining(
    structures: list, device: str, compile: bool = False, pretrained: str | None = None
) -> dict:
    """Structures/s of one pretraining epoch, all false samples on, continuing from
    ``pretrained`` (None: random weights of the design's default architecture). Compiled
    kernels are timed on a second epoch, so the one-off compilation is reported separately."""
    from dimfeaturizer.config import SiteNetConfig
    from dimfeaturizer.data.inputs import prepare_all
    from dimfeaturizer.hub import load_pretrained
    from dimfeaturizer.model import untrained_model
    from dimfeaturizer.training import DeepInfoMax, TrainConfig, fit

    torch._dynamo.reset()  # no compiled code left over from another job of this process
    if pretrained is None:
        model = untrained_model(SiteNetConfig(), 0)
    else:
        model = load_pretrained(pretrained)
    config = model.config
    t0 = time.perf_counter()
    packed = prepare_all(structures, list(range(len(structures))), config)
    prep = time.perf_counter() - t0
    epochs = 2 if compile else 1
    result = fit(
        model,
        DeepInfoMax(),
        packed,
        TrainConfig(
            epochs=epochs, device=device, progress=False, validation_fraction=0.0, compile=compile
        ),
    )
    last = result.history[-1]
    out = {
        "n": len(structures),
        "preprocess_s": prep,
        "epoch_s": last["seconds"],
        "structures_per_s": last["structures_per_s"],
        "false_samples": "all",
        "compiled": compile,
    }
    if compile:
        out["first_epoch_s_incl_compilation"] = result.history[0]["seconds"]
    return out


def peak_rss_mib() -> float:
    """This process's resident-set high-water mark (VmHWM). Unlike ``ru_maxrss``, which
    Linux carries over from the parent across fork/exec, it counts this program only."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise OSError("VmHWM not available (Linux only)")


def _peak_rss_child(job: str, structures: list, device: str, pretrained: str | None) -> dict:
    """Run one job in a fresh interpreter and report its peak RSS (MiB).

    The child reads only the job's structures (pickled by the parent), so the peak is the
    job's own footprint plus the structures themselves, not the dataset loader's.
    """
    import pickle
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".pkl", delete=False) as fh:
        pickle.dump(structures, fh)
    code = (
        "import json, pickle, warnings; warnings.simplefilter('ignore');"
        "from benchmarks import speed as s;"
        f"st = pickle.load(open({fh.name!r}, 'rb'));"
        "base = s.peak_rss_mib();"
        + (
            f"r = s.time_transform(st, {pretrained!r}, {device!r});"
            if job == "transform"
            else f"r = s.time_pretraining(st, {device!r}, pretrained={pretrained!r});"
        )
        + "r['peak_rss_mib'] = s.peak_rss_mib();"
        "r['rss_with_structures_loaded_mib'] = base; print(json.dumps(r))"
    )
    try:
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
    finally:
        Path(fh.name).unlink()
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    warnings.simplefilter("ignore")
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data", default=DEFAULT_DATA)
    p.add_argument(
        "--pretrained",
        default=DEFAULT_PRETRAINED,
        help="weights to time, by default the bundled ones ('none': random weights of the "
        "design's default architecture)",
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("--n-transform", type=int, default=2000)
    p.add_argument("--n-matminer", type=int, default=100)
    p.add_argument("--n-train", type=int, default=2000)
    p.add_argument("--memory", action="store_true", help="also the peak-memory jobs (slow)")
    p.add_argument("--n-memory-transform", type=int, default=10000)
    p.add_argument("--n-memory-train", type=int, default=25000)
    p.add_argument("--out", default=None, help="write the results as JSON here")
    args = p.parse_args(argv)
    pretrained = None if args.pretrained.lower() == "none" else args.pretrained
    from matminer.featurizers.structure import OrbitalFieldMatrix, XRDPowderPattern

    n_load = max(args.n_transform, args.n_train)
    if args.memory:
        n_load = max(n_load, args.n_memory_transform, args.n_memory_train)
    structures = load_structures(args.data, n_load)
    results = {
        "weights": pretrained or "none (random, design's default architecture)",
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "torch_threads": torch.get_num_threads(),
            "device": args.device,
            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        },
        "transform": time_transform(structures[: args.n_transform], pretrained, args.device),
        "transform_compiled": time_transform(
            structures[: args.n_transform], pretrained, args.device, compile=True
        ),
        "xrd": time_matminer(XRDPowderPattern(), structures[: args.n_matminer]),
        "ofm": time_matminer(
            OrbitalFieldMatrix(period_tag=False, flatten=True), structures[: args.n_matminer]
        ),
        "pretraining_eager": time_pretraining(
            structures[: args.n_train], args.device, pretrained=pretrained
        ),
        "pretraining_compiled": time_pretraining(
            structures[: args.n_train], args.device, compile=True, pretrained=pretrained
        ),
    }
    dim_ms = results["transform"]["ms_per_structure"]
    for name in ("xrd", "ofm"):
        results[name]["speedup_of_dim_vs_this"] = results[name]["mean_ms"] / dim_ms
    if args.memory:
        results["memory_transform"] = _peak_rss_child(
            "transform", structures[: args.n_memory_transform], args.device, pretrained
        )
        results["memory_pretraining"] = _peak_rss_child(
            "train", structures[: args.n_memory_train], args.device, pretrained
        )
    emit(results, args.out)
    return 0


def emit(results: dict, out: str | None) -> None:
    """Print the results as JSON, and write them to ``out`` if given."""
    text = json.dumps(results, indent=2)
    print(text)
    if out:
        Path(out).write_text(text + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
