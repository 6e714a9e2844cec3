"""Research: does distance in latent space rank fine-tuned errors better than the members' spread?
E_form N=250, MP validation slice, subsets 0..3 (the slice protocol). Saves per-subset arrays."""
import pickle, sys, time, warnings
import numpy as np, torch
from torch import nn
sys.path.insert(0, "/work/main")
from benchmarks.transfer import labelled
from dimfeaturizer.estimators import DIMRegressor, DIMEncoder
from dimfeaturizer.inference import encode
warnings.simplefilter("ignore")
torch.set_num_threads(2)
target, n = sys.argv[1], int(sys.argv[2]); repeats = [int(r) for r in sys.argv[3:]]
data = pickle.load(open("/work/main/benchmarks/results/transfer-defaults/mixed-starts/data-validation.pkl", "rb"))
pool, scored = data["pool"], data["scored"]
Xs = list(scored["structure"]); ys = scored[target].to_numpy(float)

def hidden_of(model):
    m = type(model).__new__(type(model)); nn.Module.__init__(m)
    m.encoder, m.n_features, m.site_max = model.encoder, model.n_features, model.site_max
    lin = model.head[0]; eye = nn.Linear(lin.out_features, lin.out_features)
    with torch.no_grad():
        eye.weight.copy_(torch.eye(lin.out_features)); eye.bias.zero_()
    m.head = nn.Sequential(*list(model.head)[:-1], eye)
    return m.eval()

def inputs_of(model):
    m = hidden_of(model); w = model.head[0].in_features
    m.head = nn.Sequential(nn.Identity(), ) ; 
    eye = nn.Linear(w, w)
    with torch.no_grad():
        eye.weight.copy_(torch.eye(w)); eye.bias.zero_()
    m.head = nn.Sequential(eye)
    return m.eval()

for r in repeats:
    sub = labelled(len(pool), n, r)
    X = list(pool["structure"].iloc[sub]); y = pool[target].to_numpy(float)[sub]
    t = time.perf_counter()
    est = DIMRegressor(random_state=r, n_jobs=2).fit(X, y)
    fit_s = time.perf_counter() - t
    mean, std = est.predict(Xs, return_std=True)
    out = dict(y=ys, mean=mean, std=std, y_train=y, fit_s=fit_s, hid_tr=[], hid_te=[], inp_tr=[], inp_te=[],
               tr_pred=est.predict(X, return_std=True))
    for model in est.models_:
        for key, f in (("hid", hidden_of), ("inp", inputs_of)):
            m = f(model)
            out[key + "_tr"].append(encode(m, X, device="cpu"))
            out[key + "_te"].append(encode(m, Xs, device="cpu"))
    enc = DIMEncoder().fit()
    out["frozen_tr"], out["frozen_te"] = enc.transform(X), enc.transform(Xs)
    pickle.dump(out, open(f"/tmp/q/lat/{target}-{n}-{r}.pkl", "wb"))
    print(r, "fit", round(fit_s), "mae", np.abs(mean - ys).mean(), flush=True)
