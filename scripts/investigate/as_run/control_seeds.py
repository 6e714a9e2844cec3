"""The untrained control's spread over initialisations (Ridge, 3 subsets, validation and test).

    python scripts/investigate/as_run/control_seeds.py 0 1 2 3 4

Seed s is ``untrained_model(None, s)``; the benchmark's control is
``DIMEncoder(pretrained=None, random_state=0)``, printed as "benchmark".
"""
import sys
import numpy as np, torch
sys.path.insert(0, "scripts/investigate")
from common import frame_and_splits
from sklearn.pipeline import Pipeline
from dimfeaturizer.benchmarks.representation import head_steps
from dimfeaturizer.estimator import DIMEncoder
from dimfeaturizer.hub import untrained_model
from dimfeaturizer.inference import encode
torch.set_num_threads(1)
df, splits = frame_and_splits()
label = df.iloc[splits.label_pool]
position = {p: i for i, p in enumerate(splits.label_pool)}
models = [(f"seed {s}", untrained_model(None, int(s))) for s in sys.argv[1:]]
models.append(("benchmark", DIMEncoder(pretrained=None, random_state=0).fit().model_))
for name, model in models:
    xl = encode(model, list(label["structure"]))
    for where, rows in [("validation", splits.train_pool[-2000:]), ("test", splits.test)]:
        held = df.iloc[rows]
        xt = encode(model, list(held["structure"]))
        for target in ["e_form", "gap"]:
            row = []
            for n in [50, 100, 250, 1000]:
                maes = []
                for r in range(3):
                    idx = [position[i] for i in splits.labelled(n, r)]
                    pipe = Pipeline(head_steps("ridge", r)).fit(xl[idx], label[target].to_numpy()[idx])
                    maes.append(np.abs(pipe.predict(xt) - held[target].to_numpy()).mean())
                row.append(np.median(maes))
            print(name, where, target, "ridge", " ".join(f"{m:.4f}" for m in row), flush=True)
