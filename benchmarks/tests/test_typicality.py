"""The counted typicality reference: environments, leave-one-out counts, invariance,
and a fitted state that the feature cache tells apart."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure
from sklearn.base import clone

from benchmarks.cache import fingerprint
from benchmarks.typicality import EnvironmentTypicality, environments


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


def test_cells_do_not_matter():
    """A crystal scores, and counts, the same in any cell it is written in."""
    model = EnvironmentTypicality().fit([rocksalt(5.7), caesium_chloride()])
    cell = rocksalt()
    np.testing.assert_allclose(model.transform([cell * (2, 1, 1)]), model.transform([cell]))
    primitive = EnvironmentTypicality().fit([rocksalt(5.7).get_primitive_structure(),
                                             caesium_chloride() * (1, 1, 2)])  # fmt: skip
    np.testing.assert_allclose(primitive.transform([cell]), model.transform([cell]))


def test_an_element_never_counted_is_no_evidence():
    """Sites of an element the fit never saw are left out of the mean (not scored as
    typical); a crystal of such elements alone is a NaN row."""
    model = EnvironmentTypicality().fit([rocksalt(5.7), rocksalt(6.3, ("K", "Cl"))])
    x = model.transform([rocksalt(5.2, ("Li", "F")), rocksalt(5.1, ("Li", "Cl"))])
    assert np.isnan(x[0]).all()
    assert np.isfinite(x[1]).all()
    nacl = model.transform([rocksalt(5.6)])[0]
    # only LiCl's Cl site is scored. Cl weighs 1/2 in each fitted crystal, always six-fold:
    # log((1 + a) / (1 + a * (1 kind + 1 unseen slot))) with a = 0.5; its shell of Li was
    # never counted
    assert x[1, 1] == pytest.approx(np.log(1.5 / 2.0))
    assert x[1, 0] < nacl[0]
    with pytest.raises(ValueError, match="pseudocount"):
        EnvironmentTypicality(pseudocount=0).fit([rocksalt()])


def test_fitted_state_is_part_of_the_cache_key():
    """The feature cache keys on the fitted featuriser: counts from other structures must
    give another key, a clone or a pickle the same features."""
    one = EnvironmentTypicality().fit([rocksalt()])
    other = EnvironmentTypicality().fit([caesium_chloride()])
    assert fingerprint(one) != fingerprint(other)
    again = pickle.loads(pickle.dumps(one))
    np.testing.assert_array_equal(again.transform([rocksalt(5.7)]), one.transform([rocksalt(5.7)]))
    assert clone(one).get_params() == one.get_params()


def test_cache_key_is_the_same_in_every_process():
    """String hashing is randomised per process: a fitted state holding a set would give
    the feature cache a new key (and a full recompute) on every run."""
    code = ("import sys, pickle\n"
            "from benchmarks.cache import fingerprint\n"
            "from benchmarks.typicality import EnvironmentTypicality\n"
            "structures = pickle.loads(sys.stdin.buffer.read())\n"
            "print(fingerprint(EnvironmentTypicality().fit(structures)))")  # fmt: skip
    structures = pickle.dumps([rocksalt(), caesium_chloride(), rocksalt(6.3, ("K", "Cl"))])
    keys = {
        subprocess.run([sys.executable, "-c", code], input=structures, capture_output=True,
                       check=True, env={**os.environ, "PYTHONHASHSEED": seed}).stdout  # fmt: skip
        for seed in ("1", "2")
    }
    assert len(keys) == 1 and keys != {b""}


def test_the_search_radius_widens_to_the_whole_shell():
    """A shell beyond the first search radius is found whole, not cut off or empty."""
    big = rocksalt(9.0)  # nearest neighbours 4.5 Å apart
    assert set(environments(big, 0.2, 2.0)) == {(11, ((17, 6),)), (17, ((11, 6),))}
