"""Command line: ``dimfeaturizer featurize`` (the main job) and ``dimfeaturizer pretrain``."""

from __future__ import annotations

import argparse
import json
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
):
    """Deep InfoMax pretraining and saving: the one path of ``dimfeaturizer pretrain`` and
    ``scripts/pretrain_mp.py`` (so both record the same training metadata). Rerunning it
    with the same ``checkpoint_dir`` resumes after a kill."""
    from .config import SiteNetConfig
    from .estimators import DIMEncoder

    if isinstance(config, str) and config.lstrip().startswith("{"):
        config = SiteNetConfig(**json.loads(config))
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
    )
    encoder.fit(structures)
    encoder.save_pretrained(out)
    return encoder


def pretrain(args: argparse.Namespace) -> int:
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
    )
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
    pre.add_argument("--epochs", type=int, default=100, help="default: 100")
    pre.add_argument("--patience", type=int, default=10, help="default: 10")
    pre.add_argument("--lr", type=float, default=1e-4, help="default: 1e-4")
    pre.add_argument(
        "--config",
        default=None,
        help="architecture for random initial weights: a model name or folder, or "
        "SiteNetConfig fields as JSON (default: the design's; with --pretrained, its own)",
    )
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
