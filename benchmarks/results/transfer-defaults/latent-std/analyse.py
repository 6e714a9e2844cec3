"""Spearman of |error| against each candidate signal, per saved subset of ``run.py``.

    python benchmarks/results/transfer-defaults/latent-std/analyse.py "/tmp/q/lat/*-250-*.pkl"

Candidates: the members' spread; the distance to the k nearest training crystals in each
member's head input (``inp``) or hidden layer (``hid``), raw or standardised on the
training latents (``z``), over the training crystals' median leave-one-out distance and
averaged over members; each alone and times the spread (``*sp``); and the frozen
pretrained vector's distance. Tidied for ruff after it ran (same computation).
"""

from __future__ import annotations

import glob
import pickle
import sys

import numpy as np
from scipy.stats import spearmanr
from sklearn.neighbors import NearestNeighbors


def knn_d(train: np.ndarray, query: np.ndarray, k: int, leave_one_out: bool = False):
    index = NearestNeighbors(n_neighbors=k + leave_one_out).fit(train)
    distances, _ = index.kneighbors(query)
    return distances[:, int(leave_one_out):].mean(axis=1)


def member_d(trains, queries, k: int, scale: bool) -> np.ndarray:
    out = []
    for train, query in zip(trains, queries):
        if scale:
            mu, sd = train.mean(0), train.std(0) + 1e-6
            train, query = (train - mu) / sd, (query - mu) / sd
        reference = np.median(knn_d(train, train, k, leave_one_out=True))
        out.append(knn_d(train, query, k) / reference)
    return np.mean(out, axis=0)


def main() -> None:
    for path in sorted(glob.glob(sys.argv[1])):
        with open(path, "rb") as fh:
            o = pickle.load(fh)
        err = np.abs(o["y"] - o["mean"])
        row = {"spread": spearmanr(err, o["std"]).statistic}
        for key in ("hid", "inp"):
            for scale in (False, True):
                for k in (1, 5, 10):
                    d = member_d(o[key + "_tr"], o[key + "_te"], k, scale)
                    name = f"{key}{'z' if scale else ''}k{k}"
                    row[name] = spearmanr(err, d).statistic
                    row[name + "*sp"] = spearmanr(err, d * o["std"]).statistic
        d = member_d([o["frozen_tr"]], [o["frozen_te"]], 5, True)
        row["frozen k5"] = spearmanr(err, d).statistic
        row["frozen k5*sp"] = spearmanr(err, d * o["std"]).statistic
        cells = " ".join(f"{k}={v:.2f}" for k, v in row.items())
        print(path.split("/")[-1], f"mae {err.mean():.3f}", cells)


if __name__ == "__main__":
    main()
