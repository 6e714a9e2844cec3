"""What standardisation sees: per-dimension statistics of mu, trained vs the control.

    PYTHONPATH=scripts/investigate python scripts/investigate/as_run/feature_stats.py WEIGHTS [SEED]

For the weights and the benchmark's untrained control at SEED (default 0), on the label
pool (where the heads are fitted) and the test set: the spread of mu per dimension, the
entropy effective rank of standardised mu, the kurtosis per dimension (heavy tails blow
up after standardising on 50 rows), and the fraction of test values the protocol's clip
at +-5 cuts when standardised on a 50-row labelled subset.
"""

import sys

import numpy as np
import torch
from common import frame_and_splits
from scipy.stats import kurtosis

from dimfeaturizer.benchmarks.representation import featuriser

torch.set_num_threads(1)
weights = sys.argv[1]
seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
df, splits = frame_and_splits()
label = list(df["structure"].iloc[splits.label_pool])
test = list(df["structure"].iloc[splits.test])
for name in ("dim", f"dim_untrained_rs{seed}"):
    enc = featuriser(name, weights).fit()
    xl, xt = enc.transform(label), enc.transform(test)
    z = (xt - xt.mean(0)) / (xt.std(0) + 1e-12)
    ev = np.linalg.eigvalsh(np.cov(z.T))[::-1]
    p = np.clip(ev, 0, None) / ev.sum()
    rng = np.random.default_rng(0)
    clipped = []
    for r in range(20):
        rows = xl[rng.choice(len(xl), 50, replace=False)]
        zt = (xt - rows.mean(0)) / (rows.std(0) + 1e-12)
        clipped.append((np.abs(zt) > 5).mean())
    print(
        name,
        "| std q0/25/50/75/100", np.quantile(xt.std(0), [0, .25, .5, .75, 1]).round(3),
        "| eff rank", round(float(np.exp(-(p * np.log(p + 1e-12)).sum())), 1),
        "| n eig>1%", int((p > 0.01).sum()),
        "| kurtosis q50/90/max", np.quantile(kurtosis(xt, axis=0), [.5, .9, 1]).round(1),
        "| clipped at N=50", round(float(np.mean(clipped)), 4),
        flush=True,
    )
