"""Pretrained vs untrained vs hybrid (pretrained local encoder + untrained global head).

    python scripts/investigate/hybrid.py WEIGHTS REPEATS ridge
"""
import sys
import numpy as np, torch
sys.path.insert(0, "scripts/investigate")
from common import frame_and_splits
from sklearn.pipeline import Pipeline
from dimfeaturizer.benchmarks.representation import head_steps
from dimfeaturizer.hub import load_pretrained, untrained_model
from dimfeaturizer.inference import encode_packed, prepare_all
torch.set_num_threads(2)
weights, repeats, head = sys.argv[1], int(sys.argv[2]), sys.argv[3]
sizes = [50, 100, 250, 1000]
df, splits = frame_and_splits()
label, test = df.iloc[splits.label_pool], df.iloc[splits.test]
position = {p: i for i, p in enumerate(splits.label_pool)}
pre = load_pretrained(weights); un = untrained_model(None, 0)
hyb = untrained_model(None, 0); hyb.local.load_state_dict(pre.local.state_dict())
from dimfeaturizer.inference import encode
for name, model in [("pretrained", pre), ("untrained", un), ("hybrid", hyb)]:
    xl = encode(model, list(label["structure"])); xt = encode(model, list(test["structure"]))
    for target in ["e_form", "gap"]:
        row = []
        for n in sizes:
            maes = []
            for r in range(repeats):
                idx = [position[i] for i in splits.labelled(n, r)]
                pipe = Pipeline(head_steps(head, r)).fit(xl[idx], label[target].to_numpy()[idx])
                maes.append(np.abs(pipe.predict(xt) - test[target].to_numpy()).mean())
            row.append(np.median(maes))
        print(target, head, name, " ".join(f"{m:.4f}" for m in row), flush=True)
