"""Scratch: which signal ranks validation-slice errors at MP e_form N=250? (validation slice only)"""
import pickle, sys, numpy as np, torch, warnings
warnings.simplefilter("ignore")
torch.set_num_threads(1)
from scipy.stats import spearmanr
from benchmarks.transfer import labelled
from dimfeaturizer import DIMRegressor
from dimfeaturizer.data.inputs import prepare_all
data = pickle.load(open("benchmarks/results/transfer-defaults/ensemble5/data-validation.pkl", "rb"))
pool, scored = data["pool"], data["scored"]
rep = int(sys.argv[1]) if len(sys.argv) > 1 else 0
sub = labelled(len(pool), 250, rep)
X = list(pool["structure"].iloc[sub]); y = pool["e_form"].to_numpy(float)[sub]
Xs = list(scored["structure"]); ys = scored["e_form"].to_numpy(float)
m = DIMRegressor(random_state=rep, n_jobs=1).fit(X, y)
mean, std = m.predict(Xs, return_std=True)
err = np.abs(ys - mean)
print("MAE", err.mean(), "spread", spearmanr(err, std).statistic)
def vecs(model, S):
    p = prepare_all(S, list(range(len(S))), model.encoder.config)
    out = []
    with torch.no_grad():
        for i in range(0, len(p), 200):
            out.append(model.vectors(p.batch(np.arange(i, min(i + 200, len(p))))).numpy())
    return np.concatenate(out)
from sklearn.preprocessing import StandardScaler
for k in (1, 5, 10):
    ds = []
    for model in m.models_:
        vt, vs = vecs(model, X), vecs(model, Xs)
        sc = StandardScaler().fit(vt)
        vt, vs = sc.transform(vt), sc.transform(vs)
        d = np.sqrt(((vs[:, None, :] - vt[None]) ** 2).sum(-1))
        ds.append(np.sort(d, axis=1)[:, :k].mean(1))
    d = np.mean(ds, 0)
    print("knn", k, spearmanr(err, d).statistic, "combined rank", spearmanr(err, np.argsort(np.argsort(d)) + np.argsort(np.argsort(std))).statistic)
# composition-space distance
from dimfeaturizer import CompositionFeatures
cf = CompositionFeatures().fit()
ct, cs = np.nan_to_num(cf.transform(X)), np.nan_to_num(cf.transform(Xs))
sc = StandardScaler().fit(ct); ct, cs = sc.transform(ct), sc.transform(cs)
d = np.sqrt(((cs[:, None, :] - ct[None]) ** 2).sum(-1))
print("magpie knn5", spearmanr(err, np.sort(d, 1)[:, :5].mean(1)).statistic)
print("|mean - ymean|", spearmanr(err, np.abs(mean - y.mean())).statistic)
