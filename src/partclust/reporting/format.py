"""Numbers and names as a reader sees them in reports."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["SIGNIFICANT", "fmt_number", "shown"]

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


def shown(table: Any, decimals: int = 4, whole: tuple[str, ...] = (), index: bool = True,
          labels: Any = None, caption: str = "") -> Any:
    """Return a DataFrame as a notebook shows it: rounded, missing values as an em dash, empty columns left out.

    A column with no value at all (a reference that is not available, such as ``sas`` without OUTPOST files) is
    left out; the notebook's text says why it is missing. Other missing cells (REML has no cluster effects) show
    "—" rather than ``NaN``.

    Parameters
    ----------
    table : pandas.DataFrame
    decimals : int
        Places after the decimal point of the float columns.
    whole : tuple of str
        Columns shown as whole numbers (an ESS, a count).
    index : bool
        Show the row labels (False for a table whose index is only row numbers).
    labels : mapping of str to str, optional
        Column headings to show instead of the column names (e.g.
        :data:`partclust.reporting.tables.COLUMN_LABELS`); the CSV keeps the names.
    caption : str
        Said above the table.

    Returns
    -------
    pandas.io.formats.style.Styler
        Displays as an HTML table with pandas' ``dataframe`` class (so pages style it as any other table).
    """
    kept = table.loc[:, table.notna().any(axis=0)] if len(table) else table
    yes_no = [c for c in kept.columns if kept[c].dtype == bool]
    styled = (kept.style.format(precision=decimals, na_rep="—")
              .format("{:.0f}", subset=[c for c in whole if c in kept.columns], na_rep="—")
              .format(lambda v: "yes" if v else "no", subset=yes_no)
              .set_table_attributes('class="dataframe"'))
    if labels:
        styled = styled.relabel_index([labels.get(c, c) for c in kept.columns], axis="columns")
    if caption:
        styled = styled.set_caption(caption)
    return styled if index else styled.hide(axis="index")
