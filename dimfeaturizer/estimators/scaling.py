"""Scaling that keeps what pretraining learned: one scale for the whole vector."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data


class VectorScaler(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Centre each column, then divide every column by the same number: the largest
    column standard deviation seen in ``fit``.

    Unlike ``StandardScaler`` it keeps the columns' relative sizes. A pretrained DIM
    vector keeps what its critic uses in a few large dimensions and leaves the KL-shrunk
    rest small; per-column scaling blows the small ones up to the size of the large ones.
    The largest column ends up scaled exactly as ``StandardScaler`` would scale it.
    Use it after ``DIMEncoder`` where a model needs scaled inputs; random-weight vectors
    are the other way round (tiny, strongly correlated columns): standardise those.
    """

    def fit(self, X: ArrayLike, y: object = None) -> VectorScaler:
        X = validate_data(self, X, dtype=np.float64)
        self.mean_ = X.mean(axis=0)
        spread = float(X.std(axis=0).max())  # validate_data refuses empty X
        self.scale_ = spread if spread > 0 else 1.0
        return self

    def transform(self, X: ArrayLike) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return (X - self.mean_) / self.scale_
