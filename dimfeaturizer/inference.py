"""The one batched, no-grad path from structures to arrays of vectors or predictions.

Every front-end (``DIMEncoder.transform``, ``DeepInfoMaxFeaturizer.featurize_many``,
``DIMRegressor.predict``) calls ``encode`` or ``encode_or_collect``; none owns model code.
Structures are preprocessed ``CHUNK`` at a time, so memory is bounded for any n, and the
next chunk is preprocessed in a background thread while the model encodes this one (torch
releases the GIL inside its kernels, so the two share a 2-core machine).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .data.batch import PackedCrystals, batches_by_sites
from .data.inputs import check_all, prepare_all, prepare_or_collect
from .model import SiteNetDIM, SiteNetPredictor
from .runtime import on_device, tqdm_disable

CHUNK = 1024  # structures preprocessed at a time


def _width(model: SiteNetDIM | SiteNetPredictor) -> int:
    return model.n_outputs if isinstance(model, SiteNetPredictor) else model.config.vector_dim


def _encoder_config(model: SiteNetDIM | SiteNetPredictor):
    return (model.encoder if isinstance(model, SiteNetPredictor) else model).config


@torch.inference_mode()
def encode_packed(
    model: nn.Module, packed: PackedCrystals, batch_sites: int, device: torch.device
) -> np.ndarray:
    """Outputs of preprocessed crystals, batched by primitive sites after sorting by
    supercell size (little padding); rows come back in input order."""
    out = np.empty((len(packed), _width(model)), dtype=np.float32)
    order = np.argsort(packed.n_super, kind="stable")
    for idx in batches_by_sites(packed.n_prim, order, batch_sites):
        out[idx] = model(packed.batch(idx).to(device)).float().cpu().numpy()
    return out


def prefetched(jobs: Sequence[Callable[[], object]]) -> Iterator[object]:
    """Results of ``jobs`` in order, each started in a background thread while the caller
    works on the one before (one job ahead, so memory holds at most two results).
    An exception is raised where its job's result would have been."""
    if len(jobs) <= 1:
        yield from (job() for job in jobs)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dim-prepare") as pool:
        ahead = pool.submit(jobs[0])
        for job in jobs[1:]:
            current, ahead = ahead, pool.submit(job)
            try:
                result = current.result()
            except BaseException:
                ahead.cancel()
                raise
            yield result
        yield ahead.result()


def encode(
    model: SiteNetDIM | SiteNetPredictor,
    entries: Sequence,
    labels: Sequence | None = None,
    *,
    batch_sites: int = 2048,
    device: str | torch.device = "auto",
    progress: bool | None = False,
) -> np.ndarray:
    """``(n, width)`` float32 outputs (vectors, or a head's outputs); raises
    ``StructureError`` naming a bad entry before any expensive work."""
    labels = list(range(len(entries))) if labels is None else labels
    config = _encoder_config(model)
    check_all(entries, labels, config)
    chunks = []

    def prepare(start: int) -> Callable[[], PackedCrystals]:
        part = slice(start, start + CHUNK)
        return lambda: prepare_all(entries[part], labels[part], config, offset=start,
                                   checked=True)  # fmt: skip

    with on_device(model, device) as dev:
        jobs = [prepare(start) for start in range(0, len(entries), CHUNK)]
        for packed in tqdm(prefetched(jobs), total=len(jobs), disable=tqdm_disable(progress),
                           desc="encode", unit="chunk"):  # fmt: skip
            chunks.append(encode_packed(model, packed, batch_sites, dev))
    if not chunks:
        return np.empty((0, _width(model)), dtype=np.float32)
    return np.concatenate(chunks)


def encode_or_collect(
    model: SiteNetDIM | SiteNetPredictor,
    entries: Sequence,
    *,
    batch_sites: int = 2048,
    device: str | torch.device = "auto",
    progress: bool | None = False,
) -> tuple[np.ndarray, dict[int, BaseException]]:
    """Outputs with NaN rows for entries that fail, and those entries' exceptions by
    position (matminer's ``ignore_errors=True``); chunked like ``encode``."""
    out = np.full((len(entries), _width(model)), np.nan, dtype=np.float32)
    errors: dict[int, BaseException] = {}
    config = _encoder_config(model)
    starts = range(0, len(entries), CHUNK)
    jobs = [lambda s=start: prepare_or_collect(entries[s : s + CHUNK], config) for start in starts]
    with on_device(model, device) as dev:
        for start, (crystals, good, failed) in tqdm(
            zip(starts, prefetched(jobs)), total=len(jobs), disable=tqdm_disable(progress),
            desc="encode", unit="chunk",
        ):
            errors.update({start + i: err for i, err in failed.items()})
            if crystals:
                rows = start + np.asarray(good)
                out[rows] = encode_packed(model, PackedCrystals(crystals), batch_sites, dev)
    return out, errors
