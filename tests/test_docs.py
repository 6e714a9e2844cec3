"""The documentation: the Sphinx site builds with warnings as errors (a broken docstring
or link fails), the guides' code runs as written, the learning-curve example draws its
picture, and the README's links resolve."""

from __future__ import annotations

import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def test_sphinx_builds_without_warnings(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_parser")
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         str(DOCS), str(tmp_path / "html")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    api = (tmp_path / "html" / "api.html").read_text()
    for name in ("DIMEncoder", "DIMRegressor", "DIMClassifier", "DeepInfoMaxFeaturizer",
                 "CompositionFeatures", "VectorScaler", "StructureError", "load_pretrained"):
        assert f'id="dimfeaturizer.{name}' in api or f"dimfeaturizer.hub.{name}" in api, name
    # the numpydoc sections became real parameter lists
    assert "freeze_encoder" in api and "validation_fraction" in api


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.DOTALL)


@pytest.mark.parametrize("page",
                         ["getting-started.md", "fine-tuning.md", "your-own-property.md"])
def test_guide_code_runs_as_written(page, capsys):
    blocks = python_blocks(DOCS / page)
    assert len(blocks) >= (1 if page == "your-own-property.md" else 3)
    namespace: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for block in blocks:
            exec(compile(block, f"{page} block", "exec"), namespace)  # noqa: S102
    if page == "getting-started.md":
        out = capsys.readouterr().out
        assert "entry 1" in out  # the bad-input block printed the error naming the entry
        assert namespace["featurized"].filter(like="dim_").shape == (40, 128)
        assert len(namespace["controls"]) == 5
    elif page == "your-own-property.md":
        assert namespace["mean"].shape == namespace["std"].shape == (10,)
        assert (namespace["std"] > 0).all()
    else:
        assert namespace["vectors"].shape == (40, 128)
        assert namespace["clf"].predict_proba(namespace["X"][:2]).shape == (2, 2)


def test_learning_curve_example_draws_every_option(tmp_path):
    out, table = tmp_path / "curve.png", tmp_path / "curve.csv"
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "learning_curve.py"), "--sizes", "8", "16",
         "--repeats", "2", "--epochs", "3", "--test-size", "10", "--out", str(out),
         "--table", str(table)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = pd.read_csv(table)
    assert rows["option"].nunique() == 4
    assert sorted(rows["n"].unique()) == [8, 16]
    assert len(rows) == 4 * 2 * 2
    assert np.isfinite(rows["mae"]).all() and (rows["mae"] > 0).all()
    # the printed medians are the table's
    first = rows[rows["option"] == "composition (magpie) + Ridge"]
    assert f"N=16 {first[first.n == 16]['mae'].median():.3f}" in done.stdout


def test_readme_links_resolve_and_point_to_the_docs():
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme)
    local = [link for link in links if not link.startswith(("http://", "https://"))]
    assert local, "the README links to its pages"
    for link in local:
        assert (ROOT / link).exists(), f"README links to missing {link}"
    assert "docs/index.md" in local
    # every guide page is reachable from the site's index
    index = (DOCS / "index.md").read_text()
    for page in ("getting-started", "fine-tuning", "your-own-property", "learning-curve",
                 "pretraining-your-own", "benchmarks", "design", "api"):
        assert page in index


def test_your_own_property_example_plots_error_bars(tmp_path):
    out = tmp_path / "parity.png"
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "your_own_property.py"), "--n-models", "2",
         "--epochs", "3", "--out", str(out)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "30 training labels, 10 held out: MAE" in done.stdout


def test_no_page_keeps_a_placeholder():
    """A line that is one all-capitals token (``MATBENCH_TABLES``) is a placeholder a
    draft left for numbers that were never filled in."""
    pages = [ROOT / "README.md", *DOCS.glob("*.md"), *(ROOT / "benchmarks").glob("*.md")]
    left = [f"{page.name}: {line}" for page in pages for line in page.read_text().splitlines()
            if re.fullmatch(r"[A-Z][A-Z_]{5,}", line.strip())]  # fmt: skip
    assert not left, left
