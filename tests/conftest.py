"""Shared fixtures: the real dataset (never committed) and generated designs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from partclust.paths import REPO_ROOT

SHARED_COPY = REPO_ROOT.parent / "shared" / "data" / "run1.csv"


def _run1() -> Path:
    env = os.environ.get("RUN1_CSV")
    for cand in (env, SHARED_COPY, REPO_ROOT / "data" / "run1.csv"):
        if cand and Path(cand).is_file():
            return Path(cand).resolve()
    raise RuntimeError(
        "run1.csv not found: set RUN1_CSV to a local copy (CI uses ../shared/data/run1.csv)."
    )


@pytest.fixture(scope="session")
def run1_path() -> Path:
    return _run1()


@pytest.fixture(scope="session")
def run1_design(run1_path):
    from partclust.data import load_design

    return load_design(run1_path)


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


@pytest.fixture
def unbalanced_csv(tmp_path) -> Path:
    path = tmp_path / "unbalanced.csv"
    unbalanced_frame().to_csv(path, index=False)
    return path
