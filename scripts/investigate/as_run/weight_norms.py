"""Frobenius and spectral norms of every weight matrix, untrained vs pretrained.

    python scripts/investigate/as_run/weight_norms.py runs/mp-linz/best
"""
import sys
import torch
from dimfeaturizer.hub import load_pretrained, untrained_model
a = untrained_model(None, 0).state_dict(); b = load_pretrained(sys.argv[1]).state_dict()
for k in a:
    if k in b and a[k].ndim == 2:
        print(f"{k:45s} {tuple(a[k].shape)!s:12s} untrained {a[k].norm():7.2f} trained {b[k].norm():7.2f}  spec {torch.linalg.matrix_norm(a[k],2):6.2f} -> {torch.linalg.matrix_norm(b[k],2):6.2f}")
