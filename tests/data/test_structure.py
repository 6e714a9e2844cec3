"""Input construction (supercells, species layout, minimum-image distances), the element
table, and the invariances of the final vector.

Invariance tolerance: every variant of a crystal (primitive / conventional cell, 2x1x1
and 2x2x2 supercells, the same cell in a skewed basis, shuffled sites, translated origin,
rotated frame) must give the vector of the structure as stored, within
``INVARIANCE_TOL = 1e-6`` (max abs difference, untrained encoder, vector entries ~0.15);
the symmetry-standard primitive / conventional cells are also compared with the refined
crystal SpacegroupAnalyzer builds them from. Measured on CPU (torch 2.13): the largest
difference over all 14 fixture crystals and 8 variants is 3.0e-8 (translated; 1.5e-8
for the cell choices), i.e. one or two float32 ulps at that magnitude; many are exactly
0. The assertion keeps headroom for other BLAS builds and devices.

A random-weight encoder is rather insensitive (a 2 % strain moves its vector by only
~1e-5), so the invariances are also checked where they are exact geometry: the prepared
arrays of every variant equal the original's up to a permutation of primitive rows,
within 1e-4 Å.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import spglib
from pymatgen.core import Lattice, Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer
from scipy.spatial.transform import Rotation

from dimfeaturizer.config import SiteNetConfig
from dimfeaturizer.data.elements import (
    FEATURE_NAMES,
    MAX_Z,
    TABLE_FILE,
    build_element_table,
    element_features,
    raw_element_table,
)
from dimfeaturizer.data.inputs import prepare_one
from dimfeaturizer.data.structure import (
    check_structure,
    prepare,
    repeats_for_box,
    supercell_box,
    supercell_repeats,
)

INVARIANCE_TOL = 1e-6
DIST_TOL = 1e-4  # Å
CONFIG = SiteNetConfig()
STRUCTURES_FILE = Path(__file__).parents[1] / "structures" / "mp_structures.json"
NAMES = list(json.loads(STRUCTURES_FILE.read_text()))


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _prepared(structure, config=CONFIG):
    return prepare_one(structure, config)


def _reference_cell(structure: Structure, symprec: float = CONFIG.symprec) -> Structure:
    """The cell ``prepare`` builds its supercell from, rebuilt with pymatgen + spglib:
    the primitive cell (if the stored cell is not primitive), Niggli-reduced, same
    origin and site order."""
    prim = structure.get_primitive_structure(tolerance=symprec)
    base = prim if len(prim) < len(structure) else structure
    reduced = spglib.niggli_reduce(base.lattice.matrix)
    return Structure(
        Lattice(reduced), base.species, base.cart_coords, coords_are_cartesian=True,
        to_unit_cell=True,
    )


def _orthogonalised_edges(lattice: np.ndarray) -> np.ndarray:
    """Edges of the box of L = R Q, from geometry alone: |c|, the part of b normal to c,
    and the part of a normal to the (b, c) plane."""
    a, b, c = lattice
    bc = np.linalg.norm(np.cross(b, c))
    return np.array([abs(np.linalg.det(lattice)) / bc, bc / np.linalg.norm(c),
                     np.linalg.norm(c)])


def _greedy_reference(edges: np.ndarray, n_prim: int, max_sites: int) -> tuple[int, ...]:
    reps = [1, 1, 1]
    while True:
        lengths = [e * r for e, r in zip(edges, reps)]
        shortest = min(lengths)
        axis = next(i for i, x in enumerate(lengths) if x <= shortest * (1 + 1e-6))
        trial = reps.copy()
        trial[axis] += 1
        if n_prim * int(np.prod(trial)) > max_sites:
            return tuple(reps)
        reps = trial


# ---------------------------------------------------------------- supercell construction


@pytest.mark.parametrize("name", NAMES)
def test_supercell_size(name, mp_entries):
    structure = mp_entries[name]["structure"]
    arrays = _prepared(structure)
    m, n = arrays.n_prim, arrays.n_super
    assert m <= len(structure) and len(structure) % m == 0
    assert arrays.distances.shape == (m, n)
    assert arrays.species.shape == (n,)
    assert n % m == 0
    assert n <= CONFIG.max_sites  # every fixture has M <= 50
    # N = M * repeats, repeats the greedy choice on the orthogonalised edges
    cell = _reference_cell(structure)
    assert len(cell) == m
    edges = _orthogonalised_edges(cell.lattice.matrix)
    expected = _greedy_reference(edges, m, CONFIG.max_sites)
    repeats = supercell_repeats(cell.lattice.matrix, m, CONFIG.max_sites)
    assert tuple(int(r) for r in repeats) == expected
    assert n == m * int(np.prod(expected))
    # greedy stops only when growing the shortest edge would overflow
    lengths = edges * np.array(expected)
    axis = int(np.argmin(lengths))
    assert n // expected[axis] * (expected[axis] + 1) > CONFIG.max_sites


def test_supercell_repeats_hand_computed():
    # orthorhombic 1 x 2 x 4 Å, one site: (1,1,1) -> ... -> (7,3,2), 42 sites; the next
    # step (b -> 4) would give 56 > 50
    assert tuple(supercell_repeats(np.diag([1.0, 2.0, 4.0]), 1, 50)) == (7, 3, 2)
    # hexagonal a = 3, c = 5: box edges (3 sin 120°, 3, 5) -> (4, 4, 3), 48 sites
    hexagonal = Lattice.hexagonal(3.0, 5.0).matrix
    np.testing.assert_allclose(
        _orthogonalised_edges(hexagonal), [3 * np.sin(np.pi / 3), 3.0, 5.0], rtol=1e-12
    )
    assert tuple(supercell_repeats(hexagonal, 1, 50)) == (4, 4, 3)
    # the box is orientation independent (R of L = R Q does not see a rotation)
    rot = Rotation.from_euler("xyz", [0.3, -1.1, 2.0]).as_matrix()
    assert tuple(supercell_repeats(hexagonal @ rot.T, 1, 50)) == (4, 4, 3)
    # a cell already above max_sites is not repeated
    assert tuple(supercell_repeats(np.eye(3), 60, 50)) == (1, 1, 1)


def test_large_primitive_cell_is_not_repeated(mp_entries):
    config = SiteNetConfig(max_sites=20)
    big = _prepared(mp_entries["NaCoPO4"]["structure"], config)  # M = 48 > 20
    assert big.n_super == big.n_prim == 48
    mid = _prepared(mp_entries["LiBeBO3_triclinic"]["structure"], config)  # 2 M > 20
    assert mid.n_super == mid.n_prim == 12
    # ZnO, M = 4, box ~(2.85, 3.29, 5.31) Å: a -> 2, b -> 2 (16 sites); c -> 2 would be 32
    small = _prepared(mp_entries["ZnO"]["structure"], config)
    assert small.n_super == 16


def test_non_primitive_input_is_reduced(mp_entries):
    # the stored LiFePO4 (mp-18951) is a 28-site conventional cell of a 14-site primitive
    arrays = _prepared(mp_entries["LiFePO4"]["structure"])
    assert arrays.n_prim == 14
    assert Counter(arrays.species[:14].tolist()) == {3: 2, 26: 2, 15: 2, 8: 8}


# ---------------------------------------------------------------- species and distances


@pytest.mark.parametrize("name", NAMES)
def test_species_image_major(name, mp_entries):
    structure = mp_entries[name]["structure"]
    arrays = _prepared(structure)
    m, n = arrays.n_prim, arrays.n_super
    k = np.arange(n)
    np.testing.assert_array_equal(arrays.species, arrays.species[k % m])
    # the primitive cell keeps the composition and the (reduced) cell's site order
    cell = _reference_cell(structure)
    np.testing.assert_array_equal(arrays.species[:m], cell.atomic_numbers)
    fractions = Counter(arrays.species[:m].tolist())
    stored = structure.composition.get_el_amt_dict()
    assert {z: c / m for z, c in fractions.items()} == pytest.approx(
        {el.Z: stored[el.symbol] / len(structure) for el in structure.composition}
    )


@pytest.mark.parametrize("name", NAMES)
def test_distances_self_zero_and_symmetric(name, mp_entries):
    arrays = _prepared(mp_entries[name]["structure"])
    m = arrays.n_prim
    d = arrays.distances
    assert d.dtype == np.float32
    assert np.isfinite(d).all()
    np.testing.assert_array_equal(np.diag(d[:, :m]), 0.0)
    np.testing.assert_allclose(d[:, :m], d[:, :m].T, atol=1e-5)
    off = np.ones_like(d, dtype=bool)
    off[np.arange(m), np.arange(m)] = False
    assert d[off].min() > 0.5  # real crystals: no two sites closer than 0.5 Å


@pytest.mark.parametrize("name", ["NaCl", "TiO2", "LiFePO4", "AgSO4_triclinic",
                                  "LiBeBO3_triclinic", "NaCoPO4"])
def test_distances_match_pymatgen(name, mp_entries):
    """Row p of the distances, per species, equals pymatgen's minimum-image distances from
    primitive site p to every site of the same supercell."""
    structure = mp_entries[name]["structure"]
    arrays = _prepared(structure)
    cell = _reference_cell(structure)
    m = len(cell)
    repeats = supercell_repeats(cell.lattice.matrix, m, CONFIG.max_sites)
    supercell = cell * repeats
    assert len(supercell) == arrays.n_super
    ref = supercell.lattice.get_all_distances(cell.frac_coords / repeats, supercell.frac_coords)
    ref_species = np.array(supercell.atomic_numbers)
    # pymatgen's own distance matrix agrees on the primitive block
    block = Structure(supercell.lattice, cell.species, cell.frac_coords / repeats)
    np.testing.assert_allclose(arrays.distances[:, :m], block.distance_matrix, atol=DIST_TOL)
    for p in range(m):
        for z in np.unique(ref_species):
            ours = np.sort(arrays.distances[p, arrays.species == z])
            theirs = np.sort(ref[p, ref_species == z])
            np.testing.assert_allclose(ours, theirs, atol=DIST_TOL, rtol=0)


# ---------------------------------------------------------------- invariances


def _variants(structure: Structure, seed: int = 0) -> dict[str, Structure]:
    rng = np.random.default_rng(seed)
    sga = SpacegroupAnalyzer(structure)
    perm = rng.permutation(len(structure))
    if len(structure) > 1 and (perm == np.arange(len(structure))).all():
        perm = np.roll(perm, 1)
    translated = structure.copy()
    translated.translate_sites(list(range(len(structure))), rng.random(3), frac_coords=True)
    rot = Rotation.random(random_state=seed).as_matrix()
    # SpacegroupAnalyzer symmetrises: its primitive / conventional cells are cells of the
    # refined crystal (up to 9e-4 Å away from the stored Fe and LiFePO4), not the stored one
    return {
        "refined": sga.get_refined_structure(),
        "primitive": sga.get_primitive_standard_structure(),
        "conventional": sga.get_conventional_standard_structure(),
        "supercell_211": structure * (2, 1, 1),
        "supercell_222": structure * (2, 2, 2),
        # same cell, another basis of it: a' = a + b, b' = b + c (unimodular)
        "skewed": structure * [[1, 1, 0], [0, 1, 1], [0, 0, 1]],
        "shuffled": Structure.from_sites([structure[int(i)] for i in perm]),
        "translated": translated,
        "rotated": Structure(
            Lattice(structure.lattice.matrix @ rot.T), structure.species, structure.frac_coords
        ),
    }


def _rows_match(a, b, tol=DIST_TOL) -> bool:
    """Prepared arrays equal up to a permutation of primitive rows: each row is matched
    by its species and its per-species sorted distances."""
    if (a.n_prim, a.n_super) != (b.n_prim, b.n_super):
        return False

    def signature(arr, p):
        return {int(z): np.sort(arr.distances[p, arr.species == z])
                for z in np.unique(arr.species)}

    left = [(int(a.species[p]), signature(a, p)) for p in range(a.n_prim)]
    right = [(int(b.species[p]), signature(b, p)) for p in range(b.n_prim)]
    for z, sig in left:
        for i, (z2, sig2) in enumerate(right):
            if z == z2 and sig.keys() == sig2.keys() and all(
                len(sig[k]) == len(sig2[k]) and np.abs(sig[k] - sig2[k]).max() <= tol
                for k in sig
            ):
                right.pop(i)
                break
        else:
            return False
    return True


@pytest.mark.parametrize("name", NAMES)
def test_vector_invariances(name, mp_entries, untrained):
    structure = mp_entries[name]["structure"]
    variants = _variants(structure)
    vectors = untrained.transform([structure, *variants.values()])
    assert np.isfinite(vectors).all()
    diffs = {k: float(np.abs(vectors[i + 1] - vectors[0]).max())
             for i, k in enumerate(variants) if k != "refined"}
    assert max(diffs.values()) < INVARIANCE_TOL, diffs
    # the symmetry-standard cells against the refined crystal they are cells of
    refined = vectors[1 + list(variants).index("refined")]
    for kind in ("primitive", "conventional"):
        other = vectors[1 + list(variants).index(kind)]
        assert np.abs(other - refined).max() < INVARIANCE_TOL, kind
    # and the same crystal in a different batch gives the same vector
    np.testing.assert_allclose(untrained.transform([structure])[0], vectors[0],
                               atol=INVARIANCE_TOL, rtol=0)


@pytest.mark.parametrize("name", NAMES)
def test_array_invariances(name, mp_entries):
    structure = mp_entries[name]["structure"]
    original = _prepared(structure)
    variants = _variants(structure, seed=1)
    refined = _prepared(variants["refined"])
    for kind, variant in variants.items():
        if kind == "refined":  # not the same geometry as the stored crystal
            continue
        reference = refined if kind in ("primitive", "conventional") else original
        assert _rows_match(reference, _prepared(variant)), kind


def test_invariance_tolerance_can_fail(mp_entries, untrained):
    """The tolerance is tight enough to see small geometric changes and any change of
    crystal: a 2 % strain moves every vector by more than twice the tolerance, and two
    different fixture crystals differ by more than 100 times it."""
    structures = [e["structure"] for e in mp_entries.values()]
    strained = []
    for s in structures:
        t = s.copy()
        t.apply_strain(0.02)
        strained.append(t)
    vectors = untrained.transform(structures + strained)
    base, moved = vectors[: len(structures)], vectors[len(structures):]
    assert (np.abs(moved - base).max(1) > 2 * INVARIANCE_TOL).all()
    pair = np.abs(base[:, None] - base[None]).max(-1)
    assert pair[~np.eye(len(base), dtype=bool)].min() > 100 * INVARIANCE_TOL
    # the array check sees a 0.1 % strain too
    s = structures[3].copy()
    s.apply_strain(0.001)
    assert not _rows_match(_prepared(structures[3]), _prepared(s))


# ---------------------------------------------------------------- element table


def _shipped_csv() -> list[dict]:
    text = resources.files("dimfeaturizer.data").joinpath(TABLE_FILE).read_text()
    return list(csv.DictReader(text.splitlines()))


def test_element_table_shape_and_standardisation():
    raw = raw_element_table()
    assert raw.shape == (MAX_Z, len(FEATURE_NAMES)) == (103, 9)
    assert not np.isnan(raw).any()
    np.testing.assert_array_equal(raw[:, 0], np.arange(1, 104))
    feats = element_features()
    assert feats.shape == (104, 9) and feats.dtype == np.float32
    np.testing.assert_array_equal(feats[0], 0.0)
    np.testing.assert_allclose(feats[1:].mean(0), 0.0, atol=1e-6)
    np.testing.assert_allclose(feats[1:].std(0), 1.0, atol=1e-5)
    # row Z is element Z (standardised Z column is increasing)
    assert (np.diff(feats[1:, 0]) > 0).all()
    rows = _shipped_csv()
    assert [r["symbol"] for r in rows[:3]] == ["H", "He", "Li"] and rows[-1]["symbol"] == "Lr"
    assert rows[25]["symbol"] == "Fe" and float(rows[25]["electronegativity"]) == 1.83


def test_element_table_regenerates():
    raw, notes = build_element_table()
    np.testing.assert_allclose(raw, raw_element_table(), rtol=1e-4, atol=1e-12)
    assert notes == [r["filled"] for r in _shipped_csv()]



@pytest.mark.parametrize("name", NAMES)
def test_pair_vectors_are_the_distances(name, mp_entries):
    """The displacements kept for geometry false samples have the distances as lengths,
    point from site p to site k, and leave the distances exactly as without them."""
    structure = mp_entries[name]["structure"]
    plain = _prepared(structure)
    assert plain.vectors is None
    arrays = prepare(check_structure(structure, CONFIG), CONFIG, vectors=True)
    np.testing.assert_array_equal(arrays.distances, plain.distances)
    assert arrays.vectors.shape == (*arrays.distances.shape, 3)
    np.testing.assert_allclose(np.linalg.norm(arrays.vectors, axis=-1), arrays.distances,
                               atol=1e-5)
    m = arrays.n_prim
    # within the primitive block, p -> q is minus q -> p for bonds (long pairs can have
    # two equally short images, and each direction may keep either)
    block = arrays.vectors[:, :m]
    bonds = arrays.distances[:, :m] < 3.5
    np.testing.assert_allclose(block[bonds], -block.transpose(1, 0, 2)[bonds], atol=1e-4)


def test_supercell_repeats_agree_with_scipy_rq():
    """The direct box edges equal ``|diag(R)|`` of scipy's RQ decomposition, so the
    repeats are those of the reference recipe on skewed, long and flat random cells."""
    import scipy.linalg

    rng = np.random.default_rng(0)
    for _ in range(300):
        lattice = rng.normal(size=(3, 3)) * rng.uniform(1, 8, size=(3, 1))
        if abs(np.linalg.det(lattice)) < 1.0:
            continue
        reference = np.abs(np.diag(scipy.linalg.rq(lattice)[0]))
        np.testing.assert_allclose(supercell_box(lattice), reference, rtol=1e-10)
        n_prim = int(rng.integers(1, 12))
        np.testing.assert_array_equal(supercell_repeats(lattice, n_prim, 50),
                                      repeats_for_box(reference, n_prim, 50))  # fmt: skip
