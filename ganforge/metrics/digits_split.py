"""The fixed train/held-out split of mnist-mini used to train and test the digits extractor."""

from __future__ import annotations

import numpy as np


def heldout_split(n: int = 5000, heldout: int = 1000, seed: int = 1234) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[heldout:]), np.sort(perm[:heldout])
