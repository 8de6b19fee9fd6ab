"""The data table a translated program runs on: cells as text, SAS's case-insensitive column names."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from partclust.errors import DataError

__all__ = ["ProgramData", "read_program_data"]


@dataclass(frozen=True, eq=False)
class ProgramData:
    """The data table a program runs on (cells as text), with SAS's case-insensitive column names.

    Attributes
    ----------
    table : pandas.DataFrame
        Every cell as text, as read.
    source, sha256 : str
        The file and its SHA-256.
    """

    table: pd.DataFrame
    source: str = "<table>"
    sha256: str = ""

    @property
    def n(self) -> int:
        """Number of rows (observations)."""
        return len(self.table)

    def column_name(self, name: str) -> str | None:
        """Find the table's spelling of column ``name`` (SAS names ignore case), or ``None``."""
        low = name.lower()
        for c in self.table.columns:
            if str(c).lower() == low:
                return str(c)
        return None

    def is_numeric(self, name: str) -> bool:
        """Whether every cell of the column is a finite number."""
        col = self.table[self.column_name(name)]
        vals = pd.to_numeric(col.astype(str).str.strip(), errors="coerce")
        return bool(np.isfinite(np.asarray(vals, dtype=float)).all())

    def numeric(self, name: str, role: str) -> np.ndarray:
        """Return the column as floats.

        Raises
        ------
        DataError
            For a missing or non-numeric cell, naming the lines.
        """
        from partclust.models.model_data import numeric_column

        return numeric_column(self.table, self.column_name(name) or name, self.source, role)

    def text(self, name: str) -> np.ndarray:
        """Return the column as stripped text."""
        return self.table[self.column_name(name)].astype(str).str.strip().to_numpy(dtype=object)

    @property
    def rows(self) -> tuple[str, ...]:
        """A label per row: its line in the file (the header is line 1)."""
        return tuple(str(k + 2) for k in range(self.n))


def read_program_data(path: str) -> ProgramData:
    """Read a CSV file for a program (any line ending; every cell as text).

    Raises
    ------
    DataError
        When the file is missing, unreadable or has no rows.
    """
    from pathlib import Path

    from partclust.data import sha256_of
    from partclust.data.tables import decode_text, read_text_table

    p = Path(path)
    if not p.is_file():
        raise DataError(f"no data file {p}")
    try:
        table = read_text_table(decode_text(p.read_bytes()))
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"cannot read {p} as CSV: {exc}") from None
    if len(table) == 0:
        raise DataError(f"{p} has a header but no rows")
    return ProgramData(table, str(p), sha256_of(p))
