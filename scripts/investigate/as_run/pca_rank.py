"""Does restricting features to their top-k principal directions explain the large-N loss?

    python scripts/investigate/as_run/pca_rank.py untrained runs/mp-linz/best

(Run from the repository root.)
"""
import sys, numpy as np, torch
sys.path.insert(0, "scripts/investigate")
from common import frame_and_splits
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from dimfeaturizer.benchmarks.representation import head_steps
from dimfeaturizer.hub import load_pretrained, untrained_model
from dimfeaturizer.config import SiteNetConfig
from dimfeaturizer.inference import encode
from torch import nn
torch.set_num_threads(2)
df, splits = frame_and_splits()
label, test = df.iloc[splits.label_pool], df.iloc[splits.test]
position = {p: i for i, p in enumerate(splits.label_pool)}
def load(spec):
    if spec == "untrained":
        return untrained_model(None, 0)
    if spec.endswith(".pt"):
        m = untrained_model(None, 0)
        sd = torch.load(spec)
        if sd["global_critic.u_z.weight"].shape[1] == 128 and "global_critic.u_z.2.weight" not in sd and "global_critic.u_z.0.weight" not in sd:
            m.global_critic.u_z = nn.Linear(128, 128)
        m.load_state_dict(sd, strict=False)
        return m
    return load_pretrained(spec)
def score(xl, xt, target, ns=(250, 1000), reps=3):
    out = []
    for n in ns:
        maes = []
        for r in range(reps):
            idx = [position[i] for i in splits.labelled(n, r)]
            pipe = Pipeline(head_steps("ridge", r)).fit(xl[idx], label[target].to_numpy()[idx])
            maes.append(np.abs(pipe.predict(xt) - test[target].to_numpy()).mean())
        out.append(np.median(maes))
    return out
for spec in sys.argv[1:]:
    model = load(spec).eval()
    xl = encode(model, list(label["structure"])); xt = encode(model, list(test["structure"]))
    z = StandardScaler().fit(xl).transform(xl)
    ev = np.linalg.eigvalsh(np.cov(z.T))[::-1]; p = ev / ev.sum()
    er = np.exp(-(p * np.log(p + 1e-12)).sum())
    print(spec, "eff rank %.1f" % er, "n>1%%: %d" % (p > 0.01).sum(), "clip frac test %.4f" % (np.abs(StandardScaler().fit(xl).transform(xt)) > 5).mean(), flush=True)
    for k in [8, 16, 24, 32, 64, 128]:
        pca = PCA(k).fit(z)
        fl = pca.transform(z); ft = pca.transform(StandardScaler().fit(xl).transform(xt))
        print("  k=%d" % k, "e_form N=250/1000 %.3f %.3f" % tuple(score(fl, ft, "e_form")), flush=True)
