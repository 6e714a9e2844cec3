"""How far crystals lie from the crystals a model was fitted on, in its own latent space.

A regressor's ``std`` is its members' spread times this factor: the spread says where the
members disagree, the factor where a crystal is unlike every labelled one (Janet et al.,
Chem. Sci. 2019: distance in the last hidden layer ranks errors). Chosen on the Materials
Project protocol's validation slice (``benchmarks/results/transfer-defaults/README.md``).
"""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors

# added to every latent unit's scale, so a unit constant over the training crystals counts
# rather than divides by zero
MIN_SCALE = 1e-6
# and no unit's scale below this fraction of the median unit's: a (nearly) dead unit that a
# query barely moves must not outweigh every other (never binding in the measured fits:
# their smallest unit scale was 0.099 of the median, 0.19 typically, over 30 members)
MIN_RELATIVE_SCALE = 0.05


class Novelty:
    """Each member's reference, built once from its training latents: their
    standardisation, a nearest-neighbour index, and the median distance from a training
    crystal to its nearest other one."""

    def __init__(self, training: np.ndarray):
        self.training = training  # (n_models, n_train, hidden), as fitted
        self._members = []
        for fitted in np.asarray(training, dtype=np.float64):
            mean, spread = fitted.mean(axis=0), fitted.std(axis=0)
            scale = np.maximum(spread, MIN_RELATIVE_SCALE * np.median(spread)) + MIN_SCALE
            z = (fitted - mean) / scale
            index = NearestNeighbors(n_neighbors=min(2, len(z))).fit(z)
            between = index.kneighbors(z)[0][:, -1]  # the nearest other training crystal
            self._members.append((mean, scale, index, _typical(between)))

    def __call__(self, query: np.ndarray) -> np.ndarray:
        """``(n,)`` factors for ``query`` ``(n_models, n, hidden)``: per member the
        distance to the nearest training crystal over the typical one, then the mean
        over members; about 1 for a crystal like the training ones, ~0 for one of them."""
        query = np.asarray(query, dtype=np.float64)
        if query.shape[1] == 0:
            return np.zeros(0)
        factors = []
        for (mean, scale, index, typical), asked in zip(self._members, query):
            distance = index.kneighbors((asked - mean) / scale, n_neighbors=1)[0][:, 0]
            factors.append(distance / typical if typical > 0 else np.ones(len(asked)))
        return np.mean(factors, axis=0)


def _typical(distances: np.ndarray) -> float:
    """The median distance; past half duplicates, the median of the non-zero ones (0 if
    every training crystal is the same)."""
    median = float(np.median(distances))
    if median > 0:
        return median
    positive = distances[distances > 0]
    return float(np.median(positive)) if len(positive) else 0.0
