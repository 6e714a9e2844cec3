"""The representation-learning benchmark (``PROTOCOL.md``) as plain sklearn Pipelines.

Each model is ``Pipeline([featuriser, imputer, variance filter, scaler, clip, head])``;
the featuriser step is cached on disk so each structure is featurised once per
featuriser. Reproduce the committed results with:

    python -m dimfeaturizer.benchmarks.representation \\
        --data ../shared/data/mp_eform_gap.json.gz --target e_form gap \\
        --out docs/benchmarks --cache-dir .cache/features

or on a matminer dataset the machine can download:
``--dataset matbench_mp_e_form --target e_form``. ``--scaling vector`` swaps the
protocol's per-column StandardScaler for one scale per vector (a diagnostic, not the
protocol: see ``VectorScaler``).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
import warnings
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.feature_selection import VarianceThreshold
from sklearn.impute import SimpleImputer
from sklearn.linear_model import RidgeCV
from sklearn.metrics import mean_absolute_error
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from ..estimators import VectorScaler
from .adapters import MatminerTransformer
from .cache import CachedFeaturizer
from .protocol import REPEATS, SIZES, filter_frame, make_splits

DEFAULT_DATA = "../shared/data/mp_eform_gap.json.gz"
FEATURISERS = ("dim", "dim_untrained", "ofm", "xrd", "magpie")
HEADS = ("ridge", "mlp")
SCALINGS = ("column", "vector")  # the protocol's is "column"
# "dim_untrained" is one random initialisation (random_state=0); "dim_untrained_rs<k>" are
# others, because random Site-Net features vary a lot between initialisations
UNTRAINED_PREFIX = "dim_untrained_rs"


def featuriser(name: str, pretrained: str | None = None):
    """A fresh, unfitted featuriser step by benchmark name."""
    from ..estimators import DIMEncoder
    from ..hub import DEFAULT_PRETRAINED

    if name == "dim":
        return DIMEncoder(pretrained=pretrained or DEFAULT_PRETRAINED)
    seed = None
    if name == "dim_untrained":
        seed = 0
    elif name.startswith(UNTRAINED_PREFIX) and name[len(UNTRAINED_PREFIX) :].isdigit():
        seed = int(name[len(UNTRAINED_PREFIX) :])
    if seed is not None:
        # the control is the architecture of the weights under test, with random weights
        return DIMEncoder(
            pretrained=None, config=pretrained or DEFAULT_PRETRAINED, random_state=seed
        )
    from matminer.featurizers.composition import ElementProperty
    from matminer.featurizers.structure import OrbitalFieldMatrix, XRDPowderPattern

    if name == "ofm":
        return MatminerTransformer(OrbitalFieldMatrix, {"period_tag": False, "flatten": True})
    if name == "xrd":
        return MatminerTransformer(XRDPowderPattern, {})
    if name == "magpie":
        return MatminerTransformer(ElementProperty, preset="magpie", on="composition")
    raise ValueError(
        f"unknown featuriser {name!r}; choose from {FEATURISERS} or {UNTRAINED_PREFIX}<seed>"
    )


def head_steps(head: str, repeat: int, scaling: str = "column") -> list[tuple[str, object]]:
    """The protocol's downstream model after the featuriser (``scaling="vector"``: one
    scale for the whole vector instead of the protocol's per-column one)."""
    clip = FunctionTransformer(np.clip, kw_args={"a_min": -5.0, "a_max": 5.0})
    if head == "ridge":
        model = RidgeCV(alphas=np.logspace(-3, 3, 13))
    elif head == "mlp":
        model = MLPRegressor(hidden_layer_sizes=(64,), max_iter=2000, random_state=repeat)
    else:
        raise ValueError(f"unknown head {head!r}; choose from {HEADS}")
    if scaling not in SCALINGS:
        raise ValueError(f"unknown scaling {scaling!r}; choose from {SCALINGS}")
    return [
        ("impute", SimpleImputer()),
        ("variance", VarianceThreshold()),
        ("scale", StandardScaler() if scaling == "column" else VectorScaler()),
        ("clip", clip),
        (head, model),
    ]


def make_pipeline(
    step, head: str, repeat: int, cache_dir, n_jobs: int = 1, scaling: str = "column"
) -> Pipeline:
    cached = CachedFeaturizer(step, cache_dir, n_jobs=n_jobs)
    return Pipeline([("features", cached), *head_steps(head, repeat, scaling)])


def load_data(data: str | None, dataset: str | None) -> pd.DataFrame:
    if dataset is not None:
        from matminer.datasets import load_dataset

        return load_dataset(dataset)
    from matminer.utils.io import load_dataframe_from_json

    return load_dataframe_from_json(data, pbar=False)


def _fit_score(pipe_args, pool, y_pool, subsets, test, y_test) -> list[float]:
    """Test MAE of one head fitted on each labelled subset (positions into ``pool``;
    subset r is repeat r, which seeds the MLP head).

    One job scores every repeat of a (head, N): the structures are sent to a worker once
    per job rather than once per fit.
    """
    step, head, cache_dir, scaling = pipe_args
    maes = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for repeat, subset in enumerate(subsets):
            pipe = make_pipeline(step, head, repeat, cache_dir, scaling=scaling)
            pipe.fit([pool[i] for i in subset], y_pool[subset])
            maes.append(float(mean_absolute_error(y_test, pipe.predict(test))))
    return maes


def run(
    df: pd.DataFrame,
    targets,
    featurisers,
    heads,
    sizes,
    repeats,
    cache_dir,
    n_jobs,
    pretrained=None,
    test_size=None,
    featurise_only=False,
    scaling="column",
) -> tuple[list[dict], dict]:
    df = filter_frame(df)
    splits = make_splits(len(df))
    test = splits.test if test_size is None else splits.test[:test_size]
    structures = list(df["structure"])
    needed = np.unique(np.concatenate([splits.label_pool, test]))
    records, featurise_seconds = [], {}
    # what every (featuriser, target) job needs, built once: the label pool, the test set,
    # and each N's labelled subsets as positions into the pool (repeat r = subset r)
    position = {p: i for i, p in enumerate(splits.label_pool)}
    pool = [structures[i] for i in splits.label_pool]
    test_structures = [structures[i] for i in test]
    subsets = {
        n: [[position[i] for i in splits.labelled(n, r)] for r in range(repeats)]
        for n in ([] if featurise_only else sizes)  # featurising needs no labelled subsets
    }
    jobs = [(head, n) for head in heads for n in sizes]
    for name in featurisers:
        step = featuriser(name, pretrained)
        t0 = time.perf_counter()  # featurise every needed structure once (cached)
        CachedFeaturizer(step, cache_dir, n_jobs=n_jobs, progress=True).fit().transform(
            [structures[i] for i in needed]
        )
        featurise_seconds[name] = time.perf_counter() - t0
        if featurise_only:
            continue
        for target in targets:
            y = df[target].to_numpy(dtype=float)
            maes = joblib.Parallel(n_jobs=n_jobs)(
                joblib.delayed(_fit_score)(
                    (step, head, cache_dir, scaling),
                    pool,
                    y[splits.label_pool],
                    subsets[n],
                    test_structures,
                    y[test],
                )
                for head, n in jobs
            )
            records += [
                {
                    "featuriser": name,
                    "head": head,
                    "target": target,
                    "n": n,
                    "repeat": r,
                    "mae": mae,
                }
                for (head, n), job_maes in zip(jobs, maes)
                for r, mae in enumerate(job_maes)
            ]
            print(f"{name} {target}: done", file=sys.stderr, flush=True)
    return records, featurise_seconds


def summary_table(records: list[dict]) -> str:
    df = pd.DataFrame(records)
    lines = []
    for (target, head), part in df.groupby(["target", "head"], sort=False):
        sizes = sorted(part["n"].unique())
        lines += [
            f"\n### {target}, {head} (test MAE: median [IQR] over "
            f"{part['repeat'].nunique()} repeats)\n",
            "| featuriser | " + " | ".join(f"N={n}" for n in sizes) + " |",
            "|---|" + "---|" * len(sizes),
        ]
        for name, rows in part.groupby("featuriser", sort=False):
            cells = []
            for n in sizes:
                m = rows.loc[rows["n"] == n, "mae"]
                q1, med, q3 = np.percentile(m, [25, 50, 75])
                cells.append(f"{med:.3f} [{q1:.3f}–{q3:.3f}]")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def timing(structures: list, featurisers, pretrained, n_sample: int) -> list[dict]:
    """Per-structure cost of each featuriser on the same structures, single process."""
    from .speed import time_matminer, time_transform

    rows = []
    for name in featurisers:
        if name.startswith("dim"):
            t = time_transform(structures, pretrained if name == "dim" else None, "cpu")
            rows.append(
                {
                    "featuriser": name,
                    "ms_per_structure": t["ms_per_structure"],
                    "structures_per_s": t["structures_per_s"],
                    "n": t["n"],
                    "how": "batched transform, all preprocessing included",
                }
            )
        else:
            step = featuriser(name).fit()
            sample = structures[:n_sample]
            if name == "magpie":
                sample = [s.composition for s in sample]
            t = time_matminer(step.featurizer_, sample)
            rows.append(
                {
                    "featuriser": name,
                    "ms_per_structure": t["median_ms"],
                    "structures_per_s": t["structures_per_s"],
                    "n": t["n"],
                    "how": "median of per-structure featurize()",
                }
            )
    dim = next((r["ms_per_structure"] for r in rows if r["featuriser"] == "dim"), None)
    for r in rows:
        r["times_dim"] = None if dim is None else r["ms_per_structure"] / dim
    return rows


def timing_table(rows: list[dict]) -> str:
    lines = [
        "| featuriser | ms / structure | structures / s | x DIM time | how |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = "" if r["times_dim"] is None else f"{r['times_dim']:.1f}"
        lines.append(
            f"| {r['featuriser']} | {r['ms_per_structure']:.2f} | "
            f"{r['structures_per_s']:.0f} | {ratio} | {r['how']} (n={r['n']}) |"
        )
    return "\n".join(lines) + "\n"


def box_plots(records: list[dict], path: Path, head: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = pd.DataFrame(records)
    df = df[df["head"] == head]
    targets = list(dict.fromkeys(df["target"]))
    names = list(dict.fromkeys(df["featuriser"]))
    sizes = sorted(df["n"].unique())
    fig, axes = plt.subplots(1, len(targets), figsize=(6 * len(targets), 4.5), squeeze=False)
    colours = plt.get_cmap("tab10").colors
    width = 0.8 / len(names)
    for ax, target in zip(axes[0], targets):
        for k, name in enumerate(names):
            data = [
                df[(df.target == target) & (df.featuriser == name) & (df.n == n)]["mae"]
                for n in sizes
            ]
            pos = np.arange(len(sizes)) + (k - (len(names) - 1) / 2) * width
            bp = ax.boxplot(
                data, positions=pos, widths=width * 0.9, patch_artist=True, showfliers=False
            )
            for box in bp["boxes"]:
                box.set_facecolor(colours[k % 10])
            ax.plot([], [], color=colours[k % 10], lw=8, label=name)
        ax.set_xticks(np.arange(len(sizes)), [str(n) for n in sizes])
        ax.set_xlabel("labelled training structures N")
        ax.set_ylabel(f"test MAE ({target})")
        ax.set_title(f"{target}, {head} head")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    warnings.simplefilter("ignore")
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--data", default=DEFAULT_DATA, help="matminer-format dataframe JSON")
    src.add_argument("--dataset", default=None, help="a matminer dataset name (downloads)")
    p.add_argument("--target", nargs="+", default=["e_form", "gap"])
    p.add_argument("--featurisers", nargs="+", default=list(FEATURISERS))
    p.add_argument("--heads", nargs="+", default=list(HEADS))
    p.add_argument("--sizes", nargs="+", type=int, default=list(SIZES))
    p.add_argument("--repeats", type=int, default=REPEATS)
    p.add_argument("--test-size", type=int, default=None, help="debug: first K test crystals")
    p.add_argument("--pretrained", default=None, help="weights for 'dim' (default: bundled)")
    p.add_argument("--cache-dir", default=".cache/features")
    p.add_argument("--n-jobs", type=int, default=2)
    p.add_argument("--timing-sample", type=int, default=100)
    p.add_argument("--out", default="docs/benchmarks")
    p.add_argument("--featurise-only", action="store_true", help="fill the cache and stop")
    p.add_argument(
        "--scaling",
        choices=SCALINGS,
        default="column",
        help="column: the protocol's StandardScaler; vector: one scale for the whole "
        "vector (VectorScaler; a diagnostic, not the protocol)",
    )
    args = p.parse_args(argv)
    command = "python -m dimfeaturizer.benchmarks.representation " + shlex.join(
        argv if argv is not None else sys.argv[1:]
    )
    df = load_data(args.data if args.dataset is None else None, args.dataset)
    records, featurise_seconds = run(
        df,
        args.target,
        args.featurisers,
        args.heads,
        args.sizes,
        args.repeats,
        args.cache_dir,
        args.n_jobs,
        args.pretrained,
        args.test_size,
        args.featurise_only,
        args.scaling,
    )
    if args.featurise_only:
        print(json.dumps(featurise_seconds))
        return 0
    test = make_splits(len(filter_frame(df))).test
    sample = list(filter_frame(df)["structure"].iloc[test[:2000]])
    times = timing(sample, args.featurisers, args.pretrained, args.timing_sample)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(
        json.dumps(
            {
                "command": command,
                "scaling": args.scaling,
                "records": records,
                "timing": times,
                "featurise_seconds_with_cache": featurise_seconds,
            },
            indent=1,
        )
        + "\n"
    )
    scaled = (
        ""
        if args.scaling == "column"
        else "\n**Not the protocol:** every featuriser's columns are scaled by one number per "
        "vector (`VectorScaler`), not standardised one by one.\n"
    )
    md = (
        f"# Representation benchmark\n\nCommand:\n\n```\n{command}\n```\n"
        + scaled
        + summary_table(records)
        + "\n## Featurisation time\n\n"
        + timing_table(times)
    )
    (out / "summary.md").write_text(md)
    for head in args.heads:
        box_plots(records, out / f"boxplots_{head}.png", head)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
