"""Load /tmp/x/NAME.pt (state dicts saved by global_level.py, linear global u_z) and save
them as weight folders .cache/investigate/NAME, for probe.py.

    python scripts/investigate/as_run/convert_pt.py NAME [NAME ...]
"""
import sys, torch
from dimfeaturizer.config import SiteNetConfig
from dimfeaturizer.hub import untrained_model, save_pretrained
for name in sys.argv[1:]:
    m = untrained_model(SiteNetConfig(linear_global_critic=True), 0)
    m.load_state_dict(torch.load(f"/tmp/x/{name}.pt"))
    save_pretrained(m, f".cache/investigate/{name}")
