"""A matminer featuriser as a clone-safe scikit-learn transformer.

Some matminer featurisers do not store their constructor arguments (``OrbitalFieldMatrix``
forgets ``period_tag``), so ``sklearn.clone`` cannot rebuild them. The adapter stores the
class and its arguments instead and builds the featuriser in ``fit``.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from dimfeaturizer.data.inputs import as_structure_list


class MatminerTransformer(TransformerMixin, BaseEstimator):
    """``featurizer_cls(**params)`` (or ``featurizer_cls.from_preset(preset)``) applied to
    structures, or to their compositions with ``on="composition"``.

    Entries the featuriser fails on become NaN rows (imputed downstream), so a rare
    failure never aborts a benchmark; ``n_failed_`` counts them.
    """

    def __init__(self, featurizer_cls=None, params=None, *, preset=None, on="structure", n_jobs=1):
        self.featurizer_cls = featurizer_cls
        self.params = params
        self.preset = preset
        self.on = on
        self.n_jobs = n_jobs

    def _build(self):
        if self.preset is not None:
            return self.featurizer_cls.from_preset(self.preset, **(self.params or {}))
        return self.featurizer_cls(**(self.params or {}))

    def fit(self, X=None, y=None):
        if self.on not in ("structure", "composition"):
            raise ValueError(f"on must be 'structure' or 'composition', got {self.on!r}")
        self.featurizer_ = self._build()
        self.featurizer_.set_n_jobs(self.n_jobs)
        self.feature_names_ = list(self.featurizer_.feature_labels())
        return self

    def transform(self, X) -> np.ndarray:
        check_is_fitted(self, "featurizer_")
        entries, _ = as_structure_list(X)
        if self.on == "composition":
            entries = [s.composition for s in entries]
        rows = self.featurizer_.featurize_many(entries, ignore_errors=True, pbar=False)
        out = np.array(rows, dtype=np.float64).reshape(len(entries), len(self.feature_names_))
        self.n_failed_ = int(np.isnan(out).all(axis=1).sum())
        return out

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "featurizer_")
        return np.asarray(self.feature_names_, dtype=object)


class CHGNetFeatures(TransformerMixin, BaseEstimator):
    """CHGNet's crystal feature vector (the pooled representation its energy head reads):
    the pretrained-GNN anchor of the benchmark. CHGNet (``pip install chgnet``, in the
    ``bench`` extra) ships its weights in its wheel, so nothing is downloaded.

    CHGNet was trained on Materials Project relaxations, energies included, so on Materials
    Project targets it has seen near-labels of the test crystals: an anchor, not a fair
    self-supervised comparison. Structures CHGNet cannot build a graph for become NaN rows.
    """

    def __init__(self, model_name: str = "0.3.0", batch_size: int = 32):
        self.model_name = model_name
        self.batch_size = batch_size

    def fit(self, X=None, y=None):
        from chgnet.model import CHGNet

        self.model_ = CHGNet.load(model_name=self.model_name, verbose=False)
        self.model_.eval()
        self.n_features_ = self.model_.mlp.layers[0].in_features
        return self

    def _features(self, structures: list) -> np.ndarray:
        out = self.model_.predict_structure(
            structures, task="e", return_crystal_feas=True, batch_size=self.batch_size
        )
        out = [out] if isinstance(out, dict) else out
        return np.stack([self._row(p) for p in out])

    def _row(self, prediction: dict) -> np.ndarray:
        return np.asarray(prediction["crystal_fea"], dtype=np.float64)

    def transform(self, X) -> np.ndarray:
        check_is_fitted(self, "model_")
        entries, _ = as_structure_list(X)
        rows = np.full((len(entries), self.n_features_), np.nan)
        for start in range(0, len(entries), self.batch_size):
            batch = entries[start : start + self.batch_size]
            try:
                rows[start : start + len(batch)] = self._features(batch)
            except Exception:  # one bad crystal fails its batch: retry one by one
                for i, s in enumerate(batch):
                    try:
                        rows[start + i] = self._features([s])[0]
                    except Exception:
                        pass
        self.n_failed_ = int(np.isnan(rows).all(axis=1).sum())
        return rows

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "model_")
        return np.asarray([f"chgnet_{i}" for i in range(self.n_features_)], dtype=object)


class CHGNetEnergy(CHGNetFeatures):
    """CHGNet's predicted energy per atom (eV), one column: not a representation but a
    supervised reference for the polymorph yardstick. Within a formula group its
    differences are formation-energy differences, and CHGNet's energy is a nonlinear head
    on the crystal vector ``CHGNetFeatures`` returns (plus a composition term that
    centring removes), so the pair is the same information read linearly and read by the
    model that was trained on it."""

    def fit(self, X=None, y=None):
        super().fit(X, y)
        self.n_features_ = 1
        return self

    def _row(self, prediction: dict) -> np.ndarray:
        return np.asarray([prediction["e"]], dtype=np.float64)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "model_")
        return np.asarray(["chgnet_energy_per_atom"], dtype=object)
