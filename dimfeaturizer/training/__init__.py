from .loop import TrainConfig, TrainResult, pretrain
from .objective import FALSE_SAMPLE_KINDS

__all__ = ["FALSE_SAMPLE_KINDS", "TrainConfig", "TrainResult", "pretrain"]
