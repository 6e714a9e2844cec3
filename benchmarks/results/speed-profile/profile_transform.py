"""Where transform's time goes: checks, preprocessing and the model, per structure, and
(with PROF=1) cProfile of preprocessing and torch's profiler of the model.

    PROF=1 python benchmarks/results/speed-profile/profile_transform.py > profile.txt

``--data`` names another matminer-format file (default: the shared matbench phonons task).
"""

import argparse
import os
import pickle
import time
import warnings
from pathlib import Path

import torch
from matminer.utils.io import load_dataframe_from_json

from dimfeaturizer import DIMEncoder
from dimfeaturizer.data.inputs import check_all, prepare_all
from dimfeaturizer.inference import encode_packed

warnings.simplefilter("ignore")
parser = argparse.ArgumentParser()
parser.add_argument("--data", default="../shared/data/matbench_phonons.json.gz")
data = Path(parser.parse_args().data)
CACHE = Path(".cache/profile") / f"{data.name}.pkl"  # the file's structures, decoded once
if not CACHE.exists():
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    df = load_dataframe_from_json(str(data), pbar=False)
    CACHE.write_bytes(pickle.dumps(list(df.structure)))
structures = pickle.loads(CACHE.read_bytes())[:1000]
labels = list(range(len(structures)))
encoder = DIMEncoder().fit()
config, model, cpu = encoder.config_, encoder.model_, torch.device("cpu")


def per_structure(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) / len(structures) * 1e3


check = per_structure(lambda: check_all(structures, labels, config))
packed = prepare_all(structures, labels, config, checked=True)
prepare = per_structure(lambda: prepare_all(structures, labels, config, checked=True))
encode_packed(model, packed, 2048, cpu)  # warm-up
forward = per_structure(lambda: encode_packed(model, packed, 2048, cpu))
transform = per_structure(lambda: encoder.transform(structures))
print(f"check {check:.3f} ms  prepare {prepare:.3f} ms  model {forward:.3f} ms  "
      f"transform {transform:.3f} ms -> {1e3 / transform:.0f}/s; "
      f"{torch.get_num_threads()} torch threads")
if os.environ.get("PROF"):
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.runcall(prepare_all, structures, labels, config, checked=True)
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    with torch.profiler.profile() as prof:
        encode_packed(model, packed, 2048, cpu)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))
