"""Repository-relative locations, resolved from this file, never from the current directory."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO_ROOT / "notebooks"
RESULTS = REPO_ROOT / "results"
SAS_REFERENCE = REPO_ROOT / "sas_reference"
SAS_OUTPUT = SAS_REFERENCE / "output"
