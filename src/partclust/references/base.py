"""What a reference is: a named table of posterior statistics (or estimates) with its provenance."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
import pandas as pd

__all__ = ["REFERENCE_COLUMNS", "Reference", "reference_table"]

REFERENCE_COLUMNS: tuple[str, ...] = ("param", "statistic", "value", "se", "lo", "hi", "note")


@dataclass(frozen=True)
class Reference:
    """A posterior (or estimate) to compare against, with the metadata that made it.

    Attributes
    ----------
    name : str
        ``exact``, ``reml``, ``pymc2_2011``, ``sas`` (see :data:`partclust.references.REFERENCE_NAMES`).
    model : str
        The residual structure.
    table : pandas.DataFrame
        Columns :data:`REFERENCE_COLUMNS`, one row per (param, statistic): ``value`` the reference
        number, ``se`` its Monte Carlo standard error (0 when exact, NaN when unknown), ``lo``/``hi``
        an interval when the reference is only known to lie in one (else NaN), ``note`` a reason when
        the row cannot be compared with a posterior statistic.
    provenance : dict
        Method, settings, checks and versions (JSON-ready).
    available : bool
        False when the reference does not exist for these data (then ``unavailable_reason`` says why).
    """

    name: str
    model: str
    table: pd.DataFrame
    provenance: dict
    available: bool = True
    unavailable_reason: str = ""


def reference_table(rows: Iterable[dict]) -> pd.DataFrame:
    """Build a reference table from row dicts, filling absent optional columns (se, lo, hi: NaN)."""
    df = pd.DataFrame(list(rows))
    for col, default in (("se", np.nan), ("lo", np.nan), ("hi", np.nan), ("note", "")):
        if col not in df:
            df[col] = default
    return df.reindex(columns=list(REFERENCE_COLUMNS))
