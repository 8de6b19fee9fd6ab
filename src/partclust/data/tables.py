"""Reading delimited text tables tolerantly: any line ending, a byte-order mark, cells kept as text.

Shared by the dataset reader and the SAS output reader, so both treat files alike.
"""

from __future__ import annotations

import io

import pandas as pd

__all__ = ["decode_text", "read_text_table"]


def decode_text(raw: bytes) -> str:
    r"""Decode bytes as UTF-8 (a BOM is dropped), else Latin-1; normalise line endings to ``\n``."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_text_table(text: str, *, skipinitialspace: bool = False) -> pd.DataFrame:
    """Parse CSV text with every cell as a string (no NA conversion), column names stripped.

    Raises
    ------
    pandas.errors.ParserError, pandas.errors.EmptyDataError
        Left to the caller, which names the file in its own error.
    """
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=skipinitialspace)
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame
