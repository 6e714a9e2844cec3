"""Per-element site features: a fixed table for Z = 1..103, shipped as CSV.

The table is built once from pymatgen's element data (``build_element_table``) and
committed, so that model weights never silently change meaning when pymatgen updates
its data. Columns (raw units):

``Z``, ``atomic_mass`` (amu), ``row``, ``group``, ``ionization_energy`` (first, eV),
``electronegativity`` (Pauling), ``atomic_radius`` (Å), ``density`` (solid, g/cm³) and
``oxidation_state``: the 9th slot of Site-Net's feature list. The authors' runs left it
at zero; here it is a per-element constant, the mean of pymatgen's common oxidation
states (0 for elements that have none, e.g. noble gases). It is never guessed per
structure.

Gaps are filled deliberately, never by dropping a crystal: a missing value is linearly
interpolated along Z between the nearest elements that have one (the ``filled`` column
lists what was filled). Features given to the model are the columns standardised to zero
mean and unit variance over the 103 elements.
"""

from __future__ import annotations

import csv
import hashlib
import warnings
from functools import lru_cache
from importlib import resources

import numpy as np

MAX_Z = 103
FEATURE_NAMES = (
    "Z",
    "atomic_mass",
    "row",
    "group",
    "ionization_energy",
    "electronegativity",
    "atomic_radius",
    "density",
    "oxidation_state",
)
TABLE_FILE = "element_table.csv"


def build_element_table() -> tuple[np.ndarray, list[str]]:
    """Raw ``(103, 9)`` table from pymatgen plus a note of filled gaps per element."""
    from pymatgen.core import Element

    raw = np.full((MAX_Z, len(FEATURE_NAMES)), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for z in range(1, MAX_Z + 1):
            el = Element.from_Z(z)
            ion = el.ionization_energies
            dens = el.density_of_solid
            ox = el.common_oxidation_states
            raw[z - 1] = [
                z,
                float(el.atomic_mass),
                el.row,
                el.group,
                ion[0] if ion and ion[0] is not None else np.nan,
                el.X,
                float(el.atomic_radius) if el.atomic_radius is not None else np.nan,
                float(dens) / 1000.0 if dens is not None else np.nan,  # kg/m^3 -> g/cm^3
                float(np.mean(ox)) if ox else 0.0,
            ]
    notes = ["" for _ in range(MAX_Z)]
    zs = raw[:, 0]
    for col in range(raw.shape[1]):
        missing = np.isnan(raw[:, col])
        if missing.any():
            raw[missing, col] = np.interp(zs[missing], zs[~missing], raw[~missing, col])
            for i in np.flatnonzero(missing):
                notes[i] = ";".join(filter(None, [notes[i], FEATURE_NAMES[col]]))
    return raw, notes


def write_element_table(path) -> None:
    """Regenerate the shipped CSV (run by ``scripts/build_element_table.py``)."""
    from pymatgen.core import Element

    raw, notes = build_element_table()
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["symbol", *FEATURE_NAMES, "filled"])
        for z in range(1, MAX_Z + 1):
            row = raw[z - 1]
            writer.writerow([Element.from_Z(z).symbol, *(f"{v:.6g}" for v in row), notes[z - 1]])


def _table_text() -> str:
    return resources.files("dimfeaturizer.data").joinpath(TABLE_FILE).read_text()


@lru_cache(maxsize=1)
def table_sha256() -> str:
    """SHA-256 of the shipped table's text (line endings normalised)."""
    return hashlib.sha256("\n".join(_table_text().splitlines()).encode()).hexdigest()


@lru_cache(maxsize=1)
def raw_element_table() -> np.ndarray:
    """The shipped raw table, ``(103, 9)`` float64, row ``Z - 1``."""
    rows = list(csv.DictReader(_table_text().splitlines()))
    return np.array([[float(r[name]) for name in FEATURE_NAMES] for r in rows])


@lru_cache(maxsize=1)
def element_features() -> np.ndarray:
    """Standardised features, ``(MAX_Z + 1, 9)`` float32; row 0 is zeros (padding)."""
    raw = raw_element_table()
    scaled = (raw - raw.mean(axis=0)) / raw.std(axis=0)
    return np.vstack([np.zeros((1, raw.shape[1])), scaled]).astype(np.float32)
