"""How far crystals lie from the crystals a model was fitted on, in its own latent space.

A regressor's ``std`` is its members' spread times this factor: the spread says where the
members disagree, the factor where a crystal is unlike every labelled one (Janet et al.,
Chem. Sci. 2019: distance in the last hidden layer ranks errors). Chosen on the Materials
Project protocol's validation slice (``benchmarks/results/transfer-defaults/README.md``).
"""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors

# a latent unit (nearly) constant over the training crystals still counts, not divides by 0
MIN_SCALE = 1e-6


def novelty(training: np.ndarray, query: np.ndarray) -> np.ndarray:
    """``(n,)`` factors, about 1 for a crystal like the training ones.

    ``training`` ``(n_models, n_train, d)`` and ``query`` ``(n_models, n, d)``: each
    member's hidden layer. Per member, on latents standardised over the training
    crystals: the distance to the nearest training crystal, over the median of that
    distance among the training crystals (each leaving itself out); then the mean over
    members. A crystal identical to a training one gets 0, as a noise-free Gaussian process's
    std at its training points.
    """
    factors = []
    for fitted, asked in zip(training, query):
        mean, scale = fitted.mean(axis=0), fitted.std(axis=0) + MIN_SCALE
        fitted, asked = (fitted - mean) / scale, (asked - mean) / scale
        index = NearestNeighbors(n_neighbors=2).fit(fitted)
        between = index.kneighbors(fitted)[0][:, 1]  # the nearest other training crystal
        reference = _typical(between)
        distance = index.kneighbors(asked, n_neighbors=1)[0][:, 0]
        factors.append(distance / reference if reference > 0 else np.ones(len(asked)))
    return np.mean(factors, axis=0)


def _typical(distances: np.ndarray) -> float:
    """The median distance; past half duplicates, the median of the non-zero ones (0 if
    every training crystal is the same)."""
    median = float(np.median(distances))
    if median > 0:
        return median
    positive = distances[distances > 0]
    return float(np.median(positive)) if len(positive) else 0.0
