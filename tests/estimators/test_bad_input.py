"""Inputs the encoder cannot represent: each one raises ``StructureError`` naming the
entry (position, and index label for pandas input) before any network work, and the
featuriser's NaN mode keeps one row per input. One-site cells and supercells are fine."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from pymatgen.core import DummySpecies, IStructure, Lattice, Molecule, Structure

import dimfeaturizer.data.inputs as inputs
import dimfeaturizer.inference as inference
from dimfeaturizer import DeepInfoMaxFeaturizer, DIMEncoder, SiteNetConfig, StructureError

LABELS = [f"dim_{i}" for i in range(128)]


def _with_species(structure: Structure, index: int, species) -> Structure:
    out = structure.copy()
    out.replace(index, species)
    return out


def _build_cases(entries: dict) -> dict[str, tuple[object, str]]:
    """name -> (bad entry, regex its error message must match)."""
    nacl = entries["NaCl"]["structure"]
    triclinic = entries["LiBeBO3_triclinic"]["structure"]  # 12 sites, P1
    huge = triclinic * (5, 5, 5)
    huge.remove_sites([0])  # 1499 sites; species counts now coprime: no pure translation
    perturbed = triclinic * (3, 3, 3)
    perturbed.perturb(0.05, seed=0)  # 324 sites and no longer a supercell
    assert len(huge) == 1499 and len(perturbed) == 324
    doubled = nacl.copy()
    doubled.append("Cl", nacl[1].frac_coords)  # a second Cl on the same position
    return {
        "overlapping_atoms": (doubled, r"0\.00 Å apart, closer than 0\.5 Å"),
        "tiny_cell": (
            Structure(Lattice.cubic(0.5), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
            r"0\.43 Å apart, closer than 0\.5 Å",
        ),
        "disordered": (
            Structure(nacl.lattice, [{"Na": 0.5, "K": 0.5}, "Cl"], nacl.frac_coords),
            r"disordered \(partial occupancies\)",
        ),
        "empty": (Structure(nacl.lattice, [], []), "no sites"),
        "element_Og": (_with_species(nacl, 0, "Og"), r"element Og is outside the feature table"),
        "dummy_species": (
            _with_species(nacl, 1, DummySpecies("X")),
            r"element X0?\+? is outside the feature",
        ),
        "nan_coords": (
            Structure(nacl.lattice, ["Na", "Cl"], [[np.nan, 0, 0], [0.5, 0.5, 0.5]]),
            "non-finite",
        ),
        "zero_volume": (
            Structure(
                Lattice([[2, 0, 0], [4, 0, 0], [0, 0, 3]]),
                ["Na", "Cl"],
                [[0, 0, 0], [0.5, 0.5, 0.5]],
            ),
            "zero-volume",
        ),
        "molecule": (Molecule(["C", "O"], [[0, 0, 0], [0, 0, 1.13]]), "got Molecule"),
        "none": (None, "got NoneType"),
        "string": ("NaCl", "got str"),
        "dict": (nacl.as_dict(), "got dict"),
        "cell_over_limit": (huge, "1499 sites, above the limit of 256"),
        "perturbed_supercell_over_limit": (perturbed, "324 sites, above the limit of 256"),
        "immutable_over_limit": (IStructure.from_sites(huge), "1499 sites, above the limit"),
    }


@pytest.fixture(scope="module")
def cases(mp_entries):
    return _build_cases(mp_entries)


# rejected by the per-entry checks that run before any preprocessing (cells above the
# limit by one spglib symmetry search); overlapping sites are found in the distances
CHEAP = [
    "disordered",
    "empty",
    "element_Og",
    "dummy_species",
    "nan_coords",
    "zero_volume",
    "molecule",
    "none",
    "string",
    "dict",
    "cell_over_limit",
    "perturbed_supercell_over_limit",
    "immutable_over_limit",
]
ALL = [*CHEAP, "overlapping_atoms", "tiny_cell"]


@pytest.fixture
def no_network(monkeypatch):
    """Fail the test if the network runs; count preprocessed structures."""
    calls = {"prepare": 0}
    real_prepare = inputs.prepare

    def counting_prepare(*args, **kwargs):
        calls["prepare"] += 1
        return real_prepare(*args, **kwargs)

    def forbidden(*args, **kwargs):
        raise AssertionError("the network ran although an entry is bad")

    monkeypatch.setattr(inputs, "prepare", counting_prepare)
    monkeypatch.setattr(inference, "encode_packed", forbidden)
    return calls


@pytest.mark.parametrize("name", ALL)
def test_transform_names_the_entry(name, cases, structures, untrained, no_network):
    bad, message = cases[name]
    X = [structures[0], structures[3], bad, structures[5]]
    with pytest.raises(StructureError, match=rf"^entry 2: .*{message}") as info:
        untrained.transform(X)
    assert isinstance(info.value, ValueError)
    assert "entry 2 (index" not in str(info.value)  # positions only for plain sequences


@pytest.mark.parametrize("name", ALL)
def test_series_error_names_index_label(name, cases, structures, untrained, no_network):
    bad, message = cases[name]
    X = pd.Series(
        [structures[0], structures[3], bad, structures[5]], index=["mp-a", "mp-b", "mp-c", "mp-d"]
    )
    with pytest.raises(StructureError, match=rf"^entry 2 \(index 'mp-c'\): .*{message}"):
        untrained.transform(X)
    frame = X.to_frame("structure").set_index(pd.Index([10, 20, 30, 40]))
    with pytest.raises(StructureError, match=rf"^entry 2 \(index 30\): .*{message}"):
        untrained.transform(frame)


@pytest.mark.parametrize("name", CHEAP)
def test_cheap_checks_run_before_any_preprocessing(name, cases, structures, untrained, no_network):
    """All entries are checked before the first one is preprocessed: a bad last entry
    fails before any symmetry search, supercell or network work."""
    bad, message = cases[name]
    X = [*structures, bad]
    with pytest.raises(StructureError, match=rf"^entry {len(structures)}: .*{message}"):
        untrained.transform(X)
    assert no_network["prepare"] == 0


def test_error_reports_the_first_bad_entry(cases, structures, untrained):
    X = [structures[0], cases["none"][0], structures[1], cases["empty"][0]]
    with pytest.raises(StructureError, match=r"^entry 1: .*NoneType"):
        untrained.transform(X)


def test_structure_error_is_a_value_error():
    assert issubclass(StructureError, ValueError)


@pytest.mark.parametrize("name", CHEAP)
def test_precheck_false_for_cheaply_detectable_entries(name, cases):
    assert DeepInfoMaxFeaturizer(DIMEncoder(pretrained=None)).precheck(cases[name][0]) is False


def test_featurizer_nan_mode_keeps_every_row(cases, structures, untrained):
    good = untrained.transform(structures)
    entries, expected = [], []
    for i, name in enumerate(ALL):
        entries += [structures[i % len(structures)], cases[name][0]]
        expected += [good[i % len(structures)], None]
    df = pd.DataFrame({"structure": entries})
    fz = DeepInfoMaxFeaturizer(DIMEncoder(pretrained=None, random_state=0))
    out = fz.featurize_dataframe(
        df, "structure", ignore_errors=True, return_errors=True, pbar=False
    )
    assert len(out) == len(entries) == 2 * len(ALL)  # nothing silently dropped
    values = out[LABELS].to_numpy(np.float64)
    errors = out["DeepInfoMaxFeaturizer Exceptions"]
    for i, vec in enumerate(expected):
        if vec is None:
            assert np.isnan(values[i]).all(), ALL[i // 2]
            assert re.search(cases[ALL[i // 2]][1], errors.iloc[i]), errors.iloc[i]
        else:
            np.testing.assert_allclose(values[i], vec, rtol=0, atol=1e-6)
            assert np.isnan(errors.iloc[i])


@pytest.mark.parametrize("name", ["none", "cell_over_limit", "perturbed_supercell_over_limit"])
def test_featurizer_raises_naming_the_entry(name, cases, structures):
    fz = DeepInfoMaxFeaturizer(DIMEncoder(pretrained=None, random_state=0))
    with pytest.raises(StructureError, match=rf"^entry 1: .*{cases[name][1]}"):
        fz.featurize_many([structures[0], cases[name][0], structures[1]], pbar=False)


# -- inputs that must work -------------------------------------------------------------


def test_one_site_cells_work(mp_entries, untrained):
    cs, fe = mp_entries["Cs"]["structure"], mp_entries["Fe"]["structure"]
    assert len(cs) == 1 and len(fe) == 1
    out = untrained.transform([cs, fe])
    assert out.shape == (2, 128) and np.isfinite(out).all()
    assert np.abs(out[0] - out[1]).max() > 1e-4
    # alone or with others, and as a conventional (2-site) or larger supercell
    np.testing.assert_allclose(untrained.transform([cs])[0], out[0], rtol=0, atol=1e-6)
    np.testing.assert_allclose(untrained.transform([cs * (2, 2, 2)])[0], out[0], rtol=0, atol=1e-5)
    assert DeepInfoMaxFeaturizer(DIMEncoder(pretrained=None)).precheck(cs)


def test_large_supercell_reduces_to_its_primitive_cell(mp_entries, untrained):
    """324 sites (> max_cell_sites) are fine when the primitive cell has 12."""
    triclinic = mp_entries["LiBeBO3_triclinic"]["structure"]
    big = triclinic * (3, 3, 3)
    assert len(big) == 324
    a, b = untrained.transform([triclinic, big])
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-5)


def test_smaller_cell_limit_from_config(mp_entries):
    enc = DIMEncoder(pretrained=None, random_state=0, config=SiteNetConfig(max_cell_sites=8))
    enc.fit()
    nacl = mp_entries["NaCl"]["structure"]
    triclinic = mp_entries["LiBeBO3_triclinic"]["structure"]
    supercell = nacl * (3, 3, 4)  # 72 sites, primitive cell of 2
    out = enc.transform([nacl, supercell])
    np.testing.assert_allclose(out[1], out[0], rtol=0, atol=1e-5)

    with pytest.raises(
        StructureError,
        match=r"^entry 1: primitive cell has 12 sites, "
        r"above the limit of 8",
    ):
        enc.transform([nacl, triclinic])
    perturbed = nacl * (2, 2, 2)
    perturbed.perturb(0.05, seed=1)
    with pytest.raises(StructureError, match=r"^entry 0: primitive cell has 16 sites"):
        enc.transform([perturbed])
    # above the limit with no pure translation: refused by the checks, before any entry
    # is preprocessed
    broken = supercell.copy()
    broken.remove_sites([0])
    with pytest.raises(StructureError, match=r"^entry 1: primitive cell has 71 sites"):
        enc.transform([nacl, broken, "not checked yet"])
    assert (
        DeepInfoMaxFeaturizer(
            DIMEncoder(pretrained=None, config=SiteNetConfig(max_cell_sites=8))
        ).precheck(
            broken
        )
        is False
    )


def test_bad_entry_in_pretraining_data_fails_first(cases, structures):
    enc = DIMEncoder(
        pretrained=None,
        random_state=0,
        frozen=False,
        epochs=1,
        batch_sites=64,
        progress=False,
        device="cpu",
    )
    with pytest.raises(StructureError, match=r"^entry 3: .*disordered"):
        enc.fit([*structures[:3], cases["disordered"][0]])
    assert not hasattr(enc, "model_")


def test_immutable_structures_work(structures, untrained):
    frozen = [IStructure.from_sites(s) for s in structures[:4]]
    np.testing.assert_array_equal(untrained.transform(frozen), untrained.transform(structures[:4]))


def test_one_structure_instead_of_a_list_is_explained(structures, untrained):
    with pytest.raises(TypeError, match=r"got one Structure: pass a list, e\.g\. \[structure\]"):
        untrained.transform(structures[0])
    assert untrained.transform([structures[0]]).shape == (1, 128)


def test_pretraining_needs_two_structures(structures):
    for X in ([], structures[:1]):
        with pytest.raises(ValueError, match="needs at least 2 structures"):
            DIMEncoder(pretrained=None, frozen=False, epochs=1).fit(X)
