"""Does disagreement with a composition-only model rank validation-slice errors at MP
e_form N = 250? Reads the member predictions ``signals.py`` saved (argv: repeats) and fits
magpie + a random forest on the same labels (a check, never the test set; README.md)."""

import pickle
import sys
import warnings

import numpy as np
from check import CACHE  # beside this script (its folder is on sys.path)
from scipy.stats import spearmanr
from signals import OUT
from sklearn.ensemble import RandomForestRegressor

from benchmarks.transfer import labelled
from dimfeaturizer import CompositionFeatures


def main() -> None:
    warnings.simplefilter("ignore")
    with open(CACHE, "rb") as fh:
        data = pickle.load(fh)
    pool, scored = data["pool"], data["scored"]
    magpie = CompositionFeatures()
    scored_features = np.nan_to_num(np.asarray(magpie.fit_transform(list(scored["structure"]))))
    for repeat in map(int, sys.argv[1:] or ["0", "1"]):
        saved = np.load(OUT.format(250, repeat, 20))
        members, ys = saved["members"][:5], saved["y"]
        subset = labelled(len(pool), 250, repeat)
        X, y = list(pool["structure"].iloc[subset]), pool["e_form"].to_numpy(float)[subset]
        forest = RandomForestRegressor(300, random_state=0, n_jobs=1)
        forest.fit(np.nan_to_num(np.asarray(magpie.transform(X))), y)
        composition = forest.predict(scored_features)
        mean, std = members.mean(0), members.std(0)
        err = np.abs(ys - mean)
        disagreement = np.abs(mean - composition)
        forest_mae = np.abs(ys - composition).mean()
        print(f"repeat {repeat}: MAE {err.mean():.3f} (forest {forest_mae:.3f}) "
              f"spread {spearmanr(err, std).statistic:.3f} "
              f"|mean - forest| {spearmanr(err, disagreement).statistic:.3f} "
              f"both {spearmanr(err, np.hypot(std, disagreement)).statistic:.3f} "
              f"six members (forest as one) "
              f"{spearmanr(err, np.vstack([members, composition]).std(0)).statistic:.3f}")


if __name__ == "__main__":
    main()
