"""The structure-only yardstick (``PROTOCOL.md``, "Structure-only yardstick (polymorphs)").

Formation energy is mostly composition, so the representation benchmark cannot tell a
vector that knows structure from one that does not. Here the target is a crystal's e_form
minus the mean of its polymorph group (same reduced formula, same pool) and the features
are each vector minus its group's mean vector: composition-only features become zero and
predict nothing. The protocol's Ridge head is trained on every train-pool group member
and scored on every test-pool group member: MAE, and the fraction of same-group test
pairs whose order of stability it predicts (0.5 = chance; a tie counts half).

``--head mlp`` is a diagnostic beside the protocol: a linear head must rank every
chemistry's polymorphs along one direction of feature space, so the protocol's MLP head
is fitted to the raw vectors and raw target instead (it may read geometry in the light of
chemistry), and its predictions are centred within each group before scoring.
``--head finetune`` asks the same of the product's other path: a ``DIMRegressor``
fine-tuned on the train-pool members, from the pretrained weights (``dim``) or an
untrained draw's.

    python -m benchmarks.polymorphs --data ../shared/data/mp_eform_gap.json.gz \\
        --featurisers dim dim_untrained dim_untrained_rs1 xrd ofm magpie \\
        --out benchmarks/results/polymorphs
"""

from __future__ import annotations

import argparse
import hashlib
import shlex
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.dummy import DummyRegressor
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from dimfeaturizer.estimators import VectorScaler

from .protocol import filter_frame, make_splits
from .records import append_records, read_records, write_report
from .representation import (
    CV_FOLDS,
    DEFAULT_DATA,
    HEADS,
    control_family,
    features,
    head_steps,
    load_data,
    untrained_seed,
)

SCALINGS = ("selected", "column")
HEAD_TEXT = {
    "ridge": "features minus their group's mean vector; the protocol's Ridge head.",
    "mlp": "the protocol's MLP head (a diagnostic, not the yardstick) fitted to the raw "
    "vectors and raw target of the train-pool members, its test predictions then centred "
    "within each group.",
    "finetune": "a DIMRegressor (defaults) fine-tuned on the raw target of the train-pool "
    "members from each row's weights (a diagnostic, not the yardstick), its test "
    "predictions then centred within each group.",
}


def polymorph_groups(formulas: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Group ids (0, 1, ...) of ``positions`` whose reduced formula occurs at least twice
    among them, -1 for the rest."""
    names = pd.Series(formulas[positions])
    counts = names.map(names.value_counts())
    codes = pd.Series(pd.factorize(names)[0])
    ids = codes.where(counts >= 2, -1).to_numpy()
    kept = ids >= 0
    ids[kept] = pd.factorize(ids[kept])[0]
    return ids


def centred(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Each row minus the mean of its group's rows. Differences within rounding of the
    column's size are set to exactly zero: a feature that is equal across a group (every
    composition feature) must vanish, not leave 1e-16 residues that a scaler blows up."""
    values = np.asarray(values, dtype=np.float64)
    flat = values.reshape(len(values), -1)
    means = pd.DataFrame(flat).groupby(groups).transform("mean").to_numpy()
    out = flat - means
    size = np.nanmax(np.abs(flat), axis=0, initial=0.0)
    out[np.abs(out) <= 1e-12 * np.maximum(size, 1e-300)] = 0.0
    return out.reshape(values.shape)


def pair_order_accuracy(y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray) -> float:
    """Fraction of same-group pairs (with different true values) whose order the
    prediction gets right; a predicted tie counts half."""
    right, total = 0.0, 0
    for g in np.unique(groups):
        members = np.flatnonzero(groups == g)
        i, j = np.triu_indices(len(members), k=1)
        t = np.sign(y_true[members[i]] - y_true[members[j]])
        p = np.sign(y_pred[members[i]] - y_pred[members[j]])
        keep = t != 0
        right += float(np.sum((p == t)[keep]) + 0.5 * np.sum((p == 0)[keep]))
        total += int(keep.sum())
    return right / total if total else float("nan")


def head(scaling: str, kind: str = "ridge") -> Pipeline | GridSearchCV:
    """The protocol's ``kind`` head; ``selected`` chooses its scaler by CV grouped by
    formula (members of one group never straddle a fold)."""
    pipe = Pipeline(head_steps(kind, 0, "column"))
    if scaling == "column":
        return pipe
    return GridSearchCV(pipe, {"scale": [StandardScaler(), VectorScaler()]},
                        cv=GroupKFold(CV_FOLDS[kind]),
                        scoring="neg_mean_absolute_error")  # fmt: skip


def design(df: pd.DataFrame, target: str = "e_form") -> dict:
    """The group members of both pools, their structures, centred targets and groups,
    and every train-pool structure (``unlabelled``)."""
    df = filter_frame(df)
    splits = make_splits(len(df))
    formulas = np.array([s.composition.reduced_formula for s in df["structure"]])
    y = df[target].to_numpy(dtype=float)
    out = {}
    for pool, positions in (("train", splits.train_pool), ("test", splits.test_pool)):
        groups = polymorph_groups(formulas, positions)
        members = positions[groups >= 0]
        g = groups[groups >= 0]
        out[pool] = {
            "structures": list(df["structure"].iloc[members]),
            "groups": g,
            "y": centred(y[members], g),
            "raw_y": y[members],
        }
    # what a featuriser that learns from structures (typicality counts) may see: the whole
    # train pool, without labels
    out["train"]["unlabelled"] = list(df["structure"].iloc[splits.train_pool])
    return out


def _key(record: dict) -> tuple:
    """What makes two records the same measurement (a rerun's record replaces it)."""
    return (record["featuriser"], record["scaling"], record.get("target", "e_form"),
            record.get("pretrained"), record.get("head", "ridge"))


def score(name: str, data: dict, pretrained, cache_dir, n_jobs: int, scaling: str,
          target: str = "e_form", kind: str = "ridge", finetune: dict | None = None) -> dict:
    """One featuriser's record. The Ridge head learns centred targets from centred
    features; the MLP diagnostic learns raw targets from raw features; ``finetune``
    trains a ``DIMRegressor`` (``finetune``: its overrides) from the featuriser's weights."""
    train, test = data["train"], data["test"]
    if kind == "finetune":
        model = finetuned(name, pretrained, Path(cache_dir), target, **(finetune or {}))
        model.fit(train["structures"], train["raw_y"])
        pred = centred(model.predict(test["structures"]), test["groups"])
        scale = "none (fine-tuned end to end)"
    else:
        pred, scale = frozen_predictions(name, data, pretrained, cache_dir, n_jobs, scaling,
                                         kind)  # fmt: skip
    record = {
        "featuriser": name,
        "head": kind,
        "scaling": scaling,
        "pretrained": pretrained,
        "target": target,
        "mae": float(np.mean(np.abs(pred - test["y"]))),
        "pair_order": pair_order_accuracy(test["y"], pred, test["groups"]),
        "n_train": len(train["y"]),
        "n_test": len(test["y"]),
        "n_test_groups": int(len(np.unique(test["groups"]))),
    }
    if scale is not None:
        record["scale"] = scale
    return record


def frozen_predictions(name: str, data: dict, pretrained, cache_dir, n_jobs: int,
                       scaling: str, kind: str) -> tuple[np.ndarray, str | None]:
    """Group-centred test predictions of a head on the frozen vectors, and the scaler
    it chose (None when it chose none)."""
    train, test = data["train"], data["test"]
    step = features(name, pretrained, cache_dir, n_jobs, progress=True)
    step.fit(train["unlabelled"])  # frozen featurisers ignore it
    x_train, x_test = step.transform(train["structures"]), step.transform(test["structures"])
    within = centred(x_train, train["groups"])
    y_train = train["raw_y"] if kind == "mlp" else train["y"]
    if kind == "ridge":
        x_train, x_test = within, centred(x_test, test["groups"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = head(scaling, kind)
        if not np.any(within):  # nothing varies within a group (composition features)
            model = DummyRegressor().fit(x_train, y_train)
        elif scaling == "selected":
            model.fit(x_train, y_train, groups=train["groups"])
        else:
            model.fit(x_train, y_train)
    pred = centred(model.predict(x_test), test["groups"])
    if isinstance(model, DummyRegressor):
        return pred, "none (no feature varies within a group)"
    if scaling == "selected":
        chosen = model.best_params_["scale"]
        return pred, "column" if isinstance(chosen, StandardScaler) else "vector"
    return pred, None


def finetuned(name: str, pretrained, cache_dir: Path, target: str = "e_form", **overrides):
    """The ``DIMRegressor`` a featuriser name starts: ``dim`` from the weights under
    test, an untrained draw from the same architecture at that draw's random weights
    (the transfer benchmark's two starts). Checkpointed under ``cache_dir``, one folder
    per weights (named and hashed by how they were given), start and target, so a killed
    run resumes and no other run's checkpoint is taken for it."""
    from dimfeaturizer.estimators import DIMRegressor
    from dimfeaturizer.hub import DEFAULT_PRETRAINED

    weights = pretrained or DEFAULT_PRETRAINED
    tag = hashlib.sha256(str(weights).encode()).hexdigest()[:8]
    checkpoint_dir = cache_dir / "finetune" / f"{Path(weights).name}-{tag}-{name}-{target}"
    if name == "dim":
        return DIMRegressor(weights, random_state=0, checkpoint_dir=str(checkpoint_dir),
                            **overrides)  # fmt: skip
    seed = untrained_seed(name)
    if seed is None:
        raise ValueError(f"fine-tuning starts from 'dim' or an untrained draw, not {name!r}")
    return DIMRegressor(None, config=weights, random_state=seed,
                        checkpoint_dir=str(checkpoint_dir), **overrides)  # fmt: skip


def table(records: list[dict]) -> str:
    lines = ["| featuriser | pair order | MAE (eV/atom) | scaler |", "|---|---|---|---|"]
    for r in records:
        lines.append(f"| {r['featuriser']} | {r['pair_order']:.3f} | {r['mae']:.4f} | "
                     f"{r.get('scale', r['scaling'])} |")
    draws = pd.DataFrame([r for r in records if control_family(r["featuriser"])])
    if len(draws):
        for family, rows in draws.groupby(draws["featuriser"].map(control_family)):
            lines.append(f"| **{family}: median of {len(rows)} draws** | "
                         f"**{rows['pair_order'].median():.3f}** | "
                         f"**{rows['mae'].median():.4f}** | |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    warnings.simplefilter("ignore")
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=DEFAULT_DATA, help="matminer-format dataframe JSON")
    p.add_argument("--target", default="e_form")
    p.add_argument("--featurisers", nargs="+",
                   default=["dim", "dim_untrained", "xrd", "ofm", "magpie"])
    p.add_argument("--pretrained", default=None, help="weights for 'dim' (default: bundled)")
    p.add_argument("--scaling", choices=SCALINGS, default="selected")
    p.add_argument("--head", choices=(*HEADS, "finetune"), default="ridge",
                   help="ridge: the protocol's yardstick; mlp, finetune: the diagnostics above")
    p.add_argument("--cache-dir", default=".cache/features")
    p.add_argument("--n-jobs", type=int, default=1)
    p.add_argument("--out", default="benchmarks/results/polymorphs")
    args = p.parse_args(argv)
    command = "python -m benchmarks.polymorphs " + shlex.join(
        argv if argv is not None else sys.argv[1:]
    )
    data = design(load_data(args.data, None), args.target)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "records.jsonl"
    done = read_records(path, _key)
    records = []
    for name in args.featurisers:
        record = done.get(_key({"featuriser": name, "scaling": args.scaling,
                                "target": args.target, "pretrained": args.pretrained,
                                "head": args.head}))  # fmt: skip
        if record is None:
            record = score(name, data, args.pretrained, args.cache_dir, args.n_jobs,
                           args.scaling, args.target, args.head)  # fmt: skip
            append_records(path, [record])
        records.append(record)
        print(f"{name}: pair order {record['pair_order']:.3f}", file=sys.stderr, flush=True)
    md = (
        f"# Structure-only yardstick (polymorphs)\n\nCommand:\n\n```\n{command}\n```\n\n"
        f"{records[0]['n_train']} train-pool and {records[0]['n_test']} test-pool crystals in "
        f"polymorph groups ({records[0]['n_test_groups']} test groups); target: {args.target} "
        f"minus its group's mean; {HEAD_TEXT[args.head]} Pair order: the fraction of "
        "same-group test pairs ranked correctly (0.5 = chance).\n\n" + table(records)
    )
    write_report(out, md, command, records)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
