"""The representation-learning benchmark (``PROTOCOL.md``, version 2) as plain sklearn
Pipelines.

Each model is ``Pipeline([featuriser, GridSearchCV(Pipeline([imputer, variance filter,
scaler, clip, head]))])``: the scaler (``StandardScaler`` or ``VectorScaler``) is chosen by
cross-validation on the labelled subset alone, the same grid for every featuriser, and the
fixed-``StandardScaler`` score (protocol version 1) is recorded beside it. The featuriser
step is cached on disk, so each structure is featurised once per featuriser; a name with
``+`` (``magpie+dim``) is a ``FeatureUnion`` of its parts. Finished (featuriser, target,
head, N) jobs are appended to ``records.jsonl`` in ``--out``: rerunning the same command
resumes. Reproduce the committed results with:

    python -m benchmarks.representation \\
        --data ../shared/data/mp_eform_gap.json.gz --target e_form gap \\
        --out benchmarks/results --cache-dir .cache/features

or on a matminer dataset the machine can download:
``--dataset matbench_mp_e_form --target e_form``. ``--scaling column`` or ``vector`` fixes
the scaler instead of selecting it (version 1 of the protocol, and a diagnostic).
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
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from dimfeaturizer.estimators import VectorScaler

from .adapters import MatminerTransformer
from .cache import CachedFeaturizer
from .protocol import REPEATS, SIZES, filter_frame, make_splits
from .records import append_records, read_records

DEFAULT_DATA = "../shared/data/mp_eform_gap.json.gz"
UNTRAINED_PREFIX = "dim_untrained_rs"
DRAWS = ("dim_untrained", *(f"{UNTRAINED_PREFIX}{k}" for k in range(1, 5)))  # random_state 0-4
# the protocol's rows (version 2): the control as five draws, composition + structure
FEATURISERS = ("dim", *DRAWS, "ofm", "xrd", "magpie", "magpie+dim",
               *(f"magpie+{d}" for d in DRAWS))
OPTIONAL = ("chgnet", "chgnet_energy")  # need the ``bench`` extra
HEADS = ("ridge", "mlp")
SCALINGS = ("selected", "column", "vector")  # "selected" is protocol version 2
# "dim_untrained" is one random initialisation (random_state=0); "dim_untrained_rs<k>" are
# others: random Site-Net features vary a lot between initialisations, so the control is
# the distribution of several draws
CV_FOLDS = {"ridge": 5, "mlp": 3}  # the protocol allows 3 for the MLP; 5 costs 5/3 as much


def featuriser(name: str, pretrained: str | None = None):
    """A fresh, unfitted featuriser step by benchmark name (one part, no ``+``)."""
    from dimfeaturizer.estimators import DIMEncoder
    from dimfeaturizer.hub import DEFAULT_PRETRAINED

    if name == "dim":
        return DIMEncoder(pretrained=pretrained or DEFAULT_PRETRAINED)
    seed = untrained_seed(name)
    if seed is not None:
        # the control is the architecture of the weights under test, with random weights
        return DIMEncoder(
            pretrained=None, config=pretrained or DEFAULT_PRETRAINED, random_state=seed
        )
    from matminer.featurizers.composition import ElementProperty
    from matminer.featurizers.structure import (
        DensityFeatures,
        OrbitalFieldMatrix,
        XRDPowderPattern,
    )

    if name == "ofm":
        return MatminerTransformer(OrbitalFieldMatrix, {"period_tag": False, "flatten": True})
    if name == "xrd":
        return MatminerTransformer(XRDPowderPattern, {})
    if name == "density":  # density, volume per atom, packing fraction: geometry, no graph
        return MatminerTransformer(DensityFeatures, {})
    if name == "magpie":
        return MatminerTransformer(ElementProperty, preset="magpie", on="composition")
    if name == "typicality":  # counted over the structures it is fitted on, no labels
        from .typicality import EnvironmentTypicality

        return EnvironmentTypicality()
    if name == "chgnet":
        from .adapters import CHGNetFeatures

        return CHGNetFeatures()
    if name == "chgnet_energy":  # a supervised reference for the polymorph yardstick
        from .adapters import CHGNetEnergy

        return CHGNetEnergy()
    raise ValueError(
        f"unknown featuriser {name!r}; choose from dim, dim_untrained, "
        f"{UNTRAINED_PREFIX}<seed>, ofm, xrd, density, typicality, magpie, "
        f"{', '.join(OPTIONAL)}, "
        "or parts joined by '+'"
    )


def untrained_seed(name: str) -> int | None:
    """The control draw a name stands for (``dim_untrained`` is draw 0), else None."""
    if name == "dim_untrained":
        return 0
    if name.startswith(UNTRAINED_PREFIX) and name[len(UNTRAINED_PREFIX) :].isdigit():
        return int(name[len(UNTRAINED_PREFIX) :])
    return None


def features(name: str, pretrained: str | None, cache_dir, n_jobs: int = 1, progress=False):
    """The cached featuriser step of a benchmark name; ``a+b`` is a ``FeatureUnion``."""
    parts = [
        (part, CachedFeaturizer(featuriser(part, pretrained), cache_dir, n_jobs=n_jobs,
                                progress=progress))
        for part in name.split("+")
    ]  # fmt: skip
    return parts[0][1] if len(parts) == 1 else FeatureUnion(parts)


def head_steps(head: str, repeat: int, scaling: str = "column") -> list[tuple[str, object]]:
    """The protocol's downstream model after the featuriser, with a fixed scaler
    (``column``: per-column ``StandardScaler``; ``vector``: one scale for the whole
    vector). ``selected`` starts from ``StandardScaler``; ``head`` searches the scaler."""
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
        ("scale", VectorScaler() if scaling == "vector" else StandardScaler()),
        ("clip", clip),
        (head, model),
    ]


def head_model(head: str, repeat: int, scaling: str = "selected"):
    """The head after the featuriser: with ``selected`` (protocol version 2), a
    ``GridSearchCV`` choosing the scaler by cross-validated MAE on the labelled subset."""
    pipe = Pipeline(head_steps(head, repeat, scaling))
    if scaling != "selected":
        return pipe
    return GridSearchCV(
        pipe,
        {"scale": [StandardScaler(), VectorScaler()]},
        cv=KFold(CV_FOLDS[head], shuffle=True, random_state=repeat),
        scoring="neg_mean_absolute_error",
    )


def make_pipeline(
    step, head: str, repeat: int, cache_dir, n_jobs: int = 1, scaling: str = "column"
) -> Pipeline:
    """``step`` (cached on disk unless it already is) followed by the protocol's head."""
    if not isinstance(step, (CachedFeaturizer, FeatureUnion)):
        step = CachedFeaturizer(step, cache_dir, n_jobs=n_jobs)
    model = head_model(head, repeat, scaling)
    if isinstance(model, Pipeline):
        return Pipeline([("features", step), *model.steps])
    return Pipeline([("features", step), ("head", model)])


def load_data(data: str | None, dataset: str | None) -> pd.DataFrame:
    if dataset is not None:
        from matminer.datasets import load_dataset

        return load_dataset(dataset)
    from matminer.utils.io import load_dataframe_from_json

    return load_dataframe_from_json(data, pbar=False)


def _fit_score(job: dict, pretrained, cache_dir, pool, y_pool, subsets, test, y_test) -> list:
    """Records of one head fitted on each labelled subset (positions into ``pool``;
    subset r is repeat r, which seeds the MLP head and the CV folds).

    One job scores every repeat of a (featuriser, target, head, N): the structures are
    sent to a worker once per job rather than once per fit. With selected scaling the
    fixed-``StandardScaler`` pipeline's score is recorded too (``mae_column``), fitted
    again only when the search chose the other scaler.
    """
    name, head, scaling = job["featuriser"], job["head"], job["scaling"]
    step = features(name, pretrained, cache_dir)
    records = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for repeat, subset in enumerate(subsets):
            x, y = [pool[i] for i in subset], y_pool[subset]
            pipe = make_pipeline(step, head, repeat, cache_dir, scaling=scaling).fit(x, y)
            record = {**job, "repeat": repeat,
                      "mae": float(mean_absolute_error(y_test, pipe.predict(test)))}
            if scaling == "selected":
                chosen = pipe.named_steps["head"].best_params_["scale"]
                record["scale"] = "column" if isinstance(chosen, StandardScaler) else "vector"
                if record["scale"] == "column":
                    record["mae_column"] = record["mae"]
                else:
                    fixed = make_pipeline(step, head, repeat, cache_dir, scaling="column")
                    fixed.fit(x, y)
                    record["mae_column"] = float(mean_absolute_error(y_test, fixed.predict(test)))
            records.append(record)
    return records


def _numbered_fit_score(i: int, *args) -> tuple[int, list]:
    """``_fit_score`` tagged with its job's position, for results that arrive unordered."""
    return i, _fit_score(*args)


def _key(record: dict) -> tuple:
    """The job a record belongs to: featuriser, target, head, N, scaling, and what else
    changes its numbers (the weights under test, a shortened test set)."""
    return (record["featuriser"], record["target"], record["head"], record["n"],
            record["scaling"], record.get("pretrained"), record.get("test_size"))


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
    scaling="selected",
    records_path=None,
) -> tuple[list[dict], dict]:
    """Every record of the run; with ``records_path`` (a JSON-lines file), jobs already
    there are read instead of fitted and each finished job is appended."""
    df = filter_frame(df)
    splits = make_splits(len(df))
    test = splits.test if test_size is None else splits.test[:test_size]
    structures = list(df["structure"])
    needed = np.unique(np.concatenate([splits.label_pool, test]))
    done: dict[tuple, dict[int, dict]] = {}  # job -> repeat -> record (the last one wins)
    if records_path is not None:
        by_repeat = read_records(Path(records_path), lambda r: (_key(r), r["repeat"]))
        for (job, repeat), r in by_repeat.items():
            done.setdefault(job, {})[repeat] = r
    featurise_seconds = {}
    # what every job needs, built once: the label pool, the test set, and each N's
    # labelled subsets as positions into the pool (repeat r = subset r)
    position = {p: i for i, p in enumerate(splits.label_pool)}
    pool = [structures[i] for i in splits.label_pool]
    test_structures = [structures[i] for i in test]
    subsets = {
        n: [[position[i] for i in splits.labelled(n, r)] for r in range(repeats)]
        for n in ([] if featurise_only else sizes)  # featurising needs no labelled subsets
    }
    jobs = {
        name: [
            {"featuriser": name, "target": target, "head": head, "n": n, "scaling": scaling,
             "pretrained": pretrained, "test_size": test_size}
            for target in targets
            for head in heads
            for n in sizes
        ]
        for name in featurisers
    }  # fmt: skip
    todo = [j for js in jobs.values() for j in js
            if not set(range(repeats)) <= set(done.get(_key(j), {}))]
    for name in featurisers:
        if featurise_only or any(j["featuriser"] == name for j in todo):
            t0 = time.perf_counter()  # featurise every needed structure once (cached)
            for part in name.split("+"):  # a union's parts, one cache each
                features(part, pretrained, cache_dir, n_jobs, progress=True).fit().transform(
                    [structures[i] for i in needed]
                )
            featurise_seconds[name] = time.perf_counter() - t0
    if featurise_only:
        return [], featurise_seconds
    for job, job_records in _fit_jobs(todo, n_jobs, pretrained, cache_dir, pool, df,
                                      splits, subsets, test_structures, test):
        done.setdefault(_key(job), {}).update({r["repeat"]: r for r in job_records})
        if records_path is not None:
            append_records(Path(records_path), job_records)
        print(f"{job['featuriser']} {job['target']} {job['head']} N={job['n']}: done",
              file=sys.stderr, flush=True)
    records = [done[_key(j)][r] for js in jobs.values() for j in js for r in range(repeats)]
    return records, featurise_seconds


def _fit_jobs(todo, n_jobs, pretrained, cache_dir, pool, df, splits, subsets, test_structures,
              test):
    """Yield ``(job, records)`` as the worker processes finish them, in any order.

    The jobs of every featuriser go to one pool, the costliest first (MLP before Ridge,
    large N before small), so that no worker idles behind one long N = 1000 job; each
    job's records are yielded (and appended) as soon as it ends, so a kill loses only
    the jobs in flight. joblib shuts its shared executor down when a result generator
    is collected before it is exhausted; here the generator lives and dies inside one
    call, consumed to the end."""
    if not todo:
        return
    todo = sorted(todo, key=lambda j: (j["head"] == "mlp", j["n"]), reverse=True)
    y = {t: df[t].to_numpy(dtype=float) for t in {job["target"] for job in todo}}
    results = joblib.Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
        joblib.delayed(_numbered_fit_score)(
            i,
            job,
            pretrained,
            cache_dir,
            pool,
            y[job["target"]][splits.label_pool],
            subsets[job["n"]],
            test_structures,
            y[job["target"]][test],
        )
        for i, job in enumerate(todo)
    )
    for i, job_records in results:
        yield todo[i], job_records


def _median_table(df: pd.DataFrame, column: str, title: str) -> list[str]:
    sizes = sorted(df["n"].unique())
    lines = [
        f"\n### {title} ({column.replace('mae', 'test MAE')}: median [IQR] over "
        f"{df['repeat'].nunique()} repeats)\n",
        "| featuriser | " + " | ".join(f"N={n}" for n in sizes) + " |",
        "|---|" + "---|" * len(sizes),
    ]
    for name, rows in df.groupby("featuriser", sort=False):
        cells = []
        for n in sizes:
            m = rows.loc[rows["n"] == n, column].dropna()
            if m.empty:  # not run (yet)
                cells.append("–")
                continue
            q1, med, q3 = np.percentile(m, [25, 50, 75])
            cells.append(f"{med:.3f} [{q1:.3f}–{q3:.3f}]")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def control_family(name: str) -> str | None:
    """The control a featuriser name is one draw of (``dim_untrained`` for the draws of
    the untrained network, ``magpie+dim_untrained`` for magpie beside them), else None."""
    parts = name.split("+")
    if untrained_seed(parts[-1]) is None:
        return None
    return "+".join([*parts[:-1], "dim_untrained"])


def control_medians(records: list[dict], column: str = "mae") -> pd.DataFrame:
    """Per control family, target, head and N: the median of the per-draw medians (the
    protocol's bar), the best draw's median, and the number of draws."""
    df = pd.DataFrame(records)
    df["family"] = df["featuriser"].map(control_family)
    df = df.dropna(subset=["family"])
    per_draw = df.groupby(["family", "target", "head", "n", "featuriser"])[column].median()
    grouped = per_draw.groupby(["family", "target", "head", "n"])
    return pd.DataFrame({"median": grouped.median(), "best": grouped.min(),
                         "draws": grouped.size()}).reset_index()


def _control_lines(records: list[dict], target: str, head: str, column: str) -> list[str]:
    table = control_medians(records, column)
    table = table[(table.target == target) & (table["head"] == head)]
    sizes = sorted(pd.DataFrame(records).query("target == @target and head == @head")["n"]
                   .unique())  # fmt: skip
    lines = []
    for family, rows in table.groupby("family", sort=False):
        rows = rows.set_index("n").reindex(sizes)
        k = int(rows["draws"].max())
        medians = [_control_cell(rows.loc[n], "median", k, bold=True) for n in sizes]
        best = [_control_cell(rows.loc[n], "best", k) for n in sizes]
        lines.append(f"| **{family}: median of {k} draws** | " + " | ".join(medians) + " |")
        lines.append(f"| {family}: best of {k} draws (not the bar) | " + " | ".join(best) + " |")
    return lines


def _control_cell(row: pd.Series, column: str, k: int, bold: bool = False) -> str:
    """A control cell: a dash where no draw has run, the count where fewer than k have."""
    if np.isnan(row[column]):
        return "–"
    text = f"{row[column]:.3f}" + ("" if row["draws"] == k else f" ({int(row['draws'])} draws)")
    return f"**{text}**" if bold else text


def summary_table(records: list[dict], column: str = "mae") -> str:
    """Median [IQR] per featuriser, target, head and N, and the control's distribution."""
    df = pd.DataFrame(records)
    lines = []
    for (target, head), part in df.groupby(["target", "head"], sort=False):
        lines += _median_table(part, column, f"{target}, {head}")
        lines += _control_lines(records, target, head, column)
    return "\n".join(lines) + "\n"


def verdict(records: list[dict], target: str = "e_form", column: str = "mae") -> str:
    """The protocol's question: does ``dim`` beat the control's median at every N with
    every head? One line per head and N."""
    df = pd.DataFrame(records)
    dim = df[(df.featuriser == "dim") & (df.target == target)]
    control = control_medians(records, column)
    control = control[(control.family == "dim_untrained") & (control.target == target)]
    lines = ["| head | N | pretrained | control median | pretrained better |",
             "|---|---|---|---|---|"]
    for _, c in control.sort_values(["head", "n"]).iterrows():
        m = dim[(dim["head"] == c["head"]) & (dim.n == c["n"])][column]
        if m.empty:
            continue
        lines.append(f"| {c['head']} | {c['n']} | {m.median():.3f} | {c['median']:.3f} | "
                     f"{'yes' if m.median() < c['median'] else '**no**'} |")
    return "\n".join(lines) + "\n"


def scaler_choices(records: list[dict]) -> str:
    """How often the search chose ``VectorScaler`` per featuriser and head."""
    df = pd.DataFrame(records)
    if "scale" not in df:
        return ""
    share = (df["scale"] == "vector").groupby([df["featuriser"], df["head"]]).mean()
    table = share.unstack("head")
    lines = ["| featuriser | " + " | ".join(table.columns) + " |",
             "|---|" + "---|" * len(table.columns)]
    for name, row in table.iterrows():
        cells = ("–" if np.isnan(v) else f"{v:.0%}" for v in row)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def timing(structures: list, featurisers, pretrained, n_sample: int) -> list[dict]:
    """Per-structure cost of each featuriser on the same structures, single process."""
    from .speed import time_matminer, time_transform

    rows = []
    for name in featurisers:
        if "+" in name or name.startswith(UNTRAINED_PREFIX):
            continue  # a union costs its parts; every control draw costs the same
        if name in OPTIONAL:
            step = featuriser(name).fit()
            sample = structures[:n_sample]
            t0 = time.perf_counter()
            step.transform(sample)
            seconds = time.perf_counter() - t0
            rows.append(
                {
                    "featuriser": name,
                    "ms_per_structure": 1000 * seconds / len(sample),
                    "structures_per_s": len(sample) / seconds,
                    "n": len(sample),
                    "how": "batched transform (energy only, batch 32)",
                }
            )
        elif name.startswith("dim"):
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
    p.add_argument("--out", default="benchmarks/results")
    p.add_argument("--featurise-only", action="store_true", help="fill the cache and stop")
    p.add_argument(
        "--scaling",
        choices=SCALINGS,
        default="selected",
        help="selected: the scaler chosen by CV on the labels (protocol version 2, "
        "StandardScaler scores recorded beside it); column: StandardScaler only (version "
        "1); vector: VectorScaler only (a diagnostic)",
    )
    p.add_argument("--report-only", action="store_true",
                   help="write the report from the jobs in records.jsonl; fit nothing")
    args = p.parse_args(argv)
    # the command whose fits the report shows (--report-only only rewrites its report)
    command = "python -m benchmarks.representation " + shlex.join(
        a for a in (argv if argv is not None else sys.argv[1:]) if a != "--report-only"
    )
    out = Path(args.out)
    df = load_data(args.data if args.dataset is None else None, args.dataset)
    if not args.featurise_only:
        out.mkdir(parents=True, exist_ok=True)
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
        records_path=None if args.featurise_only else out / "records.jsonl",
    ) if not args.report_only else (_read_records(out, args), {})
    if args.featurise_only:
        print(json.dumps(featurise_seconds))
        return 0
    test = make_splits(len(filter_frame(df))).test
    sample = list(filter_frame(df)["structure"].iloc[test[:2000]])
    times = [] if args.report_only else timing(
        sample, args.featurisers, args.pretrained, args.timing_sample
    )
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
    md = f"# Representation benchmark\n\nCommand:\n\n```\n{command}\n```\n"
    if args.scaling == "selected":
        md += (
            "\nProtocol version 2: each head's scaler (`StandardScaler` or `VectorScaler`) "
            "is chosen by cross-validated MAE on the labelled subset (Ridge: 5 folds, MLP: 3)."
            "\n\n## Does the pretrained vector beat the untrained control's median? "
            "(e_form)\n\n" + verdict(records)
            + "\n## Selected scaling\n" + summary_table(records)
            + "\n## How often the search chose VectorScaler\n\n" + scaler_choices(records)
            + "\n## Fixed StandardScaler (protocol version 1), same fits\n"
            + summary_table(records, "mae_column")
        )
    else:
        md += (
            f"\nFixed scaling: `{args.scaling}` "
            + ("(protocol version 1).\n" if args.scaling == "column" else
               "(**Not the protocol:** one scale per vector, `VectorScaler`).\n")
            + summary_table(records)
        )
    if times:
        md += "\n## Featurisation time\n\n" + timing_table(times)
    (out / "summary.md").write_text(md)
    for head in args.heads:
        box_plots(records, out / f"boxplots_{head}.png", head)
    print(md)
    return 0


def _read_records(out: Path, args) -> list[dict]:
    """The records a rerun of ``args`` would report, from ``records.jsonl`` alone."""
    latest = read_records(out / "records.jsonl", lambda r: (*_key(r), r["repeat"]))
    return [
        latest[key]
        for f in args.featurisers for t in args.target for h in args.heads for n in args.sizes
        for rep in range(args.repeats)
        if (key := (f, t, h, n, args.scaling, args.pretrained, args.test_size, rep)) in latest
    ]  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
