"""Does the distance to the training crystals in latent space rank fine-tuned errors better
than the members' spread? (research for the distance factor of ``predict``'s std)

    python benchmarks/results/transfer-defaults/latent-std/run.py TARGET N REPEAT...

One ``DIMRegressor()`` fit per subset of the MP protocol's validation mode (the pickle the
transfer benchmark's ``--validation`` run wrote into ``mixed-starts/``), scored on the
validation slice. Saves each subset's predictions, the members' bare spread, and every
member's head input and hidden layer for the training and scored crystals to ``$OUT``
(default ``/tmp/q/lat``), which ``analyse.py`` reads. Tidied for ruff after it ran (the
computation is the same; the bare spread is now asked for by clearing the fitted
latents, since ``predict`` multiplies the spread by the factor this script studies).
"""

from __future__ import annotations

import os
import pickle
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[4]
DATA = ROOT / "benchmarks/results/transfer-defaults/mixed-starts/data-validation.pkl"


def _identity(width: int) -> nn.Linear:
    layer = nn.Linear(width, width)
    with torch.no_grad():
        layer.weight.copy_(torch.eye(width))
        layer.bias.zero_()
    return layer


def _view(model, head: nn.Sequential):
    """The member with another head: the encoder (and its site maxima) unchanged."""
    view = type(model).__new__(type(model))
    nn.Module.__init__(view)
    view.encoder, view.n_features, view.site_max = model.encoder, model.n_features, model.site_max
    view.head = head
    return view.eval()


def hidden_of(model):
    """The head's hidden layer as outputs."""
    return _view(model, nn.Sequential(*list(model.head)[:-1], _identity(model.hidden)))


def inputs_of(model):
    """The head's input (the crystal vector and its sites' maxima) as outputs."""
    return _view(model, nn.Sequential(_identity(model.head[0].in_features)))


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from benchmarks.transfer import labelled
    from dimfeaturizer.estimators import DIMEncoder, DIMRegressor
    from dimfeaturizer.inference import encode

    warnings.simplefilter("ignore")
    torch.set_num_threads(2)
    out_dir = Path(os.environ.get("OUT", "/tmp/q/lat"))
    target, n, repeats = sys.argv[1], int(sys.argv[2]), [int(r) for r in sys.argv[3:]]
    with open(DATA, "rb") as fh:
        data = pickle.load(fh)
    pool, scored = data["pool"], data["scored"]
    scored_x, scored_y = list(scored["structure"]), scored[target].to_numpy(float)
    for r in repeats:
        subset = labelled(len(pool), n, r)
        x, y = list(pool["structure"].iloc[subset]), pool[target].to_numpy(float)[subset]
        start = time.perf_counter()
        est = DIMRegressor(random_state=r, n_jobs=2).fit(x, y)
        fit_s = time.perf_counter() - start
        est.training_latents_ = None  # the members' bare spread
        mean, std = est.predict(scored_x, return_std=True)
        out = dict(y=scored_y, mean=mean, std=std, y_train=y, fit_s=fit_s,
                   tr_pred=est.predict(x, return_std=True),
                   hid_tr=[], hid_te=[], inp_tr=[], inp_te=[])  # fmt: skip
        for model in est.models_:
            for key, view in (("hid", hidden_of), ("inp", inputs_of)):
                out[key + "_tr"].append(encode(view(model), x, device="cpu"))
                out[key + "_te"].append(encode(view(model), scored_x, device="cpu"))
        frozen = DIMEncoder().fit()
        out["frozen_tr"], out["frozen_te"] = frozen.transform(x), frozen.transform(scored_x)
        with open(out_dir / f"{target}-{n}-{r}.pkl", "wb") as fh:
            pickle.dump(out, fh)
        print(r, "fit", round(fit_s), "mae", np.abs(mean - scored_y).mean(), flush=True)


if __name__ == "__main__":
    main()
