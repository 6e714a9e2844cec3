"""Pretrain the shipped encoder on the benchmark protocol's train pool (no labels).

Resumable: rerun the same command after a kill and it continues from the last epoch's
checkpoint in --out. Example (the command used for the shipped weights is in
pretrained/<name>/README.md):

    python scripts/pretrain_mp.py --data ../shared/data/mp_eform_gap.json.gz --out runs/mp
"""

from __future__ import annotations

import argparse
import json
import logging
import time
import warnings
from pathlib import Path

import torch

from dimfeaturizer.benchmarks.protocol import filter_frame, make_splits
from dimfeaturizer.config import SiteNetConfig
from dimfeaturizer.hub import save_pretrained, untrained_model
from dimfeaturizer.inference import prepare_all
from dimfeaturizer.training import TrainConfig, pretrain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="../shared/data/mp_eform_gap.json.gz")
    parser.add_argument("--out", default="runs/mp")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--model-config",
        default="{}",
        help='SiteNetConfig fields as JSON, e.g. {"linear_global_critic": true}',
    )
    parser.add_argument("--limit", type=int, default=None, help="first N train-pool crystals")
    parser.add_argument(
        "--init-random-state",
        type=int,
        default=None,
        help="start from the weights DIMEncoder(pretrained=None, random_state=K) draws, i.e. "
        "the benchmark's untrained control at K, so that trained and untrained differ only "
        "by the training (default: untrained_model(config, --seed))",
    )
    parser.add_argument(
        "--init-from",
        default=None,
        help="start from a saved model folder (e.g. a run's best/ or a pretrained/ entry) with "
        "fresh optimisers, to continue its training at another learning rate; its "
        "architecture replaces --model-config",
    )
    args = parser.parse_args()
    if args.init_from is not None and args.init_random_state is not None:
        parser.error("--init-from and --init-random-state are exclusive")
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
    pool = make_splits(len(df)).train_pool
    if args.limit:
        pool = pool[: args.limit]
    structures = list(df["structure"].iloc[pool])
    logging.info("loaded %d train-pool structures in %.0f s", len(structures), time.time() - t0)
    config = SiteNetConfig(**json.loads(args.model_config))
    if args.init_from is not None:
        from dimfeaturizer.hub import load_pretrained

        model = load_pretrained(args.init_from)  # its architecture replaces --model-config
    elif args.init_random_state is None:
        model = untrained_model(config, args.seed)
    else:
        from dimfeaturizer import DIMEncoder

        control = DIMEncoder(pretrained=None, config=config, random_state=args.init_random_state)
        model = control.fit().model_
    packed = prepare_all(structures, list(df.index[pool]), model.config)
    logging.info("preprocessed in %.0f s", time.time() - t0)
    train = TrainConfig(
        epochs=args.epochs,
        patience=args.patience,
        learning_rate=args.lr,
        seed=args.seed,
        device=args.device,
        checkpoint_dir=str(out / "checkpoints"),
        progress=False,
    )
    logging.info("device %s, torch threads %d, %s", args.device, torch.get_num_threads(), train)
    result = pretrain(model, packed, train)
    save_pretrained(
        model,
        out / "best",
        extra={
            "training": {
                "best_epoch": result.best_epoch,
                "epochs_run": len(result.history),
                "stopped_early": result.stopped_early,
                "n_structures": len(structures),
                "seed": args.seed,
                "learning_rate": args.lr,
                "init_random_state": args.init_random_state,
                "init_from": args.init_from,
                "data": Path(args.data).name,
            }
        },
    )
    logging.info("best epoch %d; saved %s", result.best_epoch, out / "best")


if __name__ == "__main__":
    main()
