"""Quickstart: pretrained DIM features in a scikit-learn Pipeline and a matminer dataframe.

Runs as is, offline, on the 40 example crystals that ship with the package:

    python examples/quickstart.py
"""

import warnings

import numpy as np
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import Pipeline

from dimfeaturizer import DEFAULT_PRETRAINED, DeepInfoMaxFeaturizer, DIMEncoder, VectorScaler
from dimfeaturizer.io import example_dataframe

warnings.filterwarnings("ignore", module="pymatgen")

df = example_dataframe()  # structure, formula, e_form (eV/atom), gap (eV)

# 1. scikit-learn: the frozen pretrained encoder is the first step of a Pipeline.
#    fit() only loads the bundled weights; nothing is trained on these 40 labels but Ridge.
#    VectorScaler scales the vector as a whole: a per-column StandardScaler would blow the
#    many small (KL-shrunk) dimensions up to the size of the few large ones.
pipe = Pipeline([
    ("dim", DIMEncoder()),
    ("scale", VectorScaler()),
    ("ridge", RidgeCV(alphas=np.logspace(-3, 3, 13))),
])
pred = cross_val_predict(pipe, df["structure"], df["e_form"], cv=5)
mae = np.abs(pred - df["e_form"]).mean()
print(f"5-fold CV MAE on formation energy, 40 crystals: {mae:.3f} eV/atom")

# The untrained control: the bundled weights' architecture, random weights. Always compare
# against it (and, since random draws differ a lot, at a few random_states).
control = pipe.set_params(
    dim=DIMEncoder(pretrained=None, config=DEFAULT_PRETRAINED, random_state=0)
)
pred0 = cross_val_predict(control, df["structure"], df["e_form"], cv=5)
mae0 = np.abs(pred0 - df["e_form"]).mean()
print(f"same with untrained (random) weights:             {mae0:.3f} eV/atom")

# 2. matminer: the same vectors as dataframe columns dim_0 ... dim_127.
featurized = DeepInfoMaxFeaturizer().featurize_dataframe(df, "structure", pbar=False)
print(featurized.filter(like="dim_").iloc[:3, :4])

# 3. pandas output keeps the structures' index (MP ids).
vectors = DIMEncoder().set_output(transform="pandas").fit_transform(df["structure"])
print(vectors.shape, vectors.index[:3].tolist())
