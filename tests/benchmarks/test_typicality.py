"""The counted typicality reference: environments, leave-one-out counts, invariance,
and a fitted state that the feature cache tells apart."""

from __future__ import annotations

import pickle

import numpy as np
from pymatgen.core import Lattice, Structure
from sklearn.base import clone

from dimfeaturizer.benchmarks.cache import fingerprint
from dimfeaturizer.benchmarks.typicality import EnvironmentTypicality, environments


def rocksalt(a: float = 5.64, species=("Na", "Cl")) -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), list(species),
                                     [[0, 0, 0], [0.5, 0.5, 0.5]])  # fmt: skip


def caesium_chloride(a: float = 3.3, species=("Na", "Cl")) -> Structure:
    return Structure(Lattice.cubic(a), list(species), [[0, 0, 0], [0.5, 0.5, 0.5]])


def test_environments_are_the_first_shell():
    envs = set(environments(rocksalt(), 0.2, 4.5))
    assert envs == {(11, ((17, 6),)), (17, ((11, 6),))}
    # CsCl's second shell (6 like atoms) is 1.155 times the first: inside a tolerance of
    # 0.2, outside one of 0.1
    assert set(environments(caesium_chloride(), 0.1, 4.5)) == {(11, ((17, 8),)),
                                                               (17, ((11, 8),))}  # fmt: skip
    wide = {(11, ((11, 6), (17, 8))), (17, ((11, 8), (17, 6)))}
    assert set(environments(caesium_chloride(), 0.2, 4.5)) == wide


def test_common_environments_score_higher():
    """Counted over rock-salt halides, NaCl in the rock-salt structure is more typical
    than NaCl in the CsCl structure, on both columns."""
    halides = [rocksalt(a, s) for a, s in ((6.28, ("K", "Cl")), (5.0, ("Li", "Cl")),
                                           (5.97, ("Na", "Br")), (5.64, ("Na", "Cl")))]  # fmt: skip
    model = EnvironmentTypicality().fit([*halides, caesium_chloride(4.1, ("Cs", "Cl"))])
    x = model.transform([rocksalt(5.6), caesium_chloride()])
    assert (x[0] > x[1]).all()
    assert list(model.get_feature_names_out()) == ["environment typicality",
                                                   "coordination typicality"]  # fmt: skip


def test_a_counted_structure_is_scored_without_itself():
    """Leave one out: fitting on [a, b] scores a as fitting on [b] alone does; a
    structure never counted is scored with every count."""
    a, b = rocksalt(5.64), rocksalt(5.70)
    both = EnvironmentTypicality().fit([a, b])
    np.testing.assert_allclose(both.transform([a]), EnvironmentTypicality().fit([b]).transform([a]))
    assert (both.transform([rocksalt(5.66)]) > both.transform([a])).all()


def test_supercells_score_the_same():
    model = EnvironmentTypicality().fit([rocksalt(5.7), caesium_chloride()])
    cell = rocksalt()
    np.testing.assert_allclose(model.transform([cell * (2, 1, 1)]), model.transform([cell]))


def test_fitted_state_is_part_of_the_cache_key():
    """The feature cache keys on the fitted featuriser: counts from other structures must
    give another key, a clone or a pickle the same features."""
    one = EnvironmentTypicality().fit([rocksalt()])
    other = EnvironmentTypicality().fit([caesium_chloride()])
    assert fingerprint(one) != fingerprint(other)
    again = pickle.loads(pickle.dumps(one))
    np.testing.assert_array_equal(again.transform([rocksalt(5.7)]), one.transform([rocksalt(5.7)]))
    assert clone(one).get_params() == one.get_params()
