"""The global head alone, trained on a frozen pretrained local encoder with another optimiser.

    python scripts/investigate/as_run/global_optimizer.py NAME WEIGHTS '{"optimizer": "sgd", "lr": 0.01}'

Local encoder and local critic from WEIGHTS, frozen (local learning rate 0); the global head
and critic (linear u_z) start from untrained_model(config, 0), as in the hybrid, and train on
train_pool[5000:10000] for 10 epochs with the paper's objective. JSON: ``optimizer``
("adamw" as in the package, or "sgd" with momentum 0.9), ``lr``, ``epochs``. Saves the
weights to .cache/investigate/NAME and probes mu with Ridge (3 subsets) on the validation
slice (last 2,000 train-pool crystals) and on the test set. Investigation only: it patches
the optimiser from outside the package.
"""
import json, sys, time
import torch
sys.path.insert(0, "scripts/investigate")
from common import CACHE, frame_and_splits, ridge_probe
from dimfeaturizer.hub import load_pretrained, save_pretrained, untrained_model
from dimfeaturizer.inference import prepare_all
from dimfeaturizer.training import TrainConfig, pretrain
from dimfeaturizer.training import loop

torch.set_num_threads(1)
name, weights, kw = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
df, splits = frame_and_splits()
init = load_pretrained(weights)
config = init.config
model = untrained_model(config, 0)
model.local.load_state_dict(init.local.state_dict())
model.local_critic.load_state_dict(init.local_critic.state_dict())
kind, lr = kw.get("optimizer", "adamw"), kw.get("lr", 8.12e-4)
calls = []
orig = torch.optim.AdamW
def optimiser(params, **k):
    calls.append(1)
    k.pop("lr")
    if len(calls) == 1:  # the local level: frozen
        return orig(params, lr=0.0, **k)
    if kind == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9)
    return orig(params, lr=lr, **k)
loop.torch.optim.AdamW = optimiser  # only the experiment script does this
structures = list(df["structure"].iloc[splits.train_pool[5000:10000]])
packed = prepare_all(structures, list(range(len(structures))), config)
t0 = time.time()
result = pretrain(model, packed, TrainConfig(epochs=kw.get("epochs", 10), learning_rate=lr,
                                             progress=False, compile=True, seed=0))
val = {k: round(v, 3) for k, v in result.history[-1].items() if k.startswith("val")}
print(name, f"{time.time() - t0:.0f} s", "best epoch", result.best_epoch, val, flush=True)
save_pretrained(model, CACHE / name)
ridge_probe(name, model, df, splits)
