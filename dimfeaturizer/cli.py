"""Command line: ``dimfeaturizer featurize`` (the main job), ``pretrain``, and ``fit`` /
``predict`` (fine-tune on a CSV of labels; predict with the saved model)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import warnings


def _encoder_args(parser: argparse.ArgumentParser, untrained_default: bool = False,
                  starts: bool = False) -> None:
    """``--pretrained`` and friends (``starts``: repeatable, the members' starts in turn,
    by default the fine-tuning estimators')."""
    from .hub import DEFAULT_PRETRAINED, bundled_models

    names = f"bundled name ({', '.join(bundled_models())}), folder or Hub repo id"
    if starts:
        parser.add_argument(
            "--pretrained", action="append", default=None,
            help=f"{names}; repeat it and the members start from each in turn; 'none' = "
            "random weights (default: DIMRegressor's, the two bundled encoders in turn)",
        )  # fmt: skip
    else:
        default = "none" if untrained_default else DEFAULT_PRETRAINED
        parser.add_argument("--pretrained", default=default,
                            help=f"{names}; 'none' = random weights (default: {default})")
    parser.add_argument("--revision", default=None, help="Hub revision (branch, tag, commit)")
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda")


def _pretrained(value: str) -> str | None:
    return None if value.lower() == "none" else value


OUTPUT_FORMATS = (".csv", ".parquet", ".pq")


def _write(features, path: str) -> None:
    """CSV or Parquet, by the file's extension."""
    if path.endswith(".csv"):
        features.to_csv(path)
        return
    try:
        import pyarrow  # noqa: F401
    except ImportError as err:
        raise ValueError(
            f"{path}: Parquet output needs pyarrow (pip install 'dimfeaturizer[parquet]')"
        ) from err
    features.to_parquet(path)


def _encoder_from(args: argparse.Namespace):
    from .estimators import DIMEncoder
    from .hub import DEFAULT_PRETRAINED

    pretrained = _pretrained(args.pretrained)
    # 'none' is the untrained control of the bundled weights: their architecture
    config = args.config or (DEFAULT_PRETRAINED if pretrained is None else None)
    return DIMEncoder(
        pretrained=pretrained, config=config, revision=args.revision, device=args.device,
        random_state=0,
    )


def featurize_on_cluster(args: argparse.Namespace) -> int:
    """``featurize --scheduler ADDRESS``: the workers read and encode the files; the
    Parquet output is written partition by partition."""
    from .io import input_files

    try:
        from distributed import Client

        from .cluster import featurize_dask
    except ImportError as err:
        raise ValueError("--scheduler needs Dask: pip install 'dimfeaturizer[dask]'") from err
    if not args.inputs:
        raise ValueError("--scheduler needs input files or folders")
    if not args.output or args.output.endswith(".csv"):
        raise ValueError("--scheduler writes a Parquet folder: give --output NAME.parquet")
    paths = [str(file) for file in input_files(args.inputs)]
    t0 = time.perf_counter()
    with Client(args.scheduler):
        frame = featurize_dask(
            paths, _encoder_from(args), files_per_partition=args.files_per_partition
        )
        frame.to_parquet(args.output)
    import pandas as pd

    errors = pd.read_parquet(args.output, columns=["error"])["error"]
    failed = errors.dropna()
    print(
        f"encoded {len(errors) - len(failed)} structures from {len(paths)} file(s) on "
        f"{args.scheduler} in {time.perf_counter() - t0:.2f} s; wrote {args.output}",
        file=sys.stderr,
    )
    if not failed.empty:
        print(f"{len(failed)} of {len(errors)} entries failed (NaN rows):", file=sys.stderr)
        for name, why in list(failed.items())[:20]:
            print(f"  {name}: {why}", file=sys.stderr)
    return 1 if (len(failed) and not args.ignore_errors) else 0


def featurize(args: argparse.Namespace) -> int:
    import pandas as pd

    from .io import example_structures, read_structures

    if args.output and not args.output.endswith(OUTPUT_FORMATS):
        raise ValueError(f"--output {args.output}: use a .csv or .parquet file name")
    if args.scheduler:
        return featurize_on_cluster(args)
    read_errors: dict[str, str] | None = {} if args.ignore_errors else None
    structures = read_structures(args.inputs, read_errors) if args.inputs else example_structures()
    encoder = _encoder_from(args).fit()
    t0 = time.perf_counter()
    failed: dict[str, str] = {}
    if args.ignore_errors:
        vectors, errors = encoder.transform_or_collect(list(structures))
        names = list(structures.index)
        failed = {names[i]: read_errors.get(names[i]) or str(err) for i, err in errors.items()}
        features = pd.DataFrame(
            vectors, index=structures.index, columns=encoder.get_feature_names_out()
        )
    else:
        features = encoder.set_output(transform="pandas").transform(structures)
    seconds = time.perf_counter() - t0
    if args.output:
        _write(features, args.output)
    else:
        features.iloc[:, :6].to_string(sys.stdout, float_format="{:+.4f}".format)
        print(f"\n... ({features.shape[1]} columns; --output FILE.csv or .parquet writes all)")
    source = "bundled examples" if not args.inputs else f"{len(args.inputs)} input path(s)"
    print(
        f"encoded {len(features) - len(failed)} structures from {source} with "
        f"{args.pretrained} in {seconds:.2f} s",
        file=sys.stderr,
    )
    if failed:
        print(f"{len(failed)} of {len(features)} entries failed (NaN rows):", file=sys.stderr)
        for name, why in list(failed.items())[:20]:
            print(f"  {name}: {why}", file=sys.stderr)
        if len(failed) > 20:
            print(f"  ... and {len(failed) - 20} more", file=sys.stderr)
    return 0


def run_pretraining(
    structures,
    out: str,
    *,
    pretrained: str | None,
    revision: str | None = None,
    epochs: int = 100,
    patience: int = 10,
    learning_rate: float = 1e-4,
    seed: int = 0,
    device: str = "auto",
    checkpoint_dir: str | None = None,
    config: str | None = None,
    progress: bool | None = True,
    objective: dict | None = None,
):
    """Deep InfoMax pretraining and saving: the one path of ``dimfeaturizer pretrain`` and
    ``scripts/pretrain_mp.py`` (so both record the same training metadata). Rerunning it
    with the same ``checkpoint_dir`` resumes after a kill. Under ``torchrun`` it trains
    data-parallel and rank 0 saves. ``objective``: ``DIMEncoder``'s what-to-pretrain
    settings (``false_samples``, ``displacement``, ``strain``, ...)."""
    from .config import SiteNetConfig
    from .distributed import current
    from .estimators import DIMEncoder

    if isinstance(config, str) and config.lstrip().startswith("{"):
        config = SiteNetConfig.from_dict(json.loads(config))
    encoder = DIMEncoder(
        pretrained=pretrained,
        revision=revision,
        frozen=False,
        config=config,
        epochs=epochs,
        patience=patience,
        learning_rate=learning_rate,
        device=device,
        checkpoint_dir=checkpoint_dir,
        random_state=seed,
        progress=progress,
        **(objective or {}),
    )
    encoder.fit(structures)
    if current().main:  # under torchrun every rank holds the same weights; one writes them
        encoder.save_pretrained(out)
    return encoder


def add_objective_args(parser: argparse.ArgumentParser) -> None:
    """What to pretrain: the Deep InfoMax options ``dimfeaturizer pretrain`` exposes."""
    from .training import ALL_FALSE_SAMPLE_KINDS, FALSE_SAMPLE_KINDS
    from .training.deep_infomax import GEOMETRY_SCALES

    parser.add_argument(
        "--false-samples", nargs="*", choices=ALL_FALSE_SAMPLE_KINDS, default=None,
        help=f"synthetic false samples (default: {' '.join(FALSE_SAMPLE_KINDS)}; the flag "
        "alone means none, the ablation); displacement/strain put the crystal's own "
        "species on a perturbed geometry",
    )
    parser.add_argument("--displacement", type=float, default=GEOMETRY_SCALES["displacement"],
                        help="Å per axis for displaced sites (default: %(default)s)")
    parser.add_argument("--strain", type=float, default=GEOMETRY_SCALES["strain"],
                        help="size of the random strain (default: %(default)s)")


def objective_settings(args: argparse.Namespace) -> dict:
    settings = {"displacement": args.displacement, "strain": args.strain}
    if args.false_samples is not None:
        settings["false_samples"] = tuple(args.false_samples)
    return settings


def pretrain(args: argparse.Namespace) -> int:
    from .distributed import current
    from .io import read_structures

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    structures = read_structures(args.inputs)
    encoder = run_pretraining(
        structures,
        args.out,
        pretrained=_pretrained(args.pretrained),
        revision=args.revision,
        epochs=args.epochs,
        patience=args.patience,
        learning_rate=args.lr,
        seed=args.seed,
        device=args.device,
        checkpoint_dir=args.checkpoint_dir,
        config=args.config,
        objective=objective_settings(args),
    )
    world = current()
    if world.main:
        ranks = f" on {world.size} ranks" if world.distributed else ""
        print(
            f"pretrained on {len(structures)} structures{ranks}; best epoch "
            f"{encoder.best_epoch_}; saved to {args.out}",
            file=sys.stderr,
        )
    return 0


def _labels_for(structures, labels_csv: str, target: str | None):
    """The labels CSV (first column: the structures' names, as ``featurize`` lists them,
    or their file names or stems) matched to the structures; the unlabelled rest."""
    from pathlib import Path

    import pandas as pd

    table = pd.read_csv(labels_csv, index_col=0)
    if target is None:
        if table.shape[1] != 1:
            raise ValueError(f"{labels_csv} has columns {list(table.columns)}: name one with "
                             "--target")  # fmt: skip
        target = table.columns[0]
    if target not in table.columns:
        raise ValueError(f"{labels_csv} has no column {target!r} (it has {list(table.columns)})")
    keys = {}
    for name in structures.index:  # a name, its file name or its stem finds its label
        for key in (str(name), Path(str(name)).name, Path(str(name)).stem):
            keys.setdefault(key, name)
    index = [str(i) for i in table.index]
    missing = [i for i in index if i not in keys]
    if missing:
        raise ValueError(f"{labels_csv}: no structure for {len(missing)} label(s), e.g. "
                         f"{missing[:3]}")  # fmt: skip
    names = [keys[i] for i in index]
    y = table[target].to_numpy()
    rest = structures.drop(index=names)
    return structures.loc[names], y, rest, target


def fine_tune(args: argparse.Namespace) -> int:
    import numpy as np

    from .estimators import DIMClassifier, DIMRegressor
    from .io import read_structures

    structures = read_structures(args.inputs)
    X, y, unlabelled, target = _labels_for(structures, args.labels, args.target)
    estimator = DIMClassifier if args.classify else DIMRegressor
    # only what was given: the estimator holds every default
    params = {k: getattr(args, k) for k in ("n_models", "composition", "epochs",
                                            "adapt_epochs", "n_jobs", "device",
                                            "target_transform", "learned_std", "site_max")
              if getattr(args, k) is not None}  # fmt: skip
    for option in ("target_transform", "learned_std"):
        if args.classify and option in params:
            flag = "--" + option.replace("_", "-")
            raise SystemExit(f"{flag} is for regression targets, not --classify")
    from .hub import DEFAULT_PRETRAINED

    starts = [_pretrained(p) for p in args.pretrained or ()]
    if starts == [None]:  # 'none': the bundled architecture from random weights
        params.update(pretrained=None, config=DEFAULT_PRETRAINED)
    elif None in starts:
        raise SystemExit("--pretrained none stands alone: it cannot be mixed with weights")
    elif starts:
        params["pretrained"] = starts[0] if len(starts) == 1 else tuple(starts)
    model = estimator(revision=args.revision, random_state=args.seed, **params)
    t0 = time.perf_counter()
    model.fit(X, y if args.classify else np.asarray(y, dtype=float),
              unlabelled=unlabelled if args.adapt_epochs and len(unlabelled) else None)  # fmt: skip
    model.save_pretrained(args.out)
    print(f"fine-tuned on {len(X)} labelled structures ({target}; {len(unlabelled)} without a "
          f"label) in {time.perf_counter() - t0:.0f} s, {len(model.models_)} model(s); saved "
          f"to {args.out}", file=sys.stderr)  # fmt: skip
    return 0


def predict(args: argparse.Namespace) -> int:
    import json as json_module
    from pathlib import Path

    import pandas as pd

    from .estimators import DIMClassifier, DIMRegressor
    from .io import read_structures

    if not args.output.endswith(OUTPUT_FORMATS):
        raise ValueError(f"--output {args.output}: use a .csv or .parquet file name")
    meta = json_module.loads((Path(args.model) / "config.json").read_text())
    task = meta.get("head", {}).get("task")
    if task not in ("regression", "classification"):
        raise ValueError(f"{args.model} holds no fine-tuned model (no prediction head)")
    estimator = DIMRegressor if task == "regression" else DIMClassifier
    model = estimator.from_pretrained(args.model, device=args.device)
    structures = read_structures(args.inputs)
    if task == "classification":
        proba = model.predict_proba(structures)
        out = pd.DataFrame(proba, index=structures.index,
                           columns=[f"p_{c}" for c in model.classes_])  # fmt: skip
        out.insert(0, "prediction", model.classes_[proba.argmax(axis=1)])
    elif model.has_std:
        mean, std = model.predict(structures, return_std=True)
        out = pd.DataFrame({"prediction": mean, "std": std}, index=structures.index)
    else:
        out = pd.DataFrame({"prediction": model.predict(structures)}, index=structures.index)
    _write(out, args.output)
    print(f"predicted {len(out)} structures with {args.model} -> {args.output}",
          file=sys.stderr)
    return 0


COMMANDS = ("featurize", "pretrain", "fit", "predict")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; errors are one line on stderr and a non-zero exit status."""
    import difflib
    from pathlib import Path

    warnings.filterwarnings("ignore", module="pymatgen")
    warnings.filterwarnings("ignore", module="spglib")
    parser = argparse.ArgumentParser(prog="dimfeaturizer", description=__doc__)
    parser.add_argument("--traceback", action="store_true", help="show the full traceback")
    sub = parser.add_subparsers(dest="command")
    feat = sub.add_parser("featurize", help="structures -> 128-d vectors (CSV or Parquet)")
    feat.add_argument(
        "inputs",
        nargs="*",
        help="CIF/POSCAR/JSON files or folders; default: the 40 bundled example crystals",
    )
    feat.add_argument("--output", "-o", help="a .csv or .parquet file for all 128 columns")
    feat.add_argument(
        "--ignore-errors",
        action="store_true",
        help="a file or structure that fails gives a NaN row (listed on stderr) "
        "instead of stopping the run",
    )
    feat.add_argument(
        "--config",
        default=None,
        help="architecture for --pretrained none: a model name, folder or Hub repo "
        "(default: the bundled weights', i.e. their untrained control)",
    )
    feat.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="encode on this Dask cluster (e.g. tcp://host:8786; needs dimfeaturizer[dask]): "
        "files are read and encoded on the workers and --output .parquet is written "
        "partition by partition, failures as NaN rows with their reason in 'error'",
    )
    feat.add_argument("--files-per-partition", type=int, default=1000,
                      help="with --scheduler (default: 1000)")
    _encoder_args(feat)
    feat.set_defaults(func=featurize)
    pre = sub.add_parser("pretrain", help="Deep InfoMax pretraining on unlabelled structures")
    pre.add_argument("inputs", nargs="+", help="CIF/POSCAR/JSON files or folders")
    pre.add_argument("--out", required=True, help="folder for config.json + model.safetensors")
    pre.add_argument("--epochs", type=int, default=100, help="default: 100")
    pre.add_argument("--patience", type=int, default=10, help="default: 10")
    pre.add_argument("--lr", type=float, default=1e-4, help="default: 1e-4")
    pre.add_argument("--seed", type=int, default=0, help="default: 0")
    pre.add_argument(
        "--config",
        default=None,
        help="architecture for random initial weights: a model name or folder, or "
        "SiteNetConfig fields as JSON (default: the design's; with --pretrained, its own)",
    )
    pre.add_argument("--checkpoint-dir", default=None, help="resume here after a kill")
    add_objective_args(pre)
    _encoder_args(pre, untrained_default=True)
    pre.set_defaults(func=pretrain)
    tune = sub.add_parser("fit", help="fine-tune on structures + a CSV of labels -> a model")
    tune.add_argument("inputs", nargs="+", help="CIF/POSCAR/JSON files or folders")
    tune.add_argument("--labels", required=True,
                      help="CSV: first column the structures' names (or file names/stems), "
                      "then the target")
    tune.add_argument("--target", default=None, help="the CSV's target column (if several)")
    tune.add_argument("--out", required=True, help="folder for the saved model")
    tune.add_argument("--classify", action="store_true", help="class labels (DIMClassifier)")
    tune.add_argument("--n-models", type=int, default=None,
                      help="ensemble members; > 1 gives predict's std (default: DIMRegressor's)")
    tune.add_argument("--composition", action="store_true", default=None,
                      help="magpie composition descriptors into the head")
    tune.add_argument("--learned-std", action="store_true", default=None,
                      help="each member also learns its own error's size: a std from "
                      "one model, closer to calibrated intervals from an ensemble")
    tune.add_argument("--no-site-max", dest="site_max", action="store_false", default=None,
                      help="the head reads the mean vector alone (better for properties "
                      "of Materials Project-like crystals, e.g. formation energy)")
    tune.add_argument("--target-transform", choices=("standard", "power"), default=None,
                      help="power: Yeo-Johnson before standardising, for skewed targets "
                      "(default: DIMRegressor's)")
    tune.add_argument("--adapt-epochs", type=int, default=None,
                      help="Deep InfoMax on all the structures (labelled or not) first")
    tune.add_argument("--epochs", type=int, default=None, help="default: the estimator's")
    tune.add_argument("--n-jobs", type=int, default=None, help="members trained at once")
    tune.add_argument("--seed", type=int, default=0, help="default: 0")
    _encoder_args(tune, starts=True)
    tune.set_defaults(device=None)
    tune.set_defaults(func=fine_tune)
    pred = sub.add_parser("predict", help="a saved fine-tuned model + structures -> predictions")
    pred.add_argument("inputs", nargs="+", help="CIF/POSCAR/JSON files or folders")
    pred.add_argument("--model", required=True, help="folder written by dimfeaturizer fit")
    pred.add_argument("--output", "-o", required=True, help="a .csv or .parquet file")
    pred.add_argument("--device", default="auto")
    pred.set_defaults(func=predict)
    argv = list(sys.argv[1:] if argv is None else argv)
    show_traceback = "--traceback" in argv
    argv = [a for a in argv if a != "--traceback"]
    first = next((a for a in argv if not a.startswith("-")), None)
    if first is not None and first not in COMMANDS and not Path(first).exists():
        close = difflib.get_close_matches(first, COMMANDS, n=1)
        if close:
            print(f"dimfeaturizer: error: unknown command {first!r} (did you mean "
                  f"{close[0]!r}?)", file=sys.stderr)
            return 2
    if not argv or argv[0] not in {*COMMANDS, "-h", "--help"}:
        argv = ["featurize", *argv]  # the main job: featurize, by default the examples
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # noqa: BLE001 - every failure is one line unless asked
        if show_traceback:
            raise
        print(f"dimfeaturizer: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
