"""The training loop runs any objective: extra terms log themselves, labels travel with
packed crystals, supervised fine-tuning learns, and splits are seeded."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pytest
import torch

from dimfeaturizer.config import SiteNetConfig
from dimfeaturizer.data.inputs import prepare_all
from dimfeaturizer.model import SiteNetPredictor, untrained_model
from dimfeaturizer.training import DeepInfoMax, Supervised, TrainConfig, fit, loop, validation_split

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def packed(structures):
    return prepare_all(structures, list(range(len(structures))), SiteNetConfig())


def _config(**kwargs) -> TrainConfig:
    base = dict(epochs=3, batch_sites=40, learning_rate=1e-3, validation_fraction=0.15,
                device="cpu", seed=0, progress=False, compile=False)
    return TrainConfig(**{**base, **kwargs})


@dataclass(frozen=True)
class WithNorm(DeepInfoMax):
    """Deep InfoMax plus one extra term: what adding a pretraining loss looks like."""

    gamma: float = 0.5

    def terms(self, model, batch, generator, kernels):
        terms = super().terms(model, batch, generator, kernels)
        terms["vector_norm"] = model(batch, kernels.local).pow(2).mean()
        return terms

    def total(self, terms):
        return super().total(terms) + self.gamma * terms["vector_norm"]


def test_a_new_term_is_logged_and_trained_without_touching_the_loop(packed):
    plain = fit(untrained_model(None, 0), DeepInfoMax(), packed, _config())
    extra = fit(untrained_model(None, 0), WithNorm(), packed, _config())
    row = extra.history[-1]
    assert {"train_vector_norm", "val_vector_norm"} <= set(row)
    assert "train_vector_norm" not in plain.history[-1]
    # the term is in the optimised loss: the weights differ from plain Deep InfoMax
    assert row["train_loss"] != plain.history[-1]["train_loss"]


def test_objective_identity_guards_a_checkpoint(packed, tmp_path):
    fit(untrained_model(None, 0), DeepInfoMax(), packed, _config(checkpoint_dir=str(tmp_path)))
    with pytest.raises(ValueError, match="objective"):
        fit(untrained_model(None, 0), WithNorm(), packed, _config(checkpoint_dir=str(tmp_path)))


def test_packed_crystals_carry_labels(packed):
    y = np.arange(len(packed) * 2, dtype=np.float32).reshape(-1, 2)
    labelled = packed.with_targets(y)
    assert packed.targets is None  # the original is not changed
    sub = labelled.subset(np.array([5, 2]))
    np.testing.assert_array_equal(sub.targets, y[[5, 2]])
    batch = labelled.batch(np.array([3, 0, 7]))
    np.testing.assert_array_equal(batch.targets.numpy(), y[[3, 0, 7]])
    assert batch.to("cpu").targets is not None and packed.batch(np.arange(2)).targets is None
    with pytest.raises(ValueError, match="target rows"):
        packed.with_targets(y[:-1])


def test_supervised_regression_learns(packed, mp_entries):
    e_form = np.array([e["e_form"] for e in mp_entries.values()], dtype=np.float32)
    target = (e_form - e_form.mean()) / e_form.std()
    data = packed.with_targets(target)
    model = SiteNetPredictor(untrained_model(None, 0), 1)
    result = fit(model, Supervised(), data, _config(epochs=30, validation_fraction=0.0))
    losses = [row["train_l1"] for row in result.history]
    assert losses[-1] < 0.6 * losses[0]
    assert result.best_epoch == int(np.argmin(losses))


def test_frozen_encoder_keeps_its_weights(packed):
    data = packed.with_targets(np.linspace(-1, 1, len(packed)))
    model = SiteNetPredictor(untrained_model(None, 0), 1)
    encoder = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    head = {k: v.clone() for k, v in model.head.state_dict().items()}
    fit(model, Supervised(freeze_encoder=True), data, _config(validation_fraction=0.0))
    assert all(torch.equal(v, model.encoder.state_dict()[k]) for k, v in encoder.items())
    assert any(not torch.equal(v, model.head.state_dict()[k]) for k, v in head.items())


def test_learning_rates_per_group(packed):
    model = SiteNetPredictor(untrained_model(None, 0), 1)
    groups = Supervised(encoder_learning_rate=1e-5, head_learning_rate=1e-2).param_groups(model)
    assert [(g["name"], g["lr"]) for g in groups] == [("encoder", 1e-5), ("head", 1e-2)]
    # the critics are not trained by fine-tuning
    critic = {id(p) for p in model.encoder.local_critic.parameters()}
    assert not critic & {id(p) for g in groups for p in g["params"]}


def test_supervised_needs_labels(packed):
    model = SiteNetPredictor(untrained_model(None, 0), 1)
    with pytest.raises(ValueError, match="targets"):
        fit(model, Supervised(), packed, _config(epochs=1))


def test_validation_split_is_seeded_and_stratified():
    train, val = validation_split(20, 0.2, seed=3)
    assert len(val) == 4 and not set(train) & set(val) and len(train) + len(val) == 20
    again = validation_split(20, 0.2, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip((train, val), again))
    assert not np.array_equal(val, validation_split(20, 0.2, seed=4)[1])
    classes = np.array([0] * 15 + [1] * 5)
    train, val = validation_split(20, 0.2, seed=0, stratify=classes)
    assert sorted(classes[val].tolist()) == [0, 0, 0, 1]
    assert set(classes[train]) == {0, 1}
    assert len(validation_split(3, 0.5, seed=0)[1]) == 0  # too few to hold any out


def test_each_epoch_is_logged(packed, caplog):
    with caplog.at_level("INFO", logger="dimfeaturizer.training.loop"):
        fit(untrained_model(None, 0), DeepInfoMax(), packed, _config(epochs=2, progress=None))
    lines = [r.getMessage() for r in caplog.records if r.name == "dimfeaturizer.training.loop"]
    assert len(lines) == 2 and lines[1].startswith("epoch=1 ") and "val_dim=" in lines[1]


def _seeded_predictor() -> SiteNetPredictor:
    torch.manual_seed(0)  # the head's draw
    return SiteNetPredictor(untrained_model(None, 0), 1)


def test_cosine_schedule_decays_each_group_and_resumes_exactly(packed, tmp_path, killed_at):
    data = packed.with_targets(np.linspace(-1, 1, len(packed)))
    objective = Supervised(head_learning_rate=1e-2)
    config = _config(epochs=4, learning_rate_schedule="cosine")
    assert [config.rate_factor(e) for e in (0, 2)] == [1.0, pytest.approx(0.5)]
    model = _seeded_predictor()
    full = fit(model, objective, data, config)
    rates = [row["learning_rate"] for row in full.history]  # the first group's: the encoder's
    np.testing.assert_allclose(rates, 1e-3 * (1 + np.cos(np.pi * np.arange(4) / 4)) / 2)
    # interrupted during epoch 2, then resumed: the same rates, so the same weights
    folder = _config(epochs=4, learning_rate_schedule="cosine", checkpoint_dir=str(tmp_path))
    with killed_at(2):
        fit(_seeded_predictor(), objective, data, folder)
    resumed = _seeded_predictor()
    again = fit(resumed, objective, data, folder)
    assert [row["learning_rate"] for row in again.history] == rates
    assert all(torch.equal(v, resumed.state_dict()[k]) for k, v in model.state_dict().items())
    # the cap sets the schedule: a run with another cap is another run
    with pytest.raises(ValueError, match="hyper-parameters"):
        fit(_seeded_predictor(), objective, data,
            replace(folder, epochs=6))


def test_cosine_schedule_is_checked():
    with pytest.raises(ValueError, match="learning_rate_schedule"):
        _config(learning_rate_schedule="step")
    assert _config().rate_factor(7) == 1.0


def test_a_constant_schedule_keeps_the_identity_checkpoints_had_before_schedules(packed):
    """Checkpoints written before learning-rate schedules existed must still resume: the
    settings' digest of a constant-schedule run is the one commit 549b4d1 computed for the
    same settings (the data, objective and weights have digests of their own)."""
    config = TrainConfig(epochs=3, seed=1)
    digest = loop._fingerprint(packed, config, untrained_model(None, 0), DeepInfoMax())
    assert digest["hyper-parameters"] == (
        "85a19d1bb87b9801ee4990b50f64146370a41ad55c779fc00e528fe52a328ffa"
    )
    cosine = replace(config, learning_rate_schedule="cosine")
    other = loop._fingerprint(packed, cosine, untrained_model(None, 0), DeepInfoMax())
    assert other["hyper-parameters"] != digest["hyper-parameters"]
