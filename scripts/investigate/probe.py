"""Ridge/MLP probe of pretrained vs untrained features on the protocol's splits.

    python scripts/investigate/probe.py WEIGHTS[,WEIGHTS...] [REPEATS] [HEAD] [SIZES] [TARGETS]
        [--layers] [--validation] [--control-seeds=0,1,2]

Prints the median test MAE over REPEATS labelled subsets for each N. With --layers it
also probes intermediate representations (mean site vector, pooled pre-pool vector,
post-pool hidden layer, global mu) to see where information is lost. With --validation
it scores on the last 2,000 crystals of the train pool instead of the test set: choices
between settings are made there, so that the test set only reports. The untrained
control has the first weights' architecture, at each of --control-seeds (default 0;
--control-seeds=none for no control), drawn as the benchmark draws it
(``featuriser("dim_untrained_rs<seed>", weights)``). (Before 2026-11-22 it was
``untrained_model(config, seed)``, a different draw for the same number.)
"""

import sys

import numpy as np
import torch
from common import frame_and_splits
from sklearn.pipeline import Pipeline

from dimfeaturizer.benchmarks.representation import featuriser, head_steps
from dimfeaturizer.data.batch import batches_by_sites
from dimfeaturizer.hub import load_pretrained
from dimfeaturizer.inference import prepare_all
from dimfeaturizer.model.sitenet import segment_mean

torch.set_num_threads(1)
args = [a for a in sys.argv[1:] if not a.startswith("--")]
layers = "--layers" in sys.argv
validation = "--validation" in sys.argv
seeds = [a.split("=", 1)[1] for a in sys.argv if a.startswith("--control-seeds=")]
seeds = [int(x) for x in seeds[0].split(",") if x != "none"] if seeds else [0]
weights = args[0]
repeats = int(args[1]) if len(args) > 1 else 5
head = args[2] if len(args) > 2 else "ridge"
sizes = [int(x) for x in args[3].split(",")] if len(args) > 3 else [50, 100, 250, 1000]
targets = args[4].split(",") if len(args) > 4 else ["e_form", "gap"]
df, splits = frame_and_splits()
label = df.iloc[splits.label_pool]
test = df.iloc[splits.train_pool[-2000:] if validation else splits.test]
position = {p: i for i, p in enumerate(splits.label_pool)}


@torch.no_grad()
def features(model, structures):
    packed = prepare_all(structures, list(range(len(structures))), model.config)
    out = {"site_mean": [], "prepool": [], "post_hidden": [], "mu": []}
    for b in batches_by_sites(packed.n_prim, np.arange(len(structures)), 4096):
        batch = packed.batch(b)
        site, _ = model.encode_sites(
            batch.row_species, batch.neighbour_species, batch.distances, batch.mask
        )
        g = model.global_
        pre = segment_mean(g.pre_pool(site), batch.row_crystal, batch.n_crystals)
        hidden = g.post_pool(pre)
        for key, value in zip(
            out,
            (segment_mean(site, batch.row_crystal, batch.n_crystals), pre, hidden, g.mu(hidden)),
        ):
            out[key].append(value)
    keys = list(out) if layers else ["mu"]
    return {k: torch.cat(out[k]).numpy() for k in keys}


models = [(w, load_pretrained(w)) for w in weights.split(",")]
controls = [  # the benchmark's control steps, with the first weights' architecture
    (f"untrained-rs{s}", featuriser(f"dim_untrained_rs{s}", models[0][0]).fit().model_)
    for s in seeds
]
models = controls + models
for name, model in models:
    xl, xt = features(model, list(label["structure"])), features(model, list(test["structure"]))
    for target in targets:
        for key in xl:
            row = []
            for n in sizes:
                maes = []
                for r in range(repeats):
                    idx = [position[i] for i in splits.labelled(n, r)]
                    pipe = Pipeline(head_steps(head, r)).fit(
                        xl[key][idx], label[target].to_numpy()[idx]
                    )
                    maes.append(np.abs(pipe.predict(xt[key]) - test[target].to_numpy()).mean())
                row.append(np.median(maes))
            print(target, head, name, key, " ".join(f"{m:.4f}" for m in row), flush=True)
