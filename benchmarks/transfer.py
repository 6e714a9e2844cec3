"""The paper's transfer-learning experiment (``PROTOCOL.md``, "Transfer learning").

Per target and N, the test MAE of: fine-tuning the pretrained encoder (``DIMRegressor``),
fine-tuning random weights of the same architecture (the transfer control), supervised
transfer from a donor fine-tuned on the other target with every label-pool label, and
frozen rows for reference (the pretrained vector and magpie under the protocol's Ridge
and MLP heads, and both side by side). Every fit is a plain scikit-learn estimator on the
protocol's labelled subsets; early stopping uses a split of those labels only.

``--validation`` scores on a slice of the label pool instead (subsets drawn from the rest
of it, the test set never read): the mode in which defaults are chosen. Each finished fit
is appended to ``records.jsonl`` in ``--out``; rerunning the same command resumes.

    python -m benchmarks.transfer --data ../shared/data/mp_eform_gap.json.gz
"""

from __future__ import annotations

import argparse
import functools
import json
import pickle
import shlex
import sys
import time
import warnings
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import mean_absolute_error

from .protocol import SIZES, filter_frame, make_splits
from .records import append_records, read_records
from .representation import DEFAULT_DATA, box_plots, load_data, make_pipeline, summary_table

FINE_TUNED = ("finetune", "finetune_random", "finetune_transfer", "finetune_frozen")
FROZEN = ("dim_ridge", "dim_mlp", "magpie_ridge", "magpie_mlp", "magpie+dim_ridge",
          "magpie+dim_mlp")
ROWS = (*FINE_TUNED, *FROZEN)
LABELS = {
    "finetune": "fine-tuned from pretrained",
    "finetune_random": "fine-tuned from random weights",
    "finetune_transfer": "fine-tuned from the other target's model",
    "finetune_frozen": "pretrained, frozen + trained head",
    "dim_ridge": "pretrained + Ridge",
    "dim_mlp": "pretrained + MLP",
    "magpie_ridge": "magpie + Ridge",
    "magpie_mlp": "magpie + MLP",
    "magpie+dim_ridge": "magpie + pretrained + Ridge",
    "magpie+dim_mlp": "magpie + pretrained + MLP",
}
VALIDATION_SLICE = 1000  # the label pool's last entries, in --validation mode (a fifth at most)
OTHER = {"e_form": "gap", "gap": "e_form"}


def gives_std(model) -> bool:
    """Whether a fitted row's ``predict(X, return_std=True)`` has a std to give
    (``DIMRegressor.has_std``; the frozen rows' pipelines have none)."""
    return getattr(model, "has_std", False)


def calibration(y: np.ndarray, mean: np.ndarray, std: np.ndarray) -> dict:
    """How far an ensemble's std can be trusted: Spearman of |error| against std, and the
    share of errors within 1 and 2 std (a Gaussian's 68 and 95 %)."""
    err = np.abs(y - mean)
    return {
        "spearman_err_std": float(spearmanr(err, std).statistic),
        "within_1std": float(np.mean(err <= std)),
        "within_2std": float(np.mean(err <= 2 * std)),
    }


def design(df: pd.DataFrame, validation: bool, test_size: int | None) -> dict:
    """Structures and labels of the pool subsets are drawn from, and of the scored set."""
    splits = make_splits(len(df))
    pool, scored = splits.label_pool, splits.test
    if validation:
        n_val = min(VALIDATION_SLICE, len(pool) // 5)
        pool, scored = pool[:-n_val], pool[-n_val:]
    if test_size is not None:
        scored = scored[:test_size]
    columns = ["structure", "e_form", "gap"]
    return {"pool": df.iloc[pool][columns], "scored": df.iloc[scored][columns]}


def labelled(n_pool: int, n: int, repeat: int) -> np.ndarray:
    """The protocol's subset: positions into the pool (the label pool, or its fitting part
    in --validation mode)."""
    return np.random.default_rng(1000 * n + repeat).choice(n_pool, n, replace=False)


@functools.lru_cache(maxsize=1)
def _data(path: str) -> dict:
    with open(path, "rb") as fh:
        return pickle.load(fh)


def _starts(pretrained: str | None) -> dict:
    """DIMRegressor's ``pretrained`` argument: ``--pretrained`` if given, else its own default."""
    return {} if pretrained is None else {"pretrained": pretrained}


def _regressor(row: str, target: str, repeat: int, pretrained: str | None, donors: Path,
               overrides: dict):
    from dimfeaturizer.estimators import DIMRegressor
    from dimfeaturizer.hub import DEFAULT_PRETRAINED

    start = {
        "finetune": _starts(pretrained),
        "finetune_random": {"pretrained": None, "config": pretrained or DEFAULT_PRETRAINED},
        "finetune_transfer": {"pretrained": str(donors / OTHER[target])},
        "finetune_frozen": _starts(pretrained),
    }[row]
    return DIMRegressor(random_state=repeat, freeze_encoder=row == "finetune_frozen",
                        **start, **overrides)


def _frozen(row: str, repeat: int, pretrained: str | None, cache_dir: str):
    """A frozen row: the cached featuriser (``magpie+dim``: both, side by side) and the
    protocol's head with the fixed StandardScaler of protocol version 1."""
    from dimfeaturizer.hub import DEFAULT_PRETRAINED

    from .representation import features

    name, head = row.rsplit("_", 1)
    step = features(name, pretrained or DEFAULT_PRETRAINED, cache_dir)
    return make_pipeline(step, head, repeat, cache_dir, scaling="column")


def fit_one(job: dict, data_path: str, pretrained: str | None, donors: Path, cache_dir: str,
            overrides: dict, threads: int) -> dict:
    """One fit and its score; runs in a worker process."""
    import torch

    torch.set_num_threads(threads)
    warnings.simplefilter("ignore")
    data = _data(data_path)
    pool, scored = data["pool"], data["scored"]
    row, target, n, repeat = job["row"], job["target"], job["n"], job["repeat"]
    subset = labelled(len(pool), n, repeat)
    X = list(pool["structure"].iloc[subset])
    y = pool[target].to_numpy(float)[subset]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if row in FINE_TUNED:
        model = _regressor(row, target, repeat, pretrained, donors, overrides)
    else:
        model = _frozen(row, repeat, pretrained, cache_dir)
    model.fit(X, y)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    ensemble = gives_std(model)
    if ensemble:
        pred, std = model.predict(list(scored["structure"]), return_std=True)
    else:
        pred = model.predict(list(scored["structure"]))
    out = {**job, "mae": float(mean_absolute_error(scored[target], pred)),
           "fit_cpu_s": cpu, "fit_wall_s": wall}
    if ensemble:  # how far the std can be trusted
        out.update(calibration(scored[target].to_numpy(float), pred, std))
    if row in FINE_TUNED:
        out.update(best_epoch=model.best_epoch_, epochs_run=len(model.history_))
    return out


def train_donor(target: str, data_path: str, pretrained: str | None, donors: Path, overrides: dict,
                threads: int) -> None:
    """The supervised-transfer donor: fine-tuned on ``target`` with every pool label."""
    import torch

    from dimfeaturizer.estimators import DIMRegressor

    folder = donors / target
    if (folder / "config.json").exists():
        return
    torch.set_num_threads(threads)
    pool = _data(data_path)["pool"]
    t0 = time.perf_counter()
    # checkpointed: a donor trains for tens of minutes, and a killed run resumes it
    model = DIMRegressor(random_state=0, checkpoint_dir=str(donors / f"{target}-ckpt"),
                         **_starts(pretrained), **overrides)
    model.fit(list(pool["structure"]), pool[target].to_numpy(float))
    model.save_pretrained(folder)
    print(f"donor {target}: {len(pool)} labels, best epoch {model.best_epoch_}, "
          f"{time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)


def _key(record: dict) -> tuple:
    return record["row"], record["target"], record["n"], record["repeat"]


def run(args: argparse.Namespace, overrides: dict) -> list[dict]:
    # workers must find the functions by module name, also under ``python -m``
    from benchmarks.transfer import train_donor

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data_path = out / ("data-validation.pkl" if args.validation else "data.pkl")
    if not data_path.exists():
        df = filter_frame(load_data(args.data, None))
        with open(data_path, "wb") as fh:
            pickle.dump(design(df, args.validation, args.test_size), fh)
    donors = out / "donors"
    jsonl = out / "records.jsonl"
    done = read_records(jsonl, _key)
    # rows in the order asked (a partial run has the first rows complete), long fits first
    jobs = [
        {"row": row, "target": target, "n": n, "repeat": r}
        for row in args.rows
        for n in sorted(args.sizes, reverse=True)
        for r in range(args.repeats)
        for target in args.target
    ]
    todo = [] if args.report_only else [j for j in jobs if _key(j) not in done]
    print(f"{len(todo)} fits to run, {len(jobs) - len(todo)} done", file=sys.stderr)
    later = [j for j in todo if j["row"] == "finetune_transfer"]
    for phase in ([j for j in todo if j not in later], later):
        if phase is later and later:
            joblib.Parallel(n_jobs=min(args.n_jobs, len(args.target)))(
                joblib.delayed(train_donor)(OTHER[t], str(data_path), args.pretrained, donors,
                                            overrides, args.threads)
                for t in args.target
            )
        _fit_all(phase, done, jsonl, args, str(data_path), donors, overrides)
    return [done[_key(j)] for j in jobs if _key(j) in done]


def _fit_all(jobs, done, jsonl, args, data_path, donors, overrides) -> None:
    from benchmarks.transfer import fit_one

    parallel = joblib.Parallel(n_jobs=args.n_jobs, return_as="generator_unordered")
    for record in parallel(
        joblib.delayed(fit_one)(job, data_path, args.pretrained, donors, args.cache_dir,
                                overrides, args.threads)
        for job in jobs
    ):
        append_records(jsonl, [record])
        done[_key(record)] = record
        print(f"{record['row']} {record['target']} N={record['n']} r={record['repeat']}: "
              f"MAE {record['mae']:.3f} ({record['fit_cpu_s']:.0f} CPU s)",
              file=sys.stderr, flush=True)


def cost_table(records: list[dict]) -> str:
    """Median wall seconds per fit (this process's CPU time misses members trained in
    worker processes)."""
    df = pd.DataFrame(records)
    sizes = sorted(df["n"].unique())
    lines = ["| row | " + " | ".join(f"N={n}" for n in sizes) + " |",
             "|---|" + "---|" * len(sizes)]
    for row, part in df.groupby("row", sort=False):
        cells = [f"{part.loc[part['n'] == n, 'fit_wall_s'].median():.0f}" for n in sizes]
        lines.append(f"| {LABELS[row]} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def calibration_table(records: list[dict]) -> str:
    """Ensembles only: median Spearman of |error| against std, and the shares of errors
    within 1 and 2 std, per row, target and N."""
    df = pd.DataFrame(records)
    if "spearman_err_std" not in df:
        return ""
    df = df.dropna(subset=["spearman_err_std"])
    lines = ["\n## Ensemble uncertainty (median over subsets)\n",
             "| row | target | N | Spearman(|error|, std) | within 1 std | within 2 std |",
             "|---|---|---|---|---|---|"]
    for (row, target, n), part in df.groupby(["row", "target", "n"], sort=False):
        lines.append(f"| {LABELS[row]} | {target} | {n} | "
                     f"{part['spearman_err_std'].median():.2f} | "
                     f"{part['within_1std'].median():.2f} | "
                     f"{part['within_2std'].median():.2f} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def parse_overrides(pairs: list[str]) -> dict:
    """``key=value`` pairs for DIMRegressor (values read as JSON, else kept as strings)."""
    out = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def main(argv: list[str] | None = None) -> int:
    from dimfeaturizer.hub import DEFAULT_PRETRAINED

    warnings.simplefilter("ignore")
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=DEFAULT_DATA, help="matminer-format dataframe JSON")
    p.add_argument("--target", nargs="+", default=["e_form", "gap"])
    p.add_argument("--rows", nargs="+", default=list(ROWS), choices=ROWS)
    p.add_argument("--sizes", nargs="+", type=int, default=list(SIZES))
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--pretrained", default=None,
                   help="weights the fine-tuned rows start from (default: DIMRegressor's own), "
                   f"the frozen rows' encoder and the random control's architecture (default: "
                   f"{DEFAULT_PRETRAINED})")
    p.add_argument("--validation", action="store_true",
                   help="score on the label pool's last 1,000 entries (subsets drawn from the "
                   "rest), never the test set")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="DIMRegressor parameters other than its defaults")
    p.add_argument("--report-only", action="store_true",
                   help="write the report from the fits done so far; fit nothing")
    p.add_argument("--test-size", type=int, default=None, help="debug: first K scored")
    p.add_argument("--n-jobs", type=int, default=2, help="fits at once (processes)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per process")
    p.add_argument("--cache-dir", default=".cache/features")
    p.add_argument("--out", default="benchmarks/results/transfer")
    args = p.parse_args(argv)
    overrides = parse_overrides(args.set)
    # the command whose fits the report shows (--report-only only rewrites its report)
    command = "python -m benchmarks.transfer " + shlex.join(
        a for a in (argv if argv is not None else sys.argv[1:]) if a != "--report-only"
    )
    records = run(args, overrides)
    out = Path(args.out)
    shown = [{**r, "featuriser": LABELS[r["row"]], "head": "all"} for r in records]
    scored = "validation slice of the label pool" if args.validation else "test set"
    md = (
        f"# Transfer learning benchmark\n\nCommand:\n\n```\n{command}\n```\n\n"
        f"MAE on the {scored}; DIMRegressor parameters changed from their defaults: "
        f"{overrides or 'none'}.\n"
        + summary_table(shown).replace(", all (test MAE", " (MAE").replace("featuriser |", "row |")
        + "\n## Wall seconds per fit (median)\n\n" + cost_table(records)
        + calibration_table(records)
    )
    (out / "results.json").write_text(json.dumps(
        {"command": command, "scored_on": scored, "overrides": overrides, "records": records},
        indent=1) + "\n")
    (out / "summary.md").write_text(md)
    if records:
        box_plots(shown, out / "boxplots.png", "all")
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
