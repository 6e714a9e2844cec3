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


def test_compiled_forward_gives_the_eager_vectors(structures, untrained, caplog):
    """The compiled kernels give the eager vectors up to float rounding, and they are
    really used (no silent fallback to eager on this machine, which has a compiler)."""
    import torch

    from dimfeaturizer.data.inputs import prepare_all

    model = untrained.model_
    eager = inference.encode(model, structures, device="cpu")
    compiled = inference.encode(model, structures, device="cpu", compile=True)
    np.testing.assert_allclose(compiled, eager, atol=1e-5)
    forward = inference.Forward(model, compile=True)
    packed = prepare_all(structures, list(range(len(structures))), model.config)
    again = inference.encode_packed(model, packed, 2048, torch.device("cpu"), forward)
    assert forward.local is not None and "torch.compile failed" not in caplog.text
    np.testing.assert_allclose(again, eager, atol=1e-5)
    # estimators compile inference only when asked: "auto" keeps the eager vectors
    np.testing.assert_array_equal(untrained.transform(structures), eager)
