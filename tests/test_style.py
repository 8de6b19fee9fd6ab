"""Docstrings follow the numpy convention: ruff's ``D`` rules, configured in ``pyproject.toml``, pass on the package."""

from __future__ import annotations

import subprocess
import sys

import pytest

from partclust.layout import REPO_ROOT


def _ruff_available() -> bool:
    done = subprocess.run([sys.executable, "-m", "ruff", "--version"], check=False, capture_output=True, text=True)
    return done.returncode == 0


def test_docstrings_follow_the_numpy_convention():
    if not _ruff_available():  # ruff is a declared dependency: a missing one is a broken environment
        pytest.fail(f"ruff is not installed for {sys.executable}; install the project's dependencies (make setup)")
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--select", "D", "--output-format", "concise", "--no-cache",
         "src/partclust"],
        cwd=REPO_ROOT, check=False, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode in (0, 1), f"ruff did not run: {done.stderr}"
    assert done.returncode == 0, "docstring findings (ruff --select D):\n" + done.stdout + done.stderr
