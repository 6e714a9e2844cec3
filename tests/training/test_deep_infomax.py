"""Deep InfoMax objective (false samples, losses, gradient isolation) and the training
loop (loss decrease, determinism, exact resume, checkpoint fingerprint, early stopping).

Every training run is a few epochs on the 14 fixture crystals."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

from dimfeaturizer.config import SiteNetConfig
from dimfeaturizer.data.batch import PackedCrystals, batches_by_sites
from dimfeaturizer.data.inputs import prepare_all
from dimfeaturizer.model import untrained_model
from dimfeaturizer.training import DeepInfoMax, fit
from dimfeaturizer.training.deep_infomax import dim_losses
from dimfeaturizer.training.false_samples import (
    ALL_FALSE_SAMPLE_KINDS,
    FALSE_SAMPLE_KINDS,
    GEOMETRY,
    derangement,
    perturbed_distances,
    remap_species,
    species_permutation,
)
from dimfeaturizer.training.loop import CHECKPOINT, TrainConfig

LOSS_KEYS = [f"{split}_{k}" for split in ("train", "val")
             for k in ("dim_local", "kl_local", "dim_global", "kl_global")]
SINGLE_ELEMENT = {"Cs", "Fe", "Si"}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def packed(mp_entries) -> PackedCrystals:
    structures = [e["structure"] for e in mp_entries.values()]
    # with pair vectors: the geometry false samples need them, nothing else reads them
    return prepare_all(structures, list(range(len(structures))), SiteNetConfig(), vectors=True)


@pytest.fixture(scope="module")
def names(mp_entries) -> list[str]:
    return list(mp_entries)


def pretrain(model, packed, config, objective=None):
    return fit(model, objective or DeepInfoMax(), packed, config)


class _Losses(dict):
    def as_floats(self) -> dict[str, float]:
        return {k: float(v.detach()) for k, v in self.items()}

    def __getattr__(self, name):
        return self[name]

    def total(self, alpha, beta):
        return DeepInfoMax(alpha=alpha, beta=beta).total(self)


def _dim_losses(*args, **kwargs) -> _Losses:
    return _Losses(dim_losses(*args, **kwargs))


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _config(**kwargs) -> TrainConfig:
    base = dict(epochs=4, batch_sites=40, learning_rate=1e-3, validation_fraction=0.15,
                device="cpu", seed=0, progress=False)
    return TrainConfig(**{**base, **kwargs})


def _state(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def _losses(history: list[dict]) -> list[list[float]]:
    return [[row[k] for k in LOSS_KEYS] for row in history]


# ---------------------------------------------------------------- false samples


@pytest.mark.parametrize("n", range(2, 11))
def test_derangement_has_no_fixed_point(n):
    seen = set()
    for seed in range(40):
        d = derangement(n, _gen(seed), torch.device("cpu"))
        assert sorted(d.tolist()) == list(range(n))
        assert (d != torch.arange(n)).all()
        # a single n-cycle: following it from 0 visits every element
        k, steps = 0, 0
        while True:
            k, steps = int(d[k]), steps + 1
            if k == 0:
                break
        assert steps == n
        seen.add(tuple(d.tolist()))
    assert len(seen) > 1 or n == 2  # it is random


def test_remap_species_composition_donor(packed, names):
    batch = packed.batch(np.arange(len(packed)))
    prim = batch.prim_species.numpy()
    m = batch.n_prim.numpy()
    for seed in range(5):
        donor = derangement(batch.n_crystals, _gen(seed), torch.device("cpu"))
        assert (donor != torch.arange(batch.n_crystals)).all()
        row_s, nbr_s = remap_species(batch, donor[batch.row_crystal])
        row_s, nbr_s, mask = row_s.numpy(), nbr_s.numpy(), batch.mask.numpy()
        for r in range(len(row_s)):
            c = int(batch.row_crystal[r])
            d = int(donor[c])
            local = int(batch.row_local[r])
            assert row_s[r] == prim[d, local % m[d]]
            n_r = int(mask[r].sum())
            expected = prim[d, np.arange(n_r) % m[d]]
            np.testing.assert_array_equal(nbr_s[r, :n_r], expected)
            assert (nbr_s[r, n_r:] == 0).all()
        # every synthetic crystal holds only its donor's elements, and so differs from
        # its own crystal wherever the two compositions differ
        for c in range(batch.n_crystals):
            d = int(donor[c])
            rows = (batch.row_crystal == c).numpy()
            got = set(row_s[rows].tolist()) | set(nbr_s[rows][mask[rows]].tolist())
            assert got <= set(prim[d, : m[d]].tolist())
            own = set(prim[c, : m[c]].tolist())
            if own != set(prim[d, : m[d]].tolist()):
                assert got != own, (names[c], names[d])


def test_remap_species_polymorph_keeps_composition(packed, names):
    """Polymorph false samples (as built in dim_losses): crystal b's species on the
    geometry of d = donor[b]. With equal primitive sizes the species sequence, and so
    the composition, is exactly b's."""
    pick = [names.index(n) for n in ("NaCl", "CsCl", "GaAs", "Si")]  # all M = 2
    batch = packed.subset(np.array(pick)).batch(np.arange(4))
    prim, mask = batch.prim_species.numpy(), batch.mask.numpy()
    rc = batch.row_crystal
    for seed in range(6):
        donor = derangement(4, _gen(seed), torch.device("cpu"))
        owner = torch.argsort(donor)[rc]
        row_s, nbr_s = remap_species(batch, owner)
        for b in range(4):
            d = int(donor[b])
            rows = (rc == d).numpy()  # d's geometry ...
            assert (owner[rows] == b).all()  # ... now carries b's species
            np.testing.assert_array_equal(row_s[rows].numpy(), prim[b])
            nbr = nbr_s[rows].numpy()[mask[rows]]
            own = Counter(prim[b].tolist())
            assert Counter(nbr.tolist()) == {z: k * len(nbr) // 2 for z, k in own.items()}
            if b != d and set(prim[b].tolist()) != set(prim[d].tolist()):
                assert not np.array_equal(row_s[rows].numpy(), prim[d])


def test_remap_species_with_permutation(packed):
    batch = packed.batch(np.arange(len(packed)))
    perm, _ = species_permutation(batch, _gen(0))
    row_s, nbr_s = remap_species(batch, batch.row_crystal, perm)
    for r in [0, 5, 17, 40, len(row_s) - 1]:
        c, p = int(batch.row_crystal[r]), int(batch.row_local[r])
        assert row_s[r] == batch.prim_species[c, perm[c, p]]
        j = int(batch.mask[r].sum()) - 1
        m = int(batch.n_prim[c])
        assert nbr_s[r, j] == batch.prim_species[c, perm[c, j % m]]


def test_species_permutation_moves_a_species(packed, names):
    batch = packed.batch(np.arange(len(packed)))
    species, m = batch.prim_species, batch.n_prim
    present = torch.arange(species.shape[1])[None, :] < m[:, None]
    n_elements = [len(set(species[c, : m[c]].tolist())) for c in range(len(m))]
    for seed in range(100):
        perm, valid = species_permutation(batch, _gen(seed))
        assert valid.tolist() == [k >= 2 for k in n_elements]
        assert {names[c] for c in range(len(m)) if not valid[c]} == SINGLE_ELEMENT
        for c in range(len(m)):
            mc = int(m[c])
            assert sorted(perm[c, :mc].tolist()) == list(range(mc))  # a permutation
        permuted = species.gather(1, perm)
        changed = ((permuted != species) & present).any(1)
        assert (changed | ~valid).all()  # at least one site changes species
        assert Counter(permuted[5, : m[5]].tolist()) == Counter(species[5, : m[5]].tolist())


# ---------------------------------------------------------------- losses


@pytest.fixture(scope="module")
def batch(packed):
    return packed.batch(np.arange(len(packed)))


def test_dim_losses_finite(batch):
    model = untrained_model(None, 0)
    losses = _dim_losses(model, batch, _gen(0)).as_floats()
    assert set(losses) == {"dim_local", "kl_local", "dim_global", "kl_global"}
    assert all(np.isfinite(v) for v in losses.values())
    # Jensen-Shannon DIM terms: true + false softplus, ~2 log 2 for an untrained critic
    for k in ("dim_local", "dim_global"):
        assert 0.5 < losses[k] < 5.0, losses
    assert losses["kl_local"] >= 0 and losses["kl_global"] >= 0
    # same generator state -> same losses; another -> different noise and false samples
    assert _dim_losses(model, batch, _gen(0)).as_floats() == losses
    assert _dim_losses(model, batch, _gen(1)).as_floats()["dim_local"] != losses["dim_local"]
    with pytest.raises(ValueError, match="two crystals"):
        _dim_losses(model, _single(batch), _gen(0))


def test_distinct_pairs_give_the_every_pair_losses_and_gradients(batch):
    """Eager pretraining computes each distinct bond and each distinct (neighbour,
    distance) constituent once; every pair (the path when gradients reach the distances)
    gives the same losses to float rounding, and the same parameter gradients."""
    model = untrained_model(None, 0)
    results = []
    for every_pair in (False, True):
        model.zero_grad()
        b = dataclasses.replace(batch, distances=batch.distances.clone())
        if every_pair:
            b.distances.requires_grad_(True)
        losses = dim_losses(model, b, _gen(0))
        sum(losses.values()).backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        results.append(({k: v.detach() for k, v in losses.items()}, grads))
    (distinct, distinct_grads), (every, every_grads) = results
    for name in distinct:
        torch.testing.assert_close(distinct[name], every[name], atol=1e-6, rtol=1e-5)
    assert distinct_grads.keys() == every_grads.keys() and distinct_grads
    for name, grad in distinct_grads.items():
        torch.testing.assert_close(grad, every_grads[name], atol=1e-5, rtol=1e-4)


def _single(batch):
    """A batch of only the first crystal (1 primitive site: Cs)."""
    m = int(batch.n_prim[0])
    return dataclasses.replace(
        batch, row_species=batch.row_species[:m], neighbour_species=batch.neighbour_species[:m],
        distances=batch.distances[:m], mask=batch.mask[:m], row_crystal=batch.row_crystal[:m],
        row_local=batch.row_local[:m], crystal_start=batch.crystal_start[:1],
        n_prim=batch.n_prim[:1], prim_species=batch.prim_species[:1],
    )


def _grads(params) -> list[torch.Tensor | None]:
    return [p.grad for p in params]


def _nonzero(grads) -> bool:
    return any(g is not None and bool((g != 0).any()) for g in grads)


def _all_zero(grads) -> bool:
    return all(g is None or bool((g == 0).all()) for g in grads)


@pytest.mark.parametrize("kinds", [FALSE_SAMPLE_KINDS, ALL_FALSE_SAMPLE_KINDS])
def test_gradient_isolation(batch, kinds):
    """The global level never trains the local encoder, whatever the false samples (the
    geometry ones re-encode the rows)."""
    model = untrained_model(None, 0)
    local = [*model.local.parameters(), *model.local_critic.parameters()]
    glob = [*model.global_.parameters(), *model.global_critic.parameters()]
    assert {id(p) for p in local} == {id(p) for p in model.local_parameters()}
    assert {id(p) for p in glob} == {id(p) for p in model.global_parameters()}

    losses = _dim_losses(model, batch, _gen(0), false_samples=kinds)
    (losses.dim_global + losses.kl_global).backward()
    assert _all_zero(_grads(local))
    assert _nonzero(_grads(model.global_.parameters()))
    assert _nonzero(_grads(model.global_critic.parameters()))

    model.zero_grad(set_to_none=True)
    losses = _dim_losses(model, batch, _gen(0), false_samples=kinds)
    (losses.dim_local + losses.kl_local).backward()
    assert _all_zero(_grads(glob))
    assert _nonzero(_grads(model.local.parameters()))
    assert _nonzero(_grads(model.local_critic.parameters()))


@pytest.mark.parametrize("kinds", [(), ("composition",), ("polymorph",), ("permutation",),
                                   ("displacement",), ("strain",),
                                   FALSE_SAMPLE_KINDS,
                                   ALL_FALSE_SAMPLE_KINDS])
def test_false_sample_ablation(batch, kinds):
    model = untrained_model(None, 0)
    losses = _dim_losses(model, batch, _gen(0), false_samples=kinds)
    values = losses.as_floats()
    assert all(np.isfinite(v) for v in values.values())
    losses.total(1.0, 0.1).backward()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())
    if kinds:  # extra false samples change the loss against the ablation
        plain = _dim_losses(model, batch, _gen(0), false_samples=()).as_floats()
        assert plain["dim_global"] != values["dim_global"]


def _supercell(batch, c):
    """Crystal ``c`` of ``batch`` as an explicit pymatgen supercell: site k at its
    displacement from primitive site 0 (positions are defined up to a lattice vector)."""
    s, n = int(batch.crystal_start[c]), int(batch.mask[int(batch.crystal_start[c])].sum())
    lattice = batch.lattices[c].double().numpy()
    positions = batch.vectors[s, :n].double().numpy()
    species = batch.neighbour_species[s, :n].tolist()
    return lattice, positions, species


@pytest.mark.parametrize("kind", GEOMETRY)
def test_geometry_false_samples_are_real_perturbed_crystals(batch, kind):
    """Every pair of a perturbed false sample, short or long, is the minimum-image
    distance (pymatgen's) of the supercell with its sites moved or its lattice strained."""
    scale = 0.3 if kind == "displacement" else 0.05
    moved = perturbed_distances(batch, _gen(4), kind, scale).double().numpy()
    b, j = batch.n_crystals, batch.mask.shape[1]
    if kind == "displacement":
        u = (torch.randn((b, j, 3), generator=_gen(4)) * scale).double().numpy()
    else:
        a = torch.randn((b, 3, 3), generator=_gen(4)) * scale
        deform = (torch.eye(3) + 0.5 * (a + a.transpose(1, 2))).double().numpy()
    for c in range(b):
        lattice, positions, species = _supercell(batch, c)
        if kind == "displacement":
            positions = positions + u[c, : len(positions)]
        else:
            positions, lattice = positions @ deform[c].T, lattice @ deform[c].T
        crystal = Structure(Lattice(lattice), species, positions, coords_are_cartesian=True)
        s, m = int(batch.crystal_start[c]), int(batch.n_prim[c])
        np.testing.assert_allclose(moved[s : s + m, : len(positions)],
                                   crystal.distance_matrix[:m], atol=2e-4)  # fmt: skip
    real = batch.distances[batch.mask].double().numpy()
    assert np.abs(moved[batch.mask.numpy()] - real).max() > 0.05  # it did move


def test_geometry_false_samples_keep_self_and_padding(batch):
    for kind in GEOMETRY:
        moved = perturbed_distances(batch, _gen(2), kind, 0.2)
        assert torch.equal(moved[~batch.mask], torch.zeros_like(moved[~batch.mask]))
        rows = torch.arange(len(moved))
        assert torch.equal(moved[rows, batch.row_local], torch.zeros(len(moved)))


@pytest.mark.parametrize("kind", GEOMETRY)
def test_geometry_false_samples_need_vectors(mp_entries, kind):
    structures = [e["structure"] for e in mp_entries.values()][:3]
    batch = prepare_all(structures, [0, 1, 2], SiteNetConfig()).batch(np.arange(3))
    with pytest.raises(ValueError, match="pair vectors"):
        _dim_losses(untrained_model(None, 0), batch, _gen(0), false_samples=(kind,))
    assert DeepInfoMax(false_samples=(kind,)).needs_vectors
    assert not DeepInfoMax().needs_vectors


def test_permutation_only_on_single_element_crystals(packed, names):
    """No crystal of the batch can be permuted: the permutation term is left out of the
    average instead of producing NaN."""
    pick = np.array([names.index(n) for n in sorted(SINGLE_ELEMENT)])
    batch = packed.subset(pick).batch(np.arange(3))
    model = untrained_model(None, 0)
    values = _dim_losses(model, batch, _gen(0), false_samples=("permutation",)).as_floats()
    assert all(np.isfinite(v) for v in values.values())


def test_unknown_false_sample_kind():
    with pytest.raises(ValueError, match="unknown false sample"):
        DeepInfoMax(false_samples=("composition", "swap"))


def test_false_sample_kinds_and_the_retired_one():
    """The paper's kinds are the default, the geometry ones are opt-in; the substitution
    kind was retired and is named as such."""
    assert FALSE_SAMPLE_KINDS == ("composition", "polymorph", "permutation")
    assert ALL_FALSE_SAMPLE_KINDS == (*FALSE_SAMPLE_KINDS, "displacement", "strain")
    with pytest.raises(ValueError, match="substitution.*removed.*research-record-2026-12"):
        DeepInfoMax(false_samples=(*FALSE_SAMPLE_KINDS, "substitution"))


# the identity (checkpoint fingerprint) of these objectives before the research options
# were retired: a checkpoint written then must still resume
OLD_IDENTITIES = {
    DeepInfoMax(): '{"DeepInfoMax": {"alpha": 1.0, "beta": 0.1, "false_samples": '
    '["composition", "polymorph", "permutation"], "pair_weighting": "inverse_square"}}',
    DeepInfoMax(false_samples=ALL_FALSE_SAMPLE_KINDS): '{"DeepInfoMax": {"alpha": 1.0, '
    '"beta": 0.1, "false_samples": ["composition", "polymorph", "permutation", '
    '"displacement", "strain"], "pair_weighting": "inverse_square"}}',
    DeepInfoMax(alpha=0.5, displacement=0.3): '{"DeepInfoMax": {"alpha": 0.5, "beta": 0.1, '
    '"displacement": 0.3, "false_samples": ["composition", "polymorph", "permutation"], '
    '"pair_weighting": "inverse_square"}}',
}


@pytest.mark.parametrize("objective", list(OLD_IDENTITIES), ids=range(len(OLD_IDENTITIES)))
def test_identity_is_unchanged_by_the_retired_options(objective):
    assert objective.identity() == OLD_IDENTITIES[objective]


def test_a_training_record_with_retired_params_rebuilds_its_objective():
    """config.json's ``training.objective_params`` of weights trained before the options
    were retired hold them at their one value: the objective rebuilds; another value is
    refused by name."""
    from pathlib import Path

    from dimfeaturizer import hub

    meta = json.loads((Path(hub.resolve("sitenet-dim-mp25k-wide-geometry-2026.12"))
                       / "config.json").read_text())  # fmt: skip
    params = meta["training"]["objective_params"]
    assert {"pair_weighting", "denoise", "typicality"} <= set(params)
    objective = DeepInfoMax.from_params(params)
    assert objective == DeepInfoMax(false_samples=ALL_FALSE_SAMPLE_KINDS)
    new = {k: list(v) if isinstance(v, tuple) else v for k, v in vars(objective).items()}
    assert DeepInfoMax.from_params(new) == objective  # today's records round-trip too
    for key, value in [("pair_weighting", "uniform"), ("denoise", 1.0), ("typicality", 0.5)]:
        with pytest.raises(ValueError, match=f"{key}=.*removed.*research-record-2026-12"):
            DeepInfoMax.from_params({**params, key: value})


# ---------------------------------------------------------------- training loop


@pytest.fixture(scope="module")
def run4(packed, tmp_path_factory):
    """4 epochs with a checkpoint directory; the reference for several tests."""
    directory = tmp_path_factory.mktemp("run4")
    model = untrained_model(None, 0)
    result = pretrain(model, packed, _config(checkpoint_dir=str(directory)))
    return model, result, directory


def test_losses_decrease(run4):
    _, result, directory = run4
    history = result.history
    assert [row["epoch"] for row in history] == [0, 1, 2, 3]
    first, last = history[0], history[-1]
    assert (last["train_dim_local"] + last["train_dim_global"]
            < first["train_dim_local"] + first["train_dim_global"] - 0.02)
    assert last["val_dim_local"] + last["val_dim_global"] < (
        first["val_dim_local"] + first["val_dim_global"])
    assert all(np.isfinite(row[k]) for row in history for k in LOSS_KEYS)
    saved = json.loads((directory / "history.json").read_text())
    assert _losses(saved) == _losses(history)


def test_pretraining_is_deterministic(packed, run4):
    model, result, _ = run4
    again = untrained_model(None, 0)
    # no checkpoint this time: checkpointing must not change the run either
    result2 = pretrain(again, packed, _config())
    _assert_same_weights(_state(model), _state(again))
    assert _losses(result2.history) == _losses(result.history)
    assert result2.best_epoch == result.best_epoch
    # and the weights did move from the initial ones
    start = untrained_model(None, 0).state_dict()
    assert any(not torch.equal(start[k], v) for k, v in again.state_dict().items())


def test_deterministic_with_two_threads(packed):
    """With more than one CPU thread, backward of advanced indexing adds with atomics;
    pretrain must still be bit-reproducible (one epoch, one batch of all 14 crystals is
    enough to see the difference when deterministic algorithms are off)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        config = _config(epochs=1, batch_sites=10_000, validation_fraction=0.0)
        states = []
        for _ in range(2):
            model = untrained_model(None, 0)
            pretrain(model, packed, config)
            states.append(_state(model))
    finally:
        torch.set_num_threads(previous)
    _assert_same_weights(*states)
    assert not torch.are_deterministic_algorithms_enabled()  # the global flag is restored


def test_exact_resume(packed, run4, tmp_path):
    model, result, _ = run4
    first = untrained_model(None, 0)
    part = pretrain(first, packed, _config(epochs=2, checkpoint_dir=str(tmp_path)))
    assert len(part.history) == 2
    resumed = untrained_model(None, 0)
    full = pretrain(resumed, packed, _config(epochs=4, checkpoint_dir=str(tmp_path)))
    _assert_same_weights(_state(model), _state(resumed))
    assert _losses(full.history) == _losses(result.history)
    assert full.best_epoch == result.best_epoch
    ckpt = torch.load(tmp_path / CHECKPOINT, weights_only=True)
    assert ckpt["epoch"] == 3


def test_checkpoint_of_other_data_raises(packed, run4):
    _, _, directory = run4
    model = untrained_model(None, 0)
    # the message names the part that differs, and only that part
    with pytest.raises(ValueError, match="for other data;"):
        pretrain(model, packed.subset(np.arange(10)), _config(checkpoint_dir=str(directory)))
    with pytest.raises(ValueError, match="for other hyper-parameters;"):
        pretrain(model, packed, _config(learning_rate=2e-3, checkpoint_dir=str(directory)))
    # the same architecture from other starting weights is another run
    with pytest.raises(ValueError, match="for other starting weights;"):
        pretrain(untrained_model(None, 1), packed, _config(checkpoint_dir=str(directory)))
    # nothing was trained or loaded
    _assert_same_weights(_state(model), _state(untrained_model(None, 0)))


def test_checkpoint_of_an_older_version_is_refused_by_name(packed, run4, tmp_path):
    """A checkpoint of earlier versions kept one fingerprint string that ignored the starting
    weights: refuse it with a reason, never resume it as if it were this run."""
    state = torch.load(run4[2] / CHECKPOINT, weights_only=True)
    torch.save({**state, "fingerprint": "0" * 64}, tmp_path / CHECKPOINT)
    with pytest.raises(ValueError, match="older dimfeaturizer"):
        pretrain(untrained_model(None, 0), packed, _config(checkpoint_dir=str(tmp_path)))


def test_early_stopping_restores_best(packed, tmp_path):
    # a large learning rate makes the held-out loss go up again within a few epochs
    config = _config(epochs=8, patience=1, learning_rate=1e-2, checkpoint_dir=str(tmp_path))
    model = untrained_model(None, 0)
    result = pretrain(model, packed, config)
    monitor = [row["val_dim_local"] + row["val_dim_global"] for row in result.history]
    assert result.stopped_early
    assert len(monitor) < config.epochs
    assert len(monitor) == result.best_epoch + 2  # patience 1: one bad epoch, then stop
    assert monitor[result.best_epoch] == min(monitor)
    assert monitor[-1] >= monitor[result.best_epoch]
    # the returned weights are the best epoch's, not the last epoch's ...
    last = torch.load(tmp_path / CHECKPOINT, weights_only=True)["model"]
    assert any(not torch.equal(last[k], v) for k, v in model.state_dict().items())
    # ... i.e. those of a run that stops right after the best epoch
    short = untrained_model(None, 0)
    pretrain(short, packed, dataclasses.replace(config, epochs=result.best_epoch + 1,
                                                checkpoint_dir=None))
    _assert_same_weights(_state(model), _state(short))


def test_small_batches_hold_two_crystals(packed):
    """Regression: batch_sites below twice the largest crystal used to leave a crystal
    alone in a batch and crash with 'a Deep InfoMax batch needs at least two crystals'."""
    order = np.random.default_rng([0, 0, 1]).permutation(len(packed))
    batches = batches_by_sites(packed.n_prim, order, 40, min_crystals=2)
    assert len(batches) >= 3 and min(len(b) for b in batches) >= 2
    model = untrained_model(None, 0)
    result = pretrain(model, packed, _config(epochs=1, validation_fraction=0.0))
    assert np.isfinite(result.history[0]["train_dim_local"])
    assert "val_dim_local" not in result.history[0]


def test_linear_global_critic_trains(packed, tmp_path):
    """The linear-u_z variant learns, and only the critic differs from the default model:
    the untrained encoder (the control) is the same for a seed."""
    config = SiteNetConfig(linear_global_critic=True)
    model = untrained_model(config, 0)
    assert isinstance(model.global_critic.u_z, torch.nn.Linear)
    default = untrained_model(None, 0)
    for part in ("local", "global_"):
        for (name, a), (_, b) in zip(getattr(model, part).state_dict().items(),
                                     getattr(default, part).state_dict().items()):
            assert torch.equal(a, b), name
    before = model.global_critic.u_z.weight.detach().clone()
    result = pretrain(model, packed, _config(epochs=2))
    assert all(np.isfinite(row["train_dim_global"]) for row in result.history)
    assert not torch.equal(before, model.global_critic.u_z.weight)  # the linear u_z is trained
