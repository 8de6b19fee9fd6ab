"""Builders the tests share: generated designs (and, in ``helpers_sas.py``, SAS-layout fixtures)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def unbalanced_frame(seed: int = 7, sizes=(3, 12, 5, 9, 2, 7, 4), n_control: int = 23) -> pd.DataFrame:
    """A generated partially clustered trial: unequal clusters, string labels, shuffled rows."""
    rng = np.random.default_rng(seed)
    labels = [f"grp-{chr(ord('A') + k)}" for k in range(len(sizes))]
    u = rng.normal(0.0, 0.7, len(sizes))
    rows = []
    for lab, size, uj in zip(labels, sizes, u):
        for _ in range(size):
            rows.append((lab, 1, 0.1 + 0.4 + uj + rng.normal(0, 0.9)))
    for k in range(n_control):
        rows.append((f"ctl{k:03d}", 0, 0.1 + rng.normal(0, 1.1)))
    df = pd.DataFrame(rows, columns=["j", "treat", "y"])
    df.insert(0, "i", [f"s{k}" for k in rng.permutation(len(df))])
    df["extra"] = "ignored"
    return df.sample(frac=1.0, random_state=seed).reset_index(drop=True)
