"""The latent-space picture (paper's Fig. 9): t-SNE of the test set's vectors, pretrained
vs untrained, coloured by "contains a metal and a halogen".

    python -m benchmarks.latent --data ../shared/data/mp_eform_gap.json.gz \\
        --out benchmarks/results/tsne.png
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

from .protocol import filter_frame, make_splits
from .representation import DEFAULT_DATA, load_data

HALOGENS = {"F", "Cl", "Br", "I", "At"}


def metal_halide(structure) -> bool:
    """True if the crystal contains a halogen and a metal (the paper's heuristic)."""
    elements = structure.composition.elements
    return any(e.symbol in HALOGENS for e in elements) and any(e.is_metal for e in elements)


def tsne_figure(structures, path, pretrained=None, perplexity=100.0, seed=0) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.manifold import TSNE
    from sklearn.preprocessing import StandardScaler

    from .representation import featuriser

    labels = np.array([metal_halide(s) for s in structures])
    # the benchmark's own steps: its control has the architecture of the weights shown
    encoders = {
        "untrained (random weights)": featuriser("dim_untrained", pretrained),
        "Deep InfoMax pretrained": featuriser("dim", pretrained),
    }
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.5))
    for ax, (title, enc) in zip(axes, encoders.items()):
        x = StandardScaler().fit_transform(enc.fit_transform(structures))
        xy = TSNE(perplexity=perplexity, random_state=seed).fit_transform(x)
        ax.scatter(*xy[~labels].T, s=3, c="#440154", label="other", alpha=0.6)
        ax.scatter(*xy[labels].T, s=3, c="#fde725", label="metal + halogen", alpha=0.9)
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(markerscale=4, fontsize=8)
    fig.suptitle(f"t-SNE of {len(structures)} test-set crystals (perplexity {perplexity:g})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return {"n": len(structures), "metal_halide": int(labels.sum())}


def main(argv: list[str] | None = None) -> int:
    warnings.simplefilter("ignore")
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data", default=DEFAULT_DATA)
    p.add_argument("--pretrained", default=None)
    p.add_argument("--out", default="benchmarks/results/tsne.png")
    args = p.parse_args(argv)
    df = filter_frame(load_data(args.data, None))
    test = make_splits(len(df)).test
    print(tsne_figure(list(df["structure"].iloc[test]), args.out, args.pretrained))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
