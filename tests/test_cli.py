"""The command line: formats, one-line errors, --ignore-errors, the untrained control."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pymatgen.core import Lattice, Structure

from dimfeaturizer import DEFAULT_PRETRAINED, DIMEncoder
from dimfeaturizer.cli import main


@pytest.fixture
def folder(tmp_path, mp_entries):
    out = tmp_path / "in"
    out.mkdir()
    for name, entry in list(mp_entries.items())[:3]:
        entry["structure"].to(filename=str(out / f"{name}.cif"))
    return out


@pytest.fixture
def labelled_folder(tmp_path, mp_entries):
    """Twelve CIFs and a CSV of their formation energies, as a user brings them to `fit`."""
    out = tmp_path / "in"
    out.mkdir()
    names = list(mp_entries)[:12]
    for name in names:
        mp_entries[name]["structure"].to(filename=str(out / f"{name}.cif"))
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"name": names, "e_form": [mp_entries[n]["e_form"] for n in names]}).to_csv(
        labels, index=False)
    return out, labels


def test_pymatgen_json_and_parquet(tmp_path, structures, capsys):
    structures[0].to(filename=str(tmp_path / "x.json"))  # pymatgen's own JSON
    out = tmp_path / "f.parquet"
    assert main(["featurize", str(tmp_path / "x.json"), "-o", str(out)]) == 0
    got = pd.read_parquet(out)
    assert got.shape == (1, 128) and list(got.columns[:2]) == ["dim_0", "dim_1"]
    expected = DIMEncoder(device="cpu").fit().transform([structures[0]])
    np.testing.assert_allclose(got.to_numpy(), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("argv, message, status", [
    (["featurize", "missing.cif"], "missing.cif: no such file or folder", 1),
    (["featurise", "x.cif"], "unknown command 'featurise' (did you mean 'featurize'?)", 2),
    (["featurize", "-o", "out.txt"], "use a .csv or .parquet file name", 1),
])
def test_errors_are_one_line(argv, message, status, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == status
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("flag", ["--denoise", "--typicality"])
def test_pretrain_flags_of_retired_options_are_gone(folder, tmp_path, flag, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["pretrain", str(folder), "--out", str(tmp_path / "out"), flag, "1"])
    assert exit_.value.code == 2
    assert f"unrecognized arguments: {flag} 1" in capsys.readouterr().err


def test_pretrain_config_with_a_retired_option_is_one_line_naming_the_tag(folder, tmp_path,
                                                                          capsys):
    argv = ["pretrain", str(folder), "--out", str(tmp_path / "out"), "--epochs", "1",
            "--device", "cpu", "--config", '{"typicality_critic": true}']
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "typicality_critic=True" in err and "git tag research-record-2026-12" in err
    assert not (tmp_path / "out").exists()


def test_empty_folder_is_an_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["featurize", str(tmp_path / "empty")]) == 1
    assert "holds no files" in capsys.readouterr().err


def test_ignore_errors_gives_nan_rows_and_a_report(folder, tmp_path, capsys):
    (folder / "broken.cif").write_text("not a cif\n")
    Structure(Lattice.cubic(4.0), [{"Na": 0.5, "K": 0.5}, "Cl"],
              [[0, 0, 0], [0.5, 0.5, 0.5]]).to(filename=str(folder / "disordered.cif"))
    out = tmp_path / "f.csv"
    assert main(["featurize", str(folder), "-o", str(out)]) == 1  # stops without the flag
    capsys.readouterr()
    assert main(["featurize", str(folder), "-o", str(out), "--ignore-errors"]) == 0
    err = capsys.readouterr().err
    table = pd.read_csv(out, index_col=0)
    assert len(table) == 5
    bad = [name for name in table.index if "broken" in name or "disordered" in name]
    assert table.loc[bad].isna().all().all() and table.drop(bad).notna().all().all()
    assert "2 of 5 entries failed" in err and "disordered" in err and "cannot read" in err


def test_pretrained_none_is_the_bundled_architectures_control(folder, tmp_path, structures):
    out = tmp_path / "f.csv"
    assert main(["featurize", str(folder), "--pretrained", "none", "-o", str(out)]) == 0
    table = pd.read_csv(out, index_col=0)
    control = DIMEncoder(pretrained=None, config=DEFAULT_PRETRAINED, random_state=0).fit()
    read = [Structure.from_file(folder / name.split("/")[-1]) for name in table.index]
    np.testing.assert_allclose(table.to_numpy(), control.transform(read), rtol=0, atol=1e-5)


def test_help_names_every_bundled_model(capsys, monkeypatch):
    from dimfeaturizer.hub import bundled_models

    monkeypatch.setenv("COLUMNS", "1000")  # argparse wraps help (at hyphens too) to this
    with pytest.raises(SystemExit):
        main(["featurize", "--help"])
    text = capsys.readouterr().out
    assert bundled_models() and all(name in text for name in bundled_models())


def test_fit_then_predict_with_std(tmp_path, mp_entries, capsys):
    """structures + a CSV of labels -> a saved ensemble -> predictions with std, equal to
    the estimator's own."""
    from dimfeaturizer import DIMRegressor

    folder = tmp_path / "in"
    folder.mkdir()
    names = list(mp_entries)
    for name in names:
        mp_entries[name]["structure"].to(filename=str(folder / f"{name}.cif"))
    labelled = names[:10]
    pd.DataFrame({"name": labelled, "e_form": [mp_entries[n]["e_form"] for n in labelled],
                  "other": 0.0}).to_csv(tmp_path / "labels.csv", index=False)  # fmt: skip
    model = tmp_path / "model"
    argv = ["fit", str(folder), "--labels", str(tmp_path / "labels.csv"), "--target", "e_form",
            "--out", str(model), "--n-models", "2", "--epochs", "2", "--pretrained", "none",
            "--device", "cpu", "--target-transform", "power"]  # fmt: skip
    assert main(argv) == 0
    assert "10 labelled structures (e_form; 4 without a label)" in capsys.readouterr().err
    out = tmp_path / "pred.csv"
    assert main(["predict", str(folder), "--model", str(model), "-o", str(out)]) == 0
    got = pd.read_csv(out, index_col=0)
    assert list(got.columns) == ["prediction", "std"] and len(got) == len(names)
    loaded = DIMRegressor.from_pretrained(model, device="cpu")
    assert loaded.target_transform == "power" and loaded.n_models == 2
    mean, std = loaded.predict([mp_entries[n]["structure"] for n in names], return_std=True)
    order = [f"{folder}/{n}.cif" for n in names]
    np.testing.assert_allclose(got.loc[order, "prediction"], mean, rtol=1e-6)
    # ~0 on these training crystals: batch order moves it by float rounding only
    np.testing.assert_allclose(got.loc[order, "std"], std, rtol=1e-6, atol=1e-5)
    # a label naming no structure is an error that names it
    pd.DataFrame({"name": ["nope"], "y": [1.0]}).to_csv(tmp_path / "bad.csv", index=False)
    assert main(["fit", str(folder), "--labels", str(tmp_path / "bad.csv"), "--out",
                 str(tmp_path / "m2")]) == 1  # fmt: skip
    assert "no structure for 1 label(s), e.g. ['nope']" in capsys.readouterr().err


def test_fit_one_model_with_a_learned_std(tmp_path, labelled_folder, mp_entries):
    """--learned-std gives one model a std column (non-zero on crystals it was not fitted
    on); --no-site-max reaches the estimator; both refused with --classify where they mean
    nothing."""
    from dimfeaturizer import DIMRegressor

    folder, labels = labelled_folder
    new = tmp_path / "new"
    new.mkdir()
    for name in list(mp_entries)[12:]:
        mp_entries[name]["structure"].to(filename=str(new / f"{name}.cif"))
    model = tmp_path / "model"
    common = ["fit", str(folder), "--labels", str(labels), "--out",
              str(model), "--n-models", "1", "--epochs", "2", "--pretrained", "none",
              "--device", "cpu"]  # fmt: skip
    assert main([*common, "--learned-std", "--no-site-max"]) == 0
    loaded = DIMRegressor.from_pretrained(model, device="cpu")
    assert loaded.learned_std and not loaded.site_max and loaded.n_models == 1
    out = tmp_path / "pred.csv"
    assert main(["predict", str(new), "--model", str(model), "-o", str(out)]) == 0
    got = pd.read_csv(out, index_col=0)
    assert list(got.columns) == ["prediction", "std"] and len(got) == 2
    assert (got["std"] > 0).all()
    with pytest.raises(SystemExit, match="--learned-std is for regression"):
        main([*common, "--classify", "--learned-std"])
    with pytest.raises(SystemExit, match="none stands alone"):
        main([*common, "--pretrained", "sitenet-dim-mp25k-wide-2026.11"])


def test_fit_starts_members_from_each_pretrained_in_turn(tmp_path, labelled_folder):
    """--pretrained repeated: the members start from each in turn, and the inputs stay
    positional wherever the flags stand."""
    from dimfeaturizer import DIMRegressor, SiteNetConfig

    folder, labels = labelled_folder
    DIMEncoder(pretrained=None, random_state=0).fit().save_pretrained(tmp_path / "a")
    DIMEncoder(pretrained=None, config=SiteNetConfig(distance_basis=8),
               random_state=1).fit().save_pretrained(tmp_path / "b")  # fmt: skip
    model = tmp_path / "model"
    assert main(["fit", "--pretrained", str(tmp_path / "a"), "--pretrained", str(tmp_path / "b"),
                 str(folder), "--labels", str(labels), "--out", str(model),
                 "--n-models", "3", "--epochs", "1", "--device", "cpu"]) == 0  # fmt: skip
    loaded = DIMRegressor.from_pretrained(model, device="cpu")
    assert [m.encoder.config.distance_basis for m in loaded.models_] == [0, 8, 0]
