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

from dimfeaturizer.data.inputs import as_structure_list

from .cache import structure_key

FEATURE_NAMES = ("environment typicality", "coordination typicality")


def environments(structure, tolerance: float, radius: float) -> list[tuple]:
    """Each site's environment: its atomic number and the sorted (atomic number, count)
    pairs of its first shell, the neighbours within ``1 + tolerance`` times its nearest
    neighbour's distance. ``radius`` (Å) is the first search radius, widened until every
    site's whole shell lies inside it."""
    z = np.asarray(structure.atomic_numbers)
    while True:
        centre, neighbour, _, dist = structure.get_neighbor_list(radius)
        nearest = np.full(len(z), np.inf)
        np.minimum.at(nearest, centre, dist)
        reach = (1 + tolerance) * nearest.max()
        if reach <= radius:
            break
        radius = reach if np.isfinite(reach) else 2 * radius
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

    Each crystal counts once whatever cell it is written in (its sites weigh 1 / number
    of sites), and the counts are smoothed over the environments seen for the element
    (``pseudocount`` each, plus one unseen slot). A site whose element was never counted
    has no score (NaN; a crystal with none scored is a NaN row). A structure that was
    counted in ``fit`` is scored without its own sites (leave one out), so the crystals a
    head is trained on look as new as the ones it is tested on.
    """

    def __init__(self, tolerance: float = 0.2, radius: float = 4.5, pseudocount: float = 0.5):
        self.tolerance = tolerance
        self.radius = radius
        self.pseudocount = pseudocount

    def _site_keys(self, structure) -> list[tuple]:
        return _keys(environments(structure, self.tolerance, self.radius))

    def fit(self, X, y=None) -> EnvironmentTypicality:
        for name in ("tolerance", "radius", "pseudocount"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        entries, _ = as_structure_list(X)
        self.counts_: Counter = Counter()
        for structure in entries:
            self.counts_.update(_weighted(self._site_keys(structure)))
        # distinct environments (and coordination numbers) seen per element
        self.kinds_ = Counter(key[:2] for key in self.counts_ if key[0] != "z")
        # sorted, so that the fitted state pickles (and hashes into the cache key) the same
        # in every process; a set would not
        self.fitted_keys_ = tuple(sorted({structure_key(s) for s in entries}))
        return self

    def transform(self, X) -> np.ndarray:
        check_is_fitted(self, "counts_")
        entries, _ = as_structure_list(X)
        fitted = set(self.fitted_keys_)
        a = self.pseudocount
        out = np.full((len(entries), len(FEATURE_NAMES)), np.nan)
        for i, structure in enumerate(entries):
            keys = self._site_keys(structure)
            own = _weighted(keys) if structure_key(structure) in fitted else Counter()
            counts = np.array([self.counts_[k] - own[k] for k in keys]).reshape(-1, 3)
            kinds = np.array([[self.kinds_[(kind, z)] for kind in ("env", "cn")]
                              for _, z in keys[2::3]], dtype=float)  # fmt: skip
            element = counts[:, 2:]
            log_p = np.log(counts[:, :2] + a) - np.log(element + a * (kinds + 1))
            log_p[element[:, 0] <= 1e-9] = np.nan  # element never counted: no evidence
            if not np.isnan(log_p).all():
                out[i] = np.nanmean(log_p, axis=0)
        return out

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "counts_")
        return np.asarray(FEATURE_NAMES, dtype=object)


def _keys(envs: list[tuple]) -> list[tuple]:
    """Three count keys per site: its environment, its (element, coordination number)
    and its element."""
    out = []
    for z, shell in envs:
        out += [("env", z, shell), ("cn", z, sum(n for _, n in shell)), ("z", z)]
    return out


def _weighted(keys: list[tuple]) -> Counter:
    """A structure's count keys, each site weighing 1 / number of sites (three keys each):
    a crystal counts once whatever cell it is written in."""
    weight = 3.0 / len(keys)
    return Counter({k: n * weight for k, n in Counter(keys).items()})
