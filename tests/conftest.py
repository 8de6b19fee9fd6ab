"""Shared fixtures: the real dataset (never committed) and generated designs (builders in ``helpers.py``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import unbalanced_frame

from partclust.layout import REPO_ROOT

SHARED_COPY = REPO_ROOT.parent / "shared" / "data" / "run1.csv"
CASES = REPO_ROOT.parent / "shared" / "cases"


def pytest_configure(config):
    """One compile cache for the whole session (kernels and child processes inherit it), never results/."""
    import tempfile

    from partclust.inference.compiled import CACHE_ENV

    if not os.environ.get(CACHE_ENV):
        os.environ[CACHE_ENV] = config._partclust_cache = tempfile.mkdtemp(prefix="partclust-compile-cache-")


def pytest_unconfigure(config):
    """Remove the session's compile cache."""
    import shutil

    made = getattr(config, "_partclust_cache", None)
    if made:
        shutil.rmtree(made, ignore_errors=True)
        os.environ.pop("PARTCLUST_CACHE_DIR", None)


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


@pytest.fixture
def unbalanced_csv(tmp_path) -> Path:
    path = tmp_path / "unbalanced.csv"
    unbalanced_frame().to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def case():
    """A failing input from ``../shared/cases/`` by file name (the test is skipped when it is absent)."""

    def get(name: str) -> Path:
        path = CASES / name
        if not path.is_file():
            pytest.skip(f"{path} not found: the shared cases folder lies beside the repository")
        return path

    return get
