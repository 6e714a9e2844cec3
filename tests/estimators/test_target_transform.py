"""DIMRegressor's target transform (Yeo-Johnson before standardising) and the members'
validation error in the target's own units (tiny random-weight models, few epochs)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.preprocessing import PowerTransformer

from dimfeaturizer import DIMRegressor
from dimfeaturizer.estimators.novelty import Novelty
from dimfeaturizer.estimators.supervised import TARGET_MARGIN
from dimfeaturizer.inference import encode
from dimfeaturizer.runtime import member_seeds
from dimfeaturizer.training import validation_split

pytestmark = pytest.mark.usefixtures("one_torch_thread")
FAST = dict(pretrained=None, epochs=4, batch_sites=40, device="cpu", compile=False,
            random_state=0, n_models=1)


@pytest.fixture(scope="module")
def skewed(mp_entries) -> np.ndarray:
    """A positive, right-skewed target (like a frequency or an exfoliation energy)."""
    return np.exp(2.0 * np.array([e["e_form"] for e in mp_entries.values()]) + 5.0)


FITTED = 10  # the power model's training crystals: the first ten; the other four are new


@pytest.fixture(scope="module")
def power(structures, skewed) -> DIMRegressor:
    return DIMRegressor(**{**FAST, "n_models": 2}, target_transform="power").fit(
        structures[:FITTED], skewed[:FITTED])


def test_outputs_are_the_inverse_power_transform(power, structures, skewed):
    """Each member's output, unstandardised and inverse-transformed with the exponent
    fitted on the training targets, is its prediction; the ensemble averages those."""
    reference = PowerTransformer(standardize=False).fit(skewed[:FITTED, None])
    np.testing.assert_allclose(power.target_lambdas_, reference.lambdas_, rtol=1e-10)
    z = reference.transform(skewed[:FITTED, None])[:, 0]
    assert power.target_mean_[0] == pytest.approx(z.mean())
    assert power.target_scale_[0] == pytest.approx(z.std())
    members = []
    for model in power.models_:
        out = encode(model, structures, device="cpu")[:, 0].astype(np.float64)
        low, high = power._target_bounds[0][0], power._target_bounds[1][0]
        out = np.clip(out, low - TARGET_MARGIN, high + TARGET_MARGIN)
        members.append(reference.inverse_transform(
            (out * power.target_scale_[0] + power.target_mean_[0])[:, None])[:, 0])
    mean, std = power.predict(structures, return_std=True)
    np.testing.assert_allclose(mean, np.mean(members, axis=0), rtol=1e-6)
    # the spread of the members' predictions mapped back, times the std's distance factor
    # (~0 on the training crystals: the four new ones carry the check)
    hidden = power._outputs(structures, with_hidden=True)[:, :, 1:]
    factor = Novelty(power.training_latents_)(hidden)
    assert (factor[FITTED:] > 0.1).all()
    np.testing.assert_allclose(std, np.std(members, axis=0) * factor, rtol=1e-5, atol=1e-9)
    assert np.isfinite(mean).all() and (mean > 0).all()


def test_standard_is_unchanged_by_the_option(structures, skewed):
    default = DIMRegressor(**FAST).fit(structures, skewed)
    explicit = DIMRegressor(**FAST, target_transform="standard").fit(structures, skewed)
    np.testing.assert_array_equal(default.predict(structures), explicit.predict(structures))
    assert default.target_lambdas_ is None


def test_power_changes_what_is_learnt(power, structures, skewed):
    standard = DIMRegressor(**{**FAST, "n_models": 2}).fit(structures[:FITTED], skewed[:FITTED])
    assert not np.allclose(standard.predict(structures), power.predict(structures))


def test_save_and_load_keep_the_transform(power, structures, tmp_path):
    power.save_pretrained(tmp_path / "model")
    loaded = DIMRegressor.from_pretrained(tmp_path / "model")
    assert loaded.target_transform == "power"
    for a, b in zip(power.predict(structures, return_std=True),
                    loaded.predict(structures, return_std=True)):  # fmt: skip
        np.testing.assert_array_equal(a, b)


def test_outputs_far_outside_the_domain_stay_finite(power, skewed):
    """A raw output beyond anything seen in training maps to a finite value at most a
    margin beyond the training targets' range, never NaN."""
    extreme = np.array([[-1e6], [1e6], [0.0]])
    y = power._decode(extreme)
    assert np.isfinite(y).all()
    assert y[0, 0] < skewed[:FITTED].min() <= skewed[:FITTED].max() < y[1, 0]


def test_validation_mae_is_each_members_held_out_error(structures, skewed):
    model = DIMRegressor(**{**FAST, "n_models": 2}, target_transform="power",
                         validation_fraction=0.2).fit(structures, skewed)
    scores = model.training_["validation_mae"]
    assert len(scores) == 2
    for (_, train_seed), member, score in zip(member_seeds(0, 2), model.models_, scores):
        _, held_out = validation_split(len(structures), 0.2, train_seed)
        raw = encode(member, [structures[i] for i in held_out], device="cpu")
        expected = np.mean(np.abs(model._decode(raw)[:, 0] - skewed[held_out]))
        assert score == pytest.approx(expected, rel=1e-9)


def test_members_train_on_every_label_by_default(structures, skewed):
    """validation_fraction=0 (the default): nothing held out, so no held-out score and no
    validation loss; each member's last epochs, not an early stop, are kept."""
    model = DIMRegressor(**FAST).fit(structures, skewed)
    assert model.validation_fraction == 0
    assert model.training_["validation_mae"] == []
    assert not any(key.startswith("val_") for key in model.history_[0])
    assert len(model.history_) == FAST["epochs"]
