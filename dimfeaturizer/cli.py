"""Command line: ``dimfeaturizer featurize`` (the main job) and ``dimfeaturizer pretrain``."""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings


def _encoder_args(parser: argparse.ArgumentParser) -> None:
    from .hub import DEFAULT_PRETRAINED

    parser.add_argument(
        "--pretrained",
        default=DEFAULT_PRETRAINED,
        help="bundled name, folder or Hub repo id; 'none' = untrained control",
    )
    parser.add_argument("--revision", default=None)
    parser.add_argument("--device", default="auto")


def _pretrained(value: str) -> str | None:
    return None if value.lower() == "none" else value


def featurize(args: argparse.Namespace) -> int:
    from .estimators import DIMEncoder
    from .io import example_structures, read_structures

    structures = read_structures(args.inputs) if args.inputs else example_structures()
    encoder = DIMEncoder(
        pretrained=_pretrained(args.pretrained),
        revision=args.revision,
        device=args.device,
        random_state=0,
    ).set_output(transform="pandas")
    t0 = time.perf_counter()
    features = encoder.fit_transform(structures)
    seconds = time.perf_counter() - t0
    if args.output:
        features.to_csv(args.output)
    else:
        features.iloc[:, :6].to_string(sys.stdout, float_format="{:+.4f}".format)
        print(f"\n... ({features.shape[1]} columns; --output FILE.csv writes them all)")
    source = "bundled examples" if not args.inputs else f"{len(args.inputs)} input path(s)"
    print(
        f"encoded {len(features)} structures from {source} with {args.pretrained} "
        f"in {seconds:.2f} s",
        file=sys.stderr,
    )
    return 0


def pretrain(args: argparse.Namespace) -> int:
    from .estimators import DIMEncoder
    from .io import read_structures

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    structures = read_structures(args.inputs)
    encoder = DIMEncoder(
        pretrained=_pretrained(args.pretrained),
        revision=args.revision,
        frozen=False,
        epochs=args.epochs,
        learning_rate=args.lr,
        device=args.device,
        checkpoint_dir=args.checkpoint_dir,
        random_state=args.seed,
        progress=True,
    )
    encoder.fit(structures)
    encoder.save_pretrained(args.out)
    print(
        f"pretrained on {len(structures)} structures; best epoch {encoder.best_epoch_}; "
        f"saved to {args.out}",
        file=sys.stderr,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", module="pymatgen")
    warnings.filterwarnings("ignore", module="spglib")
    parser = argparse.ArgumentParser(prog="dimfeaturizer", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    feat = sub.add_parser("featurize", help="structures -> 128-d vectors (CSV)")
    feat.add_argument(
        "inputs",
        nargs="*",
        help="CIF/POSCAR/JSON files or folders; default: the 40 bundled example crystals",
    )
    feat.add_argument("--output", "-o", help="CSV file for all 128 columns")
    _encoder_args(feat)
    feat.set_defaults(func=featurize)
    pre = sub.add_parser("pretrain", help="Deep InfoMax pretraining on unlabelled structures")
    pre.add_argument("inputs", nargs="+")
    pre.add_argument("--out", required=True, help="folder for config.json + model.safetensors")
    pre.add_argument("--epochs", type=int, default=100)
    pre.add_argument("--lr", type=float, default=1e-4)
    pre.add_argument("--seed", type=int, default=0)
    pre.add_argument("--checkpoint-dir", default=None, help="resume here after a kill")
    _encoder_args(pre)
    pre.set_defaults(func=pretrain, pretrained="none")
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in {"featurize", "pretrain", "-h", "--help"}:
        argv = ["featurize", *argv]  # the main job: featurize, by default the examples
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
