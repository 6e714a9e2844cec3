"""DeepInfoMaxFeaturizer as a matminer featuriser: same numbers as DIMEncoder, matminer's
error-handling semantics (ignore_errors / return_errors), prechecks and fitting."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matminer.featurizers.base import BaseFeaturizer
from pymatgen.core import Molecule, Structure
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from dimfeaturizer import DeepInfoMaxFeaturizer, DIMEncoder, StructureError

TRAIN = dict(frozen=False, epochs=2, batch_sites=64, progress=False, device="cpu", amp=False)
LABELS = [f"dim_{i}" for i in range(128)]
ERRORS = "DeepInfoMaxFeaturizer Exceptions"


@pytest.fixture(scope="module")
def featurizer():
    return DeepInfoMaxFeaturizer(DIMEncoder(pretrained=None, random_state=0))


@pytest.fixture(scope="module")
def reference(structures):
    return DIMEncoder(pretrained=None, random_state=0).fit().transform(structures)


@pytest.fixture(scope="module")
def bad_entries(mp_entries):
    nacl = mp_entries["NaCl"]["structure"]
    disordered = Structure(nacl.lattice, [{"Na": 0.5, "K": 0.5}, "Cl"], nacl.frac_coords)
    molecule = Molecule(["C", "O"], [[0, 0, 0], [0, 0, 1.13]])
    return {
        "disordered": (disordered, "disordered"),
        "molecule": (molecule, "Molecule"),
        "none": (None, "NoneType"),
        "string": ("NaCl", "got str"),
    }


@pytest.fixture(scope="module")
def mixed(structures, bad_entries):
    """Good fixture structures with the bad entries interleaved: (entries, bad positions)."""
    good = iter(structures[:6])
    entries, bad_at = [next(good), next(good)], {}
    for name, (entry, _) in bad_entries.items():  # bad at positions 2, 4, 6, 8
        bad_at[len(entries)] = name
        entries += [entry, next(good)]
    return entries, bad_at


def test_is_a_matminer_featurizer(featurizer):
    assert isinstance(featurizer, BaseFeaturizer)
    assert featurizer.n_jobs == 1
    assert DeepInfoMaxFeaturizer().n_jobs == 1


def test_featurize_one(featurizer, structures, reference):
    vec = featurizer.featurize(structures[3])
    assert isinstance(vec, list) and len(vec) == 128
    assert all(isinstance(v, float) for v in vec)
    np.testing.assert_allclose(vec, reference[3], rtol=0, atol=1e-6)


def test_featurize_rejects_bad_input(featurizer, bad_entries):
    for entry, message in bad_entries.values():
        with pytest.raises(StructureError, match=message):
            featurizer.featurize(entry)


def test_feature_labels_match_transformer(featurizer):
    enc = DIMEncoder(pretrained=None, random_state=0).fit()
    assert featurizer.feature_labels() == LABELS
    assert featurizer.feature_labels() == list(enc.get_feature_names_out())


def test_citations_and_implementors(featurizer):
    citations = featurizer.citations()
    assert isinstance(citations, list) and len(citations) == 2
    assert all(c.startswith("@article{") and c.endswith("}") for c in citations)
    text = " ".join(citations)
    assert "Deep InfoMax" in text and "Site-Net" in text
    assert "10.1039/D4DD00202D" in text and "10.1039/D3DD00005B" in text
    implementors = featurizer.implementors()
    assert isinstance(implementors, list) and implementors
    assert all(isinstance(x, str) and x for x in implementors)


def test_featurize_dataframe_matches_transformer(featurizer, structures, reference, mp_entries):
    df = pd.DataFrame(
        {"structure": structures, "e_form": [e["e_form"] for e in mp_entries.values()]},
        index=pd.Index(list(mp_entries), name="name"),
    )
    out = featurizer.featurize_dataframe(df, "structure", pbar=False)
    assert list(out.columns) == ["structure", "e_form", *LABELS]
    assert out.index.equals(df.index)
    assert out["structure"].tolist() == structures  # input columns untouched
    np.testing.assert_allclose(out[LABELS].to_numpy(np.float64), reference, rtol=0, atol=1e-6)
    assert list(df.columns) == ["structure", "e_form"]  # not inplace by default


@pytest.mark.filterwarnings("ignore::pandas.errors.PerformanceWarning")  # matminer's inplace
def test_featurize_dataframe_inplace_and_pbar(structures, reference):
    df = pd.DataFrame({"structure": structures[:5]})
    fz = DeepInfoMaxFeaturizer(DIMEncoder(pretrained=None, random_state=0))
    assert fz.featurize_dataframe(df, "structure", inplace=True, pbar=True) is None
    np.testing.assert_allclose(df[LABELS].to_numpy(np.float64), reference[:5], atol=1e-6)


def test_same_weights_from_saved_folder(structures, tmp_path):
    enc = DIMEncoder(pretrained=None, random_state=3).fit()
    enc.save_pretrained(tmp_path)
    expected = enc.transform(structures)
    fz = DeepInfoMaxFeaturizer(DIMEncoder(pretrained=tmp_path))
    out = fz.featurize_dataframe(pd.DataFrame({"s": structures}), "s", pbar=False)
    np.testing.assert_allclose(out[LABELS].to_numpy(np.float64), expected, rtol=0, atol=1e-6)
    # and a different seed really gives different numbers (the comparison can fail)
    other = DeepInfoMaxFeaturizer(DIMEncoder(pretrained=None, random_state=0))
    other = other.featurize(structures[0])
    assert np.abs(np.asarray(other) - expected[0]).max() > 1e-3


def test_featurize_many(featurizer, structures, reference):
    rows = featurizer.featurize_many(structures, pbar=False)
    assert isinstance(rows, list) and len(rows) == len(structures)
    np.testing.assert_allclose(np.array(rows), reference, rtol=0, atol=1e-6)
    # matminer-style rows of 1-tuples and a one-column DataFrame are accepted too
    tuples = featurizer.featurize_many([(s,) for s in structures[:3]], pbar=False)
    np.testing.assert_allclose(np.array(tuples), reference[:3], rtol=0, atol=1e-6)
    frame = featurizer.featurize_many(pd.DataFrame({"s": structures[:3]}), pbar=False)
    np.testing.assert_allclose(np.array(frame), reference[:3], rtol=0, atol=1e-6)


def test_featurize_many_empty(featurizer):
    assert featurizer.featurize_many([]) == []
    assert featurizer.featurize_many([], ignore_errors=True, return_errors=True) == []


def test_return_errors_requires_ignore_errors(featurizer, structures):
    with pytest.raises(ValueError, match="ignore_errors"):
        featurizer.featurize_many(structures[:2], return_errors=True)


def test_ignore_errors_gives_nan_rows(featurizer, mixed, structures, reference):
    entries, bad_at = mixed
    df = pd.DataFrame({"structure": entries}, index=[f"row{i}" for i in range(len(entries))])
    out = featurizer.featurize_dataframe(df, "structure", ignore_errors=True, pbar=False)
    assert len(out) == len(entries) and out.index.equals(df.index)  # nothing dropped
    assert ERRORS not in out.columns
    values = out[LABELS].to_numpy(np.float64)
    clean = {id(s): reference[i] for i, s in enumerate(structures)}
    for i, entry in enumerate(entries):
        if i in bad_at:
            assert np.isnan(values[i]).all(), bad_at[i]
        else:
            np.testing.assert_allclose(values[i], clean[id(entry)], rtol=0, atol=1e-6)
    assert sorted(bad_at) == [2, 4, 6, 8] and len(entries) == 10


def test_return_errors_column(featurizer, mixed, bad_entries):
    entries, bad_at = mixed
    df = pd.DataFrame({"structure": entries})
    out = featurizer.featurize_dataframe(
        df, "structure", ignore_errors=True, return_errors=True, pbar=False
    )
    assert list(out.columns) == ["structure", *LABELS, ERRORS]
    for i in range(len(entries)):
        message = out[ERRORS].iloc[i]
        if i in bad_at:
            assert isinstance(message, str)
            assert "StructureError" in message
            assert bad_entries[bad_at[i]][1] in message
        else:
            assert isinstance(message, float) and np.isnan(message)
            assert np.isfinite(out[LABELS].iloc[i].to_numpy(np.float64)).all()


def test_errors_raise_before_any_dataframe(featurizer, mixed):
    entries, bad_at = mixed
    first_bad = min(bad_at)
    df = pd.DataFrame({"structure": entries})
    columns = list(df.columns)
    with pytest.raises(StructureError, match=rf"entry {first_bad}\b") as info:
        featurizer.featurize_dataframe(df, "structure", inplace=True, pbar=False)
    assert isinstance(info.value, ValueError)
    assert "ignore_errors=True" in str(info.value)  # tells how to skip
    assert list(df.columns) == columns  # no partial result written into df
    with pytest.raises(StructureError, match=rf"entry {first_bad}\b"):
        featurizer.featurize_many(entries, pbar=False)


def test_precheck(featurizer, structures, bad_entries):
    assert all(featurizer.precheck(s) for s in structures)
    for entry, _ in bad_entries.values():
        assert featurizer.precheck(entry) is False
    # precheck needs no fitted model
    assert DeepInfoMaxFeaturizer(DIMEncoder(pretrained="not-a-model")).precheck(structures[0])
    # matminer's dataframe precheck works on top of it
    df = pd.DataFrame({"s": [structures[0], None, structures[1], "x"]})
    assert featurizer.precheck_dataframe(df, "s", return_frac=True) == pytest.approx(0.5)


def test_set_n_jobs_keeps_working(structures, reference):
    fz = DeepInfoMaxFeaturizer(DIMEncoder(pretrained=None, random_state=0))
    fz.set_n_jobs(2)
    assert fz.n_jobs == 1  # one batched pass; matminer's pool would only slow it down
    rows = fz.featurize_many(structures[:3], pbar=False)
    np.testing.assert_allclose(np.array(rows), reference[:3], rtol=0, atol=1e-6)


def test_wraps_a_dimencoder_with_nested_parameters():
    fz = DeepInfoMaxFeaturizer(DIMEncoder(pretrained=None, epochs=3))
    params = fz.get_params()
    assert params["encoder__epochs"] == 3 and params["encoder__pretrained"] is None
    fz.set_params(encoder__epochs=5)
    assert fz.encoder.epochs == 5
    assert clone(fz).get_params()["encoder__epochs"] == 5
    with pytest.raises(TypeError, match="must be a DIMEncoder"):
        DeepInfoMaxFeaturizer("bundled").feature_labels()


def test_featurize_and_labels_change_no_state(structures, reference):
    fz = DeepInfoMaxFeaturizer(DIMEncoder(pretrained=None, random_state=0))
    before = dict(vars(fz))
    np.testing.assert_allclose(fz.featurize(structures[0]), reference[0], rtol=0, atol=1e-6)
    assert len(fz.feature_labels()) == 128
    fz.featurize_many(structures[:2], pbar=False)
    assert vars(fz) == before  # nothing fitted, cached or replaced on the object


def test_errors_name_the_row_index_label(structures):
    df = pd.DataFrame({"structure": [structures[0], "not a structure"]}, index=["ok", "bad"])
    fz = DeepInfoMaxFeaturizer(DIMEncoder(pretrained=None, random_state=0))
    with pytest.raises(StructureError, match=r"entry 1 \(index 'bad'\)"):
        fz.featurize_dataframe(df, "structure", pbar=False)
    out = fz.featurize_dataframe(df, "structure", pbar=False, ignore_errors=True)
    assert out.loc["bad", "dim_0"] != out.loc["bad", "dim_0"]  # NaN row


def test_featurize_many_is_chunked_like_transform(structures, reference, monkeypatch):
    import dimfeaturizer.inference as inference

    monkeypatch.setattr(inference, "CHUNK", 3)
    fz = DeepInfoMaxFeaturizer(DIMEncoder(pretrained=None, random_state=0))
    rows = fz.featurize_many([*structures[:4], None, *structures[4:7]], ignore_errors=True,
                             pbar=False)
    got = np.array(rows, dtype=np.float64)
    assert np.isnan(got[4]).all()
    np.testing.assert_allclose(np.delete(got, 4, axis=0), reference[:7], rtol=0, atol=1e-6)


def test_unfitted_trainable_featurizer_refuses(structures):
    fz = DeepInfoMaxFeaturizer(DIMEncoder(pretrained=None, random_state=0, **TRAIN))
    with pytest.raises(NotFittedError):
        fz.featurize(structures[0])


def test_fit_pretrains_then_featurize_uses_new_weights(structures, reference):
    small = structures[:8]
    fz = DeepInfoMaxFeaturizer(DIMEncoder(pretrained=None, random_state=0, **TRAIN))
    assert fz.fit(small) is fz
    assert len(fz.encoder_.history_) == 2 and "train_dim_local" in fz.encoder_.history_[0]
    vec = np.asarray(fz.featurize(small[3]))
    assert np.abs(vec - reference[3]).max() > 1e-4  # not the untrained weights
    # the same pretraining through DIMEncoder gives the same vector
    enc = DIMEncoder(pretrained=None, random_state=0, **TRAIN).fit(small)
    np.testing.assert_allclose(vec, enc.transform([small[3]])[0], rtol=0, atol=1e-6)
    # matminer's fit_featurize_dataframe pretrains on the column, then featurizes it
    df = pd.DataFrame({"structure": small})
    fresh = DeepInfoMaxFeaturizer(DIMEncoder(pretrained=None, random_state=0, **TRAIN))
    out = fresh.fit_featurize_dataframe(df, "structure", pbar=False)
    np.testing.assert_allclose(
        out[LABELS].to_numpy(np.float64), enc.transform(small), rtol=0, atol=1e-6
    )
