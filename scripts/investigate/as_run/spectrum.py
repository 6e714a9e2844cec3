"""Active units of mu: per-dimension spread of mu and predicted sigma on the test set.

    python scripts/investigate/spectrum.py WEIGHTS
"""
import sys, numpy as np, torch
sys.path.insert(0, "scripts/investigate")
from common import frame_and_splits
from dimfeaturizer.hub import load_pretrained, untrained_model
from dimfeaturizer.inference import prepare_all
from dimfeaturizer.data.batch import batches_by_sites
df, splits = frame_and_splits()
st = list(df["structure"].iloc[splits.test])
def feats(model):
    packed = prepare_all(st, list(range(len(st))), model.config)
    mus, sig = [], []
    with torch.no_grad():
        for b in batches_by_sites(packed.n_prim, np.arange(len(st)), 4096):
            batch = packed.batch(b)
            site, _ = model.encode_sites(batch.row_species, batch.neighbour_species, batch.distances, batch.mask)
            m, lv = model.global_(site, batch.row_crystal, batch.n_crystals)
            mus.append(m); sig.append((0.5*lv).exp())
    return torch.cat(mus).numpy(), torch.cat(sig).numpy()
for name, model in [("pre", load_pretrained(sys.argv[1])), ("un", untrained_model(None, 0))]:
    mu, s = feats(model)
    z = (mu - mu.mean(0)) / (mu.std(0) + 1e-12)
    ev = np.linalg.eigvalsh(np.cov(z.T))[::-1]
    p = ev / ev.sum()
    print(name, "eff rank", np.exp(-(p*np.log(p+1e-12)).sum()).round(1), "top10 var frac", p[:10].sum().round(3),
          "n eig>1%", (p > 0.01).sum(), "mu std quantiles", np.quantile(mu.std(0), [0, .25, .5, .75, 1]).round(3),
          "sigma median per dim quantiles", np.quantile(np.median(s, 0), [0, .25, .5, .75, 1]).round(3),
          "frac |z|>5", (np.abs(z) > 5).mean().round(4))
