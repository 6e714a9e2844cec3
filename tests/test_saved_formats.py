"""Saved encoders stay loadable: the 0.1.0 format, the element table's identity, and the
training record config.json keeps."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from dimfeaturizer import DEFAULT_PRETRAINED, DIMEncoder
from dimfeaturizer.cli import main
from dimfeaturizer.config import TABLE_NAME
from dimfeaturizer.data.elements import table_sha256
from dimfeaturizer.hub import CONFIG_NAME, FORMAT_VERSION, load_pretrained
from dimfeaturizer.model import untrained_model

V010 = Path(__file__).parent / "fixtures" / "v0.1.0"


# The stored vectors were written on another CPU: torch's float32 kernels (MKL, oneDNN)
# take other paths on other instruction sets (AVX2 / AVX-512) and differ by float rounding
# (measured: up to 2.9e-6 on an AVX-512 machine, the same code). Across machines they agree
# to this; on one machine, the 0.1.0 folder and the bundled weights are bit-identical.
ACROSS_CPUS = 1e-5


def test_a_0_1_0_encoder_loads_and_gives_its_vectors(structures):
    meta = json.loads((V010 / CONFIG_NAME).read_text())
    assert meta["format_version"] == 1 and "element_table" not in meta
    vectors = DIMEncoder(pretrained=V010, device="cpu").fit().transform(structures)
    np.testing.assert_allclose(vectors, np.load(V010 / "vectors_mp_structures.npy"),
                               rtol=0, atol=ACROSS_CPUS)  # fmt: skip


def test_the_bundled_weights_are_the_0_1_0_weights(structures):
    """Bit-identical vectors of the bundled weights and the 0.1.0 folder (one machine),
    and the stored 0.1.0 vectors to float rounding across CPUs."""
    bundled = DIMEncoder(DEFAULT_PRETRAINED, device="cpu").fit().transform(structures)
    old = DIMEncoder(pretrained=V010, device="cpu").fit().transform(structures)
    np.testing.assert_array_equal(bundled, old)
    np.testing.assert_allclose(bundled, np.load(V010 / "vectors_mp_structures.npy"),
                               rtol=0, atol=ACROSS_CPUS)  # fmt: skip


def test_saved_weights_record_the_element_table(tmp_path):
    DIMEncoder(pretrained=None, random_state=0).fit().save_pretrained(tmp_path)
    meta = json.loads((tmp_path / CONFIG_NAME).read_text())
    assert meta["format_version"] == FORMAT_VERSION
    assert meta["element_table"] == {"name": TABLE_NAME, "sha256": table_sha256()}


@pytest.mark.parametrize("field, value, message", [
    ("sha256", "0" * 64, "differs from this library's"),
    ("name", "other-table-v9", "trained with element table 'other-table-v9'"),
])
def test_another_element_table_is_refused(tmp_path, field, value, message):
    DIMEncoder(pretrained=None, random_state=0).fit().save_pretrained(tmp_path)
    meta = json.loads((tmp_path / CONFIG_NAME).read_text())
    meta["element_table"][field] = value
    (tmp_path / CONFIG_NAME).write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=message):
        load_pretrained(tmp_path)


def test_a_0_1_0_file_of_another_table_is_refused(tmp_path):
    shutil.copytree(V010, tmp_path / "old")
    meta = json.loads((tmp_path / "old" / CONFIG_NAME).read_text())
    meta["model"]["element_table"] = "other-table-v9"
    (tmp_path / "old" / CONFIG_NAME).write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="other-table-v9"):
        load_pretrained(tmp_path / "old")


@pytest.mark.parametrize("k", [0, 5])
def test_one_recipe_for_the_untrained_model(k):
    model = untrained_model(None, k)
    control = DIMEncoder(pretrained=None, random_state=k).fit().model_
    assert all(torch.equal(v, control.state_dict()[name])
               for name, v in model.state_dict().items())


def _cif_folder(tmp_path, mp_entries, n: int):
    """The first ``n`` fixture crystals as CIF files in a fresh folder."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name, entry in list(mp_entries.items())[:n]:
        entry["structure"].to(filename=str(folder / f"{name}.cif"))
    return folder


def test_cli_pretrain_records_how_it_trained(tmp_path, mp_entries):
    folder = _cif_folder(tmp_path, mp_entries, 6)
    out = tmp_path / "out"
    assert main(["pretrain", str(folder), "--out", str(out), "--epochs", "2", "--seed", "3",
                 "--device", "cpu", "--config", '{"post_pool_hidden": 32}']) == 0
    training = json.loads((out / CONFIG_NAME).read_text())["training"]
    assert training["objective"] == "DeepInfoMax"
    assert training["n_structures"] == 6 and training["epochs_run"] == 2
    assert training["random_state"] == 3 and len(training["history"]) == 2
    assert load_pretrained(out).config.post_pool_hidden == 32


def test_cli_pretrain_geometry(tmp_path, mp_entries):
    """The objective's options reach the estimator and are recorded with the weights."""
    folder = _cif_folder(tmp_path, mp_entries, 5)
    out = tmp_path / "out"
    config = '{"post_pool_hidden": 32, "distance_basis": 8}'
    assert main(["pretrain", str(folder), "--out", str(out), "--epochs", "1", "--device", "cpu",
                 "--config", config, "--false-samples", "composition", "displacement",
                 "--displacement", "0.3"]) == 0  # fmt: skip
    params = json.loads((out / CONFIG_NAME).read_text())["training"]["objective_params"]
    assert params["false_samples"] == ["composition", "displacement"]
    assert params["displacement"] == 0.3
    assert not {"pair_weighting", "denoise", "typicality"} & set(params)
    assert load_pretrained(out).config.distance_basis == 8


# what config.json of weights saved before the research options were retired (tag
# research-record-2026-12) may hold: each option at the one value every model now has
RETIRED_MODEL_KEYS = {"denoising_head": False, "typicality_critic": False, "readout": "mu"}
RETIRED_OBJECTIVE_PARAMS = {"pair_weighting": "inverse_square", "denoise": 0.0,
                            "typicality": 0.0}  # fmt: skip


def test_weights_saved_with_retired_options_at_their_defaults_load(tmp_path, structures):
    """A folder whose config.json carries the retired options at their defaults (in the
    architecture and in the training record) gives the same vectors."""
    enc = DIMEncoder(pretrained=None, random_state=0).fit()
    enc.save_pretrained(tmp_path)
    expected = enc.transform(structures[:3])
    meta = json.loads((tmp_path / CONFIG_NAME).read_text())
    meta["model"].update(RETIRED_MODEL_KEYS)
    meta["training"] = {"objective": "DeepInfoMax", "objective_params": {
        "alpha": 1.0, "beta": 0.1, "false_samples": ["composition"], "displacement": 0.2,
        "strain": 0.05, **RETIRED_OBJECTIVE_PARAMS}}  # fmt: skip
    (tmp_path / CONFIG_NAME).write_text(json.dumps(meta))
    again = DIMEncoder(pretrained=tmp_path).fit()
    np.testing.assert_array_equal(again.transform(structures[:3]), expected)
    assert DIMEncoder(pretrained=None, config=tmp_path, random_state=0).fit().config_ == (
        enc.config_)


@pytest.mark.parametrize("key, value", [("denoising_head", True), ("typicality_critic", True),
                                        ("readout", "mu+sites")])
def test_weights_of_a_retired_architecture_are_refused_by_name(tmp_path, key, value):
    DIMEncoder(pretrained=None, random_state=0).fit().save_pretrained(tmp_path)
    meta = json.loads((tmp_path / CONFIG_NAME).read_text())
    meta["model"][key] = value
    (tmp_path / CONFIG_NAME).write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=f"{key}=.*removed.*git tag research-record-2026-12"):
        load_pretrained(tmp_path)

