"""Does the members' own held-out error, read off the nearest training crystals, rank
validation-slice errors at MP e_form N = 250 better than their spread? (a check on the
label pool's validation slice, never the test set; see README.md beside it)."""

import pickle
import sys
import warnings

import numpy as np
import torch
from check import CACHE, vectors  # beside this script (its folder is on sys.path)
from scipy.stats import spearmanr
from sklearn.preprocessing import StandardScaler

from benchmarks.transfer import labelled
from dimfeaturizer import DIMRegressor


def neighbours(train: np.ndarray, scored: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Distances and positions of each scored row's k nearest train rows (standardised)."""
    scaler = StandardScaler().fit(train)
    train, scored = scaler.transform(train), scaler.transform(scored)
    d = np.sqrt(((scored[:, None, :] - train[None]) ** 2).sum(-1))
    order = np.argsort(d, axis=1)[:, :k]
    return np.take_along_axis(d, order, axis=1), order


def rank(x: np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(x))


class Keeping(DIMRegressor):
    """DIMRegressor that keeps its members' held-out outputs (a check only)."""

    def _set_fitted(self, fitted: dict) -> None:
        self.kept_ = fitted.get("_validation")
        super()._set_fitted(fitted)


def main() -> None:
    warnings.simplefilter("ignore")
    with open(CACHE, "rb") as fh:
        data = pickle.load(fh)
    pool, scored = data["pool"], data["scored"]
    repeat = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 250
    subset = labelled(len(pool), n, repeat)
    X, y = list(pool["structure"].iloc[subset]), pool["e_form"].to_numpy(float)[subset]
    Xs, ys = list(scored["structure"]), scored["e_form"].to_numpy(float)
    model = Keeping(random_state=repeat, n_jobs=2).fit(X, y)
    torch.set_num_threads(2)
    mean, std = model.predict(Xs, return_std=True)
    err = np.abs(ys - mean)
    print("N", n, "repeat", repeat, "MAE", err.mean())
    print("spread", spearmanr(err, std).statistic)
    signals = {}
    for k in (5, 10, 20):
        dist, local = [], []
        for member, (raw, rows) in zip(model.models_, model.kept_):
            residual = np.abs(model._decode(raw[:, :1])[:, 0] - y[rows])
            held = [X[i] for i in rows]
            d, order = neighbours(vectors(member, held), vectors(member, Xs), k)
            dist.append(d.mean(1))
            local.append(residual[order].mean(1))
        dist, local = np.mean(dist, axis=0), np.mean(local, axis=0)
        signals[k] = local
        print(f"k={k} held-out distance", spearmanr(err, dist).statistic,
              "held-out residual", spearmanr(err, local).statistic,
              "residual+spread ranks", spearmanr(err, rank(local) + rank(std)).statistic,
              "residual*spread", spearmanr(err, np.sqrt(local**2 + std**2)).statistic)


if __name__ == "__main__":
    main()
