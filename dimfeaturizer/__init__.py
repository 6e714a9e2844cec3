"""Deep InfoMax pretrained Site-Net features for crystal structures.

``DIMEncoder`` (scikit-learn transformer) and ``DeepInfoMaxFeaturizer`` (matminer
featuriser) turn pymatgen Structures into 128-d vectors through one shared inference
path. Nothing heavy happens at import time.
"""

__version__ = "0.1.0"

from .config import SiteNetConfig  # noqa: E402
from .estimator import DEFAULT_PRETRAINED, DIMEncoder  # noqa: E402
from .exceptions import StructureError  # noqa: E402
from .featurizer import DeepInfoMaxFeaturizer  # noqa: E402
from .preprocessing import VectorScaler  # noqa: E402

__all__ = [
    "DEFAULT_PRETRAINED",
    "DIMEncoder",
    "DeepInfoMaxFeaturizer",
    "SiteNetConfig",
    "StructureError",
    "VectorScaler",
    "__version__",
]
