"""Weights on local disk: save_pretrained / load_pretrained round trip and integrity
checks (no network)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

from dimfeaturizer import DIMEncoder
from dimfeaturizer.config import SiteNetConfig
from dimfeaturizer.hub import (
    CONFIG_NAME,
    FORMAT_VERSION,
    READABLE_FORMATS,
    WEIGHTS_NAME,
    load_pretrained,
    save_pretrained,
)
from dimfeaturizer.inference import encode
from dimfeaturizer.model import untrained_model


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One torch thread: these tensors are tiny, and on a busy 2-core machine two
    threads contend."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def saved(tmp_path):
    model = untrained_model(None, 7)
    save_pretrained(model, tmp_path / "model", extra={"note": "test"})
    return model, tmp_path / "model"


def test_round_trip_identical(saved, structures):
    model, directory = saved
    loaded = load_pretrained(directory)
    assert not loaded.training
    assert loaded.config == model.config
    original, restored = model.state_dict(), loaded.state_dict()
    assert original.keys() == restored.keys()
    for k in original:
        assert torch.equal(original[k], restored[k]), k
    a = encode(model, structures, device="cpu")
    b = encode(loaded, structures, device="cpu")
    assert a.shape == (14, 128)
    np.testing.assert_array_equal(a, b)
    # another seed really is another model
    other = encode(untrained_model(None, 8), structures, device="cpu")
    assert np.abs(other - a).max() > 1e-3


def test_config_json(saved):
    model, directory = saved
    meta = json.loads((directory / CONFIG_NAME).read_text())
    assert meta["format_version"] == FORMAT_VERSION
    assert meta["library_name"] == "dimfeaturizer"
    assert meta["note"] == "test"
    digest = hashlib.sha256((directory / WEIGHTS_NAME).read_bytes()).hexdigest()
    assert meta["weights_sha256"] == digest
    assert SiteNetConfig.from_dict(meta["model"]) == model.config


def test_non_default_config_round_trip(tmp_path, structures):
    config = SiteNetConfig(local_dim=16, global_dim=32, max_sites=30)
    model = untrained_model(config, 1)
    save_pretrained(model, tmp_path)
    loaded = load_pretrained(tmp_path)
    assert loaded.config == config
    vectors = encode(loaded, structures[:3], device="cpu")
    assert vectors.shape == (3, 32)
    np.testing.assert_array_equal(vectors, encode(model, structures[:3], device="cpu"))


def test_estimator_round_trip(untrained, structures, tmp_path):
    untrained.save_pretrained(tmp_path)
    again = DIMEncoder(pretrained=tmp_path).fit()
    np.testing.assert_array_equal(again.transform(structures[:5]),
                                  untrained.transform(structures[:5]))


@pytest.mark.parametrize("where", [0.5, 0.99])
def test_corrupted_weights_raise(saved, where):
    _, directory = saved
    path = directory / WEIGHTS_NAME
    data = bytearray(path.read_bytes())
    k = int(len(data) * where)  # inside the tensor data, past the safetensors header
    data[k] ^= 0xFF
    data[k + 1] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupted"):
        load_pretrained(directory)


def test_truncated_weights_raise(saved):
    _, directory = saved
    path = directory / WEIGHTS_NAME
    path.write_bytes(path.read_bytes()[:-16])
    with pytest.raises(ValueError, match="corrupted"):
        load_pretrained(directory)


@pytest.mark.parametrize("version", [max(READABLE_FORMATS) + 1, 0, "1", None])
def test_wrong_format_version_raises(saved, version):
    _, directory = saved
    path = directory / CONFIG_NAME
    meta = json.loads(path.read_text())
    if version is None:
        del meta["format_version"]
    else:
        meta["format_version"] = version
    path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="format_version"):
        load_pretrained(directory)


def test_unknown_model_key_raises(saved):
    _, directory = saved
    path = directory / CONFIG_NAME
    meta = json.loads(path.read_text())
    meta["model"]["n_heads"] = 4
    path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="n_heads"):
        load_pretrained(directory)


def test_linear_global_critic_round_trip(tmp_path):
    model = untrained_model(SiteNetConfig(linear_global_critic=True), 2)
    save_pretrained(model, tmp_path)
    loaded = load_pretrained(tmp_path)
    assert loaded.config.linear_global_critic
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key
