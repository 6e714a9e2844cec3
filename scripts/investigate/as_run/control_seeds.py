"""The untrained control's spread over initialisations (Ridge, 3 subsets, validation and test).

    python scripts/investigate/as_run/control_seeds.py 0 1 2 3 4

Seed s is ``untrained_model(None, s)``; the benchmark's control is
``DIMEncoder(pretrained=None, random_state=0)``, printed as "benchmark".
"""
import sys
import torch
sys.path.insert(0, "scripts/investigate")
from common import frame_and_splits, ridge_probe
from dimfeaturizer.estimator import DIMEncoder
from dimfeaturizer.hub import untrained_model
torch.set_num_threads(1)
df, splits = frame_and_splits()
models = [(f"seed {s}", untrained_model(None, int(s))) for s in sys.argv[1:]]
models.append(("benchmark", DIMEncoder(pretrained=None, random_state=0).fit().model_))
for name, model in models:
    ridge_probe(name, model, df, splits)
