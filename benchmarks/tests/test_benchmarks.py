"""The representation-benchmark harness (``benchmarks``): the protocol's
exact splits, the clone-safe matminer adapter, the on-disk feature cache, the end-to-end
run with its tables and plots, and the ``--dataset`` download path (served from a local
stand-in on 127.0.0.1; no other network)."""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from matminer.featurizers.base import BaseFeaturizer
from matminer.featurizers.composition import ElementProperty
from matminer.featurizers.structure import DensityFeatures, OrbitalFieldMatrix
from pymatgen.core import Lattice, Structure
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.feature_selection import VarianceThreshold
from sklearn.impute import SimpleImputer
from sklearn.linear_model import RidgeCV
from sklearn.metrics import mean_absolute_error
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from benchmarks import cache as cache_mod
from benchmarks import protocol, representation
from benchmarks.adapters import MatminerTransformer
from benchmarks.cache import CachedFeaturizer, structure_key

# matminer's OFM builds np.matrix objects
pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One torch thread: tiny tensors, and a busy 2-core machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(autouse=True)
def _fresh_store():
    """Every test starts (and leaves) with an empty in-process row store."""
    cache_mod._STORE.clear()
    yield
    cache_mod._STORE.clear()


@pytest.fixture
def frame(mp_entries) -> pd.DataFrame:
    names = list(mp_entries)
    return pd.DataFrame(
        {
            "structure": [mp_entries[k]["structure"] for k in names],
            "e_form": [mp_entries[k]["e_form"] for k in names],
            "gap": [mp_entries[k]["gap"] for k in names],
        },
        index=names,
    )


# --------------------------------------------------------------------------- splits


def reference_splits(n: int) -> dict[str, np.ndarray]:
    """PROTOCOL.md "Splits (exact)", written out independently of the package."""
    perm = np.random.default_rng(0).permutation(n)
    n_train = n * 4 // 5  # "the first 80 % of perm"
    train_pool, test_pool = perm[:n_train], perm[n_train:]
    return {
        "train_pool": train_pool,
        "test_pool": test_pool,
        "test": test_pool[:2000],
        "label_pool": train_pool[:5000],
    }


def reference_labelled(label_pool: np.ndarray, n: int, r: int) -> np.ndarray:
    return np.random.default_rng(1000 * n + r).choice(label_pool, n, replace=False)


def test_protocol_constants():
    assert protocol.MAX_SITES == 50
    assert protocol.SIZES == (50, 100, 250, 1000)
    assert protocol.REPEATS == 20
    assert (protocol.TEST_SIZE, protocol.LABEL_POOL_SIZE) == (2000, 5000)


@pytest.mark.parametrize("n", [37, 1000, 31920])
def test_splits_match_protocol(n):
    splits = protocol.make_splits(n)
    ref = reference_splits(n)
    for name, expected in ref.items():
        np.testing.assert_array_equal(getattr(splits, name), expected, err_msg=name)
    # the pools partition range(n); pretraining on the train pool never sees a test crystal
    assert not set(splits.train_pool.tolist()) & set(splits.test_pool.tolist())
    assert sorted(np.concatenate([splits.train_pool, splits.test_pool]).tolist()) == list(range(n))
    assert set(splits.test.tolist()) <= set(splits.test_pool.tolist())
    assert set(splits.label_pool.tolist()) <= set(splits.train_pool.tolist())
    for size in protocol.SIZES:
        if size > len(splits.label_pool):
            continue
        for r in (0, 1, protocol.REPEATS - 1):
            subset = splits.labelled(size, r)
            np.testing.assert_array_equal(subset, reference_labelled(ref["label_pool"], size, r))
            assert len(np.unique(subset)) == size
            assert set(subset.tolist()) <= set(splits.label_pool.tolist())


def test_splits_full_corpus_sizes():
    splits = protocol.make_splits(31920)
    assert len(splits.train_pool) == 25536 and len(splits.test_pool) == 6384
    assert len(splits.test) == 2000 and len(splits.label_pool) == 5000
    # repeats differ from each other (a seed that ignored r would repeat one subset)
    assert not np.array_equal(splits.labelled(50, 0), splits.labelled(50, 1))


def test_split_sizes_for_every_small_n():
    for n in range(1, 300):
        splits = protocol.make_splits(n)
        assert len(splits.train_pool) == n * 4 // 5, n
        assert len(splits.train_pool) + len(splits.test_pool) == n


def test_filter_frame_keeps_small_structures_in_file_order(mp_entries):
    names = list(mp_entries)
    big = mp_entries["LiFePO4"]["structure"] * (2, 1, 1)  # 56 sites
    boundary = mp_entries["Si"]["structure"] * (5, 5, 1)  # exactly 50 sites
    assert (len(big), len(boundary)) == (56, 50)
    crystals = [mp_entries[k]["structure"] for k in names]
    rows = [*crystals[:3], big, boundary, *crystals[3:], big]
    labels = [*names[:3], "big1", "boundary", *names[3:], "big2"]
    df = pd.DataFrame({"s": rows, "y": np.arange(len(rows))}, index=labels)
    kept = protocol.filter_frame(df, column="s")
    assert list(kept.index) == [*names[:3], "boundary", *names[3:]]
    assert list(kept["y"]) == [i for i, s in enumerate(rows) if len(s) <= 50]
    assert all(a is b for a, b in zip(kept["s"], [s for s in rows if len(s) <= 50]))


# --------------------------------------------------------------------------- adapter


def test_raw_ofm_is_not_clone_safe():
    """Why the adapter exists: OrbitalFieldMatrix does not keep ``period_tag``, so
    scikit-learn cannot clone it faithfully."""
    raw = OrbitalFieldMatrix(period_tag=True, flatten=True)
    assert len(raw.feature_labels()) == 39 * 39  # 32 orbitals + 7 period tags
    try:
        cloned = clone(raw)
    except AttributeError as err:  # matminer 0.10: get_params() fails outright
        assert "period_tag" in str(err)
    else:  # a later matminer may clone; then the clone must have kept the argument
        pytest.fail(
            "OrbitalFieldMatrix is clone-safe now "
            f"({len(cloned.feature_labels())} features); the adapter may be unnecessary"
        )


@pytest.mark.parametrize(
    "params, n_features",
    [
        ({"period_tag": False, "flatten": True}, 32 * 32),
        ({"period_tag": True, "flatten": True}, 39 * 39),
    ],
)
def test_adapter_clone_keeps_ofm_arguments(structures, params, n_features):
    adapter = MatminerTransformer(OrbitalFieldMatrix, dict(params))
    cloned = clone(adapter)
    assert cloned.get_params() == adapter.get_params()
    assert cloned.params == params and cloned.params is not adapter.params
    cloned.fit()
    direct = OrbitalFieldMatrix(**params)
    assert (cloned.featurizer_.size, cloned.featurizer_.flatten) == (direct.size, direct.flatten)
    assert cloned.feature_names_ == list(direct.feature_labels())
    assert len(cloned.feature_names_) == n_features
    np.testing.assert_array_equal(cloned.get_feature_names_out(), direct.feature_labels())
    small = [s for s in structures if len(s) <= 2][:3]
    x = cloned.transform(small)
    assert x.shape == (len(small), n_features) and x.dtype == np.float64
    expected = np.array([direct.featurize(s) for s in small], dtype=float)
    np.testing.assert_allclose(x, expected)
    assert cloned.n_failed_ == 0


def test_adapter_composition_mode_magpie(structures):
    adapter = clone(MatminerTransformer(ElementProperty, preset="magpie", on="composition"))
    x = adapter.fit().transform(structures)
    direct = ElementProperty.from_preset("magpie")
    assert adapter.feature_names_ == list(direct.feature_labels())
    assert x.shape == (len(structures), len(direct.feature_labels()))
    expected = np.array([direct.featurize(s.composition) for s in structures], dtype=float)
    np.testing.assert_allclose(x, expected)
    assert adapter.n_failed_ == 0
    # pandas input (a Series, or a one-column frame) works the same way
    np.testing.assert_allclose(adapter.transform(pd.Series(structures)), x)


def test_adapter_rejects_unknown_mode():
    with pytest.raises(ValueError, match="on must be"):
        MatminerTransformer(ElementProperty, preset="magpie", on="sites").fit()


def test_adapter_unfitted_raises(structures):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        MatminerTransformer(ElementProperty, preset="magpie").transform(structures)


class FailsOnOneSite(BaseFeaturizer):
    """Raises on single-site crystals, otherwise two numbers."""

    def featurize(self, s):
        if len(s) == 1:
            raise ValueError("one site")
        return [float(len(s)), float(s.volume)]

    def feature_labels(self):
        return ["n_sites", "volume"]

    def citations(self):
        return []

    def implementors(self):
        return ["test"]


def test_adapter_failures_become_nan_rows(structures):
    adapter = MatminerTransformer(FailsOnOneSite, {}).fit()
    x = adapter.transform(structures)
    one_site = np.array([len(s) == 1 for s in structures])
    assert one_site.sum() >= 2
    assert x.shape == (len(structures), 2)
    assert np.isnan(x[one_site]).all()
    assert np.isfinite(x[~one_site]).all()
    np.testing.assert_array_equal(x[~one_site, 0], [len(s) for s in structures if len(s) > 1])
    assert adapter.n_failed_ == one_site.sum()


# --------------------------------------------------------------------------- cache

CALLS: list[int] = []  # sizes of every CountingFeaturizer.transform call


class CountingFeaturizer(TransformerMixin, BaseEstimator):
    """A cheap, deterministic featuriser that records how often it is called."""

    def __init__(self, scale=1.0):
        self.scale = scale

    def fit(self, X=None, y=None):
        self.n_features_ = 3
        return self

    def transform(self, X):
        entries = list(X)
        CALLS.append(len(entries))
        return np.array(
            [[self.scale * s.volume, float(len(s)), s.density] for s in entries], dtype=float
        )

    def get_feature_names_out(self, input_features=None):
        return np.array(["volume", "n_sites", "density"], dtype=object)


def direct_rows(structures, scale=1.0) -> np.ndarray:
    return np.array([[scale * s.volume, float(len(s)), s.density] for s in structures])


@pytest.fixture
def calls():
    CALLS.clear()
    yield CALLS
    CALLS.clear()


def chunk_files(directory):
    return sorted(p.name for p in directory.glob("chunk-*.npz"))


def test_cache_computes_then_reads_from_disk(structures, tmp_path, calls):
    n = len(structures)
    first = CachedFeaturizer(CountingFeaturizer(), tmp_path).fit()
    x1 = first.transform(structures)
    assert (first.misses_, first.hits_) == (n, 0)
    assert sum(calls) == n
    np.testing.assert_array_equal(x1, direct_rows(structures))
    assert first.directory.parent == tmp_path
    assert first.directory.name == first.key_
    assert len(chunk_files(first.directory)) == 1  # n < chunk_size 200
    assert list(first.get_feature_names_out()) == ["volume", "n_sites", "density"]

    # same object again: served from memory
    calls.clear()
    again = first.transform(structures[::-1])
    assert (first.misses_, first.hits_) == (0, n) and calls == []
    np.testing.assert_array_equal(again, x1[::-1])

    # "a new process": empty in-process store, new objects, rows from disk only
    cache_mod._STORE.clear()
    second = CachedFeaturizer(CountingFeaturizer(), str(tmp_path)).fit()
    assert second.key_ == first.key_
    x2 = second.transform(structures)
    assert (second.misses_, second.hits_) == (0, n)
    assert calls == []
    np.testing.assert_array_equal(x2, x1)


def test_cache_partial_hits_and_duplicates(structures, tmp_path, calls):
    cached = CachedFeaturizer(CountingFeaturizer(), tmp_path).fit()
    cached.transform(structures[:5])
    calls.clear()
    x = cached.transform(structures)
    assert (cached.hits_, cached.misses_) == (5, len(structures) - 5)
    assert calls == [len(structures) - 5]  # only the new ones are featurised
    np.testing.assert_array_equal(x, direct_rows(structures))
    calls.clear()
    doubled = cached.transform([structures[0], structures[0], structures[1]])
    assert calls == [] and doubled.shape == (3, 3)
    np.testing.assert_array_equal(doubled[0], doubled[1])


def test_cache_resumes_only_missing_chunk(structures, tmp_path, calls):
    n = len(structures)
    first = CachedFeaturizer(CountingFeaturizer(), tmp_path, chunk_size=4).fit()
    x1 = first.transform(structures)
    assert calls == [4, 4, 4, 2]
    files = chunk_files(first.directory)
    assert len(files) == 4
    # a killed run: one chunk never written, and a half-written temporary file left over
    lost = first.directory / files[1]
    with np.load(lost) as data:
        lost_keys = data["keys"].tolist()
    lost.unlink()
    (first.directory / "chunk-0123456789abcdef.tmp.npz").write_bytes(b"PK\x03\x04 truncated")

    cache_mod._STORE.clear()
    calls.clear()
    resumed = CachedFeaturizer(CountingFeaturizer(), tmp_path, chunk_size=4).fit()
    x2 = resumed.transform(structures)
    assert calls == [len(lost_keys)]
    assert (resumed.misses_, resumed.hits_) == (len(lost_keys), n - len(lost_keys))
    np.testing.assert_array_equal(x2, x1)
    assert files[1] in chunk_files(first.directory)  # the same chunk, written again
    keys = [structure_key(s) for s in structures]
    assert set(lost_keys) <= set(keys)


def test_cache_parallel_workers(structures, tmp_path):
    """Chunks featurised in worker processes land in the same rows and files, and a
    fresh interpreter (the workers) computes the same featuriser keys, weights included."""
    magpie = MatminerTransformer(ElementProperty, preset="magpie", on="composition")
    seq = CachedFeaturizer(magpie, tmp_path / "seq", chunk_size=5).fit().transform(structures)
    par = CachedFeaturizer(magpie, tmp_path / "par", chunk_size=5, n_jobs=2).fit()
    steps = [representation.featuriser(name) for name in ("dim_untrained", "magpie")]
    try:
        x = par.transform(structures)
        in_workers = joblib.Parallel(n_jobs=2)(
            joblib.delayed(CachedFeaturizer.fit)(CachedFeaturizer(step)) for step in steps
        )
    finally:
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor().shutdown(wait=True)
    np.testing.assert_array_equal(x, seq)
    assert len(chunk_files(par.directory)) == 3
    assert [c.key_ for c in in_workers] == [CachedFeaturizer(s).fit().key_ for s in steps]


def test_cache_key_of_encoder_is_stable_and_tracks_weights():
    """The untrained encoder is rebuilt on every fit: the same weights must give the
    same key (else every pipeline fit of a benchmark misses the cache), other weights
    another one."""
    from dimfeaturizer import DIMEncoder

    keys = [CachedFeaturizer(DIMEncoder(pretrained=None, random_state=0)).fit().key_ for _ in "ab"]
    assert keys[0] == keys[1]
    other = CachedFeaturizer(DIMEncoder(pretrained=None, random_state=1)).fit()
    assert other.key_ != keys[0]
    fitted = DIMEncoder(pretrained=None, random_state=0).fit()
    assert cache_mod.fingerprint(fitted) == keys[0]
    with torch.no_grad():
        next(fitted.model_.parameters()).view(-1)[0] += 1e-6
    assert cache_mod.fingerprint(fitted) != keys[0]


def test_fingerprint_matches_joblib_hash_without_tensors():
    """Keys of matminer featurisers are plain ``joblib.hash`` (existing caches stay valid)."""
    step = MatminerTransformer(ElementProperty, preset="magpie", on="composition").fit()
    assert cache_mod.fingerprint(step) == joblib.hash(step)
    assert cache_mod.fingerprint({"a": np.arange(3)}) == joblib.hash({"a": np.arange(3)})
    t = torch.arange(6, dtype=torch.float32)
    assert cache_mod.fingerprint(t) == cache_mod.fingerprint(t.clone())
    assert cache_mod.fingerprint(t) != cache_mod.fingerprint(t.double())
    assert cache_mod.fingerprint(t) != cache_mod.fingerprint(t.reshape(2, 3))
    assert cache_mod.fingerprint(t.reshape(3, 2).t()) == cache_mod.fingerprint(
        t.reshape(3, 2).t().contiguous()
    )


def test_cache_key_depends_on_featuriser_parameters(structures, tmp_path, calls):
    a = CachedFeaturizer(CountingFeaturizer(scale=1.0), tmp_path).fit()
    b = CachedFeaturizer(CountingFeaturizer(scale=2.0), tmp_path).fit()
    assert a.key_ != b.key_
    xa, xb = a.transform(structures), b.transform(structures)
    assert b.misses_ == len(structures)  # nothing shared with a's rows
    np.testing.assert_allclose(xb[:, 0], 2 * xa[:, 0])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([a.key_, b.key_])
    # the key is of the *fitted* featuriser and stable across fits and clones
    assert CachedFeaturizer(CountingFeaturizer(), tmp_path).fit().key_ == a.key_
    assert clone(a).fit().key_ == a.key_


def test_cache_without_directory_is_memory_only(structures, tmp_path, calls):
    cached = CachedFeaturizer(CountingFeaturizer(), None).fit()
    x = cached.transform(structures)
    np.testing.assert_array_equal(x, direct_rows(structures))
    assert list(tmp_path.iterdir()) == []


def test_structure_key(structures):
    s = structures[7]
    assert structure_key(s) == structure_key(s.copy())
    round_trip = type(s).from_dict(json.loads(json.dumps(s.as_dict())))
    assert structure_key(s) == structure_key(round_trip)
    assert len({structure_key(t) for t in structures}) == len(structures)

    moved = s.copy()
    moved.translate_sites([0], [1e-9, 0, 0], frac_coords=True, to_unit_cell=False)
    assert structure_key(moved) != structure_key(s)
    strained = s.copy()
    strained.apply_strain(1e-9)
    assert structure_key(strained) != structure_key(s)
    swapped = s.copy()
    swapped.replace(0, "Sr" if s[0].specie.symbol != "Sr" else "Ca")
    assert structure_key(swapped) != structure_key(s)


# --------------------------------------------------------------------------- end to end


def protocol_ridge() -> list:
    clip = FunctionTransformer(np.clip, kw_args={"a_min": -5.0, "a_max": 5.0})
    return [
        ("impute", SimpleImputer()),
        ("variance", VarianceThreshold()),
        ("scale", StandardScaler()),
        ("clip", clip),
        ("ridge", RidgeCV(alphas=np.logspace(-3, 3, 13))),
    ]


def test_head_steps_follow_protocol():
    ridge = representation.head_steps("ridge", 3)
    assert [name for name, _ in ridge] == ["impute", "variance", "scale", "clip", "ridge"]
    np.testing.assert_allclose(ridge[-1][1].alphas, np.logspace(-3, 3, 13))
    assert ridge[3][1].kw_args == {"a_min": -5.0, "a_max": 5.0}
    np.testing.assert_array_equal(
        ridge[3][1].fit_transform(np.array([[-9.0, 1.0, 7.0]])), [[-5, 1, 5]]
    )
    mlp = representation.head_steps("mlp", 3)[-1][1]
    assert (mlp.hidden_layer_sizes, mlp.max_iter, mlp.random_state) == ((64,), 2000, 3)
    with pytest.raises(ValueError, match="unknown head"):
        representation.head_steps("svr", 0)
    with pytest.raises(ValueError, match="unknown featuriser"):
        representation.featuriser("soap")


def test_featuriser_factory_matches_protocol():
    ofm = representation.featuriser("ofm")
    assert ofm.featurizer_cls is OrbitalFieldMatrix
    assert ofm.params == {"period_tag": False, "flatten": True}
    assert representation.featuriser("density").featurizer_cls is DensityFeatures
    magpie = representation.featuriser("magpie")
    assert (magpie.featurizer_cls, magpie.preset, magpie.on) == (
        ElementProperty,
        "magpie",
        "composition",
    )
    untrained = representation.featuriser("dim_untrained")
    assert (untrained.pretrained, untrained.random_state) == (None, 0)
    other = representation.featuriser("dim_untrained_rs3")
    assert (other.pretrained, other.random_state) == (None, 3)
    for bad in ("dim_untrained_rs", "dim_untrained_rsx"):
        with pytest.raises(ValueError, match="unknown featuriser"):
            representation.featuriser(bad)


def test_untrained_control_has_the_architecture_of_the_weights_under_test(tmp_path):
    from dimfeaturizer.config import SiteNetConfig
    from dimfeaturizer.hub import save_pretrained
    from dimfeaturizer.model import untrained_model

    wide = SiteNetConfig(post_pool_hidden=96, linear_global_critic=True)
    save_pretrained(untrained_model(wide, 7), tmp_path / "wide")
    for name, seed in (("dim_untrained", 0), ("dim_untrained_rs2", 2)):
        control = representation.featuriser(name, str(tmp_path / "wide")).fit()
        assert (control.pretrained, control.random_state) == (None, seed)
        assert control.model_.config == wide
        assert control.model_.global_.post_pool[0].out_features == 96
    # without --pretrained, the control takes the bundled default weights' architecture
    from dimfeaturizer import DEFAULT_PRETRAINED
    from dimfeaturizer.hub import load_pretrained

    default = load_pretrained(DEFAULT_PRETRAINED).config
    assert representation.featuriser("dim_untrained").fit().model_.config == default


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")  # array API
def test_vector_scaler_keeps_the_columns_relative_sizes():
    from sklearn.utils.estimator_checks import check_estimator

    from dimfeaturizer import VectorScaler

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3)) * [2.0, 0.1, 0.5] + [1.0, -3.0, 0.0]
    scaler = VectorScaler().fit(x)
    z = scaler.transform(x)
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-12)
    # one divisor for every column: the largest std, so that column gets unit std ...
    np.testing.assert_allclose(z.std(0), x.std(0) / x.std(0).max())
    assert z.std(0)[0] == pytest.approx(1.0)
    # ... where StandardScaler would give every column unit std
    np.testing.assert_allclose(StandardScaler().fit_transform(x).std(0), 1.0)
    # new rows use what fit saw
    expected = (x[:2] + 1 - x.mean(0)) / x.std(0).max()
    np.testing.assert_allclose(scaler.transform(x[:2] + 1), expected)
    assert VectorScaler().fit(np.ones((3, 2))).scale_ == 1.0  # constant: no 0/0
    check_estimator(VectorScaler())


def test_head_steps_vector_scaling():
    from dimfeaturizer import VectorScaler

    column = representation.head_steps("ridge", 0)
    vector = representation.head_steps("ridge", 0, "vector")
    assert [n for n, _ in vector] == [n for n, _ in column]
    assert isinstance(column[2][1], StandardScaler)
    assert isinstance(vector[2][1], VectorScaler)
    with pytest.raises(ValueError, match="unknown scaling 'row'"):
        representation.head_steps("ridge", 0, "row")


def test_head_model_selects_the_scaler_by_cv_on_the_labels():
    from sklearn.model_selection import GridSearchCV

    from dimfeaturizer import VectorScaler

    for head, folds in (("ridge", 5), ("mlp", 3)):
        search = representation.head_model(head, 4)
        assert isinstance(search, GridSearchCV)
        assert search.scoring == "neg_mean_absolute_error"
        assert (search.cv.n_splits, search.cv.shuffle, search.cv.random_state) == (folds, True, 4)
        grid = search.param_grid["scale"]
        assert [type(g) for g in grid] == [StandardScaler, VectorScaler]
        steps = [n for n, _ in search.estimator.steps]
        assert steps == ["impute", "variance", "scale", "clip", head]
    assert isinstance(representation.head_model("ridge", 0, "column"), Pipeline)


def test_union_featuriser_is_both_parts_side_by_side(structures, tmp_path):
    from sklearn.pipeline import FeatureUnion

    union = representation.features("magpie+dim_untrained", None, tmp_path)
    assert isinstance(union, FeatureUnion)
    assert [name for name, _ in union.transformer_list] == ["magpie", "dim_untrained"]
    x = union.fit(structures[:3]).transform(structures[:3])
    magpie = representation.features("magpie", None, tmp_path).fit().transform(structures[:3])
    dim = representation.features("dim_untrained", None, tmp_path).fit().transform(structures[:3])
    np.testing.assert_array_equal(x, np.hstack([magpie, dim]))
    with pytest.raises(ValueError, match="unknown featuriser 'soap'"):
        representation.features("magpie+soap", None, tmp_path)


def test_control_is_the_median_of_per_draw_medians():
    assert representation.control_family("dim_untrained") == "dim_untrained"
    assert representation.control_family("dim_untrained_rs3") == "dim_untrained"
    assert representation.control_family("magpie+dim_untrained_rs1") == "magpie+dim_untrained"
    assert representation.control_family("dim") is None
    assert representation.control_family("magpie+dim") is None
    # three draws, three repeats: per-draw medians 1.0, 3.0, 2.0 -> bar 2.0, best 1.0
    maes = {"dim_untrained": [0.5, 1.0, 9.0], "dim_untrained_rs1": [3.0, 3.0, 0.1],
            "dim_untrained_rs2": [2.0, 1.0, 5.0], "dim": [1.5, 1.5, 1.5]}  # fmt: skip
    records = [
        {"featuriser": f, "target": "e_form", "head": "ridge", "n": 50, "repeat": r, "mae": m}
        for f, values in maes.items()
        for r, m in enumerate(values)
    ]
    table = representation.control_medians(records)
    assert len(table) == 1
    row = table.iloc[0]
    got = (row["family"], row["median"], row["best"], row["draws"])
    assert got == ("dim_untrained", 2.0, 1.0, 3)
    verdict = representation.verdict(records)
    assert "| ridge | 50 | 1.500 | 2.000 | yes |" in verdict
    records += [{**r, "mae": 2.5} for r in records if r["featuriser"] == "dim"]  # now 1.5/2.5
    worse = [r for r in records if not (r["featuriser"] == "dim" and r["mae"] == 1.5)]
    assert "| ridge | 50 | 2.500 | 2.000 | **no** |" in representation.verdict(worse)
    summary = representation.summary_table(records)
    assert "| **dim_untrained: median of 3 draws** | **2.000** |" in summary
    assert "| dim_untrained: best of 3 draws (not the bar) | 1.000 |" in summary


@pytest.fixture(scope="module")
def e2e(tmp_path_factory, mp_entries):
    """One tiny run shared by the end-to-end checks."""
    names = list(mp_entries)
    df = pd.DataFrame(
        {
            "structure": [mp_entries[k]["structure"] for k in names],
            "e_form": [mp_entries[k]["e_form"] for k in names],
            "gap": [mp_entries[k]["gap"] for k in names],
        },
        index=names,
    )
    cache_dir = tmp_path_factory.mktemp("features")
    records, seconds = representation.run(
        df,
        targets=["e_form"],
        featurisers=["dim_untrained", "magpie"],
        heads=["ridge"],
        sizes=[5],
        repeats=2,
        cache_dir=cache_dir,
        n_jobs=1,
    )
    return df, cache_dir, records, seconds


def test_run_records(e2e):
    df, cache_dir, records, seconds = e2e
    assert len(records) == 2 * 1 * 1 * 1 * 2
    assert {(r["featuriser"], r["repeat"]) for r in records} == {
        (f, r) for f in ("dim_untrained", "magpie") for r in (0, 1)
    }
    assert all(r["head"] == "ridge" and r["target"] == "e_form" and r["n"] == 5 for r in records)
    assert all(r["scaling"] == "selected" and r["scale"] in ("column", "vector") for r in records)
    maes = np.array([r["mae"] for r in records])
    assert np.isfinite(maes).all() and (maes > 0).all() and (maes < 10).all()
    json.dumps(records)  # plain types, as results.json needs
    assert set(seconds) == {"dim_untrained", "magpie"} and min(seconds.values()) >= 0
    # one cache directory per featuriser: every fit in the run found the same key
    assert len([p for p in cache_dir.iterdir() if p.is_dir()]) == 2


def test_run_scores_the_protocol_subsets(e2e):
    """Each record is the protocol's pipeline fitted on labelled(n, r), scored on the
    test set: recompute the magpie ones independently, the scaler chosen by 5-fold CV
    MAE on the labelled subset (version 2) and the fixed StandardScaler (version 1)."""
    from sklearn.model_selection import KFold, cross_val_score

    from dimfeaturizer import VectorScaler

    df, _, records, _ = e2e
    splits = reference_splits(len(df))
    structures = list(df["structure"])
    y = df["e_form"].to_numpy()
    features = MatminerTransformer(ElementProperty, preset="magpie", on="composition").fit()
    x = features.transform(structures)
    test = splits["test"]
    for r in (0, 1):
        train = reference_labelled(splits["label_pool"], 5, r)
        rec = next(rec for rec in records if rec["featuriser"] == "magpie" and rec["repeat"] == r)
        column = Pipeline(protocol_ridge()).fit(x[train], y[train])
        assert rec["mae_column"] == pytest.approx(
            mean_absolute_error(y[test], column.predict(x[test])), rel=1e-9
        )
        cv_mae = {}
        for name, scaler in (("column", StandardScaler()), ("vector", VectorScaler())):
            pipe = Pipeline(protocol_ridge()).set_params(scale=scaler)
            folds = KFold(5, shuffle=True, random_state=r)
            cv_mae[name] = -cross_val_score(
                pipe, x[train], y[train], cv=folds, scoring="neg_mean_absolute_error"
            ).mean()
        chosen = min(cv_mae, key=cv_mae.get)  # a tie goes to the first, as GridSearchCV
        assert rec["scale"] == chosen
        best = Pipeline(protocol_ridge()).set_params(
            scale=StandardScaler() if chosen == "column" else VectorScaler()
        )
        best.fit(x[train], y[train])
        assert rec["mae"] == pytest.approx(
            mean_absolute_error(y[test], best.predict(x[test])), rel=1e-9
        )


def test_summary_table(e2e):
    _, _, records, _ = e2e
    table = representation.summary_table(records)
    assert "### e_form, ridge (test MAE: median [IQR] over 2 repeats)" in table
    assert "| featuriser | N=5 |" in table
    for name in ("dim_untrained", "magpie"):
        maes = [r["mae"] for r in records if r["featuriser"] == name]
        q1, med, q3 = np.percentile(maes, [25, 50, 75])
        assert f"| {name} | {med:.3f} [{q1:.3f}–{q3:.3f}] |" in table


def test_box_plots_write_png(e2e, tmp_path):
    _, _, records, _ = e2e
    path = tmp_path / "boxplots_ridge.png"
    representation.box_plots(records, path, "ridge")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_timing_and_table(structures):
    rows = representation.timing(structures[:4], ["dim_untrained", "magpie"], None, n_sample=3)
    assert [r["featuriser"] for r in rows] == ["dim_untrained", "magpie"]
    assert [r["n"] for r in rows] == [4, 3]
    for r in rows:
        assert r["ms_per_structure"] > 0 and r["structures_per_s"] > 0
        assert r["times_dim"] is None  # no pretrained "dim" row to compare with
    table = representation.timing_table(rows)
    lines = table.strip().splitlines()
    assert lines[0].startswith("| featuriser | ms / structure |") and len(lines) == 4
    assert lines[2].startswith("| dim_untrained | ") and "| batched transform" in lines[2]
    assert "(n=3) |" in lines[3]
    with_dim = [
        {**rows[1], "featuriser": "ofm", "ms_per_structure": 30.0, "times_dim": 12.0},
    ]
    assert "| ofm | 30.00 |" in representation.timing_table(with_dim)
    assert "| 12.0 |" in representation.timing_table(with_dim)


def test_main_writes_results(frame, tmp_path, capsys):
    from matminer.utils.io import store_dataframe_as_json

    data = tmp_path / "data.json.gz"
    store_dataframe_as_json(frame, str(data), pbar=False)
    out = tmp_path / "out"
    argv = [
        "--data", str(data), "--target", "e_form", "gap", "--featurisers", "magpie",
        "--heads", "ridge", "--sizes", "5", "6", "--repeats", "2", "--n-jobs", "1",
        "--timing-sample", "2", "--cache-dir", str(tmp_path / "cache"), "--out", str(out),
    ]  # fmt: skip
    assert representation.main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["command"].endswith(" ".join(argv))
    assert len(results["records"]) == 2 * 2 * 2  # targets x sizes x repeats
    assert {r["target"] for r in results["records"]} == {"e_form", "gap"}
    assert [t["featuriser"] for t in results["timing"]] == ["magpie"]
    summary = (out / "summary.md").read_text()
    assert "### gap, ridge" in summary and "| magpie | " in summary
    assert "## Featurisation time" in summary
    assert (out / "boxplots_ridge.png").read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    # --featurise-only fills the cache and prints the seconds
    assert (
        representation.main([*argv[:-2], "--out", str(tmp_path / "none"), "--featurise-only"]) == 0
    )
    assert set(json.loads(capsys.readouterr().out.strip().splitlines()[-1])) == {"magpie"}
    assert not (tmp_path / "none").exists()
    # the default is protocol version 2: selected scaling, StandardScaler scores beside it
    assert results["scaling"] == "selected"
    assert "## Fixed StandardScaler (protocol version 1), same fits" in summary
    assert "## How often the search chose VectorScaler" in summary
    # resuming: the same command fits nothing new and reports the same records
    lines = (out / "records.jsonl").read_text().splitlines()
    assert len(lines) == 2 * 2 * 2
    assert representation.main(argv) == 0
    assert (out / "records.jsonl").read_text().splitlines() == lines
    again = json.loads((out / "results.json").read_text())["records"]
    assert again == results["records"]
    assert representation.main([*argv, "--report-only"]) == 0
    assert json.loads((out / "results.json").read_text())["records"] == results["records"]
    # fixed scalers: version 1 (column) and the diagnostic (vector), each marked
    fixed = {}
    for scaling in ("column", "vector"):
        folder = tmp_path / scaling
        assert representation.main([*argv[:-2], "--out", str(folder), "--scaling", scaling]) == 0
        fixed[scaling] = json.loads((folder / "results.json").read_text())
        assert fixed[scaling]["scaling"] == scaling
    assert "(protocol version 1)" in (tmp_path / "column" / "summary.md").read_text()
    assert "**Not the protocol:**" in (tmp_path / "vector" / "summary.md").read_text()
    assert "Not the protocol" not in summary
    key = lambda r: (r["target"], r["n"], r["repeat"])  # noqa: E731
    by_key = {key(r): r for r in results["records"]}
    for r in fixed["column"]["records"]:  # the fixed run agrees with the recorded column
        assert r["mae"] == pytest.approx(by_key[key(r)]["mae_column"], rel=1e-12)
    for r in fixed["vector"]["records"]:  # ... and where vector was chosen, with that one
        if by_key[key(r)]["scale"] == "vector":
            assert r["mae"] == pytest.approx(by_key[key(r)]["mae"], rel=1e-12)
    changed = [r["mae"] != by_key[key(r)]["mae_column"] for r in fixed["vector"]["records"]]
    assert any(changed)  # magpie's columns differ in size, so the scaling matters


# --------------------------------------------------------------------------- --dataset


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def file_server(tmp_path):
    """Serve ``tmp_path/"served"`` on 127.0.0.1 (a free port) and log the GET paths."""
    root = tmp_path / "served"
    root.mkdir()
    seen: list[str] = []

    class Handler(_QuietHandler):
        def do_GET(self):
            seen.append(self.path)
            super().do_GET()

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{httpd.server_address[1]}", seen
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_dataset_download_from_loopback(file_server, frame, tmp_path, monkeypatch):
    from matminer.datasets import dataset_retrieval
    from matminer.datasets.utils import _load_dataset_dict
    from matminer.utils.io import store_dataframe_as_json

    name = "matbench_mp_e_form"
    root, base_url, seen = file_server
    metadata = _load_dataset_dict()
    entry = dict(metadata[name])
    assert entry["file_type"] == "json.gz"
    assert set(entry["columns"]) == {"structure", "e_form"}

    df = frame[["structure", "e_form"]]
    store_dataframe_as_json(df, str(root / f"{name}.json.gz"), pbar=False)
    payload = (root / f"{name}.json.gz").read_bytes()
    assert payload[:2] == b"\x1f\x8b"  # gzip, as the file type says
    json.loads(gzip.decompress(payload))
    entry["url"] = f"{base_url}/{name}.json.gz"
    entry["hash"] = hashlib.sha256(payload).hexdigest()
    monkeypatch.setattr(dataset_retrieval, "_dataset_dict", {**metadata, name: entry})
    data_home = tmp_path / "matminer_data"
    monkeypatch.setenv("MATMINER_DATA", str(data_home))
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")

    loaded = representation.load_data(None, name)
    assert seen == [f"/{name}.json.gz"]  # downloaded over HTTP, once
    assert (data_home / f"{name}.json.gz").read_bytes() == payload
    assert list(loaded.columns) == ["structure", "e_form"]
    assert list(loaded.index) == list(df.index)
    np.testing.assert_array_equal(loaded["e_form"].to_numpy(), df["e_form"].to_numpy())
    for got, want in zip(loaded["structure"], df["structure"]):
        assert got == want
        assert structure_key(got) == structure_key(want)  # cache keys survive the trip

    # a second load reads the verified local copy; no new request
    again = representation.load_data(None, name)
    assert seen == [f"/{name}.json.gz"]
    pd.testing.assert_series_equal(again["e_form"], loaded["e_form"])

    # and the CLI path: --dataset, featurise only
    cache = tmp_path / "cache"
    argv = ["--dataset", name, "--target", "e_form", "--featurisers", "magpie",
            "--n-jobs", "1", "--cache-dir", str(cache), "--featurise-only"]  # fmt: skip
    assert representation.main(argv) == 0
    assert seen == [f"/{name}.json.gz"]
    cached = CachedFeaturizer(representation.featuriser("magpie"), cache).fit()
    cached.transform(list(loaded["structure"]))
    assert cached.misses_ == 0 and cached.hits_ == len(loaded)


def test_dataset_and_data_are_exclusive(capsys):
    with pytest.raises(SystemExit):
        representation.main(["--data", "x.json", "--dataset", "matbench_mp_e_form"])
    assert "not allowed with" in capsys.readouterr().err


def test_joblib_can_pickle_counting_featurizer():
    """The test featuriser is an importable, picklable estimator (for joblib workers)."""
    fitted = CountingFeaturizer(scale=3.0).fit()
    assert joblib.hash(fitted) == joblib.hash(clone(fitted).fit())


def test_speed_benchmark_runs_on_bundled_and_random_weights(structures):
    """The speed benchmark's jobs, on a few crystals: transform and continued training."""
    from benchmarks import speed
    from dimfeaturizer import DEFAULT_PRETRAINED

    small = structures[:6]
    for pretrained in (DEFAULT_PRETRAINED, None):
        t = speed.time_transform(small, pretrained, "cpu")
        assert t["n"] == len(small) and t["structures_per_s"] > 0
        p = speed.time_pretraining(small, "cpu", pretrained=pretrained)
        assert p["n"] == len(small) and p["structures_per_s"] > 0 and not p["compiled"]


def test_chgnet_features_are_the_crystal_vector(structures):
    """The optional pretrained-GNN anchor (``bench`` extra): one 64-d crystal vector per
    structure, deterministic, clone-safe, a NaN row where CHGNet cannot build a graph."""
    pytest.importorskip("chgnet")
    from benchmarks.adapters import CHGNetFeatures

    step = representation.featuriser("chgnet")
    assert isinstance(step, CHGNetFeatures) and clone(step).get_params() == step.get_params()
    lone = Structure(Lattice.cubic(30.0), ["Na"], [[0, 0, 0]])  # no neighbour within 5 Å
    x = step.fit().transform([*structures[:3], lone])
    assert x.shape == (4, 64) and step.n_failed_ == 1
    assert np.isfinite(x[:3]).all() and np.isnan(x[3]).all()
    # the failed batch was retried one by one: same vectors to float precision
    np.testing.assert_allclose(x[:3], step.transform(structures[:3]), rtol=1e-4, atol=1e-5)
    assert not np.allclose(x[0], x[1])


def test_chgnet_energy_is_chgnets_own_prediction(structures):
    """The yardstick's supervised reference: one column, CHGNet's energy per atom as its
    ``predict_structure`` gives it, higher for a crystal squeezed by 10 %; NaN where CHGNet
    cannot build a graph."""
    pytest.importorskip("chgnet")
    from benchmarks.adapters import CHGNetEnergy

    step = representation.featuriser("chgnet_energy")
    assert isinstance(step, CHGNetEnergy)
    squeezed = structures[0].copy()
    squeezed.scale_lattice(structures[0].volume * 0.9**3)
    lone = Structure(Lattice.cubic(30.0), ["Na"], [[0, 0, 0]])
    x = step.fit().transform([*structures[:2], squeezed, lone])
    assert x.shape == (4, 1) and step.n_failed_ == 1 and np.isnan(x[3, 0])
    own = [step.model_.predict_structure(s, task="e")["e"] for s in structures[:2]]
    np.testing.assert_allclose(x[:2, 0], own, rtol=1e-5)
    assert x[2, 0] > x[0, 0]
    assert list(step.get_feature_names_out()) == ["chgnet_energy_per_atom"]


def test_more_repeats_resume_without_counting_any_twice(frame, tmp_path):
    from matminer.utils.io import store_dataframe_as_json

    data = tmp_path / "data.json.gz"
    store_dataframe_as_json(frame, str(data), pbar=False)
    out = tmp_path / "out"
    argv = ["--data", str(data), "--target", "e_form", "--featurisers", "magpie",
            "--heads", "ridge", "--sizes", "5", "--n-jobs", "1", "--timing-sample", "2",
            "--cache-dir", str(tmp_path / "cache"), "--out", str(out)]  # fmt: skip
    assert representation.main([*argv, "--repeats", "2"]) == 0
    first = json.loads((out / "results.json").read_text())["records"]
    assert representation.main([*argv, "--repeats", "3"]) == 0
    records = json.loads((out / "results.json").read_text())["records"]
    assert sorted(r["repeat"] for r in records) == [0, 1, 2]  # each repeat once
    assert [r["mae"] for r in records[:2]] == [r["mae"] for r in first]
    assert representation.main([*argv, "--repeats", "3", "--report-only"]) == 0
    assert json.loads((out / "results.json").read_text())["records"] == records
    # a shortened test set is another measurement, never mixed with the full one
    assert representation.main([*argv, "--repeats", "2", "--test-size", "1"]) == 0
    short = json.loads((out / "results.json").read_text())["records"]
    assert all(r["test_size"] == 1 for r in short)
    assert [r["mae"] for r in short] != [r["mae"] for r in first]


def test_parallel_run_over_several_featurisers(frame, tmp_path):
    """Two worker processes, two featurisers, the first already done (a resume): the
    second's jobs, pooled and finishing in any order, are each credited to their own
    (featuriser, N) and score as one process does."""
    kwargs = dict(targets=["e_form"], heads=["ridge"], sizes=[5, 6], repeats=2,
                  cache_dir=tmp_path / "cache")  # fmt: skip
    records = tmp_path / "records.jsonl"
    representation.run(frame, featurisers=["magpie"], n_jobs=1, records_path=records, **kwargs)
    both = ["magpie", "dim_untrained"]
    parallel, _ = representation.run(frame, featurisers=both, n_jobs=2, records_path=records,
                                     **kwargs)  # fmt: skip
    serial, _ = representation.run(frame, featurisers=both, n_jobs=1, **kwargs)
    assert [r["mae"] for r in parallel] == [r["mae"] for r in serial]
    assert [(r["featuriser"], r["n"]) for r in parallel] == [
        (r["featuriser"], r["n"]) for r in serial]
    assert len(parallel) == 2 * 2 * 2
