"""What every estimator shares: where its weights come from, and how parameters are
checked (once, at fit, as scikit-learn does)."""

from __future__ import annotations

import functools
import os
from numbers import Integral

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions

from .. import hub
from .._version import __version__
from ..config import SiteNetConfig
from ..distributed import current
from ..model import SiteNetDIM, initialised_model
from ..training import TrainConfig

# for per-row callers (matminer's precheck): a Hub name would otherwise mean a request a row
_cached_load_config = functools.lru_cache(maxsize=16)(hub.load_config)

PATH = [str, os.PathLike]
WEIGHTS_CONSTRAINTS: dict = {
    "pretrained": [*PATH, None],
    "revision": [str, None],
    "cache_dir": [*PATH, None],
    "local_files_only": ["boolean"],
    "config": [SiteNetConfig, *PATH, None],
    "device": [str, torch.device],
    "amp": ["boolean"],
    "compile": ["boolean", StrOptions({"auto"})],
    "inference_batch_sites": [Interval(Integral, 1, None, closed="left")],
    "checkpoint_dir": [*PATH, None],
    "random_state": ["random_state"],
    "progress": ["boolean", None],
}


def feature_names(n: int) -> list[str]:
    return [f"dim_{i}" for i in range(n)]


class WeightsSource(BaseEstimator):
    """``pretrained`` / ``config`` / ``random_state`` -> the encoder a fit starts from."""

    def _keep_parameters(self, parameters: dict) -> None:
        """Store ``__init__``'s arguments (its ``locals()``) unchanged, as scikit-learn
        expects, without writing each name a second time."""
        for name, value in parameters.items():
            if name != "self":
                setattr(self, name, value)

    def _architecture(self, cached: bool = False) -> SiteNetConfig | None:
        """``config`` as a ``SiteNetConfig``; a name or path means that model's architecture
        (``cached``: remembered per process, for per-row callers such as ``precheck``)."""
        if self.config is None or isinstance(self.config, SiteNetConfig):
            return self.config
        load = _cached_load_config if cached else hub.load_config
        return load(
            self.config,
            revision=self.revision,
            cache_dir=self.cache_dir,
            local_files_only=self.local_files_only,
        )

    def _start_encoder(self, pretrained: str | os.PathLike | None, model_seed: int) -> SiteNetDIM:
        """The bundled, saved or Hub weights ``pretrained`` (one entry of the estimator's
        ``pretrained``); random weights (``model_seed``) for ``None``."""
        config = self._architecture()
        if pretrained is None:
            return initialised_model(config, model_seed)
        model = hub.load_pretrained(
            pretrained,
            revision=self.revision,
            cache_dir=self.cache_dir,
            local_files_only=self.local_files_only,
        )
        if config is not None and config != model.config:
            raise ValueError(
                f"config differs from the architecture of the pretrained weights {pretrained!r}; "
                "pass config only with pretrained=None"
            )
        return model

    def _inference(self) -> dict:
        """The estimator's settings for the shared inference path (``inference.encode``
        and ``encode_or_collect``)."""
        return {
            "batch_sites": self.inference_batch_sites,
            "device": self.device,
            "progress": bool(self.progress),
            "compile": self.compile is True,
        }

    def _train_config(self, seed: int, **settings) -> TrainConfig:
        """The estimator's training parameters as the loop's settings (``settings``: those
        a subclass resolves itself)."""
        return TrainConfig(**{
            "epochs": self.epochs,
            "batch_sites": self.batch_sites,
            "learning_rate": self.learning_rate,
            "weight_decay": self.weight_decay,
            "validation_fraction": self.validation_fraction,
            "patience": self.patience,
            "device": str(self.device),
            "amp": self.amp,
            "compile": self.compile,
            "seed": seed,
            "checkpoint_dir": None if self.checkpoint_dir is None else str(self.checkpoint_dir),
            "progress": self.progress,
            **settings,
        })  # fmt: skip

    def _training_record(self, result, n_structures: int, objective) -> dict:
        """What config.json records about how saved weights were trained."""
        return {
            "objective": type(objective).__name__,
            "objective_params": {
                k: list(v) if isinstance(v, tuple) else v for k, v in vars(objective).items()
            },
            "started_from": json_start(self.pretrained),
            "random_state": _json_random_state(self.random_state),
            "n_structures": n_structures,
            "best_epoch": result.best_epoch,
            "epochs_run": len(result.history),
            "stopped_early": result.stopped_early,
            "library_version": __version__,
            "ranks": current().size,
            "history": result.history,
        }


def _json_random_state(random_state) -> int | str | None:
    if random_state is None or isinstance(random_state, (int, np.integer)):
        return None if random_state is None else int(random_state)
    return "RandomState instance"


def json_start(pretrained) -> str | list[str] | None:
    """``pretrained`` (one start, or several) as config.json can hold it."""
    if isinstance(pretrained, (tuple, list)):
        return [str(p) for p in pretrained]
    return None if pretrained is None else str(pretrained)
