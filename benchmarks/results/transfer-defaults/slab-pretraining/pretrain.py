"""Continue the default weights' Deep InfoMax on the protocol's train pool with half of its
crystals turned into one-cell-thick slabs (vacuum inserted normal to the a-b plane), the
shape of matbench_jdft2d's inputs, which the bundled weights never saw.

Research only (rule: ../README.md, "Pretraining that has seen slabs?"). Resumable: rerun the
same command after a kill. From the repository root:

    PYTHONPATH=. python benchmarks/results/transfer-defaults/slab-pretraining/pretrain.py \
        --out runs/slab-continued --epochs 8
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings
from pathlib import Path

import numpy as np
from pymatgen.core import Lattice, Structure

from benchmarks.protocol import filter_frame, make_splits
from dimfeaturizer.cli import run_pretraining
from dimfeaturizer.hub import DEFAULT_PRETRAINED

SLAB_SHARE = 0.5
VACUUM = (15.0, 25.0)  # Å, uniform; jdft2d's cells are 21-45 Å along c with a few Å of layer


def as_slab(structure: Structure, vacuum: float) -> Structure:
    """The same atoms (Cartesian positions kept) in a cell whose third vector is lengthened
    by ``vacuum`` along the a-b plane's normal: one cell thick, vacuum above and below."""
    a, b, c = structure.lattice.matrix
    normal = np.cross(a, b)
    normal /= np.linalg.norm(normal)
    if normal @ c < 0:
        normal = -normal
    lattice = Lattice(np.stack([a, b, c + vacuum * normal]))
    return Structure(lattice, structure.species, structure.cart_coords,
                     coords_are_cartesian=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="../shared/data/mp_eform_gap.json.gz")
    parser.add_argument("--out", default="runs/slab-continued")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--lr", type=float, default=8.12e-4)  # the default weights' rate
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s",
                        handlers=[logging.FileHandler(out / "train.log"), logging.StreamHandler()])
    warnings.simplefilter("ignore")
    from matminer.utils.io import load_dataframe_from_json

    t0 = time.time()
    df = filter_frame(load_dataframe_from_json(args.data, pbar=False))
    structures = list(df["structure"].iloc[make_splits(len(df)).train_pool])
    rng = np.random.default_rng(0)
    slab = rng.random(len(structures)) < SLAB_SHARE
    vacuum = rng.uniform(*VACUUM, len(structures))
    structures = [as_slab(s, v) if k else s for s, k, v in zip(structures, slab, vacuum)]
    logging.info("%d train-pool crystals, %d as slabs, in %.0f s", len(structures), slab.sum(),
                 time.time() - t0)
    encoder = run_pretraining(structures, str(out / "best"), pretrained=DEFAULT_PRETRAINED,
                              epochs=args.epochs, patience=args.epochs,
                              learning_rate=args.lr, seed=0,
                              checkpoint_dir=str(out / "checkpoints"), progress=False)
    logging.info("best epoch %d; saved %s", encoder.best_epoch_, out / "best")


if __name__ == "__main__":
    main()
