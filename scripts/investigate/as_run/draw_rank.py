"""Where the trained weights and the protocol's control sit among many random draws.

    python scripts/investigate/as_run/draw_rank.py runs/draws/validation.txt

Reads the output of ``scale_free.py WEIGHTS R --control-seeds=0,...,K`` (rows
"target head prep name mae@50 mae@100 mae@250 mae@1000") and prints, per head and
preprocessing, the draws' median and range, how many draws the trained weights beat,
and the rank of ``random_state=0`` among the draws.
"""

import sys

import numpy as np

rows = {}
for line in open(sys.argv[1]):
    parts = line.split()
    if len(parts) != 8:
        continue
    target, head, prep, name, *maes = parts
    rows[head, prep, name] = np.array([float(m) for m in maes])

sizes = (50, 100, 250, 1000)
for head in ("ridge", "mlp"):
    for prep in ("protocol", "iso"):
        draws = {k[2]: v for k, v in rows.items() if k[:2] == (head, prep) and k[2] != "dim"}
        if not draws or (head, prep, "dim") not in rows:
            continue
        table = np.array(list(draws.values()))  # draws x N
        trained = rows[head, prep, "dim"]
        rs0 = draws.get("dim_untrained_rs0")
        print(f"{head} {prep}: {len(draws)} draws")
        for j, n in enumerate(sizes):
            col = table[:, j]
            beaten = int((trained[j] < col).sum())
            line = (
                f"  N={n:5d} trained {trained[j]:.3f}  draws median {np.median(col):.3f} "
                f"range {col.min():.3f}-{col.max():.3f}  trained beats {beaten}/{len(col)}"
            )
            if rs0 is not None:
                rank = int((col < rs0[j]).sum()) + 1
                line += f"  rs0 {rs0[j]:.3f} ranks {rank}/{len(col)}"
            print(line)
