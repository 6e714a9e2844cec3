"""Export the best epoch of a (possibly still running) pretraining run as pretrained weights.

    python scripts/export_checkpoint.py runs/mp/checkpoints pretrained/<name>

The architecture comes from the checkpoint; checkpoints written before it was recorded
there (runs/mp, the first epochs of runs/mp-linz) need ``--model-config`` with the JSON
that ``pretrain_mp.py`` was given.

Writes config.json + model.safetensors (with the run's history and best epoch recorded
in config.json under "training") and the loss-curve picture next to them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from dimfeaturizer.config import SiteNetConfig
from dimfeaturizer.hub import save_pretrained
from dimfeaturizer.model import SiteNetDIM
from dimfeaturizer.training.loop import CHECKPOINT


def plot_history(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True)
    epochs = [h["epoch"] for h in history]
    for ax, key, title in zip(
        axes.ravel(),
        ("dim_local", "kl_local", "dim_global", "kl_global"),
        ("local DIM (Jensen-Shannon)", "local KL", "global DIM (Jensen-Shannon)", "global KL"),
    ):
        ax.plot(epochs, [h[f"train_{key}"] for h in history], "o-", label="train")
        if f"val_{key}" in history[0]:
            ax.plot(epochs, [h[f"val_{key}"] for h in history], "s-", label="validation")
        if key.startswith("dim"):
            ax.axhline(2 * torch.log(torch.tensor(2.0)).item(), color="r", ls="--",
                       label="score 0 (2 ln 2)")
        ax.set_title(title)
        ax.legend(fontsize=8)
    for ax in axes[1]:
        ax.set_xlabel("epoch")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("checkpoint_dir")
    p.add_argument("out")
    p.add_argument("--training-json", default=None, help="extra JSON merged into 'training'")
    p.add_argument("--plot", default=None, help="also write the loss curves here")
    p.add_argument("--model-config", default=None,
                   help="SiteNetConfig fields as JSON, only for checkpoints that predate "
                   "recording it (pretrain_mp.py --model-config)")
    args = p.parse_args()
    state = torch.load(Path(args.checkpoint_dir) / CHECKPOINT, map_location="cpu",
                       weights_only=True)
    recorded = state.get("model_config")
    given = None if args.model_config is None else SiteNetConfig(**json.loads(args.model_config))
    if recorded is not None and given is not None and given != SiteNetConfig.from_dict(recorded):
        p.error("--model-config disagrees with the model config the checkpoint records")
    config = SiteNetConfig.from_dict(recorded) if recorded is not None else given or SiteNetConfig()
    model = SiteNetDIM(config)
    model.load_state_dict(state["best_state"])
    training = {"best_epoch": state["best_epoch"], "epochs_run": len(state["history"]),
                "history": state["history"]}
    if args.training_json:
        training.update(json.loads(Path(args.training_json).read_text()))
    save_pretrained(model, args.out, extra={"training": training})
    if args.plot:
        plot_history(state["history"], Path(args.plot))
    print(f"exported epoch {state['best_epoch']} of {len(state['history'])} to {args.out}")


if __name__ == "__main__":
    main()
