"""Argument checks every layer uses, so that each rule and its message exist once."""

from __future__ import annotations

import math
import numbers
from typing import Any, Iterable

from partclust.config import PARAMETERIZATIONS, RESIDUALS, SAMPLERS
from partclust.errors import PartclustError, SpecError

__all__ = ["check_choice", "check_residual", "check_parameterization", "check_sampler", "check_positive",
           "check_int"]


def check_choice(what: str, value: Any, allowed: Iterable[str],
                 error: type[PartclustError] = SpecError) -> str:
    """Return ``value`` if it is one of ``allowed``.

    Raises
    ------
    SpecError
        (or ``error``) naming ``what``, the value and the choices.
    """
    allowed = tuple(allowed)
    if value not in allowed:
        raise error(f"{what} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def check_residual(residual: Any, error: type[PartclustError] = SpecError) -> str:
    """Return ``residual`` if it is a residual structure of :data:`partclust.config.RESIDUALS`."""
    return check_choice("residual", residual, RESIDUALS, error)


def check_parameterization(value: Any, error: type[PartclustError] = SpecError) -> str:
    """Return ``value`` if it is one of :data:`partclust.config.PARAMETERIZATIONS`."""
    return check_choice("parameterization", value, PARAMETERIZATIONS, error)


def check_sampler(value: Any, error: type[PartclustError] = SpecError) -> str:
    """Return ``value`` if it is one of :data:`partclust.config.SAMPLERS`."""
    return check_choice("sampler", value, SAMPLERS, error)


def check_positive(what: str, value: Any, error: type[PartclustError] = SpecError) -> float:
    """Return ``value`` as a float if it is a finite number > 0.

    Raises
    ------
    SpecError
        (or ``error``) naming ``what`` and the value.
    """
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    if not ok:
        raise error(f"{what} must be a positive number; got {value!r}")
    return float(value)


def check_int(what: str, value: Any, lo: int | None = None, hi: int | None = None,
              error: type[PartclustError] = SpecError) -> int:
    """Return ``value`` as an int if it is an integer (not a bool) within ``[lo, hi]``.

    Raises
    ------
    SpecError
        (or ``error``) naming ``what``, the value and the allowed range.
    """
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise error(f"{what} must be an integer; got {value!r}")
    v = int(value)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        rng = f"≥ {lo}" if hi is None else (f"≤ {hi}" if lo is None else f"between {lo} and {hi}")
        raise error(f"{what} must be {rng}; got {v}")
    return v
