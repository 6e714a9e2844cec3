"""Small-scale experiments on the global level: train, then probe mu (Ridge, 3 subsets).

    python scripts/investigate/global_level.py NAME '{"linear_global_uz": true}'

Trains on train_pool[5000:10000] for 10 epochs (1 torch thread, compiled kernels) with
the run's hyper-parameters changed by the JSON: ``global_lr`` (the global optimiser's
learning rate), ``global_beta`` / ``local_beta`` (KL weight of one level only), ``linear_global_uz``
(the global critic's u_z a single linear layer), ``linear_local_uz`` (the same for the
local critic), ``pair_weighting``, ``false_samples`` (a list), ``global_false_samples`` (the
global level's synthetic kinds), ``model`` (config
fields). Saves the state dict to /tmp/x/NAME.pt. Investigation only: it patches the
optimiser and the loss from outside the package.
"""
import json, sys, time
import numpy as np, torch
sys.path.insert(0, "scripts/investigate")
from common import CACHE, frame_and_splits
from sklearn.pipeline import Pipeline
from torch import nn
from dimfeaturizer.benchmarks.representation import head_steps
from dimfeaturizer.config import SiteNetConfig
from dimfeaturizer.hub import load_pretrained, save_pretrained, untrained_model
from dimfeaturizer.inference import encode, prepare_all
from dimfeaturizer.training import TrainConfig, pretrain
from dimfeaturizer.training import loop, objective

torch.set_num_threads(1)
name, kw = sys.argv[1], json.loads(sys.argv[2])
epochs = kw.pop("epochs", 10)
df, splits = frame_and_splits()
lo, hi = kw.pop("slice", [5000, 10000])
structures = list(df["structure"].iloc[splits.train_pool[lo:hi]])
config = SiteNetConfig(**kw.pop("model", {}))
seed = kw.pop("seed", 0)  # initialisation and training (shuffle, noise, false samples)
model = untrained_model(config, seed)
if "init" in kw:
    init = load_pretrained(kw.pop("init"))
    model.local.load_state_dict(init.local.state_dict())
    model.local_critic.load_state_dict(init.local_critic.state_dict())
    if not kw.pop("reinit_global", True):
        model.global_.load_state_dict(init.global_.state_dict())
        model.global_critic.load_state_dict(init.global_critic.state_dict())
if kw.pop("linear_local_uz", False):
    torch.manual_seed(2)
    model.local_critic.u_z = nn.Linear(config.local_dim, config.upscale_dim)
if kw.pop("linear_global_uz", False):
    torch.manual_seed(1)
    model.global_critic.u_z = nn.Linear(config.global_dim, config.upscale_dim)
lrs = [kw.pop("learning_rate", 8.12e-4)]
lrs.append(kw.pop("global_lr", lrs[0]))
lrs[0] = kw.pop("local_lr", lrs[0])
orig = torch.optim.AdamW
calls = []
def adamw(params, lr, **k):
    calls.append(1)
    return orig(params, lr=lrs[len(calls) - 1], **k)
loop.torch.optim.AdamW = adamw  # only the experiment script does this
gb = kw.pop("global_beta", None)
lb = kw.pop("local_beta", None)
if gb is not None or lb is not None:
    def total(self, alpha, beta):
        g = beta if gb is None else gb
        l = beta if lb is None else lb
        return alpha * self.dim_local + l * self.kl_local + alpha * self.dim_global + g * self.kl_global
    objective.Losses.total = total
if "global_false_samples" in kw:  # synthetic kinds at the global level only
    import functools
    loop.dim_losses = functools.partial(objective.dim_losses,
                                        global_false_samples=tuple(kw.pop("global_false_samples")))
if "false_samples" in kw:
    kw["false_samples"] = tuple(kw["false_samples"])
packed = prepare_all(structures, list(range(len(structures))), config)
t0 = time.time()
result = pretrain(model, packed, TrainConfig(epochs=epochs, learning_rate=lrs[0], progress=False,
                                             compile=True, seed=seed, **kw))
val = {k: round(v, 3) for k, v in result.history[-1].items() if k.startswith("val")}
print(name, f"{time.time() - t0:.0f} s", "best epoch", result.best_epoch, val, flush=True)
torch.save(model.state_dict(), f"/tmp/x/{name}.pt")
model.eval()
label, test = df.iloc[splits.label_pool], df.iloc[splits.test]
position = {p: i for i, p in enumerate(splits.label_pool)}
probes = [(name, model)]
if kw.pop("probe_untrained", False) or config != SiteNetConfig():  # its own control
    probes.append((name + "-untrained", untrained_model(config, 0)))
for name, model in probes:
  xl = encode(model, list(label["structure"])); xt = encode(model, list(test["structure"]))
  for target in ["e_form", "gap"]:
    row = []
    for n in [50, 100, 250, 1000]:
        maes = []
        for r in range(3):
            idx = [position[i] for i in splits.labelled(n, r)]
            pipe = Pipeline(head_steps("ridge", r)).fit(xl[idx], label[target].to_numpy()[idx])
            maes.append(np.abs(pipe.predict(xt) - test[target].to_numpy()).mean())
        row.append(np.median(maes))
    print(name, target, "ridge", " ".join(f"{m:.4f}" for m in row), flush=True)
