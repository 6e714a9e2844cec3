from .kernels import Kernels
from .predictor import SiteNetPredictor
from .sitenet import SiteNetDIM, initialised_model, untrained_model

__all__ = ["Kernels", "SiteNetDIM", "SiteNetPredictor", "initialised_model", "untrained_model"]
