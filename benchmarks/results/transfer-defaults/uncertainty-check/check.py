"""Which signal ranks validation-slice errors at MP e_form N = 250? (a one-off check on
the label pool's validation slice, never the test set; see README.md beside it)."""

import pickle
import sys
import warnings

import numpy as np
import torch
from scipy.stats import spearmanr
from sklearn.preprocessing import StandardScaler

from benchmarks.transfer import labelled
from dimfeaturizer import CompositionFeatures, DIMRegressor
from dimfeaturizer.data.inputs import prepare_all

CACHE = "benchmarks/results/transfer-defaults/ensemble5/data-validation.pkl"


def vectors(model, structures) -> np.ndarray:
    """What each member's head reads, in batches of 200 crystals."""
    packed = prepare_all(structures, list(range(len(structures))), model.encoder.config)
    out = []
    with torch.no_grad():
        for i in range(0, len(packed), 200):
            rows = np.arange(i, min(i + 200, len(packed)))
            out.append(model.vectors(packed.batch(rows)).numpy())
    return np.concatenate(out)


def knn_distance(train: np.ndarray, scored: np.ndarray, k: int) -> np.ndarray:
    scaler = StandardScaler().fit(train)
    train, scored = scaler.transform(train), scaler.transform(scored)
    d = np.sqrt(((scored[:, None, :] - train[None]) ** 2).sum(-1))
    return np.sort(d, axis=1)[:, :k].mean(1)


def rank(x: np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(x))


def main() -> None:
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    with open(CACHE, "rb") as fh:
        data = pickle.load(fh)
    pool, scored = data["pool"], data["scored"]
    repeat = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    subset = labelled(len(pool), 250, repeat)
    X, y = list(pool["structure"].iloc[subset]), pool["e_form"].to_numpy(float)[subset]
    Xs, ys = list(scored["structure"]), scored["e_form"].to_numpy(float)
    model = DIMRegressor(random_state=repeat, n_jobs=1).fit(X, y)
    mean, std = model.predict(Xs, return_std=True)
    err = np.abs(ys - mean)
    print("MAE", err.mean(), "spread", spearmanr(err, std).statistic)
    members = [(vectors(m, X), vectors(m, Xs)) for m in model.models_]
    for k in (1, 5, 10):
        d = np.mean([knn_distance(train, test, k) for train, test in members], axis=0)
        print("knn", k, spearmanr(err, d).statistic,
              "combined rank", spearmanr(err, rank(d) + rank(std)).statistic)
    magpie = CompositionFeatures().fit()
    train, test = np.nan_to_num(magpie.transform(X)), np.nan_to_num(magpie.transform(Xs))
    print("magpie knn5", spearmanr(err, knn_distance(train, test, 5)).statistic)
    print("|mean - ymean|", spearmanr(err, np.abs(mean - y.mean())).statistic)


if __name__ == "__main__":
    main()
