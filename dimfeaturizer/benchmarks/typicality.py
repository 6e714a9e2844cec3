"""How typical a crystal's local environments are, counted: a reference for the yardstick.

Common local environments for a chemistry tend to be the stable ones, so a frequency
count over unlabelled structures is a self-supervised signal of stability that needs no
network. It bounds what a pretraining objective of typicality could learn from the same
structures, counted exactly instead of estimated by a critic.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..data.inputs import as_structure_list
from .cache import structure_key

FEATURE_NAMES = ("environment typicality", "coordination typicality")


def environments(structure, tolerance: float, cutoff: float) -> list[tuple]:
    """Each site's environment: its atomic number and the sorted (atomic number, count)
    pairs of its first shell, the neighbours within ``1 + tolerance`` times its nearest
    neighbour's distance (none beyond ``cutoff`` Å: an empty shell)."""
    centre, neighbour, _, dist = structure.get_neighbor_list(cutoff)
    z = np.asarray(structure.atomic_numbers)
    nearest = np.full(len(z), np.inf)
    np.minimum.at(nearest, centre, dist)
    shell = dist <= (1 + tolerance) * nearest[centre]
    pairs, counts = np.unique(np.stack([centre[shell], z[neighbour[shell]]]), axis=1,
                              return_counts=True)  # fmt: skip
    shells: list[list] = [[] for _ in z]
    for (site, nz), n in zip(pairs.T.tolist(), counts.tolist()):
        shells[site].append((nz, n))
    return [(int(zi), tuple(s)) for zi, s in zip(z, shells)]


class EnvironmentTypicality(TransformerMixin, BaseEstimator):
    """Mean over a crystal's sites of log P(environment | element), counted over the
    structures given to ``fit`` (no labels): the full environment (element counts of the
    first shell), and its coordination number alone.

    A structure that was counted in ``fit`` is scored without its own sites (leave one
    out), so the crystals a head is trained on look as new as the ones it is tested on.
    """

    def __init__(self, tolerance: float = 0.2, cutoff: float = 4.5, pseudocount: float = 0.5):
        self.tolerance = tolerance
        self.cutoff = cutoff
        self.pseudocount = pseudocount

    def _environments(self, structure) -> list[tuple]:
        return environments(structure, self.tolerance, self.cutoff)

    def fit(self, X, y=None) -> EnvironmentTypicality:
        entries, _ = as_structure_list(X)
        self.counts_: Counter = Counter()
        self.fitted_keys_ = frozenset(structure_key(s) for s in entries)
        for structure in entries:
            self.counts_.update(_keys(self._environments(structure)))
        return self

    def transform(self, X) -> np.ndarray:
        check_is_fitted(self, "counts_")
        entries, _ = as_structure_list(X)
        out = np.empty((len(entries), len(FEATURE_NAMES)))
        for i, structure in enumerate(entries):
            keys = _keys(self._environments(structure))
            own = Counter(keys) if structure_key(structure) in self.fitted_keys_ else Counter()
            counts = np.array([self.counts_[k] - own[k] for k in keys], dtype=float)
            counts = counts.reshape(-1, 3)  # (environment, coordination, element) per site
            log_p = np.log(counts[:, :2] + self.pseudocount) - np.log(
                counts[:, 2:] + 2 * self.pseudocount
            )
            out[i] = log_p.mean(0)
        return out

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.asarray(FEATURE_NAMES, dtype=object)


def _keys(envs: list[tuple]) -> list[tuple]:
    """Three count keys per site: its environment, its (element, coordination number)
    and its element."""
    out = []
    for z, shell in envs:
        out += [("env", z, shell), ("cn", z, sum(n for _, n in shell)), ("z", z)]
    return out
