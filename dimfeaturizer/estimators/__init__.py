"""The public faces: scikit-learn estimators and the matminer featuriser."""

from .composition import CompositionFeatures
from .encoder import DIMEncoder
from .featurizer import DeepInfoMaxFeaturizer
from .scaling import VectorScaler
from .supervised import DIMClassifier, DIMRegressor

__all__ = [
    "CompositionFeatures",
    "DIMClassifier",
    "DIMEncoder",
    "DIMRegressor",
    "DeepInfoMaxFeaturizer",
    "VectorScaler",
]
