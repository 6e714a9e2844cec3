"""Deep ensembles, composition in the head and the transfer levers of DIMRegressor /
DIMClassifier (tiny random-weight models, few epochs)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import safetensors.torch
import torch
from scipy.spatial.distance import cdist
from scipy.special import softmax

from dimfeaturizer import (
    CompositionFeatures,
    DIMClassifier,
    DIMEncoder,
    DIMRegressor,
    SiteNetConfig,
)
from dimfeaturizer.data.inputs import prepare_all
from dimfeaturizer.estimators.supervised import COMPOSITION_CLIP, _train_member
from dimfeaturizer.hub import (
    CONFIG_NAME,
    FORMAT_VERSION,
    LATENTS_KEY,
    MIXED_MEMBERS_FORMAT,
    TRAINING_LATENTS_FORMAT,
    WEIGHTS_NAME,
)
from dimfeaturizer.inference import encode
from dimfeaturizer.training import Supervised, TrainConfig, validation_split

pytestmark = pytest.mark.usefixtures("one_torch_thread")
FAST = dict(pretrained=None, epochs=6, batch_sites=40, device="cpu", compile=False,
            random_state=0, n_models=1)


@pytest.fixture(scope="module")
def e_form(mp_entries) -> np.ndarray:
    return np.array([e["e_form"] for e in mp_entries.values()])


FITTED = 10  # the ensemble's training crystals: the first ten; the other four are new


@pytest.fixture(scope="module")
def ensemble(structures, e_form) -> DIMRegressor:
    return DIMRegressor(**{**FAST, "n_models": 3}, composition=True).fit(
        structures[:FITTED], e_form[:FITTED])


def _member_predictions(model: DIMRegressor, structures) -> np.ndarray:
    return model._outputs(structures)[:, :, 0] * model.target_scale_[0] + model.target_mean_[0]


def _nearest_over_typical(training: np.ndarray, query: np.ndarray) -> np.ndarray:
    """The std's distance factor by brute force: per member, standardised on the training
    latents, the nearest training crystal's distance over the training crystals' median
    nearest-other distance; then the mean over members."""
    factors = []
    for fitted, asked in zip(training.astype(np.float64), query.astype(np.float64)):
        mean, scale = fitted.mean(axis=0), fitted.std(axis=0) + 1e-6
        fitted, asked = (fitted - mean) / scale, (asked - mean) / scale
        between = cdist(fitted, fitted)
        np.fill_diagonal(between, np.inf)
        factors.append(cdist(asked, fitted).min(axis=1) / np.median(between.min(axis=1)))
    return np.mean(factors, axis=0)


def test_ensemble_mean_and_std_are_the_members(ensemble, structures):
    """The mean is the members'; the std their spread times how far each crystal lies
    from the training crystals in the members' hidden layers: ~0 for a training crystal."""
    mean, std = ensemble.predict(structures, return_std=True)
    members = _member_predictions(ensemble, structures)
    assert members.shape == (3, len(structures))
    np.testing.assert_allclose(mean, members.mean(axis=0), rtol=1e-12)
    np.testing.assert_array_equal(ensemble.predict(structures), mean)
    hidden = ensemble._outputs(structures, with_hidden=True)[:, :, 1:]
    assert ensemble.training_latents_.shape == (3, FITTED, hidden.shape[2])
    # the latents kept at fit are those the members give the training crystals now
    np.testing.assert_allclose(ensemble.training_latents_, hidden[:, :FITTED], atol=1e-5)
    factor = _nearest_over_typical(ensemble.training_latents_, hidden)
    spread = members.std(axis=0)
    np.testing.assert_allclose(std, spread * factor, rtol=1e-4, atol=1e-7)
    assert (spread > 0).all()  # members differ: their own heads and validation splits
    assert (std[:FITTED] < 1e-3 * spread[:FITTED]).all()  # a training crystal: known
    assert (std[FITTED:] > 0.1 * spread[FITTED:]).all()
    assert len({m.head[0].weight.sum().item() for m in ensemble.models_}) == 3


def test_member_zero_is_the_single_model(structures, e_form):
    single = DIMRegressor(**FAST).fit(structures, e_form)
    pair = DIMRegressor(**{**FAST, "n_models": 2}).fit(structures, e_form)
    np.testing.assert_array_equal(_member_predictions(pair, structures)[0],
                                  single.predict(structures))  # fmt: skip
    assert single.models_[0] is single.model_
    assert pair.has_std and not single.has_std
    assert single.training_latents_ is None  # no std to scale: nothing kept, nor saved
    with pytest.raises(ValueError, match="n_models >= 2"):
        single.predict(structures, return_std=True)


def test_members_in_parallel_processes_agree(structures, e_form):
    one = DIMRegressor(**{**FAST, "n_models": 2}).fit(structures, e_form)
    two = DIMRegressor(**{**FAST, "n_models": 2}, n_jobs=2).fit(structures, e_form)
    for a, b in zip(one.predict(structures, return_std=True),
                    two.predict(structures, return_std=True)):  # fmt: skip
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_ensemble_with_composition_round_trips(ensemble, structures, tmp_path):
    mean, std = ensemble.predict(structures, return_std=True)
    ensemble.save_pretrained(tmp_path / "saved")
    meta = json.loads((tmp_path / "saved" / CONFIG_NAME).read_text())
    assert meta["format_version"] == TRAINING_LATENTS_FORMAT  # the std needs the latents
    loaded = DIMRegressor.from_pretrained(tmp_path / "saved", device="cpu")
    assert loaded.n_models == 3 and loaded.composition and loaded.has_std
    np.testing.assert_array_equal(loaded.training_latents_, ensemble.training_latents_)
    for a, b in zip(loaded.predict(structures, return_std=True), (mean, std)):
        np.testing.assert_array_equal(a, b)
    # the saved folder's encoder is the first member's, for DIMEncoder and transfer alike
    vectors = DIMEncoder(pretrained=tmp_path / "saved").fit().transform(structures)
    np.testing.assert_array_equal(vectors, encode(ensemble.model_.encoder, structures,
                                                  device="cpu"))  # fmt: skip


def test_a_save_without_latents_gives_the_spread(ensemble, structures, tmp_path):
    """A format-2 folder (a release before the distance factor) loads, and its std is
    the members' spread alone."""
    ensemble.save_pretrained(tmp_path / "saved")
    weights = tmp_path / "saved" / WEIGHTS_NAME
    state = safetensors.torch.load_file(weights)
    del state[LATENTS_KEY]
    safetensors.torch.save_file(state, weights, metadata={"format": "pt"})
    meta = json.loads((tmp_path / "saved" / CONFIG_NAME).read_text())
    meta.update(format_version=FORMAT_VERSION,
                weights_sha256=hashlib.sha256(weights.read_bytes()).hexdigest())
    (tmp_path / "saved" / CONFIG_NAME).write_text(json.dumps(meta))
    loaded = DIMRegressor.from_pretrained(tmp_path / "saved", device="cpu")
    assert loaded.training_latents_ is None and loaded.has_std
    mean, std = loaded.predict(structures, return_std=True)
    np.testing.assert_array_equal(mean, ensemble.predict(structures))
    np.testing.assert_allclose(std, _member_predictions(loaded, structures).std(axis=0),
                               rtol=1e-12)  # fmt: skip


def test_composition_reaches_the_head_standardised(ensemble, structures):
    """The head reads [vector, standardised magpie]: its prediction equals the head
    applied by hand to the encoder's vector and the composition descriptors."""
    magpie = CompositionFeatures().fit()
    raw = magpie.transform(structures)
    assert ensemble.composition_mean_.shape == (len(magpie.feature_names_),)
    model = ensemble.models_[1]
    z = np.nan_to_num((raw - ensemble.composition_mean_) / ensemble.composition_scale_)
    z = np.clip(z, -COMPOSITION_CLIP, COMPOSITION_CLIP).astype(np.float32)
    packed = prepare_all(structures, list(range(len(structures))), model.encoder.config)
    with torch.no_grad():  # the vectors the head reads: the mean, then the sites' maxima
        v = model.vectors(packed.batch(np.arange(len(packed)))).numpy()
        by_hand = model.head(torch.from_numpy(np.hstack([v, z]))).double().numpy()[:, 0]
    config = model.encoder.config
    assert v.shape[1] == config.vector_dim + config.pool_dim
    assert model.head[0].in_features == v.shape[1] + raw.shape[1]
    np.testing.assert_allclose(_member_predictions(ensemble, structures)[1],
                               by_hand * ensemble.target_scale_[0] + ensemble.target_mean_[0],
                               rtol=1e-5, atol=1e-6)  # fmt: skip
    with torch.no_grad():  # the std's latents: the head's hidden layer (Linear, then mish)
        hidden = model.head[:-1](torch.from_numpy(np.hstack([v, z]))).numpy()
    np.testing.assert_allclose(ensemble._outputs(structures, with_hidden=True)[1, :, 1:],
                               hidden, rtol=1e-5, atol=1e-6)  # fmt: skip
    # training statistics, not the predicted set's: one structure predicts as in a batch
    one = ensemble.predict(structures[3:4])
    np.testing.assert_allclose(one, ensemble.predict(structures)[3:4], rtol=1e-5, atol=1e-6)


def test_classifier_ensemble_averages_probabilities(structures, mp_entries):
    y = np.array(["metal" if e["gap"] == 0 else "non-metal" for e in mp_entries.values()])
    clf = DIMClassifier(**{**FAST, "n_models": 2}, composition=True).fit(structures, y)
    proba = clf.predict_proba(structures)
    members = softmax(clf._outputs(structures).astype(np.float64), axis=2)
    np.testing.assert_allclose(proba, members.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.predict(structures), clf.classes_[proba.argmax(axis=1)])


def test_head_first_trains_the_head_alone(structures, e_form):
    """Linear probe then fine-tune: after the probe stage alone (no fine-tuning epochs)
    the encoder is exactly where it started and the head has moved."""
    from dimfeaturizer.data.inputs import prepare_all
    from dimfeaturizer.estimators.supervised import _with_head
    from dimfeaturizer.model import initialised_model

    encoder = initialised_model(None, 0)
    packed = prepare_all(structures, list(range(len(structures))), encoder.config)
    packed = packed.with_targets((e_form - e_form.mean()) / e_form.std())
    model = _with_head(encoder, 1, 16, 0)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    config = TrainConfig(epochs=0, batch_sites=40, device="cpu", compile=False, progress=False)
    split = validation_split(len(packed), 0.2, 0)
    _train_member(model, Supervised(head_learning_rate=1e-2), packed, config, split, 3, None)
    after = model.state_dict()
    assert all(torch.equal(after[k], start[k]) for k in start if not k.startswith("head."))
    assert not all(torch.equal(after[k], start[k]) for k in start if k.startswith("head."))


def test_adaptation_uses_the_unlabelled_structures(structures, e_form):
    labelled, extra = structures[:10], structures[10:]
    plain = DIMRegressor(**FAST, adapt_epochs=2).fit(labelled, e_form[:10])
    more = DIMRegressor(**FAST, adapt_epochs=2).fit(labelled, e_form[:10], unlabelled=extra)
    assert np.abs(plain.predict(extra) - more.predict(extra)).max() > 1e-6
    assert more.training_["adapt_epochs"] == 2
    with pytest.raises(Exception, match="unlabelled"):
        DIMRegressor(**FAST, adapt_epochs=1).fit(labelled, e_form[:10], unlabelled=["x"])


@pytest.fixture(scope="module")
def two_starts(tmp_path_factory) -> tuple:
    """Two saved random encoders of different architectures, the same preprocessing."""
    folder = tmp_path_factory.mktemp("starts")
    plain = DIMEncoder(pretrained=None, random_state=1).fit()
    basis = DIMEncoder(pretrained=None, config=SiteNetConfig(distance_basis=8),
                       random_state=2).fit()  # fmt: skip
    plain.save_pretrained(folder / "plain")
    basis.save_pretrained(folder / "basis")
    return folder / "plain", folder / "basis"


def test_members_start_from_the_starts_in_turn(two_starts, structures, e_form, tmp_path):
    model = DIMRegressor(**{**FAST, "n_models": 3, "pretrained": two_starts},
                         freeze_encoder=True).fit(structures, e_form)  # fmt: skip
    starts = [DIMEncoder(pretrained=p).fit().model_ for p in two_starts]
    for member, start in zip(model.models_, [starts[0], starts[1], starts[0]]):
        assert member.encoder.config == start.config
        for k, v in start.state_dict().items():  # frozen: each member's start, untouched
            assert torch.equal(v, member.encoder.state_dict()[k]), k
    assert model.training_["started_from"] == [str(p) for p in two_starts]
    # one model starts from the first entry
    single = DIMRegressor(**{**FAST, "pretrained": two_starts}).fit(structures, e_form)
    alone = DIMRegressor(**{**FAST, "pretrained": two_starts[0]}).fit(structures, e_form)
    np.testing.assert_array_equal(single.predict(structures), alone.predict(structures))
    # saved and loaded with each member's own architecture
    mean, std = model.predict(structures, return_std=True)
    model.save_pretrained(tmp_path / "saved")
    meta = json.loads((tmp_path / "saved" / CONFIG_NAME).read_text())
    assert meta["format_version"] == TRAINING_LATENTS_FORMAT  # older releases refuse it
    loaded = DIMRegressor.from_pretrained(tmp_path / "saved", device="cpu")
    assert [m.encoder.config.distance_basis for m in loaded.models_] == [0, 8, 0]
    for a, b in zip(loaded.predict(structures, return_std=True), (mean, std)):
        np.testing.assert_array_equal(a, b)


def test_starts_must_share_their_preprocessing(two_starts, structures, e_form, tmp_path):
    other = tmp_path / "other"
    DIMEncoder(pretrained=None, config=SiteNetConfig(max_sites=30), random_state=0).fit(
    ).save_pretrained(other)
    fitted = DIMRegressor(**FAST).fit(structures, e_form)
    before = fitted.predict(structures)
    for bad, match in [((two_starts[0], other), "share their preprocessing"),
                       ((), "at least one entry"), ((two_starts[0], None), "None alone")]:
        with pytest.raises(ValueError, match=match):
            fitted.set_params(pretrained=bad, n_models=2).fit(structures, e_form)
        np.testing.assert_array_equal(fitted.predict(structures), before)  # left intact


def test_several_starts_adapt_each_and_classify(two_starts, structures, e_form, tmp_path):
    """Each start is adapted once, in its own checkpoint folder (a second start's run must
    not find the first's checkpoint); a classifier takes a list of starts too, and keeps
    no latents (it has no std): saved, it is format 3, the mixed architectures'."""
    model = DIMRegressor(**{**FAST, "n_models": 2, "pretrained": list(two_starts)},
                         adapt_epochs=1, checkpoint_dir=tmp_path / "ckpt")  # fmt: skip
    model.fit(structures[:12], e_form[:12])
    assert sorted(p.name for p in (tmp_path / "ckpt" / "adapt").iterdir()) == [
        "start-0", "start-1"]
    assert [m.encoder.config.distance_basis for m in model.models_] == [0, 8]
    metal = np.where(e_form < np.median(e_form), "low", "high")
    clf = DIMClassifier(**{**FAST, "n_models": 2, "pretrained": list(two_starts)})
    proba = clf.fit(structures, metal).predict_proba(structures)
    assert [m.encoder.config.distance_basis for m in clf.models_] == [0, 8]
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    clf.save_pretrained(tmp_path / "clf")
    meta = json.loads((tmp_path / "clf" / CONFIG_NAME).read_text())
    assert meta["format_version"] == MIXED_MEMBERS_FORMAT
    loaded = DIMClassifier.from_pretrained(tmp_path / "clf", device="cpu")
    np.testing.assert_array_equal(loaded.predict_proba(structures), proba)
