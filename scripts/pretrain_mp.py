"""Pretrain an encoder on the benchmark protocol's train pool (no labels), through the same
path as ``dimfeaturizer pretrain``.

Resumable: rerun the same command after a kill and it continues from the last epoch's
checkpoint in ``--out/checkpoints``. The command of the bundled weights is in their model
card (``pretrained/<name>/README.md``). Example:

    python scripts/pretrain_mp.py --data ../shared/data/mp_eform_gap.json.gz --out runs/mp \\
        --config '{"linear_global_critic": true, "post_pool_hidden": 2048}' --lr 8.12e-4
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings
from pathlib import Path

from benchmarks.protocol import filter_frame, make_splits
from dimfeaturizer.cli import add_objective_args, objective_settings, run_pretraining


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="../shared/data/mp_eform_gap.json.gz")
    parser.add_argument("--out", default="runs/mp")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--config", default=None, help="as dimfeaturizer pretrain --config")
    parser.add_argument("--pretrained", default=None, help="continue from these weights")
    parser.add_argument("--limit", type=int, default=None, help="first N train-pool crystals")
    add_objective_args(parser)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(message)s",
        handlers=[logging.FileHandler(out / "train.log"), logging.StreamHandler()],
    )
    warnings.simplefilter("ignore")
    from matminer.utils.io import load_dataframe_from_json

    t0 = time.time()
    df = filter_frame(load_dataframe_from_json(args.data, pbar=False))
    pool = make_splits(len(df)).train_pool[: args.limit]
    structures = df["structure"].iloc[pool]
    logging.info("loaded %d train-pool structures in %.0f s", len(structures), time.time() - t0)
    encoder = run_pretraining(
        structures,
        str(out / "best"),
        pretrained=args.pretrained,
        epochs=args.epochs,
        patience=args.patience,
        learning_rate=args.lr,
        seed=args.seed,
        device=args.device,
        checkpoint_dir=str(out / "checkpoints"),
        config=args.config,
        progress=False,
        objective=objective_settings(args),
    )
    logging.info("best epoch %d; saved %s", encoder.best_epoch_, out / "best")


if __name__ == "__main__":
    main()
