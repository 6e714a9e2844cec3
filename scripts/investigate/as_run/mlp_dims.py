"""Does the MLP head lose on the KL-collapsed dimensions of mu? (test set, cached features)

    PYTHONPATH=scripts/investigate python scripts/investigate/as_run/mlp_dims.py [REPEATS]

The protocol's heads on the bundled weights' mu: all 128 dimensions, only the active
ones (test-set std of mu > 0.1, i.e. not pushed onto the prior by the KL term), only
the collapsed ones, and all of them unstandardised ("raw": the protocol's head without
StandardScaler and clip, as the paper fed its trained vectors); the benchmark's untrained
control (random_state=0), standardised, for reference. With --raw-only, only "raw".
Median test MAE over the first REPEATS (default 10) of the protocol's labelled subsets.
"""

import sys

import numpy as np
from common import frame_and_splits
from sklearn.pipeline import Pipeline

from dimfeaturizer.benchmarks.cache import CachedFeaturizer
from dimfeaturizer.benchmarks.representation import featuriser, head_steps

args = [a for a in sys.argv[1:] if not a.startswith("--")]
repeats = int(args[0]) if args else 10
raw_only = "--raw-only" in sys.argv
df, splits = frame_and_splits()
label, test = df.iloc[splits.label_pool], df.iloc[splits.test]
position = {p: i for i, p in enumerate(splits.label_pool)}
for name in ("dim",) if raw_only else ("dim", "dim_untrained"):
    step = CachedFeaturizer(featuriser(name), ".cache/features").fit()
    xl, xt = step.transform(list(label["structure"])), step.transform(list(test["structure"]))
    active = xt.std(0) > 0.1
    every = np.ones(xt.shape[1], bool)
    sets = {} if raw_only else {"all": every}
    if name == "dim" and not raw_only:
        sets |= {f"active ({active.sum()})": active, f"collapsed ({(~active).sum()})": ~active}
    if name == "dim":
        sets["raw"] = every
    for head in ("ridge", "mlp"):
        for key, cols in sets.items():
            row = []
            for n in (50, 100, 250, 1000):
                maes = []
                for r in range(repeats):
                    rows = [position[p] for p in splits.labelled(n, r)]
                    steps = head_steps(head, r)
                    if key == "raw":
                        steps = [(k, v) for k, v in steps if k not in ("scale", "clip")]
                    pipe = Pipeline(steps)
                    pipe.fit(xl[rows][:, cols], label["e_form"].to_numpy()[rows])
                    pred = pipe.predict(xt[:, cols])
                    maes.append(np.abs(pred - test["e_form"].to_numpy()).mean())
                row.append(np.median(maes))
            print(name, head, key, np.round(row, 3), flush=True)
