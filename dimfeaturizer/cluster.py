"""Featurisation on a Dask cluster: one encoder per worker process, one batched pass per
partition, failed entries as NaN rows with their error.

``featurize_dask`` takes a Dask Series of pymatgen Structures (its index is kept) or CIF /
POSCAR / JSON files (a glob or a list of paths, read lazily inside the partitions, so no
structure ever passes through the client) and returns a lazy Dask DataFrame with columns
``dim_0``, ``dim_1``, … (128 with the default read-out) and ``error``. Write it with
``to_parquet``: partition by partition, memory bounded by the partition size, not the
data set. Needs ``pip install 'dimfeaturizer[dask]'``.
"""

from __future__ import annotations

import glob
import os
import threading
from collections.abc import Sequence

import joblib
import numpy as np
import pandas as pd

from .estimators import DIMEncoder

# fitted encoders of this process by their parameters, each with a lock: a worker loads
# each model once, and its threads take turns with it (encoding moves the model to the
# device and back, which two threads must not interleave)
_ENCODERS: dict[str, tuple[DIMEncoder, threading.Lock]] = {}
_LOCK = threading.Lock()
LOADS = {"count": 0}  # encoders loaded by this process (tests read it on each worker)


def _fitted(encoder: DIMEncoder) -> tuple[DIMEncoder, threading.Lock]:
    key = joblib.hash(encoder.get_params())
    with _LOCK:
        if key not in _ENCODERS:
            _ENCODERS[key] = DIMEncoder(**encoder.get_params()).fit(), threading.Lock()
            LOADS["count"] += 1
        return _ENCODERS[key]


def _meta(encoder: DIMEncoder) -> pd.DataFrame:
    names = _fitted(encoder)[0].get_feature_names_out()  # the model's own width
    meta = pd.DataFrame({c: pd.Series(dtype=np.float32) for c in names})
    meta["error"] = pd.Series(dtype=object)
    meta.index = pd.Index([], dtype=object)
    return meta


def _encode(structures: pd.Series, encoder: DIMEncoder, read_errors: dict | None = None):
    fitted, lock = _fitted(encoder)
    with lock:
        vectors, errors = fitted.transform_or_collect(list(structures))
    names = fitted.get_feature_names_out()
    out = pd.DataFrame(vectors.astype(np.float32), index=structures.index, columns=names)
    read_errors = read_errors or {}
    messages = [None] * len(out)
    for i, err in errors.items():
        label = structures.index[i]
        messages[i] = read_errors.get(label) or f"{type(err).__name__}: {err}"
    out["error"] = pd.Series(messages, index=out.index, dtype=object)
    return out


def _encode_files(paths: list[str], encoder: DIMEncoder) -> pd.DataFrame:
    from .io import read_structures

    read_errors: dict[str, str] = {}
    structures = read_structures(paths, read_errors)
    structures.index = structures.index.astype(object)
    return _encode(structures, encoder, read_errors)


def featurize_dask(
    structures,
    encoder: DIMEncoder | None = None,
    *,
    files_per_partition: int = 1000,
    structures_per_partition: int = 1000,
):
    """A lazy Dask DataFrame of the encoder's vectors (``dim_0``, ``dim_1``, …; 128 with
    the default read-out) and an
    ``error`` column (None where the entry was encoded; the reason and a NaN row where not).

    Parameters
    ----------
    structures : dask or pandas Series of Structures, str or sequence of str
        A Series (its index is the result's; a pandas one is split into partitions of
        ``structures_per_partition``), or a glob / list of CIF, POSCAR and JSON files read
        inside the partitions (the index is the file name, or ``file:key`` for a JSON
        holding several structures).
    encoder : DIMEncoder, optional
        What to encode with (default: ``DIMEncoder()``, the bundled weights). It must be
        frozen: workers load it from its ``pretrained`` name, folder or Hub repo, once per
        worker process. Save a freshly pretrained encoder and pass its folder.
    files_per_partition, structures_per_partition : int, default=1000
        Partition sizes when reading files, and when splitting a pandas Series.
    """
    import dask.dataframe as dd

    encoder = DIMEncoder() if encoder is None else encoder
    if not encoder.frozen:
        raise ValueError(
            "featurize_dask encodes with a frozen encoder; save a pretrained one "
            "(save_pretrained) and pass DIMEncoder(pretrained=folder)"
        )
    meta = _meta(encoder)
    if isinstance(structures, pd.Series):
        import dask

        with dask.config.set({"dataframe.convert-string": False}):  # keep the objects
            n = max(1, -(-len(structures) // structures_per_partition))
            structures = dd.from_pandas(structures, npartitions=n, sort=False)
    if isinstance(structures, dd.Series):
        if structures.dtype != object:
            raise TypeError(
                f"the dask Series holds {structures.dtype}, not Structure objects: dask "
                "turns object columns into strings unless it is created under "
                "dask.config.set({'dataframe.convert-string': False})"
            )
        return structures.map_partitions(_encode, encoder, meta=meta)
    if isinstance(structures, (str, Sequence)):
        patterns = [structures] if isinstance(structures, str) else list(structures)
        # a path that exists is taken as it is (its name may hold glob characters)
        paths = sorted({p for pattern in patterns
                        for p in ([pattern] if os.path.exists(pattern) else glob.glob(pattern))})
        if not paths:
            raise FileNotFoundError(f"no files match {patterns}")
        if files_per_partition < 1:
            raise ValueError("files_per_partition must be >= 1")
        chunks = [paths[i : i + files_per_partition]
                  for i in range(0, len(paths), files_per_partition)]  # fmt: skip
        return dd.from_map(_encode_files, chunks, encoder=encoder, meta=meta,
                           enforce_metadata=False)  # fmt: skip
    raise TypeError(
        f"expected a dask Series of Structures, a glob or a list of paths; "
        f"got {type(structures).__name__}"
    )
