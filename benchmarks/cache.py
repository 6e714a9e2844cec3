"""Disk cache of featurised structures, keyed on the featuriser and the structure.

Featurising is the slow part of a benchmark (OFM ~0.3-0.6 s per structure), while the
downstream fits reuse the same rows hundreds of times. ``CachedFeaturizer`` wraps any
fitted featuriser step: rows already on disk are read, the rest are computed in chunks
(in parallel worker processes if asked) and written chunk by chunk, so a killed run
resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import joblib
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from dimfeaturizer.data.inputs import as_structure_list


def structure_key(structure) -> str:
    """Fingerprint of a structure's lattice, coordinates and species (not its cell's
    bookkeeping): cheap enough to compute on every lookup."""
    h = hashlib.sha1()
    h.update(np.ascontiguousarray(structure.lattice.matrix, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(structure.frac_coords, dtype=np.float64).tobytes())
    h.update(np.asarray(structure.atomic_numbers, dtype=np.int64).tobytes())
    return h.hexdigest()


def _tensor_by_value(dtype, shape, data):  # names a tensor in a hash; never called
    raise NotImplementedError


class _Hasher(joblib.hashing.NumpyHasher):
    """``joblib.hash`` with torch tensors hashed by value. A pickled tensor goes through
    ``torch.save``, whose archive carries a fresh serialization id, so plain
    ``joblib.hash`` gives the same weights a new key on every fit. Streams without
    tensors (matminer featurisers) hash exactly as ``joblib.hash`` does."""

    def reducer_override(self, obj):
        torch = sys.modules.get("torch")
        if torch is not None and isinstance(obj, torch.Tensor):
            from dimfeaturizer.runtime import tensor_bytes

            return _tensor_by_value, (str(obj.dtype), tuple(obj.shape), tensor_bytes(obj))
        return NotImplemented


def fingerprint(obj) -> str:
    """A stable hash of a (fitted) featuriser: parameters and weights, by value."""
    return _Hasher(hash_name="md5").hash(obj)


# rows already read, shared by every fit of the same featuriser in this process
_STORE: dict[tuple[str, str], tuple[dict[str, np.ndarray], set[str]]] = {}


def _featurise_chunk(transformer, entries):
    return np.asarray(transformer.transform(entries), dtype=np.float64)


class CachedFeaturizer(TransformerMixin, BaseEstimator):
    """``transformer`` with its rows cached under ``cache_dir/<featuriser hash>/``.

    The featuriser hash is ``fingerprint`` of the *fitted* transformer, so weights and
    parameters are both part of the key. ``hits_``/``misses_`` count rows of the last
    ``transform``.
    """

    def __init__(
        self, transformer=None, cache_dir=None, *, chunk_size=200, n_jobs=1, progress=False
    ):
        self.transformer = transformer
        self.cache_dir = cache_dir
        self.chunk_size = chunk_size
        self.n_jobs = n_jobs
        self.progress = progress

    def fit(self, X=None, y=None):
        self.transformer_ = clone(self.transformer).fit(X, y)
        self.key_ = fingerprint(self.transformer_)
        return self

    @property
    def _memory(self) -> dict[str, np.ndarray]:
        return _STORE.setdefault((str(self.cache_dir), self.key_), ({}, set()))[0]

    @property
    def _loaded(self) -> set[str]:
        return _STORE.setdefault((str(self.cache_dir), self.key_), ({}, set()))[1]

    @property
    def directory(self) -> Path:
        return Path(self.cache_dir) / self.key_

    def _load(self) -> None:
        if self.cache_dir is None or not self.directory.exists():
            return
        for file in sorted(self.directory.glob("chunk-*.npz")):
            if file.stem in self._loaded or file.name.endswith(".tmp.npz"):
                continue  # a temporary file is a write a killed run never finished
            with np.load(file) as data:
                self._memory.update(zip(data["keys"].tolist(), data["rows"]))
            self._loaded.add(file.stem)

    def transform(self, X) -> np.ndarray:
        check_is_fitted(self, "transformer_")
        self._load()
        entries, _ = as_structure_list(X)
        keys = [structure_key(s) for s in entries]
        missing = list(dict.fromkeys(k for k in keys if k not in self._memory))
        # rows served from the cache vs distinct structures featurised now
        self.misses_ = len(missing)
        self.hits_ = sum(k in self._memory for k in keys)
        if missing:
            by_key = dict(zip(keys, entries))
            chunks = [
                missing[i : i + self.chunk_size] for i in range(0, len(missing), self.chunk_size)
            ]
            jobs = (
                joblib.delayed(_featurise_chunk)(self.transformer_, [by_key[k] for k in c])
                for c in chunks
            )
            # consumed to the end: joblib shuts its shared executor down when a result
            # generator is collected half-consumed
            results = joblib.Parallel(n_jobs=self.n_jobs, return_as="generator")(jobs)
            bar = tqdm(
                results,
                total=len(chunks),
                disable=not self.progress,
                desc=type(self.transformer_).__name__,
                unit="chunk",
            )
            for i, rows in enumerate(bar):
                self._memory.update(zip(chunks[i], rows))
                self._save(chunks[i], rows)
        return np.stack([self._memory[k] for k in keys]) if keys else np.empty((0, 0))

    def _save(self, keys: list[str], rows: np.ndarray) -> None:
        if self.cache_dir is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        name = "chunk-" + hashlib.sha1("".join(keys).encode()).hexdigest()[:16]
        # per-process temporary name: two processes may write the same chunk at once
        tmp = self.directory / f"{name}.{os.getpid()}.tmp.npz"
        np.savez(tmp, keys=np.array(keys), rows=rows)
        tmp.replace(self.directory / (name + ".npz"))
        self._loaded.add(name)

    def get_feature_names_out(self, input_features=None):
        return self.transformer_.get_feature_names_out()
