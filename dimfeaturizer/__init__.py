"""Deep InfoMax pretrained Site-Net features and fine-tuned predictions for crystals.

``DIMEncoder`` (scikit-learn transformer) and ``DeepInfoMaxFeaturizer`` (matminer
featuriser) turn pymatgen Structures into 128-d vectors through one shared inference
path; ``DIMRegressor`` and ``DIMClassifier`` fine-tune the encoder on labels. Nothing
heavy happens at import time.
"""

from ._version import __version__
from .config import SiteNetConfig
from .estimators import (
    CompositionFeatures,
    DeepInfoMaxFeaturizer,
    DIMClassifier,
    DIMEncoder,
    DIMRegressor,
    VectorScaler,
)
from .exceptions import StructureError
from .hub import DEFAULT_PRETRAINED, GEOMETRY_PRETRAINED

__all__ = [
    "CompositionFeatures",
    "DEFAULT_PRETRAINED",
    "DIMClassifier",
    "DIMEncoder",
    "DIMRegressor",
    "DeepInfoMaxFeaturizer",
    "GEOMETRY_PRETRAINED",
    "SiteNetConfig",
    "StructureError",
    "VectorScaler",
    "__version__",
]
