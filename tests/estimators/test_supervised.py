"""DIMRegressor and DIMClassifier: fine-tuning the encoder on labels, as scikit-learn
estimators (tiny models and few epochs; the bundled weights in one test)."""

from __future__ import annotations

import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import cross_val_score
from sklearn.utils.estimator_checks import (
    check_do_not_raise_errors_in_init_or_set_params,
    check_estimator_cloneable,
    check_estimator_repr,
    check_estimators_unfitted,
    check_get_params_invariance,
    check_mixin_order,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)

from dimfeaturizer import DIMClassifier, DIMEncoder, DIMRegressor, StructureError
from dimfeaturizer.data.inputs import prepare_all

pytestmark = pytest.mark.usefixtures("one_torch_thread")
FAST = dict(pretrained=None, epochs=8, batch_sites=40, device="cpu", compile=False,
            random_state=0, n_models=1)


@pytest.mark.parametrize("estimator", [DIMRegressor, DIMClassifier], ids=lambda c: c.__name__)
@pytest.mark.parametrize(
    "check",
    [
        check_no_attributes_set_in_init,
        check_parameters_default_constructible,
        check_get_params_invariance,
        check_set_params,
        check_estimator_cloneable,
        check_estimator_repr,
        check_do_not_raise_errors_in_init_or_set_params,
        check_mixin_order,
        check_estimators_unfitted,
    ],
    ids=lambda f: f.__name__,
)
def test_data_free_sklearn_checks(estimator, check):
    check(estimator.__name__, estimator(pretrained=None, random_state=0))


@pytest.fixture(scope="module")
def e_form(mp_entries) -> np.ndarray:
    return np.array([e["e_form"] for e in mp_entries.values()])


@pytest.fixture(scope="module")
def metal(mp_entries) -> np.ndarray:
    return np.array(["metal" if e["gap"] == 0 else "non-metal" for e in mp_entries.values()])


@pytest.fixture(scope="module")
def regressor(structures, e_form) -> DIMRegressor:
    return DIMRegressor(**FAST).fit(structures, e_form)


def _head_on(vectors: np.ndarray, model) -> np.ndarray:
    with torch.no_grad():
        return model.head(torch.from_numpy(vectors)).double().numpy()


def test_fit_predict_and_agreement_with_the_encoder(regressor, structures, e_form, tmp_path):
    pred = regressor.predict(structures)
    assert pred.shape == (len(structures),) and np.isfinite(pred).all()
    assert regressor.history_ and "train_l1" in regressor.history_[0]
    assert 0 <= regressor.best_epoch_ < 8
    # the fine-tuned encoder, saved and read by DIMEncoder, gives the vectors the head
    # reads (then, by default, the sites' maxima)
    regressor.save_pretrained(tmp_path)
    vectors = DIMEncoder(pretrained=tmp_path).fit().transform(structures)
    model = regressor.model_
    packed = prepare_all(structures, list(range(len(structures))), model.encoder.config)
    with torch.no_grad():
        read = model.vectors(packed.batch(np.arange(len(packed)))).numpy()
    dim = model.encoder.config.vector_dim
    assert model.site_max and read.shape[1] == dim + model.encoder.config.pool_dim
    np.testing.assert_allclose(read[:, :dim], vectors, atol=1e-5)
    expected = _head_on(read, model) * regressor.target_scale_
    np.testing.assert_allclose(pred, expected[:, 0] + regressor.target_mean_, atol=1e-5)


def test_learns_on_its_training_labels(structures, e_form):
    model = DIMRegressor(**{**FAST, "epochs": 40}, validation_fraction=0.0,
                         encoder_learning_rate=1e-3)
    pred = model.fit(structures, e_form).predict(structures)
    assert np.abs(pred - e_form).mean() < 0.5 * np.abs(e_form - e_form.mean()).mean()


def test_target_standardisation(structures, e_form, regressor):
    """Scaling and shifting y changes nothing but the units of the predictions."""
    shifted = DIMRegressor(**FAST).fit(structures, 1000 * e_form + 7)
    np.testing.assert_allclose(shifted.predict(structures),
                               1000 * regressor.predict(structures) + 7, rtol=1e-5)


def test_multi_output(structures, mp_entries, e_form):
    y = np.column_stack([e_form, [e["gap"] for e in mp_entries.values()]])
    model = DIMRegressor(**FAST).fit(structures, y)
    assert model.predict(structures).shape == (len(structures), 2)
    assert model.n_outputs_ == 2


def test_determinism(regressor, structures, e_form):
    again = DIMRegressor(**FAST).fit(structures, e_form)
    np.testing.assert_array_equal(again.predict(structures), regressor.predict(structures))
    other = DIMRegressor(**{**FAST, "random_state": 1}).fit(structures, e_form)
    assert np.abs(other.predict(structures) - regressor.predict(structures)).max() > 1e-4


def test_clone_pickle_joblib_and_saved_round_trips(regressor, structures, tmp_path):
    pred = regressor.predict(structures)
    assert clone(regressor).get_params() == regressor.get_params()
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(regressor)).predict(structures), pred)
    joblib.dump(regressor, tmp_path / "r.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "r.joblib").predict(structures), pred)
    regressor.save_pretrained(tmp_path / "saved")
    loaded = DIMRegressor.from_pretrained(tmp_path / "saved", device="cpu")
    np.testing.assert_array_equal(loaded.predict(structures), pred)
    assert loaded.score(structures, pred) == 1.0
    with pytest.raises(ValueError, match="regression model, not a classification"):
        DIMClassifier.from_pretrained(tmp_path / "saved")
    with pytest.raises(ValueError, match="without a prediction head"):
        DIMEncoder(pretrained=None, random_state=0).fit().save_pretrained(tmp_path / "enc")
        DIMRegressor.from_pretrained(tmp_path / "enc")


def test_supervised_transfer_starts_from_the_donor_encoder(regressor, structures, tmp_path):
    regressor.save_pretrained(tmp_path)
    gaps = np.linspace(0, 3, len(structures))
    frozen = DIMRegressor(**{**FAST, "pretrained": tmp_path}, freeze_encoder=True)
    frozen.fit(structures, gaps)
    donor = regressor.model_.encoder.state_dict()
    for k, v in frozen.model_.encoder.state_dict().items():
        assert torch.equal(v, donor[k]), k  # frozen: the donor's encoder, untouched
    tuned = DIMRegressor(**{**FAST, "pretrained": tmp_path}).fit(structures, gaps)
    changed = [not torch.equal(v, donor[k]) for k, v in tuned.model_.encoder.state_dict().items()]
    assert any(changed)


def test_untrained_control_matches_dimencoder(structures, e_form):
    """pretrained=None starts from DIMEncoder(pretrained=None)'s weights for the seed."""
    model = DIMRegressor(**{**FAST, "epochs": 1}, freeze_encoder=True).fit(structures, e_form)
    control = DIMEncoder(pretrained=None, random_state=0).fit()
    for k, v in control.model_.state_dict().items():
        assert torch.equal(v, model.model_.encoder.state_dict()[k]), k


def test_bundled_weights_fine_tune_a_default_ensemble(structures, e_form):
    """The defaults: five members, alternately from the two bundled encoders, and a std
    from their spread."""
    model = DIMRegressor(epochs=2, device="cpu", compile=False, random_state=0)
    model.fit(structures[:10], e_form[:10])
    pred, std = model.predict(structures[10:], return_std=True)  # crystals it has not seen
    assert model.config_.post_pool_hidden == 2048 and np.isfinite(pred).all()
    assert len(model.models_) == 5 and (std > 0).all()
    assert [m.encoder.config.distance_basis for m in model.models_] == [0, 32, 0, 32, 0]


def test_bad_input_names_the_entry(structures, e_form):
    X = pd.Series([*structures[:3], "not a structure"], index=["a", "b", "c", "d"])
    with pytest.raises(StructureError, match=r"entry 3 \(index 'd'\)"):
        DIMRegressor(**FAST).fit(X, e_form[:4])
    with pytest.raises(ValueError, match="4 structures but y has 3"):
        DIMRegressor(**FAST).fit(structures[:4], e_form[:3])
    with pytest.raises(ValueError, match="finite"):
        DIMRegressor(**FAST).fit(structures[:4], [0.0, np.nan, 1.0, 2.0])
    with pytest.raises(ValueError, match="at least 2"):
        DIMRegressor(**FAST).fit(structures[:1], e_form[:1])
    with pytest.raises(ValueError, match="'epochs' parameter"):
        DIMRegressor(**{**FAST, "epochs": 0}).fit(structures, e_form)


def test_cross_validation_in_sklearn(structures, e_form):
    scores = cross_val_score(DIMRegressor(**{**FAST, "epochs": 2}), structures, e_form, cv=2,
                             scoring="neg_mean_absolute_error")
    assert scores.shape == (2,) and np.isfinite(scores).all()


def test_classifier(structures, metal, tmp_path):
    model = DIMClassifier(**FAST, class_weight="balanced").fit(structures, metal)
    assert list(model.classes_) == ["metal", "non-metal"]
    proba = model.predict_proba(structures)
    assert proba.shape == (len(structures), 2)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    np.testing.assert_array_equal(model.predict(structures), model.classes_[proba.argmax(1)])
    assert 0.0 <= model.score(structures, metal) <= 1.0
    model.save_pretrained(tmp_path)
    loaded = DIMClassifier.from_pretrained(tmp_path, device="cpu")
    np.testing.assert_array_equal(loaded.predict_proba(structures), proba)
    assert list(loaded.classes_) == ["metal", "non-metal"]


def test_class_weights_change_the_fit(structures, metal):
    plain = DIMClassifier(**FAST).fit(structures, metal).predict_proba(structures)
    weighted = DIMClassifier(**FAST, class_weight={"metal": 5.0, "non-metal": 1.0})
    weighted = weighted.fit(structures, metal).predict_proba(structures)
    metals = metal == "metal"  # heavier class -> more probability on its own crystals
    assert weighted[metals, 0].mean() > plain[metals, 0].mean()


def test_multiclass_and_single_class(structures, mp_entries):
    n_elements = np.array([len(e["structure"].composition) for e in mp_entries.values()])
    model = DIMClassifier(**FAST).fit(structures, n_elements)
    assert model.predict_proba(structures).shape[1] == len(np.unique(n_elements))
    with pytest.raises(ValueError, match="single class"):
        DIMClassifier(**FAST).fit(structures, np.ones(len(structures)))


def test_regressor_resumes_its_checkpoint_and_refuses_another_start(structures, e_form,
                                                                    tmp_path, killed_at):
    """A killed fine-tuning resumes exactly (the seeded head is the same start, the
    learning-rate schedule a function of the epoch); another draw's start must not
    resume it."""
    settings = {**FAST, "patience": 100}
    whole = DIMRegressor(**settings).fit(structures, e_form)
    with killed_at(3):
        DIMRegressor(**settings, checkpoint_dir=tmp_path).fit(structures, e_form)
    resumed = DIMRegressor(**settings, checkpoint_dir=tmp_path).fit(structures, e_form)
    assert len(resumed.history_) == len(whole.history_) == settings["epochs"]
    np.testing.assert_allclose(resumed.predict(structures), whole.predict(structures),
                               rtol=1e-5, atol=1e-6)  # fmt: skip
    other = DIMRegressor(**{**settings, "random_state": 1}, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="starting weights"):
        other.fit(structures, e_form)


def test_auto_batches_keep_32_steps_an_epoch_on_small_sets(structures, e_form):
    """``batch_sites="auto"``: 512 sites, or the training split's sites over 32 where that
    is fewer; each member records what it used."""
    from dimfeaturizer.config import SiteNetConfig
    from dimfeaturizer.data.inputs import prepare_all
    from dimfeaturizer.runtime import member_seeds
    from dimfeaturizer.training import validation_split

    model = DIMRegressor(**{**FAST, "epochs": 1, "batch_sites": "auto", "n_models": 2})
    model.fit(structures, e_form)
    n_prim = prepare_all(structures, list(range(len(structures))), SiteNetConfig()).n_prim
    for (_, train_seed), member in zip(member_seeds(0, 2), model.training_["members"]):
        train, _ = validation_split(len(structures), model.validation_fraction, train_seed)
        expected = min(512, int(n_prim[train].sum()) // 32)
        assert 1 <= expected < 512 and member["batch_sites"] == expected
    assert model.training_["history"][0]["learning_rate"] == model.learning_rate
    fixed = DIMRegressor(**{**FAST, "epochs": 1}).fit(structures, e_form)
    assert fixed.training_["members"][0]["batch_sites"] == FAST["batch_sites"]
