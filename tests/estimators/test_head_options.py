"""What the head may read and predict beyond the default: ``learned_std`` (each member
learns the scale of its own error, and ``predict(X, return_std=True)`` reports the
mixture's std) and ``site_max`` (the sites' maxima beside the mean vector); tiny
random-weight models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dimfeaturizer import DIMRegressor
from dimfeaturizer.data.inputs import prepare_all
from dimfeaturizer.estimators.novelty import Novelty
from dimfeaturizer.estimators.supervised import _with_head
from dimfeaturizer.model import Kernels, initialised_model
from dimfeaturizer.training import Supervised
from dimfeaturizer.training.supervised import laplace_nll

pytestmark = pytest.mark.usefixtures("one_torch_thread")
FAST = dict(pretrained=None, epochs=6, batch_sites=40, device="cpu", compile=False,
            random_state=0, n_models=1, learned_std=True)


@pytest.fixture(scope="module")
def e_form(mp_entries) -> np.ndarray:
    return np.array([e["e_form"] for e in mp_entries.values()])


@pytest.fixture(scope="module")
def pair(structures, e_form) -> DIMRegressor:
    """Fitted on the first ten crystals; the other four are new to it."""
    return DIMRegressor(**{**FAST, "n_models": 2}).fit(structures[:10], e_form[:10])


def test_the_scale_that_minimises_the_loss_is_the_mean_absolute_error():
    """The Laplace likelihood's best scale for fixed errors is their mean absolute value."""
    errors = torch.tensor([[0.1], [-0.4], [0.9], [-0.2]])
    log_scale = torch.zeros(1, requires_grad=True)
    optimiser = torch.optim.Adam([log_scale], lr=0.05)
    for _ in range(2000):
        optimiser.zero_grad()
        laplace_nll(errors, log_scale.expand(4, 1)).backward()
        optimiser.step()
    assert np.exp(log_scale.item()) == pytest.approx(0.4, rel=1e-3)


def test_the_scale_term_never_moves_the_prediction(structures, e_form):
    """The predictions train on the loss alone: the scale's likelihood sees their errors
    detached, so its gradient on the prediction rows of the last layer is zero."""
    encoder = initialised_model(None, 0)
    packed = prepare_all(structures, list(range(len(structures))), encoder.config)
    packed = packed.with_targets(((e_form - e_form.mean()) / e_form.std())[:, None])
    model = _with_head(encoder, 2, 16, 0)
    objective = Supervised(learned_std=True)
    batch = packed.batch(np.arange(len(packed)))
    terms = objective.terms(model, batch, torch.Generator(), Kernels.of(encoder, False))
    assert set(terms) == {"l1", "scale_nll"} and objective.monitor == "l1"
    terms["scale_nll"].backward()
    last = model.head[-1]
    assert torch.count_nonzero(last.weight.grad[0]) == 0 and last.bias.grad[0] == 0
    assert torch.count_nonzero(last.weight.grad[1]) > 0


def test_std_is_the_mixture_of_the_members(pair, structures):
    """std² = (the members' spread x the distance factor)² + the mean of their Laplace
    variances (2 b²), each in the target's units; the mean is the members' mean
    prediction."""
    structures = structures[10:]  # crystals the pair has not seen
    outputs = pair._outputs(structures).astype(np.float64)  # (members, n, 2)
    assert outputs.shape == (2, len(structures), 2)
    scale, mean0 = pair.target_scale_[0], pair.target_mean_[0]
    predictions = outputs[:, :, 0] * scale + mean0
    variances = 2 * (np.exp(outputs[:, :, 1]) * scale) ** 2
    mean, std = pair.predict(structures, return_std=True)
    np.testing.assert_allclose(mean, predictions.mean(axis=0), rtol=1e-10)
    hidden = pair._outputs(structures, with_hidden=True)[:, :, 2:]
    factor = Novelty(pair.training_latents_)(hidden)  # scales the spread, not their errors
    assert (factor > 0.1).all()
    np.testing.assert_allclose(
        std, np.sqrt(predictions.var(axis=0) * factor**2 + variances.mean(axis=0)), rtol=1e-6
    )
    assert pair.training_["objective_params"]["learned_std"] is True
    assert "train_scale_nll" in pair.history_[0]


def test_one_model_reports_its_learned_std(structures, e_form):
    single = DIMRegressor(**FAST).fit(structures[:10], e_form[:10])
    assert single.has_std  # one model, but it learned its own error
    mean, std = single.predict(structures[10:], return_std=True)  # crystals it has not seen
    np.testing.assert_array_equal(mean, single.predict(structures[10:]))
    assert std.shape == mean.shape and (std > 0).all() and np.isfinite(std).all()
    with pytest.raises(ValueError, match="learned_std"):
        DIMRegressor(**{**FAST, "learned_std": False}).fit(structures, e_form).predict(
            structures, return_std=True
        )


def test_power_transform_maps_the_std_back(structures, e_form):
    """Under the power transform the std is the half-width of prediction ± std mapped back:
    finite, positive, and shaped like the predictions for 2-D targets too."""
    y = np.column_stack([e_form - e_form.min() + 0.1, e_form])
    model = DIMRegressor(**FAST, target_transform="power").fit(structures[:10], y[:10])
    mean, std = model.predict(structures[10:], return_std=True)  # crystals it has not seen
    assert mean.shape == std.shape == (4, 2)
    assert np.isfinite(std).all() and (std > 0).all()


def test_learned_std_round_trips(pair, structures, tmp_path):
    expected = pair.predict(structures, return_std=True)
    pair.save_pretrained(tmp_path / "saved")
    loaded = DIMRegressor.from_pretrained(tmp_path / "saved", device="cpu")
    assert loaded.learned_std and loaded.n_models == 2 and loaded.has_std
    for a, b in zip(loaded.predict(structures, return_std=True), expected):
        np.testing.assert_array_equal(a, b)


def test_objective_identity_without_it_is_unchanged():
    """Checkpoints written before the option existed keep resuming."""
    assert "learned_std" not in Supervised().identity()
    assert "learned_std" in Supervised(learned_std=True).identity()
    with pytest.raises(ValueError, match="regression"):
        Supervised(task="classification", learned_std=True)


def test_site_max_round_trips(structures, e_form, tmp_path):
    """A head that reads the sites' maxima saves, loads and predicts the same, and is not
    the mean-only model."""
    fast = {**FAST, "learned_std": False}
    model = DIMRegressor(**fast).fit(structures, e_form)
    assert model.site_max  # the default
    mean_only = DIMRegressor(**fast, site_max=False).fit(structures, e_form)
    assert not np.allclose(model.predict(structures), mean_only.predict(structures))
    assert mean_only.model_.head[0].in_features == mean_only.config_.vector_dim
    model.save_pretrained(tmp_path / "saved")
    loaded = DIMRegressor.from_pretrained(tmp_path / "saved", device="cpu")
    assert loaded.site_max
    np.testing.assert_array_equal(loaded.predict(structures), model.predict(structures))
