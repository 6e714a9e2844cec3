"""DIMEncoder as a scikit-learn transformer: conventions, pipelines, persistence, fitting.

No bundled weights are needed: the encoder runs as the random-weight untrained control
(``pretrained=None``) or from a folder written by ``save_pretrained``; pretraining runs are
tiny (2 epochs on the 8 smallest fixture crystals).
"""

from __future__ import annotations

import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import (
    check_do_not_raise_errors_in_init_or_set_params,
    check_estimator_cloneable,
    check_estimator_repr,
    check_estimator_tags_renamed,
    check_estimators_unfitted,
    check_get_feature_names_out_error,
    check_get_params_invariance,
    check_mixin_order,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)

import dimfeaturizer.estimators.encoder as estimator_module
from dimfeaturizer import DIMEncoder, SiteNetConfig, StructureError
from dimfeaturizer.training import FALSE_SAMPLE_KINDS

# tiny, deterministic pretraining: every fixture crystal of the training subset has <= 6
# sites, so any two fit in one batch of 64 primitive sites
TRAIN = dict(frozen=False, epochs=2, batch_sites=64, progress=False, device="cpu", amp=False)


def weights(encoder) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in encoder.model_.state_dict().items()}


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def small(structures):
    """The 8 smallest fixture crystals (1 to 6 sites): a tiny pretraining set."""
    out = structures[:8]
    assert max(len(s) for s in out) <= 6
    return out


@pytest.fixture(scope="module")
def reference(structures):
    """Vectors of the untrained control with random_state=0."""
    return DIMEncoder(pretrained=None, random_state=0).fit().transform(structures)


@pytest.fixture(scope="module")
def pretrained_run(small):
    """One tiny pretraining run from random init (random_state=0) and its start weights."""
    start = weights(DIMEncoder(pretrained=None, random_state=0).fit())
    enc = DIMEncoder(pretrained=None, random_state=0, **TRAIN).fit(small)
    return enc, start


# -- scikit-learn conventions ----------------------------------------------------------


@pytest.mark.parametrize(
    "check",
    [
        check_no_attributes_set_in_init,
        check_parameters_default_constructible,
        check_get_params_invariance,
        check_set_params,
        check_estimator_cloneable,
        check_estimator_repr,
        check_estimator_tags_renamed,
        check_do_not_raise_errors_in_init_or_set_params,
        check_mixin_order,
        check_estimators_unfitted,
        check_get_feature_names_out_error,
    ],
    ids=lambda f: f.__name__,
)
def test_data_free_sklearn_checks(check):
    check("DIMEncoder", DIMEncoder(pretrained=None, random_state=0))


@pytest.mark.parametrize(
    "params, name",
    [
        ({"epochs": -1}, "epochs"),
        ({"false_samples": "composition"}, "false_samples"),
        ({"validation_fraction": 1.0}, "validation_fraction"),
        ({"config": 3}, "config"),
        ({"compile": "sometimes"}, "compile"),
        ({"learning_rate": 0.0}, "learning_rate"),
    ],
)
def test_bad_parameters_are_named_at_fit(params, name):
    """Checked once, at fit (scikit-learn's parameter constraints), before any work."""
    enc = DIMEncoder(pretrained=None, **params)  # __init__ only stores
    with pytest.raises(ValueError, match=f"'{name}' parameter of DIMEncoder"):
        enc.fit()
    assert not hasattr(enc, "model_")


def test_clone_then_fit_gives_identical_output(structures, reference):
    enc = DIMEncoder(pretrained=None, random_state=0).fit()
    enc.transform(structures)
    twin = clone(enc)
    assert not hasattr(twin, "model_")
    assert twin.get_params() == enc.get_params()
    np.testing.assert_array_equal(twin.fit().transform(structures), reference)


def test_sklearn_tags_declare_non_2d_input():
    tags = get_tags(DIMEncoder(pretrained=None))
    assert tags.input_tags.two_d_array is False
    assert tags.input_tags.one_d_array is True
    assert tags.target_tags.required is False
    assert tags.transformer_tags is not None


def test_unfitted_transform_raises(structures):
    with pytest.raises(NotFittedError):
        DIMEncoder(pretrained=None, random_state=0).transform(structures[:1])


# -- transform output ------------------------------------------------------------------


def test_transform_dtype_and_shape(structures, reference):
    assert reference.dtype == np.float32
    assert reference.shape == (len(structures), 128)
    assert np.isfinite(reference).all()
    # different crystals get different vectors, and the rows are not all the same
    assert len({row.tobytes() for row in reference}) == len(structures)
    assert reference.std(axis=0).max() > 1e-4


def test_transform_empty_input(untrained):
    out = untrained.transform([])
    assert out.shape == (0, 128) and out.dtype == np.float32


def test_fit_transform_matches_fit_then_transform(structures, reference):
    out = DIMEncoder(pretrained=None, random_state=0).fit_transform(structures)
    np.testing.assert_array_equal(out, reference)


def test_rows_do_not_depend_on_the_batch(structures, reference, untrained):
    """A crystal's vector is the same alone, in reverse order or in tiny batches."""
    single = np.concatenate([untrained.transform([s]) for s in structures[:4]])
    np.testing.assert_allclose(single, reference[:4], rtol=0, atol=1e-6)
    reverse = untrained.transform(structures[::-1])[::-1]
    np.testing.assert_allclose(reverse, reference, rtol=0, atol=1e-6)
    tiny = clone(untrained).set_params(inference_batch_sites=4).fit().transform(structures)
    np.testing.assert_allclose(tiny, reference, rtol=0, atol=1e-6)


def test_input_containers_agree(structures, reference, untrained):
    n = len(structures)
    array = np.empty(n, dtype=object)
    array[:] = structures
    column = np.empty((n, 1), dtype=object)
    column[:, 0] = structures
    inputs = {
        "list": list(structures),
        "tuple": tuple(structures),
        "generator": (s for s in structures),
        "series": pd.Series(structures, index=[f"m{i}" for i in range(n)]),
        "frame": pd.DataFrame({"structure": structures}),
        "1d-array": array,
        "2d-array-1-column": column,
    }
    for name, X in inputs.items():
        out = untrained.transform(X)
        assert out.shape == (n, 128), name
        np.testing.assert_array_equal(out, reference, err_msg=name)


def test_bad_containers_are_rejected(structures, untrained):
    two_columns = pd.DataFrame({"a": structures[:2], "b": structures[:2]})
    with pytest.raises(ValueError, match="one column"):
        untrained.transform(two_columns)
    with pytest.raises(TypeError):
        untrained.transform(None)
    with pytest.raises(TypeError):
        untrained.transform("NaCl")
    # a bare Structure is not a sequence of structures: an error, never 1 row per site
    with pytest.raises((TypeError, ValueError)):
        untrained.transform(structures[3])


def test_get_feature_names_out(untrained):
    names = untrained.get_feature_names_out()
    assert isinstance(names, np.ndarray) and names.dtype == object
    assert list(names) == [f"dim_{i}" for i in range(128)]
    assert list(untrained.get_feature_names_out(["structure"])) == list(names)


def test_set_output_pandas_keeps_series_index(structures, reference):
    index = pd.Index([f"mp-{i}" for i in range(len(structures))], name="material_id")
    X = pd.Series(structures, index=index, name="structure")
    enc = DIMEncoder(pretrained=None, random_state=0).set_output(transform="pandas")
    out = enc.fit(X).transform(X)
    assert isinstance(out, pd.DataFrame)
    assert out.index.equals(index)
    assert list(out.columns) == [f"dim_{i}" for i in range(128)]
    np.testing.assert_array_equal(out.to_numpy(), reference)
    # fit_transform too, and a shuffled Series keeps its own (shuffled) labels
    shuffled = X.iloc[::-1]
    out2 = clone(enc).fit_transform(shuffled)
    assert out2.index.equals(shuffled.index)
    np.testing.assert_array_equal(out2.loc[index].to_numpy(), reference)


# -- pipelines -------------------------------------------------------------------------


def test_pipeline_with_ridge(mp_entries, structures, reference):
    y = np.array([e["e_form"] for e in mp_entries.values()])
    pipe = Pipeline([("dim", DIMEncoder(pretrained=None, random_state=0)), ("ridge", Ridge())])
    pred = pipe.fit(structures, y).predict(structures)
    assert pred.shape == (len(structures),)
    expected = Ridge().fit(reference, y).predict(reference)
    np.testing.assert_allclose(pred, expected, rtol=1e-6, atol=1e-6)
    # the fitted ridge actually uses the features: its training fit beats the mean
    assert np.mean((pred - y) ** 2) < np.var(y)
    # clone of the whole pipeline refits to the same predictions
    np.testing.assert_allclose(
        clone(pipe).fit(structures, y).predict(structures), pred, rtol=1e-6, atol=1e-6
    )


def test_pipeline_with_vector_scaler(mp_entries, structures):
    """The README's advice for pretrained vectors: one scale for the whole vector."""
    from dimfeaturizer import VectorScaler

    y = np.array([e["e_form"] for e in mp_entries.values()])
    pipe = Pipeline([("dim", DIMEncoder()), ("scale", VectorScaler()), ("ridge", Ridge())])
    pred = pipe.fit(structures, y).predict(structures)
    x = DIMEncoder().fit().transform(structures)
    scaled = (x - x.mean(0)) / x.std(0).max()
    np.testing.assert_allclose(pipe[:-1].transform(structures), scaled, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pred, Ridge().fit(scaled, y).predict(scaled), rtol=1e-5, atol=1e-5)
    names = pipe[:-1].get_feature_names_out()
    assert list(names) == [f"dim_{i}" for i in range(128)]


def test_frozen_estimator_in_pipeline_is_not_refit(mp_entries, structures):
    """FrozenEstimator(fitted) is the documented way to reuse an encoder as is."""
    y = np.array([e["e_form"] for e in mp_entries.values()])
    enc = DIMEncoder(pretrained=None, random_state=0).fit()
    with torch.no_grad():  # make the weights differ from what any refit would give
        for p in enc.model_.parameters():
            p.add_(0.05)
    model, expected = enc.model_, enc.transform(structures)

    pipe = Pipeline([("dim", FrozenEstimator(enc)), ("ridge", Ridge())])
    pred = pipe.fit(structures, y).predict(structures)
    assert enc.model_ is model
    np.testing.assert_array_equal(pipe[:-1].transform(structures), expected)
    np.testing.assert_allclose(pred, Ridge().fit(expected, y).predict(expected), atol=1e-6)

    cloned = clone(pipe).fit(structures, y)
    assert cloned[0].estimator is enc and enc.model_ is model
    np.testing.assert_array_equal(cloned[:-1].transform(structures), expected)

    # control: without FrozenEstimator the pipeline refits and loses the edited weights
    plain = Pipeline([("dim", enc), ("ridge", Ridge())])
    refit = clone(plain).fit(structures, y)
    assert not np.allclose(refit[:-1].transform(structures), expected)


# -- fitting ---------------------------------------------------------------------------


def test_frozen_fit_does_not_train_or_read_x(structures, reference, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("a frozen fit must not pretrain")

    monkeypatch.setattr(estimator_module, "fit", no_training)
    for X in (None, structures, structures[:1], [None, "not a structure"]):
        enc = DIMEncoder(pretrained=None, random_state=0).fit(X)
        assert enc.history_ == [] and enc.best_epoch_ == -1
        np.testing.assert_array_equal(enc.transform(structures), reference)


def test_frozen_false_requires_x():
    with pytest.raises(ValueError, match="frozen=False"):
        DIMEncoder(pretrained=None, random_state=0, **TRAIN).fit()


def test_frozen_false_checks_x_before_training(structures, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("bad input must be rejected before pretraining")

    monkeypatch.setattr(estimator_module, "fit", no_training)
    X = pd.Series([structures[0], structures[1], None], index=["a", "b", "c"])
    with pytest.raises(StructureError, match=r"entry 2 \(index 'c'\)"):
        DIMEncoder(pretrained=None, random_state=0, **TRAIN).fit(X)


def test_random_state_determinism(structures, reference):
    again = DIMEncoder(pretrained=None, random_state=0).fit().transform(structures)
    np.testing.assert_array_equal(again, reference)
    other = DIMEncoder(pretrained=None, random_state=1).fit().transform(structures)
    assert other.shape == reference.shape
    assert np.abs(other - reference).max() > 1e-3
    # a RandomState instance is accepted, and a seeded one is reproducible
    a = DIMEncoder(pretrained=None, random_state=np.random.RandomState(7)).fit()
    b = DIMEncoder(pretrained=None, random_state=np.random.RandomState(7)).fit()
    assert same_weights(weights(a), weights(b))


def test_config_sets_architecture():
    enc = DIMEncoder(pretrained=None, random_state=0, config=SiteNetConfig(global_dim=16)).fit()
    assert enc.config_.global_dim == 16
    assert list(enc.get_feature_names_out()) == [f"dim_{i}" for i in range(16)]


def test_pretraining_changes_weights_and_records_history(pretrained_run, small):
    enc, start = pretrained_run
    assert not same_weights(weights(enc), start)
    assert len(enc.history_) == 2
    keys = {
        f"{split}_{m}"
        for split in ("train", "val")
        for m in ("dim_local", "kl_local", "dim_global", "kl_global")
    }
    for epoch, row in enumerate(enc.history_):
        assert row["epoch"] == epoch
        assert keys <= row.keys()
        assert all(np.isfinite(row[k]) for k in keys)
        assert row["train_dim_local"] > 0 and row["train_kl_local"] >= 0
    assert enc.best_epoch_ in (0, 1)
    assert not enc.model_.training  # left in eval mode for inference
    out = enc.transform(small)
    assert out.shape == (len(small), 128) and np.isfinite(out).all()


def test_pretraining_is_deterministic(pretrained_run, small):
    enc, _ = pretrained_run
    twin = clone(enc).fit(small)
    assert same_weights(weights(twin), weights(enc))
    timing = {"seconds", "structures_per_s"}
    assert [{k: v for k, v in row.items() if k not in timing} for row in twin.history_] == [
        {k: v for k, v in row.items() if k not in timing} for row in enc.history_
    ]
    other = clone(enc).set_params(random_state=1).fit(small)
    assert not same_weights(weights(other), weights(enc))


def test_continue_from_saved_weights(pretrained_run, small, tmp_path):
    """pretrained=<dir>, frozen=False starts from the saved weights: with the same
    random_state it replays exactly the run that started from those weights."""
    enc, _ = pretrained_run
    DIMEncoder(pretrained=None, random_state=0).fit().save_pretrained(tmp_path / "init")
    cont = DIMEncoder(pretrained=tmp_path / "init", random_state=0, **TRAIN).fit(small)
    assert len(cont.history_) == 2
    assert same_weights(weights(cont), weights(enc))
    # control: starting from other saved weights gives another result
    DIMEncoder(pretrained=None, random_state=5).fit().save_pretrained(tmp_path / "other")
    cont2 = DIMEncoder(pretrained=tmp_path / "other", random_state=0, **TRAIN).fit(small)
    assert not same_weights(weights(cont2), weights(enc))


def test_config_conflicting_with_pretrained_weights(tmp_path):
    DIMEncoder(pretrained=None, random_state=0).fit().save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="config"):
        DIMEncoder(pretrained=tmp_path, config=SiteNetConfig(global_dim=16)).fit()
    # the same config as the weights' is accepted
    DIMEncoder(pretrained=tmp_path, config=SiteNetConfig()).fit()


# -- persistence -----------------------------------------------------------------------


def test_pickle_round_trip(structures, reference, untrained):
    restored = pickle.loads(pickle.dumps(untrained))
    assert restored.get_params() == untrained.get_params()
    np.testing.assert_array_equal(restored.transform(structures), reference)


def test_joblib_round_trip(structures, reference, untrained, tmp_path):
    joblib.dump(untrained, tmp_path / "enc.joblib")
    restored = joblib.load(tmp_path / "enc.joblib")
    np.testing.assert_array_equal(restored.transform(structures), reference)


def test_pickle_pretrained_run(pretrained_run, small):
    enc, _ = pretrained_run
    restored = pickle.loads(pickle.dumps(enc))
    assert restored.history_ == enc.history_ and restored.best_epoch_ == enc.best_epoch_
    np.testing.assert_array_equal(restored.transform(small), enc.transform(small))


def test_save_load_round_trip(pretrained_run, small, tmp_path):
    enc, _ = pretrained_run
    enc.save_pretrained(tmp_path)
    assert (tmp_path / "config.json").is_file() and (tmp_path / "model.safetensors").is_file()
    expected = enc.transform(small)

    loaded = DIMEncoder.from_pretrained(tmp_path)
    assert isinstance(loaded, DIMEncoder) and loaded.frozen and loaded.pretrained == tmp_path
    assert loaded.history_ == [] and loaded.config_ == enc.config_
    assert same_weights(weights(loaded), weights(enc))
    np.testing.assert_array_equal(loaded.transform(small), expected)

    # the same weights through the constructor, and from_pretrained's kwargs
    np.testing.assert_array_equal(
        DIMEncoder(pretrained=str(tmp_path)).fit().transform(small), expected
    )
    tiny = DIMEncoder.from_pretrained(tmp_path, inference_batch_sites=4)
    assert tiny.inference_batch_sites == 4
    np.testing.assert_allclose(tiny.transform(small), expected, rtol=0, atol=1e-6)

    # random_state does not matter when weights are loaded frozen
    seeded = DIMEncoder(pretrained=tmp_path, random_state=123).fit()
    np.testing.assert_array_equal(seeded.transform(small), expected)


def test_save_requires_fit(tmp_path):
    with pytest.raises(NotFittedError):
        DIMEncoder(pretrained=None).save_pretrained(tmp_path)


def test_corrupted_weights_are_refused(untrained, tmp_path):
    untrained.save_pretrained(tmp_path)
    weights_file = tmp_path / "model.safetensors"
    data = bytearray(weights_file.read_bytes())
    data[-1] ^= 0xFF
    weights_file.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="SHA-256"):
        DIMEncoder.from_pretrained(tmp_path)


def test_config_by_folder_is_read_at_fit(tmp_path):
    """config=<folder> takes that folder's architecture, as it is when fit runs."""
    folder = tmp_path / "weights"
    small = DIMEncoder(pretrained=None, config=SiteNetConfig(global_dim=16), random_state=0)
    small.fit().save_pretrained(folder)
    control = DIMEncoder(pretrained=None, config=folder, random_state=1)
    assert control.fit().config_.global_dim == 16
    assert clone(control).get_params()["config"] == folder
    smaller = DIMEncoder(pretrained=None, config=SiteNetConfig(global_dim=8), random_state=0)
    smaller.fit().save_pretrained(folder)
    assert control.fit().config_.global_dim == 8
    with pytest.raises(FileNotFoundError, match="missing': no such folder"):
        DIMEncoder(pretrained=None, config=tmp_path / "missing").fit()


def test_geometry_false_samples_through_the_estimator(structures, tmp_path):
    """Opting in to the geometry false samples packs pair vectors and changes training;
    the sizes are validated, and a geometry-aware encoder with a distance basis saves and
    reloads to identical vectors."""
    kinds = (*FALSE_SAMPLE_KINDS, "displacement", "strain")
    config = SiteNetConfig(distance_basis=16)
    enc = DIMEncoder(pretrained=None, config=config, false_samples=kinds, displacement=0.3,
                     random_state=0, **TRAIN).fit(structures)
    plain = DIMEncoder(pretrained=None, config=config, random_state=0, **TRAIN).fit(structures)
    assert all(np.isfinite(row["train_loss"]) for row in enc.history_)
    assert enc.history_[0]["train_loss"] != plain.history_[0]["train_loss"]
    assert enc.training_["objective_params"]["displacement"] == 0.3
    enc.save_pretrained(tmp_path)
    again = DIMEncoder(pretrained=tmp_path).fit()
    assert again.config_.distance_basis == 16
    np.testing.assert_array_equal(again.transform(structures), enc.transform(structures))
    with pytest.raises(ValueError, match="displacement"):
        DIMEncoder(pretrained=None, displacement=0.0, **TRAIN).fit(structures)
    with pytest.raises(ValueError, match="research-record-2026-12"):  # before preprocessing
        DIMEncoder(pretrained=None, false_samples=("substitution",), **TRAIN).fit(["x"])


@pytest.mark.parametrize("name", ["pair_weighting", "denoise", "typicality"])
def test_retired_pretraining_parameters_are_gone(name):
    """The research-only options left the estimator (they live at the git tag
    research-record-2026-12): an old call fails at once, not silently."""
    assert name not in DIMEncoder().get_params()
    with pytest.raises(TypeError, match=name):
        DIMEncoder(pretrained=None, **{name: 0.0})


def test_transform_or_collect_gives_nan_rows_and_the_errors(untrained, structures):
    """The public error-collecting path: good rows equal transform's, a bad entry is a NaN
    row with its exception, and nothing stops at it."""
    from pymatgen.core import Lattice, Structure

    bad = Structure(Lattice.cubic(4.0), [{"Fe": 0.5, "Ni": 0.5}], [[0, 0, 0]])
    entries = [structures[0], bad, "not a structure", structures[1]]
    vectors, errors = untrained.transform_or_collect(entries)
    assert vectors.shape == (4, 128) and sorted(errors) == [1, 2]
    assert np.isnan(vectors[[1, 2]]).all()
    np.testing.assert_array_equal(vectors[[0, 3]],
                                  untrained.transform([structures[0], structures[1]]))
