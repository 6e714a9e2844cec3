"""Dev-only quick check: ridge on pretrained vs untrained features (5 repeats)."""
import pickle, sys, warnings, numpy as np
warnings.simplefilter("ignore")
from dimfeaturizer import DIMEncoder
from dimfeaturizer.benchmarks.representation import head_steps
from sklearn.pipeline import Pipeline
d = pickle.load(open('/tmp/dev/needed.pkl','rb'))
lab, test = d["label"], d["test"]
pos = {p: i for i, p in enumerate(d["splits"].label_pool)}
encs = {"trained": DIMEncoder(pretrained=sys.argv[1]), "untrained": DIMEncoder(pretrained=None, random_state=0)}
feats = {k: (e.fit().transform(list(lab.structure)), e.transform(list(test.structure))) for k, e in encs.items()}
for target in ["e_form", "gap"]:
    for k, (xl, xt) in feats.items():
        row = []
        for n in (50, 100, 250, 1000):
            maes = []
            for r in range(int(sys.argv[2]) if len(sys.argv) > 2 else 5):
                idx = [pos[i] for i in d["splits"].labelled(n, r)]
                pipe = Pipeline(head_steps("ridge", r)).fit(xl[idx], lab[target].values[idx])
                maes.append(np.abs(pipe.predict(xt) - test[target].values).mean())
            row.append(np.median(maes))
        print(target, k, " ".join(f"{m:.4f}" for m in row), flush=True)
