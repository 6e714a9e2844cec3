"""Regenerate dimfeaturizer/data/element_table.csv from pymatgen's element data."""

from pathlib import Path

from dimfeaturizer.data.elements import TABLE_FILE, write_element_table

if __name__ == "__main__":
    out = Path(__file__).resolve().parents[1] / "dimfeaturizer" / "data" / TABLE_FILE
    write_element_table(out)
    print(f"wrote {out}")
