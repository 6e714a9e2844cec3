"""A fit that raises, or is interrupted mid-epoch, leaves a fitted estimator exactly as it
was: predictions, classes, target scaling, history (scikit-learn's compute-then-assign)."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from dimfeaturizer import DIMClassifier, DIMEncoder, DIMRegressor, StructureError
from dimfeaturizer.training import supervised as supervised_module

pytestmark = pytest.mark.usefixtures("one_torch_thread")
FAST = dict(pretrained=None, epochs=3, batch_sites=40, device="cpu", compile=False,
            random_state=0, n_models=1)


@pytest.fixture(scope="module")
def disordered() -> Structure:
    return Structure(Lattice.cubic(4.0), [{"Fe": 0.5, "Ni": 0.5}], [[0, 0, 0]])


def _snapshot(est) -> dict:
    keep = {}
    for name, value in vars(est).items():
        if name.endswith("_") and not name.startswith("__"):
            keep[name] = value.copy() if isinstance(value, np.ndarray) else value
    return keep


def _same(before: dict, est) -> None:
    after = _snapshot(est)
    assert set(after) == set(before)
    for name, value in before.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(after[name], value, err_msg=name)
        else:
            assert after[name] is value or after[name] == value, name


@pytest.mark.parametrize("extra", [{}, {"n_models": 2, "composition": True}],
                         ids=["single", "ensemble+composition"])
def test_failed_refit_leaves_the_regressor_intact(structures, mp_entries, disordered, extra):
    y = np.array([e["e_form"] for e in mp_entries.values()])
    model = DIMRegressor(**{**FAST, **extra}).fit(structures[:10], y[:10])
    before, pred = _snapshot(model), model.predict(structures[10:])
    with pytest.raises(StructureError, match="entry 10"):
        model.fit([*structures[:10], disordered], np.r_[y[:10], 0.0] * 100 + 50)
    _same(before, model)
    np.testing.assert_array_equal(model.predict(structures[10:]), pred)


def test_failed_refit_leaves_the_classifier_intact(structures, mp_entries, disordered):
    y = np.array(["metal" if e["gap"] == 0 else "non-metal" for e in mp_entries.values()])
    model = DIMClassifier(**FAST).fit(structures[:10], y[:10])
    before, proba = _snapshot(model), model.predict_proba(structures[10:])
    with pytest.raises(StructureError, match="entry 10"):
        model.fit([*structures[:10], disordered], np.r_[np.arange(10) % 3, 5].astype(str))
    _same(before, model)
    np.testing.assert_array_equal(model.classes_, ["metal", "non-metal"])
    np.testing.assert_array_equal(model.predict_proba(structures[10:]), proba)


@pytest.mark.parametrize("estimator", [DIMRegressor, DIMClassifier], ids=lambda c: c.__name__)
def test_interrupted_refit_leaves_the_estimator_intact(structures, mp_entries, monkeypatch,
                                                       estimator):  # fmt: skip
    if estimator is DIMRegressor:
        y = np.array([e["e_form"] for e in mp_entries.values()])
        other = y * 100 + 50
    else:
        y = np.array(["metal" if e["gap"] == 0 else "non" for e in mp_entries.values()])
        other = np.where(y == "metal", "a", "b")
    model = estimator(**FAST).fit(structures, y)
    before, pred = _snapshot(model), model.predict(structures)
    calls = {"n": 0}
    terms = supervised_module.Supervised.terms

    def interrupt_in_the_second_batch(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return terms(self, *args, **kwargs)

    monkeypatch.setattr(supervised_module.Supervised, "terms", interrupt_in_the_second_batch)
    with pytest.raises(KeyboardInterrupt):
        model.fit(structures, other)
    assert calls["n"] == 2
    _same(before, model)
    np.testing.assert_array_equal(model.predict(structures), pred)


def test_failed_pretraining_refit_keeps_the_encoder_history(structures, disordered):
    encoder = DIMEncoder(pretrained=None, frozen=False, epochs=2, batch_sites=200,
                         device="cpu", compile=False, random_state=0,
                         progress=False).fit(structures)  # fmt: skip
    before, vectors = _snapshot(encoder), encoder.transform(structures)
    assert len(encoder.history_) == 2
    with pytest.raises(StructureError, match="entry 14"):
        encoder.fit([*structures, disordered])
    _same(before, encoder)
    np.testing.assert_array_equal(encoder.transform(structures), vectors)
