"""Which signals rank validation-slice errors at MP e_form N = 250: the spread of 5, 10 or
more members (argv: repeat, N, members), and how rarely a crystal's elements occur in the
training labels? (a check on the label pool's validation slice, never the test set; see
README.md beside it)."""

import pickle
import sys
import warnings

import numpy as np
from check import CACHE  # beside this script (its folder is on sys.path)
from scipy.stats import spearmanr

from benchmarks.transfer import labelled
from dimfeaturizer import DIMRegressor

OUT = "benchmarks/results/transfer-defaults/uncertainty-check/signals-{}-{}-{}.npz"


def rarity(train, scored) -> np.ndarray:
    """For each scored crystal, the fewest training crystals that share one of its elements."""
    counts: dict = {}
    for s in train:
        for el in s.composition.elements:
            counts[el] = counts.get(el, 0) + 1
    return np.array([min(counts.get(el, 0) for el in s.composition.elements) for s in scored])


def main() -> None:
    warnings.simplefilter("ignore")
    with open(CACHE, "rb") as fh:
        data = pickle.load(fh)
    pool, scored = data["pool"], data["scored"]
    repeat, n = int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 250
    k_max = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    subset = labelled(len(pool), n, repeat)
    X, y = list(pool["structure"].iloc[subset]), pool["e_form"].to_numpy(float)[subset]
    Xs, ys = list(scored["structure"]), scored["e_form"].to_numpy(float)
    model = DIMRegressor(random_state=repeat, n_jobs=2, n_models=k_max).fit(X, y)
    members = np.stack([model._member(o)[0][:, 0] for o in model._outputs(Xs)])
    rare = rarity(X, Xs)
    np.savez(OUT.format(n, repeat, k_max), members=members, y=ys, rarity=rare)
    for k in sorted({3, 5, 10, 15, 20, k_max} & set(range(2, k_max + 1))):
        mean, std = members[:k].mean(0), members[:k].std(0)
        err = np.abs(ys - mean)
        print(f"N {n} repeat {repeat} members {k}: MAE {err.mean():.4f} "
              f"spread {spearmanr(err, std).statistic:.3f} "
              f"rarity {spearmanr(err, -rare).statistic:.3f}")


if __name__ == "__main__":
    main()
