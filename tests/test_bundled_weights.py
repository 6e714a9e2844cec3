"""The bundled weights, the command-line main job and the quickstart example."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dimfeaturizer import DEFAULT_PRETRAINED, DIMEncoder, SiteNetConfig
from dimfeaturizer.cli import main
from dimfeaturizer.hub import CONFIG_NAME, _bundled_root, bundled_models, load_pretrained

ROOT = Path(__file__).resolve().parents[1]


def test_default_weights_are_bundled():
    assert DEFAULT_PRETRAINED in bundled_models()


@pytest.mark.parametrize("name", bundled_models())
def test_bundled_model_loads_and_records_its_training(name):
    model = load_pretrained(name)  # checks format version and SHA-256
    meta = json.loads((Path(str(_bundled_root())) / name / CONFIG_NAME).read_text())
    history = meta["training"]["history"]
    assert history and {"train_dim_local", "val_dim_global", "train_kl_local"} <= set(history[0])
    assert 0 <= meta["training"]["best_epoch"] < len(history)
    assert model.config.global_dim == 128


@pytest.mark.parametrize("name", bundled_models())
def test_bundled_model_card_has_hub_metadata(name):
    card = (Path(str(_bundled_root())) / name / "README.md").read_text()
    header = card.split("---")[1]
    for key in ("library_name: dimfeaturizer", "license:", "datasets:", "tags:"):
        assert key in header


def test_default_encoder_uses_the_bundled_weights(structures):
    default = DIMEncoder().fit().transform(structures)
    named = DIMEncoder(pretrained=DEFAULT_PRETRAINED).fit().transform(structures)
    untrained = DIMEncoder(pretrained=None, random_state=0).fit().transform(structures)
    assert default.shape == (len(structures), 128) and np.isfinite(default).all()
    np.testing.assert_array_equal(default, named)
    assert np.abs(default - untrained).max() > 1e-2
    # trained vectors separate different crystals
    pairwise = np.abs(default[:, None] - default[None]).max(-1)
    assert pairwise[np.triu_indices(len(default), 1)].min() > 0


def test_untrained_control_of_the_bundled_weights_by_name(structures):
    """config=<model name> is that model's architecture with random weights: the control."""
    from dimfeaturizer import DeepInfoMaxFeaturizer
    from dimfeaturizer.hub import load_config

    pretrained = DIMEncoder().fit()
    control = DIMEncoder(pretrained=None, config=DEFAULT_PRETRAINED, random_state=0).fit()
    assert control.config_ == pretrained.config_ != SiteNetConfig()
    explicit = DIMEncoder(pretrained=None, config=load_config(DEFAULT_PRETRAINED), random_state=0)
    vectors = control.transform(structures)
    np.testing.assert_array_equal(vectors, explicit.fit().transform(structures))
    assert np.abs(vectors - pretrained.transform(structures)).max() > 1e-2
    featurizer = DeepInfoMaxFeaturizer(
        DIMEncoder(pretrained=None, config=DEFAULT_PRETRAINED, random_state=0)
    )
    assert featurizer.precheck(structures[0])
    rows = featurizer.fit(structures).featurize_many(structures[:3], pbar=False)
    np.testing.assert_allclose(np.asarray(rows), vectors[:3], rtol=1e-5, atol=1e-6)
    # the name must agree with the weights when both are given
    assert DIMEncoder(config=DEFAULT_PRETRAINED).fit().config_ == pretrained.config_
    with pytest.raises(ValueError, match="config differs"):
        DIMEncoder(config=SiteNetConfig()).fit()
    with pytest.raises(TypeError, match="'config' parameter"):
        DIMEncoder(pretrained=None, config={"post_pool_hidden": 2048}).fit()


def test_main_job_on_the_embedded_default(tmp_path, capsys):
    out = tmp_path / "features.csv"
    assert main(["--output", str(out)]) == 0
    features = pd.read_csv(out, index_col=0)
    assert features.shape == (40, 128)
    assert list(features.columns[:2]) == ["dim_0", "dim_1"]
    assert features.index[0].startswith("mp-")
    assert main([]) == 0
    assert "dim_0" in capsys.readouterr().out


def test_quickstart_example_runs():
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py")],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "MAE on formation energy" in done.stdout


def test_the_preview_name_still_loads_the_released_weights(structures):
    """The default weights left preview under a new name; code that pinned the old one
    gets the same vectors."""
    from dimfeaturizer.hub import RENAMED

    assert RENAMED["sitenet-dim-mp25k-wide-2026.11-preview"] == DEFAULT_PRETRAINED
    assert "preview" not in DEFAULT_PRETRAINED
    old = DIMEncoder(pretrained="sitenet-dim-mp25k-wide-2026.11-preview").fit()
    np.testing.assert_array_equal(old.transform(structures[:3]),
                                  DIMEncoder().fit().transform(structures[:3]))  # fmt: skip
