"""Small-scale pretraining with changed hyper-parameters (5,000 train-pool crystals).

    python scripts/investigate/small_pretrain.py NAME '{"beta": 0.0}' [EPOCHS]

The JSON holds TrainConfig fields, plus ``model`` (SiteNetConfig fields) and ``seed``
(initialisation and training).

Trains on train_pool[5000:10000] (never the test pool), 1 torch thread, compiled kernels,
and saves the weights to .cache/investigate/NAME.
"""

import json
import sys
import time

import torch
from common import CACHE, frame_and_splits

from dimfeaturizer.config import SiteNetConfig
from dimfeaturizer.hub import save_pretrained, untrained_model
from dimfeaturizer.inference import prepare_all
from dimfeaturizer.training import TrainConfig, pretrain

torch.set_num_threads(1)
name, kw = sys.argv[1], json.loads(sys.argv[2])
epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 10
df, splits = frame_and_splits()
structures = list(df["structure"].iloc[splits.train_pool[5000:10000]])
config = SiteNetConfig(**kw.pop("model", {}))
packed = prepare_all(structures, list(range(len(structures))), config)
seed = kw.pop("seed", 0)  # initialisation and training (shuffle, noise, false samples)
model = untrained_model(config, seed)
lr = kw.pop("learning_rate", 8.12e-4)
t0 = time.time()
result = pretrain(
    model,
    packed,
    TrainConfig(epochs=epochs, learning_rate=lr, progress=False, compile=True, seed=seed, **kw),
)
val = {k: round(v, 3) for k, v in result.history[-1].items() if k.startswith("val")}
print(name, f"{time.time() - t0:.0f} s", "best epoch", result.best_epoch, val, flush=True)
save_pretrained(model, CACHE / name)
