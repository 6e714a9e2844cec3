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


def ridge_probe(name, model, df, splits, repeats=3):
    """Print the median MAE of the protocol's Ridge head on ``model``'s mu over ``repeats``
    labelled subsets per N, scored on the validation slice (last 2,000 train-pool
    crystals) and on the test set, for e_form and gap."""
    import numpy as np
    from sklearn.pipeline import Pipeline

    from dimfeaturizer.benchmarks.representation import head_steps
    from dimfeaturizer.inference import encode

    model.eval()
    label = df.iloc[splits.label_pool]
    position = {p: i for i, p in enumerate(splits.label_pool)}
    xl = encode(model, list(label["structure"]))
    for where, rows in [("validation", splits.train_pool[-2000:]), ("test", splits.test)]:
        held = df.iloc[rows]
        xt = encode(model, list(held["structure"]))
        for target in ["e_form", "gap"]:
            row = []
            for n in [50, 100, 250, 1000]:
                maes = []
                for r in range(repeats):
                    idx = [position[i] for i in splits.labelled(n, r)]
                    pipe = Pipeline(head_steps("ridge", r))
                    pipe.fit(xl[idx], label[target].to_numpy()[idx])
                    maes.append(np.abs(pipe.predict(xt) - held[target].to_numpy()).mean())
                row.append(np.median(maes))
            print(name, where, target, "ridge", " ".join(f"{m:.4f}" for m in row), flush=True)
