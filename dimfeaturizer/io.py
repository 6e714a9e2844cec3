"""Reading structures for the command line: bundled examples, JSON, CIF/POSCAR files."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pandas as pd
from pymatgen.core import Structure

EXAMPLES = "mp_examples.json"


def example_dataframe() -> pd.DataFrame:
    """40 real Materials Project crystals shipped with the package: ``structure``,
    ``formula``, ``e_form`` (eV/atom) and ``gap`` (eV), MP ids as index (CC BY 4.0,
    Jain et al., APL Materials 1, 011002, 2013). From the benchmark's train pool."""
    text = resources.files("dimfeaturizer.examples").joinpath(EXAMPLES).read_text()
    df = pd.DataFrame.from_dict(json.loads(text), orient="index")
    df["structure"] = [Structure.from_dict(d) for d in df["structure"]]
    return df[["structure", "formula", "e_form", "gap"]]


def example_structures() -> pd.Series:
    """The structures of ``example_dataframe``."""
    return example_dataframe()["structure"]


def read_structures(paths: list[str]) -> pd.Series:
    """Structures from files: a JSON mapping name -> structure dict (or {"structure": ...}),
    a matminer dataframe JSON with a ``structure`` column, or any file pymatgen reads
    (CIF, POSCAR, ...); a directory contributes all its files."""
    out: dict[str, Structure] = {}
    for raw in paths:
        path = Path(raw)
        files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if file.name.endswith((".json", ".json.gz")):
                out.update(_read_json(file))
            else:
                out[str(file)] = Structure.from_file(file)
    return pd.Series(out, name="structure", dtype=object)


def _read_json(file: Path) -> dict[str, Structure]:
    if file.name.endswith(".gz") or '"columns"' in file.read_text()[:4096]:
        from matminer.utils.io import load_dataframe_from_json

        df = load_dataframe_from_json(str(file), pbar=False)
        return {str(k): v for k, v in df["structure"].items()}
    data = json.loads(file.read_text())
    items = data.items() if isinstance(data, dict) else enumerate(data)
    return {f"{file.name}:{k}": Structure.from_dict(v.get("structure", v)) for k, v in items}
