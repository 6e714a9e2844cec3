"""Protocol Ridge vs the same Ridge without standardisation (the paper fed its DIM
vectors to scikit-learn unnormalised), pretrained vs untrained mu, 5 subsets.

    python scripts/investigate/as_run/unscaled.py WEIGHTS
"""
import sys
import numpy as np, torch
sys.path.insert(0, "scripts/investigate")
from common import frame_and_splits
from sklearn.impute import SimpleImputer
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import Pipeline
from dimfeaturizer.benchmarks.representation import head_steps
from dimfeaturizer.hub import load_pretrained, untrained_model
from dimfeaturizer.inference import encode

torch.set_num_threads(1)
df, splits = frame_and_splits()
label, test = df.iloc[splits.label_pool], df.iloc[splits.test]
position = {p: i for i, p in enumerate(splits.label_pool)}
heads = {"protocol": lambda r: head_steps("ridge", r),
         "unscaled": lambda r: [("impute", SimpleImputer()),
                                ("ridge", RidgeCV(alphas=np.logspace(-3, 3, 13)))]}
for name, model in [("pretrained", load_pretrained(sys.argv[1])), ("untrained", untrained_model(None, 0))]:
    xl, xt = encode(model, list(label["structure"])), encode(model, list(test["structure"]))
    for head, steps in heads.items():
        for target in ["e_form", "gap"]:
            row = []
            for n in [50, 100, 250, 1000]:
                maes = []
                for r in range(5):
                    idx = [position[i] for i in splits.labelled(n, r)]
                    pipe = Pipeline(steps(r)).fit(xl[idx], label[target].to_numpy()[idx])
                    maes.append(np.abs(pipe.predict(xt) - test[target].to_numpy()).mean())
                row.append(np.median(maes))
            print(name, head, target, " ".join(f"{m:.4f}" for m in row), flush=True)
