"""Packing, padded batches and the Site-Net forward pass: masks, padding invariance,
batch order, batch cutting and segment means."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from dimfeaturizer.config import SiteNetConfig
from dimfeaturizer.data.batch import PackedCrystals, batches_by_sites
from dimfeaturizer.data.inputs import prepare_one
from dimfeaturizer.inference import encode_packed
from dimfeaturizer.model import untrained_model
from dimfeaturizer.model.layers import segment_mean

CONFIG = SiteNetConfig()
BIG = SiteNetConfig(max_sites=400)  # only changes the supercell size, not the network


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _prepare(structure, config=CONFIG):
    return prepare_one(structure, config)


@pytest.fixture(scope="module")
def arrays(structures):
    return [_prepare(s) for s in structures]


@pytest.fixture(scope="module")
def packed(arrays):
    return PackedCrystals(arrays)


@pytest.fixture(scope="module")
def model():
    return untrained_model(None, 0)


# ---------------------------------------------------------------- packing and batches


def test_packed_round_trip(arrays, packed):
    assert len(packed) == len(arrays) == 14
    for i, a in enumerate(arrays):
        back = packed.crystal(i)
        np.testing.assert_array_equal(back.species, a.species)
        np.testing.assert_array_equal(back.distances, a.distances)
    sub = packed.subset(np.array([11, 0, 5]))
    assert len(sub) == 3
    np.testing.assert_array_equal(sub.crystal(0).distances, arrays[11].distances)
    np.testing.assert_array_equal(sub.crystal(2).species, arrays[5].species)


def test_batch_shapes_and_masks(arrays, packed):
    idx = np.array([3, 11, 0, 7, 10])
    batch = packed.batch(idx)
    m = np.array([arrays[i].n_prim for i in idx])
    n = np.array([arrays[i].n_super for i in idx])
    s, j = int(m.sum()), int(n.max())
    assert batch.n_crystals == 5
    assert batch.row_species.shape == (s,)
    for name in ("neighbour_species", "distances", "mask"):
        assert getattr(batch, name).shape == (s, j)
    assert batch.distances.dtype == torch.float32 and batch.mask.dtype == torch.bool
    assert batch.prim_species.shape == (5, int(m.max()))
    np.testing.assert_array_equal(batch.n_prim.numpy(), m)
    np.testing.assert_array_equal(batch.crystal_start.numpy(), np.cumsum(m) - m)
    np.testing.assert_array_equal(batch.row_crystal.numpy(), np.repeat(np.arange(5), m))
    np.testing.assert_array_equal(batch.row_local.numpy(),
                                  np.concatenate([np.arange(k) for k in m]))
    mask = batch.mask.numpy()
    for b, i in enumerate(idx):
        a = arrays[i]
        rows = slice(int(batch.crystal_start[b]), int(batch.crystal_start[b] + m[b]))
        assert mask[rows, : n[b]].all() and not mask[rows, n[b]:].any()
        np.testing.assert_array_equal(batch.row_species[rows].numpy(), a.species[: m[b]])
        np.testing.assert_array_equal(
            batch.neighbour_species[rows, : n[b]].numpy(), np.tile(a.species, (m[b], 1))
        )
        np.testing.assert_array_equal(batch.distances[rows, : n[b]].numpy(), a.distances)
        np.testing.assert_array_equal(batch.prim_species[b, : m[b]].numpy(), a.species[: m[b]])
        assert (batch.prim_species[b, m[b]:] == 0).all()
    assert (batch.neighbour_species[~batch.mask] == 0).all()
    assert (batch.distances[~batch.mask] == 0).all()
    assert (~batch.mask).any()  # this batch really is padded


# ---------------------------------------------------------------- forward pass


def test_padding_never_changes_a_vector(structures, model):
    small = [_prepare(s) for s in structures[:4]]  # Cs, Fe, Si, NaCl: N = 48, 48, 36, 36
    big = _prepare(structures[11], BIG)  # NaCoPO4 at 384 sites: lots of padding
    assert big.n_super >= 8 * max(a.n_super for a in small)
    packed = PackedCrystals([*small, big])
    with torch.no_grad():
        together = model(packed.batch(np.arange(5))).numpy()
        for i in range(4):
            alone = model(packed.batch(np.array([i]))).numpy()[0]
            np.testing.assert_allclose(together[i], alone, atol=1e-6, rtol=0)
        big_alone = model(packed.batch(np.array([4]))).numpy()[0]
    np.testing.assert_allclose(together[4], big_alone, atol=1e-6, rtol=0)
    # the inference path agrees whatever the batch size
    one = encode_packed(model, packed, batch_sites=1, device=torch.device("cpu"))
    np.testing.assert_allclose(one, together, atol=1e-6, rtol=0)


def test_batch_order_does_not_matter(packed, model):
    order = np.random.default_rng(3).permutation(len(packed))
    with torch.no_grad():
        forward = model(packed.batch(np.arange(len(packed)))).numpy()
        shuffled = model(packed.batch(order)).numpy()
    np.testing.assert_allclose(shuffled, forward[order], atol=1e-6, rtol=0)
    # and different crystals really give different vectors
    assert np.abs(forward[0] - forward[1]).max() > 1e-4


def test_padded_entries_are_ignored(packed, model):
    batch = packed.batch(np.arange(len(packed)))
    pad = ~batch.mask
    assert pad.sum() > 400
    with torch.no_grad():
        reference = model(batch)
        batch.distances = batch.distances.masked_fill(pad, 1e3)
        batch.neighbour_species = batch.neighbour_species.masked_fill(pad, 92)
        junk = model(batch)
        torch.testing.assert_close(junk, reference, atol=1e-6, rtol=0)
        # the same change on a real pair does move the vector
        row, col = (batch.mask.nonzero()[0]).tolist()
        batch.distances[row, col + 1] = 1e3
        assert (model(batch)[0] - reference[0]).abs().max() > 1e-5


def test_no_gradient_through_padding(packed, model):
    batch = packed.batch(np.arange(len(packed)))
    batch.distances = batch.distances.clone().requires_grad_(True)
    model.zero_grad()
    model(batch).sum().backward()
    grad = batch.distances.grad
    assert (grad[~batch.mask] == 0).all()
    assert (grad[batch.mask] != 0).float().mean() > 0.5


def test_attention_weights_zero_on_padding(packed, model, monkeypatch):
    captured = []
    softmax = torch.softmax

    def recording(*args, **kwargs):
        out = softmax(*args, **kwargs)
        captured.append(out.detach().clone())
        return out

    monkeypatch.setattr(torch, "softmax", recording)
    batch = packed.batch(np.arange(len(packed)))
    with torch.no_grad():
        model(batch)
    assert len(captured) == 1
    attn = captured[0]
    assert attn.shape == batch.mask.shape
    assert (attn[~batch.mask] == 0).all()
    torch.testing.assert_close(attn.sum(-1), torch.ones(len(attn)), atol=1e-5, rtol=0)
    assert (attn[batch.mask] > 0).all()


def test_model_output_shape_and_determinism(packed, model):
    batch = packed.batch(np.arange(len(packed)))
    with torch.no_grad():
        out = model(batch)
        again = untrained_model(None, 0)(batch)
        other = untrained_model(None, 1)(batch)
    assert out.shape == (14, 128) and torch.isfinite(out).all()
    assert torch.equal(out, again)
    assert (out - other).abs().max() > 1e-3


# ---------------------------------------------------------------- segment_mean


def test_segment_mean_matches_loop():
    gen = torch.Generator().manual_seed(0)
    values = torch.randn(20, 3, 2, generator=gen, dtype=torch.float64)
    segment = torch.tensor([0, 0, 1, 2, 2, 2, 3, 1, 4, 4, 4, 4, 4, 0, 3, 2, 1, 1, 0, 4])
    out = segment_mean(values, segment, 5)
    assert out.shape == (5, 3, 2)
    for k in range(5):
        torch.testing.assert_close(out[k], values[segment == k].mean(0))
    flat = segment_mean(torch.arange(6.0), torch.tensor([1, 1, 0, 2, 2, 2]), 3)
    torch.testing.assert_close(flat, torch.tensor([2.0, 0.5, 4.0]))


def test_segment_mean_gradient():
    values = torch.ones(4, 2, requires_grad=True)
    segment_mean(values, torch.tensor([0, 1, 1, 1]), 2).sum().backward()
    expected = torch.tensor([[1.0, 1.0], [1 / 3, 1 / 3], [1 / 3, 1 / 3], [1 / 3, 1 / 3]])
    torch.testing.assert_close(values.grad, expected)


# ---------------------------------------------------------------- batches_by_sites


def _as_lists(batches):
    return [b.tolist() for b in batches]


def test_batches_by_sites_hand_examples():
    order = np.arange(6)
    assert _as_lists(batches_by_sites(np.full(6, 3), order, 7)) == [[0, 1], [2, 3], [4, 5]]
    # a crystal above max_rows gets a batch of its own
    sizes = np.array([30, 2, 2])
    assert _as_lists(batches_by_sites(sizes, np.arange(3), 10)) == [[0], [1, 2]]
    # a short tail is merged into the batch before it
    sizes = np.full(5, 5)
    assert _as_lists(batches_by_sites(sizes, np.arange(5), 10, 2)) == [[0, 1], [2, 3, 4]]
    # order is followed, not sorted
    assert _as_lists(batches_by_sites(np.full(4, 3), np.array([2, 0, 3, 1]), 6)) == [
        [2, 0], [3, 1]]


def test_batches_by_sites_min_crystals_everywhere():
    """Regression: with min_crystals=2 a crystal that did not fit used to be left alone
    in a middle batch, and dim_losses then raised 'needs at least two crystals'."""
    sizes = np.array([14, 10, 12])
    assert _as_lists(batches_by_sites(sizes, np.arange(3), 20, 1)) == [[0], [1], [2]]
    assert _as_lists(batches_by_sites(sizes, np.arange(3), 20, 2)) == [[0, 1, 2]]
    sizes = np.array([2, 2, 48, 3, 3, 3])
    assert _as_lists(batches_by_sites(sizes, np.arange(6), 10, 2)) == [
        [0, 1], [2, 3], [4, 5]]


@pytest.mark.parametrize("min_crystals", [1, 2, 3])
@pytest.mark.parametrize("max_rows", [1, 8, 25, 60, 1000])
def test_batches_by_sites_properties(min_crystals, max_rows):
    rng = np.random.default_rng(max_rows * 10 + min_crystals)
    for _ in range(20):
        n_prim = rng.integers(1, 30, size=int(rng.integers(1, 25)))
        order = rng.permutation(len(n_prim))
        batches = batches_by_sites(n_prim, order, max_rows, min_crystals)
        np.testing.assert_array_equal(np.concatenate(batches), order)
        want = min(min_crystals, len(order))
        assert all(len(b) >= want for b in batches)
        for k, b in enumerate(batches):
            rows = int(n_prim[b].sum())
            if k < len(batches) - 1:
                # closed only when the next crystal would not fit, and within max_rows
                # unless min_crystals forced more
                assert rows + n_prim[batches[k + 1][0]] > max_rows
                assert rows <= max_rows or len(b) == max(min_crystals, 1)
        if int(n_prim.sum()) <= max_rows:
            assert len(batches) == 1


# ---------------------------------------------------------------- distance basis


def test_distance_basis_values():
    from dimfeaturizer.model.layers import DistanceBasis

    d = torch.tensor([[0.0, 2.0, 7.5]])
    raw = DistanceBasis(0, 8.0)
    assert raw.size == 1 and torch.equal(raw(d), d.unsqueeze(-1))
    basis = DistanceBasis(5, 8.0)  # centres 0, 2, 4, 6, 8; width 2
    out = basis(d)
    assert out.shape == (1, 3, 6) and basis.size == 6
    assert torch.equal(out[..., 0], d)
    assert out[0, 1, 2] == 1.0  # 2 Å sits on the second centre
    assert torch.allclose(out[0, 1, 1:], torch.exp(-torch.tensor([1.0, 0, 1, 4, 9])))


def test_distance_basis_model_keeps_padding_and_batch_invariance(packed):
    model = untrained_model(SiteNetConfig(distance_basis=16), 0)
    assert model.local.distance_embed[0].in_features == 17
    def encode(m, p):
        return encode_packed(m, p, batch_sites=10_000, device=torch.device("cpu"))

    together = encode(model, packed)
    apart = np.concatenate([encode(model, packed.subset([i])) for i in range(len(packed))])
    np.testing.assert_allclose(together, apart, atol=1e-6)
    # the basis changes the vectors: it is wired in, not ignored
    plain = encode(untrained_model(None, 0), packed)
    assert not np.allclose(together, plain)


def test_new_config_fields_are_validated_and_saved_only_when_used():
    """Fields added after weights were published are left out of config.json at their
    defaults (older releases can read the weights) and checked by name."""
    import dataclasses

    from dimfeaturizer.config import ADDED_LATER

    assert set(ADDED_LATER) == {"distance_basis", "distance_basis_max"}
    assert not set(ADDED_LATER) & set(SiteNetConfig().to_dict())
    assert SiteNetConfig.from_dict(SiteNetConfig().to_dict()) == SiteNetConfig()
    used = SiteNetConfig(distance_basis=8)
    assert used.to_dict()["distance_basis"] == 8
    assert SiteNetConfig.from_dict(used.to_dict()) == used
    assert {f.name for f in dataclasses.fields(SiteNetConfig)} >= set(ADDED_LATER)
    with pytest.raises(ValueError, match="distance_basis must"):
        SiteNetConfig(distance_basis=-1)
    with pytest.raises(ValueError, match="distance_basis_max"):
        SiteNetConfig(distance_basis=4, distance_basis_max=0.0)


def test_retired_config_fields_load_at_their_default_and_are_refused_otherwise():
    """A config.json written before the research options were retired may carry them at
    their defaults (the encoder was the same): it loads. At another value it describes a
    model this package cannot build: refused, naming the option and where it lives."""
    import dataclasses

    from dimfeaturizer.config import RETIRED, RETIRED_AT

    assert RETIRED == {"denoising_head": False, "typicality_critic": False, "readout": "mu"}
    assert not set(RETIRED) & {f.name for f in dataclasses.fields(SiteNetConfig)}
    saved = {**SiteNetConfig(distance_basis=8).to_dict(), **RETIRED}
    assert SiteNetConfig.from_dict(saved) == SiteNetConfig(distance_basis=8)
    for key, value in [("denoising_head", True), ("typicality_critic", True),
                       ("readout", "mu+sites"), ("readout", "mu+typicality")]:
        with pytest.raises(ValueError, match=f"{key}=.*removed.*git tag {re.escape(RETIRED_AT)}"):
            SiteNetConfig.from_dict({**saved, key: value})
    with pytest.raises(ValueError, match="unknown model config keys"):
        SiteNetConfig.from_dict({**saved, "readout_width": 3})
    with pytest.raises(TypeError):  # the fields are gone from the dataclass itself
        SiteNetConfig(readout="mu")
    assert SiteNetConfig().vector_dim == SiteNetConfig().global_dim == 128


def test_distinct_bonds_path_matches_every_pair(packed, model):
    """Bonds are computed once per distinct (row species, neighbour species, distance)
    and gathered; computing every pair (the path taken when gradients must reach the
    distances) gives the same vectors to float rounding, and the same parameter
    gradients."""
    batch = packed.batch(np.arange(len(packed)))
    model.zero_grad()
    distinct = model(batch)
    distinct.sum().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    batch.distances = batch.distances.clone().requires_grad_(True)
    every = model(batch)
    every.sum().backward()
    torch.testing.assert_close(distinct, every, atol=1e-6, rtol=1e-6)
    assert grads
    for name, param in model.named_parameters():
        if name in grads:
            torch.testing.assert_close(grads[name], param.grad, atol=1e-5, rtol=1e-4)
    model.zero_grad()


# ---------------------------------------------------------------- the site-max readout
def test_segment_max_is_each_segments_column_maximum():
    from dimfeaturizer.model.layers import segment_max

    rng = np.random.default_rng(0)
    values = rng.normal(size=(12, 3)) - 5.0  # all negative: a zero start would show
    segment = np.array([2, 0, 0, 1, 2, 2, 1, 0, 1, 1, 2, 0])
    out = segment_max(torch.from_numpy(values), torch.from_numpy(segment), 3).numpy()
    expected = np.stack([values[segment == k].max(axis=0) for k in range(3)])
    np.testing.assert_array_equal(out, expected)


def test_site_max_readout_is_batch_invariant_and_wired_in(packed, model):
    """The head's input with ``site_max``: the mean vector, then the pooled site features'
    maxima, the same for a crystal alone or in a batch."""
    from dimfeaturizer.model import SiteNetPredictor

    predictor = SiteNetPredictor(model, 1, 8, site_max=True).eval()
    assert predictor.head[0].in_features == CONFIG.vector_dim + CONFIG.pool_dim

    def vectors(p):
        batch = p.batch(np.arange(len(p)))
        with torch.no_grad():
            return predictor.vectors(batch).numpy()

    together = vectors(packed)
    apart = np.concatenate([vectors(packed.subset([i])) for i in range(len(packed))])
    np.testing.assert_allclose(together, apart, atol=1e-6)
    mean_only = encode_packed(model, packed, batch_sites=10_000, device=torch.device("cpu"))
    np.testing.assert_allclose(together[:, : CONFIG.vector_dim], mean_only, atol=1e-6)
    maxima = together[:, CONFIG.vector_dim:]
    assert np.ptp(maxima, axis=0).max() > 1e-3  # differs between crystals
