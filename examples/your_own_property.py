"""Fine-tune on your own labels (a CSV) and plot predictions with error bars.

Your data: a folder of CIF/POSCAR/JSON files and a CSV whose first column names each
file (its name or stem) and whose other column is the property. Runs as is, offline, on
the 40 example crystals that ship with the package (their formation energies written out
as such a CSV; a toy, too few labels for a good model):

    python examples/your_own_property.py
    python examples/your_own_property.py --structures my_cifs/ --labels my_labels.csv \\
        --out parity.png

The model is a deep ensemble (``n_models``): its members' mean is the prediction and their
spread, times how far each crystal lies from the training crystals
(``predict(X, return_std=True)``), the error bar. The same from the command line:
``dimfeaturizer fit my_cifs/ --labels my_labels.csv --out model`` (five members by default) then
``dimfeaturizer predict my_cifs/ --model model -o predictions.csv``.
"""

from __future__ import annotations

import argparse
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.model_selection import train_test_split

from dimfeaturizer import DIMRegressor
from dimfeaturizer.io import example_dataframe, read_structures


def example_files(folder: Path) -> tuple[Path, Path]:
    """The bundled examples as a user's data: one CIF per crystal and a labels CSV."""
    df = example_dataframe()
    (folder / "cifs").mkdir(parents=True, exist_ok=True)
    for name, row in df.iterrows():
        row["structure"].to(filename=str(folder / "cifs" / f"{name}.cif"))
    df[["e_form"]].rename_axis("name").to_csv(folder / "labels.csv")
    return folder / "cifs", folder / "labels.csv"


def main(argv: list[str] | None = None) -> None:
    warnings.filterwarnings("ignore")
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--structures", help="folder of structure files (default: the examples)")
    p.add_argument("--labels", help="CSV: file name or stem, then the property")
    p.add_argument("--n-models", type=int, default=5)
    p.add_argument("--epochs", type=int, default=None, help="default: DIMRegressor's")
    p.add_argument("--out", default="parity.png")
    args = p.parse_args(argv)
    tmp = tempfile.TemporaryDirectory()
    if args.structures is None:
        args.structures, args.labels = example_files(Path(tmp.name))
    structures = read_structures([str(args.structures)])
    structures.index = [Path(name).stem for name in structures.index]
    labels = pd.read_csv(args.labels, index_col=0).iloc[:, 0]
    labels.index = labels.index.map(lambda name: Path(str(name)).stem)
    X, y = structures.loc[labels.index], labels.to_numpy(float)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)

    extra = {} if args.epochs is None else {"epochs": args.epochs}
    model = DIMRegressor(n_models=args.n_models, random_state=0, **extra)
    model.fit(X_train, y_train)
    mean, std = model.predict(X_test, return_std=True)
    error = np.abs(mean - y_test)
    print(f"{len(y_train)} training labels, {len(y_test)} held out: MAE {error.mean():.3f}; "
          f"errors within 1 std: {np.mean(error <= std):.0%}, 2 std: "
          f"{np.mean(error <= 2 * std):.0%}; Spearman(|error|, std) "
          f"{spearmanr(error, std).statistic:.2f}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.errorbar(y_test, mean, yerr=std, fmt="o", ms=4, capsize=2, label="mean ± std")
    lo, hi = min(y_test.min(), mean.min()), max(y_test.max(), mean.max())
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.set(xlabel=f"measured {labels.name}", ylabel=f"predicted {labels.name}",
           title=f"ensemble of {args.n_models}, {len(y_train)} labels")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
