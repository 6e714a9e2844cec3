"""Shared loading for the investigation scripts: the protocol's frame, cached as a pickle."""

import os
import pickle
import warnings
from pathlib import Path

warnings.simplefilter("ignore")

DATA = os.environ.get("DIM_DATA", "../shared/data/mp_eform_gap.json.gz")
CACHE = Path(os.environ.get("DIM_CACHE", ".cache/investigate"))


def frame_and_splits():
    """The <=50-site frame and the protocol's splits (loading the JSON once, ~50 s)."""
    from dimfeaturizer.benchmarks.protocol import filter_frame, make_splits

    path = CACHE / "frame.pkl"
    if not path.exists():
        from matminer.utils.io import load_dataframe_from_json

        CACHE.mkdir(parents=True, exist_ok=True)
        df = filter_frame(load_dataframe_from_json(DATA, pbar=False))
        with open(path, "wb") as fh:
            pickle.dump(df, fh)
    with open(path, "rb") as fh:
        df = pickle.load(fh)
    return df, make_splits(len(df))
