"""Pretraining levers at small scale, judged on the train pool only.

Each lever is a pretraining recipe (the bundled weights' architecture and learning rate,
a few thousand train-pool crystals, ten-ish epochs) that differs from ``baseline`` (the
bundled recipe at that scale) in one thing. Every encoder is scored on:

- the structure-only yardstick restricted to the train pool's polymorph groups: the
  Ridge head's out-of-fold predictions under ``GroupKFold(5)`` (groups never straddle a
  fold), pair-order accuracy and MAE;
- e_form and gap on a validation slice of the train pool (the 2,000 crystals after the
  label pool), Ridge heads fitted on the protocol's labelled subsets.

No test-pool crystal is encoded. Weights and records are kept in ``--out``, so a killed
run resumes (a lever in training resumes from its checkpoint).

The levers that used the research-only options retired from the package (``denoise``,
``geometry+denoise``, ``typicality``, the ``mu+sites`` read-outs ``baseline+sites``,
``geometry+sites`` and ``denoise+sites``, the substitution false sample, uniform pair
weighting) are at the git tag ``research-record-2026-12``, with the code that ran them;
their measurements stay in ``benchmarks/results/levers``.

    python -m benchmarks.levers --data ../shared/data/mp_eform_gap.json.gz \\
        --levers baseline basis displacement strain --out benchmarks/results/levers
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import GroupKFold

from dimfeaturizer import hub
from dimfeaturizer.config import SiteNetConfig
from dimfeaturizer.estimators import DIMEncoder
from dimfeaturizer.training import FALSE_SAMPLE_KINDS

from .polymorphs import centred, head, pair_order_accuracy, polymorph_groups
from .protocol import LABEL_POOL_SIZE, filter_frame, make_splits
from .records import append_records, read_records, write_report
from .representation import DEFAULT_DATA, head_model, load_data

VALIDATION_SIZE = 2000
SIZES = (250, 1000)
REPEATS = 5
TARGETS = ("e_form", "gap")
GEOMETRY_KINDS = (*FALSE_SAMPLE_KINDS, "displacement", "strain")

# lever -> DIMEncoder settings on top of the recipe ("config": SiteNetConfig fields);
# None: no pretraining (the untrained control of the same architecture)
LEVERS: dict[str, dict | None] = {
    "untrained": None,
    "baseline": {},
    "basis": {"config": {"distance_basis": 32}},
    "displacement": {"false_samples": (*FALSE_SAMPLE_KINDS, "displacement")},
    "displacement_0.1": {"false_samples": (*FALSE_SAMPLE_KINDS, "displacement"),
                         "displacement": 0.1},
    "displacement_0.4": {"false_samples": (*FALSE_SAMPLE_KINDS, "displacement"),
                         "displacement": 0.4},
    "strain": {"false_samples": (*FALSE_SAMPLE_KINDS, "strain")},
    "geometry": {"false_samples": GEOMETRY_KINDS},
    # no synthetic negative that changes composition: only geometry and arrangement are
    # left for the critics beyond the always-on "another crystal" negative
    "geometry_only": {"false_samples": ("permutation", "displacement", "strain")},
    "basis+geometry": {"config": {"distance_basis": 32}, "false_samples": GEOMETRY_KINDS},
    # is the KL prior on site and crystal vectors a bottleneck? A weaker one might leave
    # the crystal vector the small within-formula differences the yardstick reads
    "weak_prior": {"beta": 0.01},
}


def recipe(base: str) -> tuple[dict, dict]:
    """The bundled weights' architecture and pretraining learning rate."""
    meta = json.loads((Path(hub.resolve(base)) / "config.json").read_text())
    command = meta.get("training", {}).get("command", "").split()
    if "--lr" not in command:
        raise ValueError(f"{base}: its config.json records no pretraining command with --lr")
    learning_rate = float(command[command.index("--lr") + 1])
    return meta["model"], {"learning_rate": learning_rate}


def run_dir(out: Path, args: argparse.Namespace) -> Path:
    """Where one recipe scale's weights and checkpoints live: a rerun with other settings
    never picks up another's weights."""
    return out / f"{Path(str(args.base)).name}-n{args.n_pretrain}-e{args.epochs}-s{args.seed}"


def encoder_for(lever: str, args: argparse.Namespace, out: Path) -> tuple[DIMEncoder, bool]:
    """The lever's encoder and whether it must be pretrained (no saved weights yet)."""
    spec = LEVERS[lever]
    model, train = recipe(args.base)
    if spec is None:
        return DIMEncoder(pretrained=None, config=args.base, random_state=args.seed), True
    spec = dict(spec)
    config = SiteNetConfig.from_dict({**model, **spec.pop("config", {})})
    saved = run_dir(out, args) / "weights" / lever
    if (saved / "config.json").exists():
        return DIMEncoder(pretrained=saved), False
    encoder = DIMEncoder(
        pretrained=None, config=config, frozen=False, epochs=args.epochs,
        checkpoint_dir=run_dir(out, args) / "checkpoints" / lever, random_state=args.seed,
        progress=False,
        **train, **spec,
    )  # fmt: skip
    return encoder, True


def design(df: pd.DataFrame, n_pretrain: int, seed: int) -> dict:
    """Positions (into the filtered frame) of the pretraining sample, the yardstick's
    train-pool groups, the label pool and the validation slice: all train pool."""
    splits = make_splits(len(df))
    pool = splits.train_pool
    formulas = np.array([s.composition.reduced_formula for s in df["structure"]])
    groups = polymorph_groups(formulas, pool)
    return {
        "pretrain": np.random.default_rng(seed).choice(pool, n_pretrain, replace=False),
        "yardstick": pool[groups >= 0],
        "groups": groups[groups >= 0],
        "label_pool": pool[:LABEL_POOL_SIZE],
        "validation": pool[LABEL_POOL_SIZE : LABEL_POOL_SIZE + VALIDATION_SIZE],
    }


def labelled(label_pool: np.ndarray, n: int, repeat: int) -> np.ndarray:
    """The protocol's labelled subset ``(n, repeat)`` of ``label_pool``."""
    return np.random.default_rng(1000 * n + repeat).choice(label_pool, n, replace=False)


def yardstick_cv(x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> dict:
    """Out-of-fold pair order and MAE of the yardstick's Ridge head (selected scaling)."""
    x, y = centred(x, groups), centred(y, groups)
    pred = np.empty_like(y)
    for fit_rows, held in GroupKFold(5).split(x, y, groups):
        model = head("selected").fit(x[fit_rows], y[fit_rows], groups=groups[fit_rows])
        pred[held] = model.predict(x[held])
    return {"pair_order": pair_order_accuracy(y, pred, groups),
            "mae": float(np.mean(np.abs(pred - y)))}  # fmt: skip


def validation_scores(vectors: dict[int, np.ndarray], df: pd.DataFrame, d: dict) -> dict:
    """Median validation MAE of Ridge (selected scaling) per target and N."""
    x_val = np.stack([vectors[i] for i in d["validation"]])
    out = {}
    for target in TARGETS:
        y = df[target].to_numpy(dtype=float)
        for n in SIZES:
            maes = []
            for r in range(REPEATS):
                rows = labelled(d["label_pool"], n, r)
                x = np.stack([vectors[i] for i in rows])
                model = head_model("ridge", r).fit(x, y[rows])
                maes.append(float(np.mean(np.abs(model.predict(x_val) - y[d["validation"]]))))
            out[f"{target}_{n}"] = float(np.median(maes))
    return out


def score_lever(lever: str, df: pd.DataFrame, d: dict, args, out: Path) -> dict:
    structures = df["structure"]
    encoder, pretrain = encoder_for(lever, args, out)
    t0 = time.perf_counter()
    if pretrain and not encoder.frozen:
        encoder.fit(list(structures.iloc[d["pretrain"]]))
        encoder.save_pretrained(run_dir(out, args) / "weights" / lever)
    else:
        encoder.fit()
    seconds = time.perf_counter() - t0
    needed = np.unique(np.concatenate([d["yardstick"], d["validation"], d["label_pool"]]))
    x = encoder.transform(list(structures.iloc[needed]))
    vectors = dict(zip(needed.tolist(), x))
    y = df["e_form"].to_numpy(dtype=float)[d["yardstick"]]
    yard = yardstick_cv(np.stack([vectors[i] for i in d["yardstick"]]), y, d["groups"])
    spec = LEVERS[lever]
    record = {
        "lever": lever,
        "settings": "no pretraining" if spec is None else json.dumps(spec, default=list),
        "n_pretrain": 0 if spec is None else len(d["pretrain"]),
        "epochs": 0 if spec is None else args.epochs,
        "vector_dim": int(x.shape[1]),
        "seed": args.seed,
        "yardstick_pair_order": yard["pair_order"],
        "yardstick_mae": yard["mae"],
        **validation_scores(vectors, df, d),
    }
    if encoder.training_ is not None:
        record.update(best_epoch=encoder.best_epoch_, pretrain_seconds=round(seconds),
                      val_dim=encoder.history_[encoder.best_epoch_].get("val_dim"))  # fmt: skip
    return record


def table(records: list[dict]) -> str:
    """One row per record; a seed column when the records span several seeds."""
    seeds = len({r["seed"] for r in records}) > 1
    cols = ["yardstick_pair_order", "yardstick_mae",
            *(f"{t}_{n}" for t in TARGETS for n in SIZES)]  # fmt: skip
    head_row = ("| lever | " + ("seed | " if seeds else "") + "what changes | yardstick pair "
                "order | yardstick MAE | "
                + " | ".join(f"{t} val MAE N={n}" for t in TARGETS for n in SIZES) + " |")
    lines = [head_row, "|" + "---|" * (len(cols) + 2 + seeds)]
    for r in records:
        cells = [f"{r[c]:.3f}" if "pair" in c else f"{r[c]:.4f}" for c in cols]
        seed = f"{r['seed']} | " if seeds else ""
        lines.append(f"| {r['lever']} | {seed}{r['settings']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def scale(record: dict, args: argparse.Namespace) -> tuple[int, int]:
    """A record's pretraining scale (crystals, epochs); the untrained row records none and
    belongs to every scale."""
    return record["n_pretrain"] or args.n_pretrain, record["epochs"] or args.epochs


def seed_noise(earlier, records: list[dict], args) -> str:
    """A table of every lever of this scale scored at more than one seed, from this run
    and the records file: the spread that a difference between levers must beat."""
    rows = {(r["lever"], r["seed"]): r for r in (*earlier, *records)
            if scale(r, args) == (args.n_pretrain, args.epochs)}  # fmt: skip
    seeds = Counter(lever for lever, _ in rows)
    several = sorted((k for k in rows if seeds[k[0]] > 1), key=lambda k: (k[0], k[1]))
    if not several:
        return ""
    return ("\n## Seed noise\n\nEvery lever of this scale scored at more than one seed "
            "(from `records.jsonl`, whichever command scored it).\n\n"
            + table([rows[k] for k in several]))


def main(argv: list[str] | None = None) -> int:
    warnings.simplefilter("ignore")
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=DEFAULT_DATA, help="matminer-format dataframe JSON")
    p.add_argument("--levers", nargs="+", default=list(LEVERS), choices=list(LEVERS))
    p.add_argument("--base", default=hub.DEFAULT_PRETRAINED,
                   help="weights whose architecture and learning rate are the recipe")
    p.add_argument("--n-pretrain", type=int, default=3000)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, nargs="+", default=[0],
                   help="one or more seeds; each draws its own pretraining crystals and "
                   "initial weights, so several measure the levers' seed noise")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's choice)")
    p.add_argument("--out", default="benchmarks/results/levers")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    command = "python -m benchmarks.levers " + shlex.join(
        argv if argv is not None else sys.argv[1:]
    )
    df = filter_frame(load_data(args.data, None))
    designs = {seed: design(df, args.n_pretrain, seed) for seed in args.seed}
    d = designs[args.seed[0]]  # the yardstick and validation crystals are every seed's
    if not len(d["validation"]):
        raise ValueError(f"no train-pool crystals after the label pool of {LABEL_POOL_SIZE}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "records.jsonl"
    # the untrained row records 0 crystals and epochs: it belongs to every recipe scale
    done = read_records(path, lambda r: (r["lever"], *scale(r, args), r["seed"]))
    records = []
    for seed in args.seed:
        run = argparse.Namespace(**{**vars(args), "seed": seed})
        for lever in args.levers:
            record = done.get((lever, args.n_pretrain, args.epochs, seed))
            if record is None:
                record = score_lever(lever, df, designs[seed], run, out)
                append_records(path, [record])
            records.append(record)
            n = SIZES[-1]
            print(f"{lever} (seed {seed}): pair order {record['yardstick_pair_order']:.3f}, "
                  f"e_form N={n} {record[f'e_form_{n}']:.4f}", file=sys.stderr, flush=True)
    md = (
        "# Pretraining levers at small scale\n\nCommand:\n\n```\n" + command + "\n```\n\n"
        f"Each lever pretrains the `{args.base}` architecture with its learning rate on "
        f"{args.n_pretrain} train-pool crystals for {args.epochs} epochs "
        f"(seed {', '.join(map(str, args.seed))}: the crystals and the initial weights). "
        f"Yardstick: {len(d['yardstick'])} train-pool crystals in polymorph groups, "
        "out-of-fold Ridge predictions under GroupKFold(5). Validation: median MAE over "
        f"{REPEATS} labelled subsets (Ridge, selected scaling) on the {VALIDATION_SIZE} "
        "train-pool crystals after the label pool. No test-pool crystal is used.\n\n"
        + table(records)
        + seed_noise(done.values(), records, args)
    )
    write_report(out, md, command, records)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

