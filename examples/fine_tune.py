"""Fine-tuning: the pretrained encoder and a small head trained end to end on labels.

Runs as is, offline, on the 40 example crystals that ship with the package (a toy size:
the README's transfer benchmark says when fine-tuning pays off):

    python examples/fine_tune.py
"""

import tempfile
import warnings

import numpy as np
from sklearn.model_selection import cross_val_predict

from dimfeaturizer import DEFAULT_PRETRAINED, DIMClassifier, DIMEncoder, DIMRegressor
from dimfeaturizer.io import example_dataframe

warnings.filterwarnings("ignore", module="pymatgen")

df = example_dataframe()  # structure, formula, e_form (eV/atom), gap (eV)
X = df["structure"]

# 1. Regression: the bundled weights fine-tuned on formation energy: an ensemble of five
#    members, each trained on every label of the training fold (nothing is held out by
#    default; with validation_fraction=0.2 each member holds out a fifth, stops early on
#    it and reports its error in training_["validation_mae"]). epochs is the length of
#    the cosine schedule: 40 keeps this demo short, the default is 50. random_state makes
#    it reproducible.
model = DIMRegressor(epochs=40, random_state=0)
pred = cross_val_predict(model, X, df["e_form"], cv=3)
print(f"fine-tuned, 3-fold CV MAE on e_form: {np.abs(pred - df['e_form']).mean():.3f} eV/atom")

# The transfer control: the same architecture from random weights.
control = DIMRegressor(pretrained=None, config=DEFAULT_PRETRAINED, epochs=40, random_state=0)
pred0 = cross_val_predict(control, X, df["e_form"], cv=3)
print(f"same from random weights:             {np.abs(pred0 - df['e_form']).mean():.3f} eV/atom")

# 2. Classification: metal (zero gap) or not, with balanced class weights.
metal = np.where(df["gap"] == 0, "metal", "non-metal")
clf = DIMClassifier(class_weight="balanced", epochs=40, random_state=0)
clf.fit(X[:30], metal[:30])
print("metal probabilities:", clf.predict_proba(X[30:34])[:, 0].round(2))

# 3. Save, reload, and reuse the fine-tuned encoder: as a featuriser, or to start a
#    model for another property (supervised transfer, e_form -> gap).
model.fit(X, df["e_form"])
with tempfile.TemporaryDirectory() as folder:
    model.save_pretrained(folder)
    same = DIMRegressor.from_pretrained(folder)
    assert np.array_equal(same.predict(X), model.predict(X))
    vectors = DIMEncoder(pretrained=folder).fit_transform(X)  # the fine-tuned vectors
    gap_model = DIMRegressor(pretrained=folder, epochs=40, random_state=0)
    gap_model.fit(X[:30], df["gap"][:30])
    gap_mae = np.abs(gap_model.predict(X[30:]) - df["gap"][30:]).mean()
print(f"fine-tuned vectors: {vectors.shape}; e_form -> gap on 10 held-out: {gap_mae:.2f} eV")
