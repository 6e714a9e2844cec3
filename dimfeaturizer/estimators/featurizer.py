"""``DeepInfoMaxFeaturizer``: the matminer face of a ``DIMEncoder``."""

from __future__ import annotations

import threading
import traceback
from collections import OrderedDict

import joblib
import numpy as np
import pandas as pd
from matminer.featurizers.base import BaseFeaturizer
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted

from ..config import SiteNetConfig
from ..data.inputs import describe
from ..data.structure import check_structure
from ..exceptions import StructureError
from ._base import feature_names
from .encoder import DIMEncoder

_SKIP_HINT = "; to skip such entries, set ignore_errors=True"
_FROZEN_CACHE: OrderedDict[str, DIMEncoder] = OrderedDict()
_FROZEN_CACHE_SIZE = 4
_FROZEN_LOCK = threading.Lock()


def _frozen_fit(encoder: DIMEncoder) -> DIMEncoder:
    """A fitted copy of a frozen encoder, loaded once per process and parameter set, so
    that using an unfitted featuriser changes nothing about it."""
    key = joblib.hash(encoder.get_params())
    with _FROZEN_LOCK:
        if key in _FROZEN_CACHE:
            _FROZEN_CACHE.move_to_end(key)
            return _FROZEN_CACHE[key]
    fitted = clone(encoder).fit()
    with _FROZEN_LOCK:
        _FROZEN_CACHE[key] = fitted
        while len(_FROZEN_CACHE) > _FROZEN_CACHE_SIZE:
            _FROZEN_CACHE.popitem(last=False)
    return fitted


class DeepInfoMaxFeaturizer(BaseFeaturizer):
    """Site-Net Deep InfoMax features of a structure, for matminer dataframes.

    A thin wrapper over a ``DIMEncoder`` (default: ``DIMEncoder()``, the bundled
    weights): same vectors, same preprocessing, the same chunked inference path.
    ``featurize_many``/``featurize_dataframe`` encode all rows in batched passes and keep
    matminer's ``ignore_errors`` (NaN rows), ``return_errors`` and ``pbar`` semantics;
    errors name the row's index label. It runs in one process (``n_jobs = 1``):
    multiprocessing would only slow the batched network pass down.

    ``fit`` is optional for a frozen encoder (its weights are loaded on first use, once per
    process); with ``DIMEncoder(frozen=False)``, ``fit(structures)`` pretrains on them.

    Parameters
    ----------
    encoder : DIMEncoder or None, default=None
        The encoder to wrap (cloned at ``fit``); ``None`` means ``DIMEncoder()``.

    Attributes
    ----------
    encoder_ : DIMEncoder
        The fitted encoder (after ``fit``).

    Features
    --------
    dim_0 ... dim_127: coordinates of the crystal in the learned representation space
    (the global Site-Net vector; no individual physical meaning). Weights of another
    ``global_dim`` give that many columns (``config.vector_dim``).
    """

    def __init__(self, encoder: DIMEncoder | None = None):
        self.encoder = encoder

    @property
    def n_jobs(self) -> int:
        return 1

    def set_n_jobs(self, n_jobs: int) -> None:
        """Ignored: the encoder batches every row of a call through one network pass."""

    def _template(self) -> DIMEncoder:
        if self.encoder is None:
            return DIMEncoder()
        if not isinstance(self.encoder, DIMEncoder):
            raise TypeError(f"encoder must be a DIMEncoder, got {type(self.encoder).__name__}")
        return self.encoder

    def fit(self, X=None, y=None) -> DeepInfoMaxFeaturizer:
        """Fit a clone of the encoder (pretraining on ``X`` if it is not frozen)."""
        entries = None
        if X is not None:
            entries = [_unwrap(e) for e in (X.iloc[:, 0] if isinstance(X, pd.DataFrame) else X)]
        self.encoder_ = clone(self._template()).fit(entries)
        return self

    def _fitted(self) -> DIMEncoder:
        try:
            check_is_fitted(self, "encoder_")
            return self.encoder_
        except Exception:
            template = self._template()
            if not template.frozen:
                raise
            return _frozen_fit(template)

    def featurize(self, structure) -> list[float]:
        return self.featurize_many([structure], pbar=False)[0]

    def featurize_many(self, entries, ignore_errors=False, return_errors=False, pbar=True):
        """All entries in batched passes; see ``BaseFeaturizer.featurize_many``."""
        if return_errors and not ignore_errors:
            raise ValueError("Please set ignore_errors to True to use return_errors.")
        labels = None
        if isinstance(entries, (pd.DataFrame, pd.Series)):
            labels = list(entries.index)
            entries = entries.iloc[:, 0] if isinstance(entries, pd.DataFrame) else entries
        entries = [_unwrap(e) for e in entries]
        labels = labels or list(range(len(entries)))
        if not entries:
            return []
        encoder = self._fitted()
        vectors, errors = encoder.transform_or_collect(entries, progress=bool(pbar))
        if errors and not ignore_errors:
            position, err = next(iter(errors.items()))
            raise _entry_error(position, labels[position], err)
        rows = vectors.tolist()
        if return_errors:
            messages = {
                i: "".join(traceback.format_exception(type(e), e, e.__traceback__))
                for i, e in errors.items()
            }
            rows = [row + [messages.get(i, np.nan)] for i, row in enumerate(rows)]
        return rows

    def featurize_dataframe(self, df, col_id, *args, **kwargs):
        """matminer's ``featurize_dataframe``, with errors naming the row's index label
        (matminer passes the column's values, without the index)."""
        try:
            return super().featurize_dataframe(df, col_id, *args, **kwargs)
        except StructureError as err:
            position = getattr(err, "position", None)
            if position is None or position >= len(df):
                raise
            raise _entry_error(position, df.index[position], err.__cause__) from None

    def precheck(self, structure) -> bool:
        """False for inputs the encoder's checks refuse (no network; a symmetry search only
        for cells above ``max_cell_sites``)."""
        encoder = getattr(self, "encoder_", None)
        config = encoder.config_ if encoder is not None else None
        config = config or self._template()._architecture(cached=True) or SiteNetConfig()
        try:
            check_structure(structure, config)
        except StructureError:
            return False
        return True

    def feature_labels(self) -> list[str]:
        encoder = getattr(self, "encoder_", None)
        if encoder is not None:
            return feature_names(encoder.config_.vector_dim)
        return feature_names(self._fitted().config_.vector_dim)

    def citations(self) -> list[str]:
        return [
            "@article{moran2025deepinfomax,"
            " title={Establishing Deep InfoMax as an effective self-supervised learning"
            " methodology in materials informatics},"
            " author={Moran, Michael and Gaultois, Michael W. and Gusev, Vladimir V. and"
            " Antypov, Dmytro and Rosseinsky, Matthew J.},"
            " journal={Digital Discovery}, volume={4}, pages={790--811}, year={2025},"
            " doi={10.1039/D4DD00202D}}",
            "@article{moran2023sitenet,"
            " title={Site-Net: using global self-attention and real-space supercells to"
            " capture long-range interactions in crystal structures},"
            " author={Moran, Michael and Gaultois, Michael W. and Gusev, Vladimir V. and"
            " Rosseinsky, Matthew J.},"
            " journal={Digital Discovery}, volume={2}, number={5}, pages={1297--1310},"
            " year={2023}, doi={10.1039/D3DD00005B}}",
        ]

    def implementors(self) -> list[str]:
        return ["dimfeaturizer developers"]


def _entry_error(position: int, label: object, err: BaseException) -> StructureError:
    """The error of a failed row, naming it; ``position`` stays readable for callers."""
    out = StructureError(f"{describe(position, label)}: {err}{_SKIP_HINT}")
    out.position = position
    out.__cause__ = err
    return out


def _unwrap(entry):
    """``featurize_dataframe`` passes ``df[[col]].values``: rows are length-1 arrays."""
    if isinstance(entry, (tuple, list, np.ndarray)) and len(entry) == 1:
        return entry[0]
    return entry
