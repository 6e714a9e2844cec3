"""``DeepInfoMaxFeaturizer``: the matminer face of the encoder."""

from __future__ import annotations

import traceback

import numpy as np
import pandas as pd
from matminer.featurizers.base import BaseFeaturizer
from sklearn.utils.validation import check_is_fitted

from .data.structure import check_structure
from .estimator import DIMBase, feature_names
from .exceptions import StructureError
from .inference import describe, encode_or_collect

_SKIP_HINT = "; to skip such entries, set ignore_errors=True"


class DeepInfoMaxFeaturizer(DIMBase, BaseFeaturizer):
    """Site-Net Deep InfoMax features of a structure, for matminer dataframes.

    Takes exactly ``DIMEncoder``'s parameters and gives identical vectors. Unlike
    matminer's default, it runs in one process (``n_jobs = 1``): the encoder batches all
    structures of a call through one network pass, which multiprocessing would only
    slow down. ``featurize_many``/``featurize_dataframe`` keep matminer's
    ``ignore_errors`` (NaN rows), ``return_errors`` and ``pbar`` semantics.

    A frozen featuriser loads its weights on first use, so ``fit`` is optional; with
    ``frozen=False``, ``fit(structures)`` pretrains on them first.

    Features
    --------
    dim_0 ... dim_127: coordinates of the crystal in the learned representation space
    (the global Site-Net vector; no individual physical meaning).
    """

    @property
    def n_jobs(self) -> int:
        return getattr(self, "_n_jobs", 1)

    def _ready(self) -> None:
        try:
            check_is_fitted(self, "model_")
        except Exception:
            if not self.frozen:
                raise
            self.fit()  # frozen: fitting only loads the weights

    def featurize(self, structure) -> list[float]:
        self._ready()
        return self._encode([structure])[0].tolist()

    def featurize_many(self, entries, ignore_errors=False, return_errors=False, pbar=True):
        """All entries in one batched pass; see ``BaseFeaturizer.featurize_many``."""
        if return_errors and not ignore_errors:
            raise ValueError("Please set ignore_errors to True to use return_errors.")
        if isinstance(entries, pd.DataFrame):
            entries = entries.iloc[:, 0]
        # featurize_dataframe passes df[[col]].values: rows are length-1 arrays
        entries = [
            e[0] if isinstance(e, (tuple, list, np.ndarray)) and len(e) == 1 else e for e in entries
        ]
        if not entries:
            return []
        self._ready()
        vectors, errors = encode_or_collect(
            self.model_,
            entries,
            batch_sites=self.inference_batch_sites,
            device=self.device,
            progress=bool(pbar),
        )
        if errors and not ignore_errors:
            position, err = next(iter(errors.items()))
            raise StructureError(f"{describe(position, position)}: {err}{_SKIP_HINT}") from err
        rows = vectors.tolist()
        if return_errors:
            messages = {
                i: "".join(traceback.format_exception(type(e), e, e.__traceback__))
                for i, e in errors.items()
            }
            rows = [row + [messages.get(i, np.nan)] for i, row in enumerate(rows)]
        return rows

    def precheck(self, structure) -> bool:
        """False for inputs the encoder cannot take (cheap: no symmetry, no network)."""
        from .config import SiteNetConfig

        config = getattr(self, "config_", None) or self._architecture(cached=True)
        config = config or SiteNetConfig()
        try:
            check_structure(structure, config)
        except StructureError:
            return False
        return True

    def feature_labels(self) -> list[str]:
        self._ready()
        return feature_names(self.config_.global_dim)

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
