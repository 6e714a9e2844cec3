"""A learning curve: test MAE against the number of labels, for each way of using the
package, to decide which one suits the labels you have.

Runs as is, offline, on the 40 example crystals that ship with the package (a toy: too
few for the curve to mean much). Give it your own matminer-format dataframe for a real
answer:

    python examples/learning_curve.py
    python examples/learning_curve.py --data my_data.json.gz --target my_property \\
        --sizes 50 100 250 --test-size 1000 --out curve.png

Every option is an ordinary scikit-learn estimator and the curve is scikit-learn's own
``learning_curve``: each repeat shuffles the data, keeps ``--test-size`` crystals aside
and trains on the first N of the rest.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import ShuffleSplit, learning_curve
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from dimfeaturizer import CompositionFeatures, DIMEncoder, DIMRegressor, VectorScaler
from dimfeaturizer.io import example_dataframe


def composition_steps() -> list:
    """Magpie features, standardised per column and clipped: sparse columns are almost
    always zero, and a test row standardised by their tiny spread would explode."""
    return [
        ("magpie", CompositionFeatures()),
        ("impute", SimpleImputer()),
        ("scale", StandardScaler()),
        ("clip", FunctionTransformer(np.clip, kw_args={"a_min": -5.0, "a_max": 5.0})),
    ]


def options(epochs: int | None, seed: int) -> dict:
    """The four ways to go from structures to a property, by name. Each representation is
    scaled the way it needs: composition per column, the pretrained vector as a whole
    (``VectorScaler``; per-column scaling blows up its many small dimensions). Fine-tuning
    uses ``DIMRegressor``'s defaults, with ``epochs`` (the cosine schedule's length) only
    where given."""
    tuning = {} if epochs is None else {"epochs": epochs}
    ridge = RidgeCV(alphas=np.logspace(-3, 3, 13))
    structure = Pipeline([("dim", DIMEncoder()), ("scale", VectorScaler())])
    return {
        "composition (magpie) + Ridge": Pipeline([*composition_steps(), ("ridge", ridge)]),
        "pretrained vector + Ridge": Pipeline([*structure.steps, ("ridge", ridge)]),
        "composition + pretrained vector + Ridge": Pipeline([
            ("features", FeatureUnion([
                ("composition", Pipeline(composition_steps())),
                ("structure", structure),
            ])),
            ("ridge", ridge),
        ]),
        "fine-tuned (DIMRegressor)": DIMRegressor(random_state=seed, **tuning),
    }


def curves(X, y, sizes, test_size: int, repeats: int, epochs: int | None,
           seed: int) -> pd.DataFrame:
    """One row per option, N and repeat: the test MAE."""
    split = ShuffleSplit(n_splits=repeats, test_size=test_size, random_state=seed)
    rows = []
    for name, model in options(epochs, seed).items():
        sizes_done, _, test_scores = learning_curve(
            model, X, y, train_sizes=sizes, cv=split, scoring="neg_mean_absolute_error",
            shuffle=False,
        )
        for n, scores in zip(sizes_done, test_scores):
            rows += [{"option": name, "n": int(n), "repeat": r, "mae": -float(s)}
                     for r, s in enumerate(scores)]
        print(f"{name}: " + ", ".join(
            f"N={n} {-np.median(s):.3f}" for n, s in zip(sizes_done, test_scores)))
    return pd.DataFrame(rows)


def plot(table: pd.DataFrame, path: str, target: str, caption: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for name, rows in table.groupby("option", sort=False):
        stats = rows.groupby("n")["mae"].describe(percentiles=[0.25, 0.5, 0.75])
        ax.plot(stats.index, stats["50%"], marker="o", label=name)
        ax.fill_between(stats.index, stats["25%"], stats["75%"], alpha=0.2)
    ax.set_xscale("log")
    ax.set_xticks(sorted(table["n"].unique()), [str(n) for n in sorted(table["n"].unique())])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("labelled training structures N")
    ax.set_ylabel(f"test MAE ({target}), median and IQR")
    ax.legend(fontsize=8)
    ax.set_title(caption, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=None,
                   help="matminer-format dataframe JSON (default: the 40 bundled crystals)")
    p.add_argument("--structure-column", default="structure")
    p.add_argument("--target", default="e_form")
    p.add_argument("--sizes", nargs="+", type=int, default=[10, 20, 30])
    p.add_argument("--test-size", type=int, default=10)
    p.add_argument("--max-rows", type=int, default=None,
                   help="use the first K rows of the dataframe only")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--epochs", type=int, default=None,
                   help="fine-tuning epochs, the length of the cosine schedule "
                        "(default: DIMRegressor's own)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="learning_curve.png")
    p.add_argument("--table", default=None, help="also write every MAE to this CSV")
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore", module="pymatgen")
    if args.data is None:
        df = example_dataframe()
    else:
        from matminer.utils.io import load_dataframe_from_json

        df = load_dataframe_from_json(args.data, pbar=False)
    df = df.iloc[: args.max_rows]
    X = list(df[args.structure_column])
    y = df[args.target].to_numpy(dtype=float)
    table = curves(X, y, args.sizes, args.test_size, args.repeats, args.epochs, args.seed)
    tuning = "default epochs" if args.epochs is None else f"{args.epochs} epochs"
    caption = (f"{len(df)} crystals, {args.test_size} held out per repeat, "
               f"{args.repeats} repeats, fine-tuning with {tuning}")
    plot(table, args.out, args.target, caption)
    if args.table:
        table.to_csv(args.table, index=False)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
