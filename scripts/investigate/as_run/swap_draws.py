"""Where the protocol's lucky draw lives: local encoder or global head?

    python scripts/investigate/as_run/swap_draws.py WEIGHTS A B OUT

Writes OUT/localA_globalB and OUT/localB_globalA: the benchmark's untrained controls of
WEIGHTS' architecture at random_state A and B, with their global heads swapped. Probe
them with probe.py (--control-seeds=A,B for the two unswapped controls).
"""

import sys
from pathlib import Path

from dimfeaturizer.benchmarks.representation import featuriser
from dimfeaturizer.hub import save_pretrained

weights, a, b, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
ma = featuriser(f"dim_untrained_rs{a}", weights).fit().model_
mb = featuriser(f"dim_untrained_rs{b}", weights).fit().model_
for local, head, name in ((ma, mb, f"local{a}_global{b}"), (mb, ma, f"local{b}_global{a}")):
    hybrid = featuriser(f"dim_untrained_rs{a}", weights).fit().model_
    hybrid.local.load_state_dict(local.local.state_dict())
    hybrid.global_.load_state_dict(head.global_.state_dict())
    save_pretrained(hybrid, out / name)
    print("wrote", out / name)
