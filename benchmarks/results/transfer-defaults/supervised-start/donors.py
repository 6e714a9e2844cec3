"""Two supervised-transfer donors for matbench: one model fine-tuned on the Materials
Project formation energies of the benchmark protocol's label pool (its 5,000 train-pool
crystals; no test-pool crystal, no matbench crystal), from each bundled encoder.

Research only (rule: ../README.md, "A start fine-tuned on Materials Project formation
energies?"). From the repository root:

    PYTHONPATH=. python benchmarks/results/transfer-defaults/supervised-start/donors.py \
        --out runs/eform-donors

then fine-tune from the pair as today's default does from the bundled pair:
``--set pretrained='["runs/eform-donors/default", "runs/eform-donors/geometry"]'``.
A donor already saved is kept (rerunning resumes the other).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

from benchmarks.protocol import filter_frame, make_splits
from dimfeaturizer import DIMRegressor
from dimfeaturizer.hub import DEFAULT_PRETRAINED, GEOMETRY_PRETRAINED


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="../shared/data/mp_eform_gap.json.gz")
    parser.add_argument("--out", default="runs/eform-donors")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    from matminer.utils.io import load_dataframe_from_json

    df = filter_frame(load_dataframe_from_json(args.data, pbar=False))
    pool = df.iloc[make_splits(len(df)).label_pool]
    for name, start in (("default", DEFAULT_PRETRAINED), ("geometry", GEOMETRY_PRETRAINED)):
        folder = Path(args.out) / name
        if (folder / "config.json").exists():
            continue
        t0 = time.perf_counter()
        model = DIMRegressor(start, n_models=1, random_state=0, n_jobs=1,
                             checkpoint_dir=str(Path(args.out) / f"{name}-ckpt"))
        model.fit(list(pool["structure"]), pool["e_form"].to_numpy(float))
        model.save_pretrained(folder)
        print(f"donor {name}: {len(pool)} labels, {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
