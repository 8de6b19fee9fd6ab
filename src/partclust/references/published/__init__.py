"""Published posterior means, stored as data files with their provenance (``*.info.json``).

Only the PyMC 2 (2011) re-fit of run1 exists: ``pymc2_2011-run1-<model>.json`` hold the printed means,
``pymc2_2011.info.json`` how they were made and printed.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["PUBLISHED_DIR", "load_published", "published_info"]

PUBLISHED_DIR = Path(__file__).resolve().parent


@cache
def published_info(name: str = "pymc2_2011") -> dict[str, Any]:
    """Return the provenance record of a published set of numbers (its ``<name>.info.json``)."""
    return json.loads((PUBLISHED_DIR / f"{name}.info.json").read_text(encoding="utf-8"))


@cache
def load_published(name: str, data: str, model: str) -> dict[str, Any]:
    """Return the published values of ``name`` for dataset ``data`` and ``model`` (a JSON object).

    Raises
    ------
    FileNotFoundError
        When nothing was published for that combination.
    """
    return json.loads((PUBLISHED_DIR / f"{name}-{data}-{model}.json").read_text(encoding="utf-8"))
