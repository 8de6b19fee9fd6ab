"""Numbers and names as a reader sees them in reports."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["SIGNIFICANT", "fmt_number"]

SIGNIFICANT = 4
"""Significant digits of every number on the index page (the linked CSVs hold full precision)."""


def fmt_number(value: Any, digits: int = SIGNIFICANT) -> str:
    """``digits`` significant digits; integers as integers; missing values as an em dash."""
    if value is None or isinstance(value, str):
        return "—" if value in (None, "") else value
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(x):
        return "—"
    if x.is_integer() and abs(x) < 10**digits and not isinstance(value, float):
        return str(int(x))
    return f"{x:.{digits}g}"
