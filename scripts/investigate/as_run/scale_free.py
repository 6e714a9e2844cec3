"""Per-feature standardisation vs one scale for all features, trained vs untrained.

    PYTHONPATH=scripts/investigate python scripts/investigate/as_run/scale_free.py WEIGHTS \
        [REPEATS] [--control-seeds=0,1,2,3,4|none] [--test]

The protocol standardises every feature column. A trained mu keeps what the critic uses
in a few large dimensions and the KL-shrunk rest small; standardising puts them all on
the same footing. "iso" replaces the StandardScaler by one scale for the whole vector
(centre, then divide every column by the largest column std of the labelled subset, so
the largest feature is scaled as the protocol scales it); clip, heads, splits as in the
protocol. Applied to the trained weights and to every untrained control alike. Scores
on the validation slice (last 2,000 of the train pool) unless --test.
"""

import sys

import numpy as np
from common import frame_and_splits
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline

from dimfeaturizer.benchmarks.representation import featuriser, head_steps


class IsoScaler(TransformerMixin, BaseEstimator):
    """Centre, and divide every column by the same number: the largest column std."""

    def fit(self, X, y=None):
        self.mean_ = X.mean(0)
        self.scale_ = float(X.std(0).max()) or 1.0
        return self

    def transform(self, X):
        return (X - self.mean_) / self.scale_


def score(xl, yl, xt, yt, head, prep, n, repeats, splits, position):
    maes = []
    for r in range(repeats):
        idx = [position[p] for p in splits.labelled(n, r)]
        steps = head_steps(head, r)
        if prep == "iso":
            steps = [(k, IsoScaler() if k == "scale" else v) for k, v in steps]
        pipe = Pipeline(steps).fit(xl[idx], yl[idx])
        maes.append(np.abs(pipe.predict(xt) - yt).mean())
    return float(np.median(maes))


args = [a for a in sys.argv[1:] if not a.startswith("--")]
weights = args[0]
repeats = int(args[1]) if len(args) > 1 else 10
seeds = [a.split("=", 1)[1] for a in sys.argv if a.startswith("--control-seeds=")]
seeds = [int(s) for s in seeds[0].split(",") if s != "none"] if seeds else [0, 1, 2, 3, 4]
df, splits = frame_and_splits()
label = df.iloc[splits.label_pool]
test = df.iloc[splits.test if "--test" in sys.argv else splits.train_pool[-2000:]]
position = {p: i for i, p in enumerate(splits.label_pool)}
names = ["dim"] + [f"dim_untrained_rs{s}" for s in seeds]
sizes = (50, 100, 250, 1000)
for target in ("e_form",):
    yl, yt = label[target].to_numpy(), test[target].to_numpy()
    for name in names:
        enc = featuriser(name, weights).fit()
        xl, xt = enc.transform(list(label["structure"])), enc.transform(list(test["structure"]))
        jobs = [(h, p, n) for h in ("ridge", "mlp") for p in ("protocol", "iso") for n in sizes]
        out = Parallel(n_jobs=2)(
            delayed(score)(xl, yl, xt, yt, h, p, n, repeats, splits, position) for h, p, n in jobs
        )
        res = dict(zip(jobs, out))
        for h in ("ridge", "mlp"):
            for p in ("protocol", "iso"):
                row = " ".join(f"{res[h, p, n]:.3f}" for n in sizes)
                print(f"{target} {h:5s} {p:8s} {name:20s} {row}", flush=True)
