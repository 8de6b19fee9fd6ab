"""One rule for when two id cells are the same id: numbers compare as numbers, anything else as text.

SAS reads a numeric ``j`` column as numbers, so ``1``, ``1.0``, ``01`` and ``1e0`` are one cluster
there; the project's SAS reader matches OUTPOST columns to clusters by the same rule. Every place that
compares cluster or subject ids — the data's validation, the SAS reader, the run records — uses
:func:`normalize_label`, so a file that writes half of cluster 1 as ``1.0`` cannot split it in two.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation

import numpy as np
import pandas as pd

__all__ = ["label_order", "label_sort", "normalize_label", "normalize_labels"]

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_CANONICAL_INT = re.compile(r"-?(?:0|[1-9]\d*)")


def normalize_label(value: object) -> str:
    """Return the canonical text of an id: blanks around it dropped, a number in its shortest form.

    A cell that reads as a decimal number is that number: an integer value is written without sign
    of zero, leading zeros, decimals or exponent (``" 01 "``, ``"1.0"``, ``"+1"``, ``"1e0"`` → ``"1"``),
    any other number in plain positional notation without trailing zeros (``"1.50"`` → ``"1.5"``,
    ``"2.5E-1"`` → ``"0.25"``). Numbers are read exactly (as decimals, not binary floats), so two
    long numeric ids that differ in any digit stay distinct. Anything else — letters, ``"nan"``,
    ``"inf"`` — is kept as written, case included.

    Parameters
    ----------
    value : object
        A cell (text, or a number from a binary source).

    Returns
    -------
    str
        The canonical label.
    """
    s = str(value).strip()
    if _CANONICAL_INT.fullmatch(s) and s != "-0":
        return s
    if not _NUMBER.fullmatch(s):
        return s
    try:
        d = Decimal(s)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
        return s
    if d == 0:
        return "0"
    if d == d.to_integral_value():
        return str(int(d))
    return format(d.normalize(), "f")


def normalize_labels(values: Iterable[object]) -> np.ndarray:
    """:func:`normalize_label` of every cell, as an object array (each distinct cell is normalised once).

    Parameters
    ----------
    values : iterable
        The cells of an id column.

    Returns
    -------
    numpy.ndarray of object (str)
        Same length and order as ``values``.
    """
    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    text = series.astype("str").str.strip()
    codes, uniques = pd.factorize(text, sort=False)
    uniques = pd.Series(uniques, dtype="str")
    canon = uniques.to_numpy(dtype=object)
    todo = ~uniques.str.fullmatch(_CANONICAL_INT.pattern).to_numpy(dtype=bool) | (uniques == "-0").to_numpy(dtype=bool)
    canon[todo] = [normalize_label(u) for u in canon[todo]]
    return canon[codes] if len(codes) else np.array([], dtype=object)


def label_order(labels: Sequence[str]) -> np.ndarray:
    """Return the indices that put ``labels`` in display order: numbers by value, then other text.

    Parameters
    ----------
    labels : sequence of str
        Normalised labels.

    Returns
    -------
    numpy.ndarray of int
        A permutation of ``range(len(labels))``.
    """
    text = pd.Series(np.asarray(labels, dtype=object), dtype="str")
    numeric = text.str.fullmatch(_NUMBER.pattern).to_numpy(dtype=bool)
    candidates = text.where(numeric, "0")
    try:
        value = candidates.astype("float64").to_numpy(dtype=float)
    except (ValueError, TypeError):
        value = pd.to_numeric(candidates, errors="coerce").to_numpy(dtype=float)
    value = np.where(numeric & np.isfinite(value), value, 0.0)
    # lexsort: last key is primary; text order breaks ties (and orders the non-numbers)
    rank_text = pd.factorize(text, sort=True)[0] if len(text) else np.array([], dtype=np.int64)
    return np.lexsort((rank_text, value, ~numeric))


def label_sort(labels: Iterable[str]) -> list[str]:
    """Labels in display order: numbers by value first, then anything else as text (order is cosmetic)."""
    labels = list(labels)
    return [labels[k] for k in label_order(labels)]
