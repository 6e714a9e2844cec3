"""A wider global head (post-pool layer) on a frozen pretrained local encoder.

    python scripts/investigate/as_run/wide_head.py runs/mp-linz/best 512

Scores (Ridge, 3 subsets, validation slice and test set) of: the wide architecture
untrained at seeds 0-2 (its own control); the pretrained local encoder under a random wide
head (seed 0); and that head trained with the paper's objective (Adam 8.12e-4, local frozen,
train_pool[5000:10000], 10 epochs). Investigation only: it patches the optimiser.
"""
import dataclasses, sys, time
import torch
sys.path.insert(0, "scripts/investigate")
from common import frame_and_splits, ridge_probe
from dimfeaturizer.hub import load_pretrained, untrained_model
from dimfeaturizer.inference import prepare_all
from dimfeaturizer.training import TrainConfig, pretrain
from dimfeaturizer.training import loop

torch.set_num_threads(2)
weights, width = sys.argv[1], int(sys.argv[2])
df, splits = frame_and_splits()
init = load_pretrained(weights)
config = dataclasses.replace(init.config, post_pool_hidden=width)

def probe(name, model):
    ridge_probe(name, model, df, splits)

for s in range(3):
    probe(f"untrained-w{width}-seed{s}", untrained_model(config, s))
model = untrained_model(config, 0)
model.local.load_state_dict(init.local.state_dict())
model.local_critic.load_state_dict(init.local_critic.state_dict())
probe(f"hybrid-w{width}", model)
calls = []
orig = torch.optim.AdamW
def optimiser(params, **k):
    calls.append(1)
    if len(calls) == 1:  # the local level: frozen
        k["lr"] = 0.0
    return orig(params, **k)
loop.torch.optim.AdamW = optimiser  # only the experiment script does this
structures = list(df["structure"].iloc[splits.train_pool[5000:10000]])
packed = prepare_all(structures, list(range(len(structures))), config)
t0 = time.time()
result = pretrain(model, packed, TrainConfig(epochs=10, learning_rate=8.12e-4, progress=False,
                                             compile=True, seed=0))
val = {k: round(v, 3) for k, v in result.history[-1].items() if k.startswith("val")}
print(f"trained-w{width}", f"{time.time() - t0:.0f} s", "best epoch", result.best_epoch, val, flush=True)
probe(f"trained-w{width}", model)
