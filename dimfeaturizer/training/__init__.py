"""Training: one loop (``fit``) that runs an ``Objective``; Deep InfoMax pretraining and
supervised fine-tuning are the two objectives."""

from .deep_infomax import DeepInfoMax
from .false_samples import ALL_FALSE_SAMPLE_KINDS, FALSE_SAMPLE_KINDS
from .loop import CHECKPOINT, TrainConfig, TrainResult, fit, validation_split
from .objective import Objective
from .supervised import Supervised

__all__ = [
    "ALL_FALSE_SAMPLE_KINDS",
    "CHECKPOINT",
    "FALSE_SAMPLE_KINDS",
    "DeepInfoMax",
    "Objective",
    "Supervised",
    "TrainConfig",
    "TrainResult",
    "fit",
    "validation_split",
]
