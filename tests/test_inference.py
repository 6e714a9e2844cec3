"""The inference path: chunked encoding equal to one big batch, compiled kernels equal to
eager ones."""

from __future__ import annotations

import numpy as np

import dimfeaturizer.inference as inference


def test_small_chunks_give_the_same_vectors(structures, untrained, monkeypatch):
    whole = untrained.transform(structures)
    monkeypatch.setattr(inference, "CHUNK", 3)  # five chunks
    np.testing.assert_allclose(untrained.transform(structures), whole, atol=1e-6)
    vectors, errors = inference.encode_or_collect(untrained.model_, [*structures[:4], "bad"],
                                                  device="cpu")  # fmt: skip
    np.testing.assert_allclose(vectors[:4], whole[:4], atol=1e-6)
    assert list(errors) == [4] and np.isnan(vectors[4]).all()


def test_compiled_forward_gives_the_eager_vectors(structures, untrained):
    """The compiled kernels (or, without a compiler, the eager fallback) give the same
    vectors; "auto" compiles only large inputs."""
    eager = inference.encode(untrained.model_, structures, device="cpu")
    compiled = inference.encode(untrained.model_, structures, device="cpu", compile=True)
    np.testing.assert_allclose(compiled, eager, atol=1e-5)
    assert not inference.wants_compile("auto", inference.COMPILE_FROM - 1)
    assert inference.wants_compile("auto", inference.COMPILE_FROM)
    assert inference.wants_compile(True, 1) and not inference.wants_compile(False, 10**6)
