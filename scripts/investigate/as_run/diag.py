import pickle, sys, warnings, numpy as np, torch
warnings.simplefilter("ignore"); torch.set_num_threads(1)
from dimfeaturizer.hub import load_pretrained, untrained_model
from dimfeaturizer.inference import prepare_all
from dimfeaturizer.data.batch import batches_by_sites
from dimfeaturizer.model.sitenet import segment_mean
from dimfeaturizer.benchmarks.representation import head_steps
from sklearn.pipeline import Pipeline
d = pickle.load(open('/tmp/dev/needed.pkl','rb'))
lab, test = d["label"], d["test"]
pos = {p: i for i, p in enumerate(d["splits"].label_pool)}
def feats(model, S):
    packed = prepare_all(S, list(range(len(S))), model.config)
    out = {k: [] for k in ("site_mean", "prepool", "post_hidden", "mu")}
    order = np.arange(len(S)); idxs = []
    with torch.no_grad():
        for b in batches_by_sites(packed.n_prim, order, 4096):
            batch = packed.batch(b)
            smu, _ = model.encode_sites(batch.row_species, batch.neighbour_species, batch.distances, batch.mask)
            g = model.global_
            pre = segment_mean(g.pre_pool(smu), batch.row_crystal, batch.n_crystals)
            h = g.post_pool(pre)
            out["site_mean"].append(segment_mean(smu, batch.row_crystal, batch.n_crystals)); out["prepool"].append(pre); out["post_hidden"].append(h); out["mu"].append(g.mu(h))
    return {k: torch.cat(v).numpy() for k, v in out.items()}
for name, model in [("trained", load_pretrained(sys.argv[1])), ("untrained", untrained_model(None, 0))]:
    fl, ft = feats(model, list(lab.structure)), feats(model, list(test.structure))
    for k in fl:
        row = []
        for n in (100, 1000):
            m = []
            for r in range(3):
                idx = [pos[i] for i in d["splits"].labelled(n, r)]
                p = Pipeline(head_steps("ridge", r)).fit(fl[k][idx], lab.e_form.values[idx])
                m.append(np.abs(p.predict(ft[k]) - test.e_form.values).mean())
            row.append(np.median(m))
        print(name, k, fl[k].shape[1], " ".join(f"{x:.4f}" for x in row), flush=True)
