"""CompositionFeatures: magpie on a structure's composition, beside DIMEncoder."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from matminer.featurizers.composition import ElementProperty
from sklearn.base import clone
from sklearn.linear_model import Ridge
from sklearn.pipeline import FeatureUnion, Pipeline

from dimfeaturizer import CompositionFeatures, DIMEncoder, StructureError


def test_matches_matminer_on_the_composition(structures):
    out = CompositionFeatures().fit().transform(structures[:4])
    magpie = ElementProperty.from_preset("magpie")
    expected = np.array([magpie.featurize(s.composition) for s in structures[:4]])
    np.testing.assert_array_equal(out, expected)
    assert out.shape == (4, len(magpie.feature_labels()))


def test_clone_pickle_names_and_pandas(structures):
    step = CompositionFeatures(preset="deml")
    assert clone(step).get_params() == {"preset": "deml"}
    fitted = CompositionFeatures().fit()
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.transform(structures[:2]), fitted.transform(structures[:2]))
    X = pd.Series(structures[:3], index=["a", "b", "c"])
    frame = CompositionFeatures().set_output(transform="pandas").fit_transform(X)
    assert list(frame.index) == ["a", "b", "c"]
    assert frame.columns[0] == fitted.get_feature_names_out()[0] == "MagpieData minimum Number"
    with pytest.raises(ValueError, match="'preset' parameter"):
        CompositionFeatures(preset="nope").fit()


def test_composition_and_structure_side_by_side(structures, mp_entries):
    union = FeatureUnion([("composition", CompositionFeatures()),
                          ("structure", DIMEncoder(pretrained=None, random_state=0))])
    union.set_output(transform="pandas")
    features = union.fit_transform(structures)
    assert features.shape == (len(structures), 132 + 128)
    assert features.columns[-1] == "structure__dim_127"
    y = [e["e_form"] for e in mp_entries.values()]
    model = Pipeline([("features", union), ("ridge", Ridge())]).fit(structures, y)
    assert model.predict(structures).shape == (len(structures),)


def test_bad_entry_is_named(structures):
    X = pd.Series([structures[0], "NaCl"], index=["ok", "bad"])
    with pytest.raises(StructureError, match=r"entry 1 \(index 'bad'\): .*got str"):
        CompositionFeatures().fit().transform(X)
