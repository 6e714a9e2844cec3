"""``CompositionFeatures``: matminer's composition descriptors of a structure, as a
scikit-learn transformer that sits beside ``DIMEncoder`` in a ``FeatureUnion``."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from ..data.inputs import as_structure_list, describe
from ..exceptions import StructureError

PRESETS = ("magpie", "deml", "matminer", "matscholar_el", "megnet_el")


class CompositionFeatures(TransformerMixin, BaseEstimator):
    """Structures -> matminer ``ElementProperty.from_preset(preset)`` of their composition.

    Composition is what a crystal vector has to beat with few labels (formation energy is
    mostly composition); composition and structure side by side is the package's recipe
    for a small-data model::

        FeatureUnion([("composition", CompositionFeatures()), ("structure", DIMEncoder())])

    ``fit`` only builds the featuriser (nothing is learned from ``X``); clone-safe, since
    only the preset name is stored. An entry that is not a structure raises
    ``StructureError`` naming it; elements without a tabulated property give NaN in that
    column (impute downstream), as in matminer.

    Parameters
    ----------
    preset : str, default="magpie"
        A preset of matminer's ``ElementProperty``.

    Attributes
    ----------
    featurizer_ : matminer ElementProperty
    feature_names_ : list of str
        matminer's feature labels, e.g. ``"MagpieData mean Number"``.
    """

    _parameter_constraints: dict = {"preset": [StrOptions(set(PRESETS))]}

    def __init__(self, preset: str = "magpie"):
        self.preset = preset

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X=None, y=None) -> CompositionFeatures:
        from matminer.featurizers.composition import ElementProperty

        self.featurizer_ = ElementProperty.from_preset(self.preset)
        self.feature_names_ = list(self.featurizer_.feature_labels())
        return self

    def transform(self, X) -> np.ndarray:
        """``(n, n_features)`` float64 descriptors of each structure's composition."""
        check_is_fitted(self, "featurizer_")
        entries, labels = as_structure_list(X)
        compositions = []
        for position, (entry, label) in enumerate(zip(entries, labels)):
            composition = getattr(entry, "composition", None)
            if composition is None or not hasattr(entry, "lattice"):
                kind = type(entry).__name__
                raise StructureError(
                    f"{describe(position, label)}: expected a pymatgen Structure, got {kind}"
                )
            compositions.append(composition)
        rows = [self.featurizer_.featurize(c) for c in compositions]
        return np.asarray(rows, dtype=np.float64).reshape(len(entries), len(self.feature_names_))

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "featurizer_")
        return np.asarray(self.feature_names_, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # X is a sequence of pymatgen Structures
        tags.input_tags.one_d_array = True
        tags.target_tags.required = False
        return tags
