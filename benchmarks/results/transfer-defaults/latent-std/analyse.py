import pickle, sys, glob
import numpy as np
from scipy.stats import spearmanr
from sklearn.neighbors import NearestNeighbors

def knn_d(tr, te, k, loo=False):
    nn_ = NearestNeighbors(n_neighbors=k + loo).fit(tr)
    d, _ = nn_.kneighbors(te)
    return d[:, loo:].mean(1)

def member_d(trs, tes, k, scale):
    out = []
    for tr, te in zip(trs, tes):
        if scale:
            mu, sd = tr.mean(0), tr.std(0) + 1e-6
            tr, te = (tr - mu) / sd, (te - mu) / sd
        ref = np.median(knn_d(tr, tr, k, loo=True))
        out.append(knn_d(tr, te, k) / ref)
    return np.mean(out, 0)

for f in sorted(glob.glob(sys.argv[1])):
    o = pickle.load(open(f, "rb"))
    err = np.abs(o["y"] - o["mean"])
    row = {"spread": spearmanr(err, o["std"]).statistic}
    for key in ("hid", "inp"):
        for scale in (False, True):
            for k in (1, 5, 10):
                d = member_d(o[key + "_tr"], o[key + "_te"], k, scale)
                row[f"{key}{'z' if scale else ''}k{k}"] = spearmanr(err, d).statistic
                row[f"{key}{'z' if scale else ''}k{k}*sp"] = spearmanr(err, d * o["std"]).statistic
    for k in (5,):
        d = member_d([o["frozen_tr"]], [o["frozen_te"]], k, True)
        row[f"frozen k{k}"] = spearmanr(err, d).statistic
        row[f"frozen k{k}*sp"] = spearmanr(err, d * o["std"]).statistic
    print(f.split("/")[-1], "mae %.3f" % err.mean(), " ".join(f"{k}={v:.2f}" for k, v in row.items()))
