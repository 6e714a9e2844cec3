"""The benchmark protocol's data filter and splits (``PROTOCOL.md``), exactly."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MAX_SITES = 50
TRAIN_FRACTION = 0.8
TEST_SIZE = 2000
LABEL_POOL_SIZE = 5000
SIZES = (50, 100, 250, 1000)
REPEATS = 20


@dataclass(frozen=True)
class Splits:
    """Positions into the filtered frame."""

    train_pool: np.ndarray
    test_pool: np.ndarray
    test: np.ndarray
    label_pool: np.ndarray

    def labelled(self, n: int, repeat: int) -> np.ndarray:
        rng = np.random.default_rng(1000 * n + repeat)
        return rng.choice(self.label_pool, n, replace=False)


def filter_frame(df: pd.DataFrame, column: str = "structure") -> pd.DataFrame:
    """Crystals with at most 50 sites, in file order."""
    keep = np.array([len(s) <= MAX_SITES for s in df[column]])
    return df[keep]


def make_splits(n: int) -> Splits:
    perm = np.random.default_rng(0).permutation(n)
    cut = int(TRAIN_FRACTION * n)
    train_pool, test_pool = perm[:cut], perm[cut:]
    return Splits(train_pool, test_pool, test_pool[:TEST_SIZE], train_pool[:LABEL_POOL_SIZE])
