"""The std's distance factor: how far crystals lie from the training crystals in each
member's hidden layer, in units of how far the training crystals lie from each other."""

from __future__ import annotations

import numpy as np
import pytest

from dimfeaturizer.estimators.novelty import Novelty


def novelty(training: np.ndarray, query: np.ndarray) -> np.ndarray:
    return Novelty(training)(query)


@pytest.fixture(scope="module")
def training() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(3, 50, 8))


def test_a_training_crystal_is_at_zero_and_a_far_one_is_large(training):
    factor = novelty(training, training)
    np.testing.assert_allclose(factor, 0.0, atol=1e-12)
    far = training[:, :2] + 50.0  # far outside every unit's spread
    assert (novelty(training, far) > 10).all()


def test_the_factor_is_the_nearest_distance_over_the_typical_one(training):
    """By brute force, for one member: standardised on the training latents, the nearest
    training crystal's distance over the median nearest-other distance among them."""
    fitted = training[0]
    query = np.random.default_rng(2).normal(size=(7, 8)) * 1.5
    mean, scale = fitted.mean(axis=0), fitted.std(axis=0) + 1e-6
    z, q = (fitted - mean) / scale, (query - mean) / scale
    gaps = np.linalg.norm(z[:, None] - z[None], axis=-1)
    np.fill_diagonal(gaps, np.inf)
    nearest = np.linalg.norm(q[:, None] - z[None], axis=-1).min(axis=1)
    np.testing.assert_allclose(novelty(training[:1], query[None]),
                               nearest / np.median(gaps.min(axis=1)), rtol=1e-10)  # fmt: skip


def test_units_are_standardised_and_members_averaged(training):
    query = training[:, :5] + 0.3
    base = novelty(training, query)
    scaled = novelty(training * np.arange(1, 9), query * np.arange(1, 9))  # per-unit scale
    np.testing.assert_allclose(scaled, base, rtol=1e-5)
    one_by_one = [novelty(training[m:m + 1], query[m:m + 1]) for m in range(3)]
    np.testing.assert_allclose(base, np.mean(one_by_one, axis=0), rtol=1e-12)


def test_duplicates_and_identical_training_crystals():
    """Mostly duplicated training crystals measure in their non-zero gaps; identical ones
    leave the spread as it is (factor 1)."""
    rng = np.random.default_rng(1)
    distinct = rng.normal(size=(4, 3))
    training = np.concatenate([np.repeat(distinct[:1], 10, axis=0), distinct[1:]])[None]
    query = distinct[None] + 0.01
    mean, scale = training[0].mean(axis=0), training[0].std(axis=0) + 1e-6
    z, q = (training[0] - mean) / scale, (query[0] - mean) / scale
    gaps = np.linalg.norm(z[:, None] - z[None], axis=-1)
    np.fill_diagonal(gaps, np.inf)
    nearest_other = gaps.min(axis=1)
    assert np.median(nearest_other) == 0  # 10 of 13 are copies: the median is no unit
    typical = np.median(nearest_other[nearest_other > 0])
    nearest = np.linalg.norm(q[:, None] - z[None], axis=-1).min(axis=1)
    np.testing.assert_allclose(novelty(training, query), nearest / typical, rtol=1e-10)
    same = np.ones((1, 6, 3))
    np.testing.assert_array_equal(novelty(same, rng.normal(size=(1, 4, 3))), np.ones(4))


def test_a_dead_unit_does_not_outweigh_the_others(training):
    """A unit (nearly) constant over the training crystals is scaled as a twentieth of
    the median unit at least: a query that moves it a little stays a typical crystal."""
    dead = training.copy()
    dead[:, :, 0] = -1e-5  # mish far below zero: the same tiny value for every crystal
    query = dead[:, :3].copy()
    query[:, :, 1:] += 0.5
    moved = query.copy()
    moved[:, :, 0] = -0.03
    assert np.all(novelty(dead, moved) < 2 * novelty(dead, query) + 1)


def test_no_query_crystals():
    assert novelty(np.ones((2, 5, 3)), np.ones((2, 0, 3))).shape == (0,)
