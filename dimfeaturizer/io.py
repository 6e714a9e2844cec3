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


def read_structures(
    paths: list[str], errors: dict[str, str] | None = None
) -> pd.Series:
    """Structures from files: pymatgen's own JSON (``Structure.to("x.json")``), a JSON
    mapping name -> structure dict (or {"structure": ...}), a matminer dataframe JSON with
    a ``structure`` column, or any file pymatgen reads (CIF, POSCAR, ...); a directory
    contributes all its files.

    A missing path or an empty folder is an error. A file that cannot be read raises,
    unless ``errors`` is given: then it becomes a ``None`` entry (a NaN row downstream) and
    ``errors[name]`` says why.
    """
    out: dict[str, Structure | None] = {}
    for file in input_files(paths):
            try:
                if file.name.endswith((".json", ".json.gz")):
                    out.update(_read_json(file))
                else:
                    out[str(file)] = Structure.from_file(file)
            except Exception as err:  # noqa: BLE001 - pymatgen raises many kinds
                if errors is None:
                    raise ValueError(f"{file}: cannot read a structure ({err})") from err
                errors[str(file)] = f"cannot read a structure ({err})"
                out[str(file)] = None
    return pd.Series(out, name="structure", dtype=object)


def input_files(paths: list[str]) -> list[Path]:
    """The files the paths name: a file itself, a folder its files (sorted). A missing
    path or an empty folder is an error."""
    files = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise FileNotFoundError(f"{raw}: no such file or folder")
        found = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
        if not found:
            raise FileNotFoundError(f"{raw}: the folder holds no files")
        files += found
    return files


def _read_json(file: Path) -> dict[str, Structure]:
    if file.name.endswith(".gz") or '"columns"' in file.read_text()[:4096]:
        from matminer.utils.io import load_dataframe_from_json

        df = load_dataframe_from_json(str(file), pbar=False)
        return {str(k): v for k, v in df["structure"].items()}
    data = json.loads(file.read_text())
    if isinstance(data, dict) and {"lattice", "sites"} <= set(data):
        return {str(file): Structure.from_dict(data)}  # one structure, as pymatgen writes it
    items = data.items() if isinstance(data, dict) else enumerate(data)
    return {f"{file.name}:{k}": Structure.from_dict(v.get("structure", v)) for k, v in items}
