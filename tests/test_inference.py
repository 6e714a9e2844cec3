"""The inference path's prefetching: order, one job ahead, errors where they belong, and
chunked encoding equal to one big batch."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import dimfeaturizer.inference as inference


def test_prefetched_keeps_order_and_runs_one_ahead():
    started = []
    release = threading.Event()

    def job(k):
        def run():
            started.append(k)
            if k == 1:
                release.wait(5)
            return k * k
        return run

    results = inference.prefetched([job(k) for k in range(4)])
    assert next(results) == 0
    # job 1 is already running (blocked) while the caller holds result 0
    for _ in range(100):
        if 1 in started:
            break
        threading.Event().wait(0.01)
    assert started == [0, 1]
    release.set()
    assert list(results) == [1, 4, 9]


def test_prefetched_raises_at_the_failing_job():
    def fail():
        raise ValueError("job 2")

    jobs = [lambda: 0, lambda: 1, fail, lambda: 3]
    got = []
    with pytest.raises(ValueError, match="job 2"):
        for r in inference.prefetched(jobs):
            got.append(r)
    assert got == [0, 1]
    assert list(inference.prefetched([])) == []
    assert list(inference.prefetched([lambda: 7])) == [7]


def test_small_chunks_give_the_same_vectors(structures, untrained, monkeypatch):
    whole = untrained.transform(structures)
    monkeypatch.setattr(inference, "CHUNK", 3)  # five chunks, four of them prefetched
    np.testing.assert_allclose(untrained.transform(structures), whole, atol=1e-6)
    vectors, errors = inference.encode_or_collect(untrained.model_, [*structures[:4], "bad"],
                                                  device="cpu")  # fmt: skip
    np.testing.assert_allclose(vectors[:4], whole[:4], atol=1e-6)
    assert list(errors) == [4] and np.isnan(vectors[4]).all()
