"""Hybrid weights: a pretrained local encoder under an untrained global head (seeds 0, 1).

    python scripts/investigate/as_run/make_hybrid.py runs/mp-linz/best hyb_linz
"""
import sys
from dimfeaturizer.hub import load_pretrained, untrained_model, save_pretrained
pre = load_pretrained(sys.argv[1])
for g in (0, 1):
    h = untrained_model(pre.config, g); h.local.load_state_dict(pre.local.state_dict())
    save_pretrained(h, f".cache/investigate/{sys.argv[2]}_g{g}")
