"""Attention sharpness: entropy and self-pair weight, trained vs untrained.

    python scripts/investigate/as_run/attention.py untrained runs/mp-linz/best pretrained/sitenet-dim-mp25k-2026.11-preview

(Run from the repository root.)
"""
import sys, numpy as np, torch, torch.nn.functional as F
sys.path.insert(0, "scripts/investigate")
from common import frame_and_splits
from dimfeaturizer.hub import load_pretrained, untrained_model
from dimfeaturizer.inference import prepare_all
from dimfeaturizer.data.batch import batches_by_sites
torch.set_num_threads(1)
df, splits = frame_and_splits()
st = list(df["structure"].iloc[splits.test[:500]])
for name in sys.argv[1:]:
    model = untrained_model(None, 0) if name == "untrained" else load_pretrained(name)
    loc = model.local
    packed = prepare_all(st, list(range(len(st))), model.config)
    ents, selfw, maxw, nvalid = [], [], [], []
    with torch.no_grad():
        for b in batches_by_sites(packed.n_prim, np.arange(len(st)), 4096):
            batch = packed.batch(b)
            table = loc.site_embed(model.elements); w, bias = loc._first_layers(); d = loc.site_dim
            hidden = F.mish((table @ w[:, d:2*d].T)[batch.neighbour_species] + loc.edge_terms(batch.distances) + (table[batch.row_species] @ w[:, :d].T + bias)[:, None, :])
            h_att = hidden[..., : loc.attention[0].out_features]
            logits = loc.attention[2](h_att).squeeze(-1).masked_fill(~batch.mask, float("-inf"))
            a = torch.softmax(logits, -1).masked_fill(~batch.mask, 0)
            ents.append(-(a * a.clamp_min(1e-30).log()).sum(-1)); nvalid.append(batch.mask.sum(-1).float())
            selfw.append((a * (batch.distances < 1e-6)).sum(-1)); maxw.append(a.max(-1).values)
    e, n, s, m = (torch.cat(x).numpy() for x in (ents, nvalid, selfw, maxw))
    print(name, "attn entropy / ln(n) median %.3f" % np.median(e / np.log(n)), "self weight median %.3f" % np.median(s), "max weight median %.3f" % np.median(m))
