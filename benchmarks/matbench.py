"""Matbench on any matbench-format file: the official folds, every choice inside the four
training folds, per-fold MAE beside the published leaderboard.

The target is the file's one non-structure column. Folds are matbench's
(``KFold(5, shuffle=True, random_state=18012019)``); each row is a plain scikit-learn
estimator fitted on the four training folds alone (early stopping and ``RidgeCV``'s alpha
are chosen inside them) and scored on the fifth. Ensembles also record how well their
``std`` ranks their errors. Each finished (row, fold) is appended to ``records.jsonl`` in
``--out``; rerunning the same command resumes.

    python -m benchmarks.matbench --data ../shared/data/matbench_jdft2d.json.gz \\
        --out benchmarks/results/matbench/jdft2d
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold

from .records import append_records, read_records, write_report
from .transfer import calibration, gives_std, parse_overrides

FOLDS = KFold(n_splits=5, shuffle=True, random_state=18012019)  # matbench v0.1's
# published means, from matbench's leaderboard pages (matbench v0.1), by task file stem
LEADERBOARD = {
    "matbench_jdft2d": {"MODNet 0.1.12": 33.19, "coNGN": 36.17, "coGN": 37.17,
                        "AMMExpress": 39.85, "ALIGNN": 43.42, "CrabNet": 45.61,
                        "RF-SCM/Magpie": 50.04, "Dummy": 67.29},
    "matbench_phonons": {"MEGNet (kgcnn)": 28.76, "coNGN": 28.89, "ALIGNN": 29.54,
                         "coGN": 29.71, "MODNet 0.1.12": 34.28, "CrabNet": 55.11,
                         "AMMExpress": 56.17, "RF-SCM/Magpie": 67.61, "Dummy": 323.98},
}  # fmt: skip
# DIMRegressor rows: parameters beside its defaults ("random": the bundled architecture
# from random weights, the transfer control)
FINE_TUNED = {
    "finetune": {},
    "finetune_random": {"pretrained": None},
    "ensemble5": {"n_models": 5},
    "composition": {"composition": True},
    "composition_ensemble5": {"composition": True, "n_models": 5},
    "composition_ensemble5_random": {"composition": True, "n_models": 5, "pretrained": None},
    # transfer levers, each alone against "finetune" and "finetune_random"
    "head_first": {"head_epochs": 50},
    "adapt": {"adapt_epochs": 15},
    "encoder_lr_1e-4": {"encoder_learning_rate": 1e-4},
    # the target's scale: Yeo-Johnson power transform before standardising
    "power": {"target_transform": "power"},
    "power_random": {"target_transform": "power", "pretrained": None},
    "power_ensemble5": {"target_transform": "power", "n_models": 5},
    "power_composition_ensemble5": {"target_transform": "power", "composition": True,
                                    "n_models": 5},
}
REFERENCE = ("magpie_rf", "recipe")
ROWS = (*FINE_TUNED, *REFERENCE)
LABELS = {
    "finetune": "fine-tuned from the bundled weights",
    "finetune_random": "fine-tuned from random weights",
    "ensemble5": "ensemble of 5, bundled weights",
    "composition": "composition in the head, bundled weights",
    "composition_ensemble5": "composition in the head, ensemble of 5, bundled weights",
    "composition_ensemble5_random": "composition in the head, ensemble of 5, random weights",
    "head_first": "lever: head alone first (up to 50 epochs), then all",
    "adapt": "lever: 15 epochs of Deep InfoMax on the training folds' structures first",
    "encoder_lr_1e-4": "lever: encoder learning rate 1e-4 (head 1e-3)",
    "power": "lever: power-transformed target (Yeo-Johnson), bundled weights",
    "power_random": "power-transformed target, random weights",
    "power_ensemble5": "power-transformed target, ensemble of 5, bundled weights",
    "power_composition_ensemble5": "power-transformed target, composition, ensemble of 5",
    "magpie_rf": "magpie + random forest (500 trees)",
    "recipe": "frozen recipe: magpie (per column) + pretrained vector (VectorScaler) + RidgeCV",
}


def load_task(path: str) -> tuple[list, np.ndarray, str]:
    """Structures, targets and the target's name of a matbench-format dataframe file."""
    from matminer.utils.io import load_dataframe_from_json

    df = load_dataframe_from_json(path)
    others = [c for c in df.columns if c != "structure"]
    if "structure" not in df.columns or len(others) != 1:
        raise ValueError(f"{path}: expected a 'structure' column and one target column, "
                         f"got {list(df.columns)}")  # fmt: skip
    return list(df["structure"]), df[others[0]].to_numpy(float), others[0]


def estimator(row: str, overrides: dict, seed: int):
    """A fresh estimator for ``row`` (``overrides`` change DIMRegressor rows' defaults)."""
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    from dimfeaturizer import CompositionFeatures, DIMEncoder, DIMRegressor, VectorScaler
    from dimfeaturizer.hub import DEFAULT_PRETRAINED

    if row in FINE_TUNED:
        params = {**FINE_TUNED[row], **overrides}
        if params.get("pretrained", DEFAULT_PRETRAINED) is None:
            params.setdefault("config", DEFAULT_PRETRAINED)
        return DIMRegressor(random_state=seed, **params)
    if row == "magpie_rf":
        return Pipeline([("magpie", CompositionFeatures()), ("impute", SimpleImputer()),
                         ("rf", RandomForestRegressor(500, random_state=seed, n_jobs=1))])
    if row == "recipe":  # the package's frozen recipe: each part scaled the way it needs
        clip = FunctionTransformer(np.clip, kw_args={"a_min": -5.0, "a_max": 5.0})
        composition = Pipeline([("magpie", CompositionFeatures()), ("impute", SimpleImputer()),
                                ("scale", StandardScaler()), ("clip", clip)])
        structure = Pipeline([("dim", DIMEncoder()), ("scale", VectorScaler())])
        union = FeatureUnion([("composition", composition), ("structure", structure)])
        return Pipeline([("features", union),
                         ("ridge", RidgeCV(alphas=np.logspace(-3, 3, 13)))])  # fmt: skip
    raise ValueError(f"unknown row {row!r}; choose from {ROWS}")


def fit_fold(row: str, fold: int, X: list, y: np.ndarray, overrides: dict, seed: int) -> dict:
    """One (row, fold): fit on the four training folds, score on the fifth."""
    train, test = list(FOLDS.split(np.arange(len(y))))[fold]
    model = estimator(row, overrides, seed)
    t0 = time.perf_counter()
    model.fit([X[i] for i in train], y[train])
    seconds = time.perf_counter() - t0
    X_test = [X[i] for i in test]
    ensemble = gives_std(model)
    pred, std = model.predict(X_test, return_std=True) if ensemble else (model.predict(X_test),
                                                                         None)  # fmt: skip
    out = {"row": row, "fold": fold, "mae": float(np.mean(np.abs(y[test] - pred))),
           "fit_s": seconds, "n_train": len(train), "test": test.tolist(),
           "pred": pred.tolist()}  # fmt: skip
    if std is not None:
        out.update(std=std.tolist(), **calibration(y[test], pred, std))
    if hasattr(model, "best_epoch_"):
        out.update(best_epoch=model.best_epoch_, epochs_run=len(model.history_))
        # in-fold: the members' MAE on their own held-out labels (what levers are chosen by)
        held_out = model.training_["validation_mae"]  # empty with validation_fraction=0
        out["val_mae"] = float(np.mean(held_out)) if held_out else None
    return out


def _key(record: dict) -> tuple:
    return record["row"], record["fold"]


def table(records: list[dict], task: str, unit: str) -> str:
    """Mean ± std of the five folds per row, beside the published leaderboard."""
    df = pd.DataFrame(records)
    lines = [f"| model | mean MAE ({unit}) | folds | in-fold validation MAE | fit s (mean) |",
             "|---|---|---|---|---|"]
    for row, part in df.groupby("row", sort=False):
        part = part.sort_values("fold")
        folds = " / ".join(f"{m:.1f}" for m in part["mae"])
        n = f"{len(part)} of 5" if len(part) < 5 else ""
        val = (pd.to_numeric(part["val_mae"]).mean() if "val_mae" in part  # None: none held out
               else float("nan"))
        lines.append(f"| {LABELS.get(row, row)} | **{part['mae'].mean():.2f}** ± "
                     f"{part['mae'].std(ddof=0):.2f} {n}| {folds} | "
                     f"{'' if np.isnan(val) else f'{val:.2f}'} | "
                     f"{part['fit_s'].mean():.0f} |")  # fmt: skip
    for name, mae in LEADERBOARD.get(task, {}).items():
        lines.append(f"| *leaderboard:* {name} | {mae:.2f} | | | |")
    cal = df.dropna(subset=["spearman_err_std"]) if "spearman_err_std" in df else df.iloc[:0]
    if len(cal):
        lines += ["", "Ensembles' uncertainty (mean over folds): Spearman of |error| against "
                  "std; share of errors within 1 and 2 std (68 / 95 % if Gaussian).", "",
                  "| model | Spearman | within 1 std | within 2 std |", "|---|---|---|---|"]
        for row, part in cal.groupby("row", sort=False):
            lines.append(f"| {LABELS.get(row, row)} | {part['spearman_err_std'].mean():.2f} | "
                         f"{part['within_1std'].mean():.2f} | "
                         f"{part['within_2std'].mean():.2f} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    warnings.simplefilter("ignore")
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="../shared/data/matbench_jdft2d.json.gz",
                   help="matbench-format dataframe JSON (a structure and one target column)")
    p.add_argument("--rows", nargs="+", default=["finetune", "finetune_random", "magpie_rf",
                                                   "recipe"], choices=ROWS)
    p.add_argument("--folds", nargs="+", type=int, default=list(range(5)))
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="DIMRegressor parameters other than its defaults, for every "
                   "fine-tuned row")
    p.add_argument("--seed", type=int, default=0, help="random_state of every estimator")
    p.add_argument("--unit", default="", help="the target's unit, for the table")
    p.add_argument("--threads", type=int, default=None, help="torch threads")
    p.add_argument("--out", default="benchmarks/results/matbench/jdft2d")
    p.add_argument("--report-only", action="store_true")
    args = p.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = parse_overrides(args.set)
    command = "python -m benchmarks.matbench " + shlex.join(
        a for a in (argv if argv is not None else sys.argv[1:]) if a != "--report-only")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    jsonl = out / "records.jsonl"
    done = read_records(jsonl, _key)
    X, y, target = load_task(args.data)
    task = Path(args.data).name.split(".")[0]
    jobs = [(row, fold) for row in args.rows for fold in args.folds]
    for row, fold in ([] if args.report_only else jobs):
        if (row, fold) in done:
            continue
        record = {**fit_fold(row, fold, X, y, overrides, args.seed), "overrides": overrides,
                  "command": command}
        append_records(jsonl, [record])
        done[(row, fold)] = record
        print(f"{row} fold {fold}: MAE {record['mae']:.2f} ({record['fit_s']:.0f} s)",
              file=sys.stderr, flush=True)
    records = list(done.values())  # the folder's every row, whichever command ran it
    commands = list(dict.fromkeys(r.get("command", "(not recorded)") for r in records))
    md = (f"# Matbench: {task} ({target})\n\nEvery (row, fold) in this folder, run by:\n\n"
          "```\n" + "\n".join(commands) + "\n```\n\n"
          "DIMRegressor parameters beyond each row's own are in each record's `overrides`. "
          "Per-fold records (with predictions) in `records.jsonl`; the in-fold validation "
          "MAE is the members' error on their own held-out fifth of the training folds "
          "(what a choice between rows may read; the test MAE may not), empty where the "
          "members held nothing out (`validation_fraction=0`, the default).\n\n"
          + table(records, task, args.unit or target))  # fmt: skip
    write_report(out, md, command, [{k: v for k, v in r.items()
                                     if k not in ("test", "pred", "std")} for r in records])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
