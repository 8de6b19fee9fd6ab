"""Finding and reading the files PROC MCMC output comes in (CSV from PROC EXPORT, or ``.sas7bdat``)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from partclust.data.tables import decode_bytes, read_text_table
from partclust.errors import SasOutputError
from partclust.layout import SAS_OUTPUT
from partclust.validate import check_residual

__all__ = ["OUTPOST", "TABLES", "RUN_INFO", "EXTENSIONS", "read_frame", "numeric_column", "chain_number",
           "model_dir", "find_outpost", "available"]

OUTPOST = "outpost"
TABLES: tuple[str, ...] = ("postsumint", "postintervals", "mcse", "ess", "autocorr")
RUN_INFO = "run_info"
EXTENSIONS: tuple[str, ...] = (".csv", ".sas7bdat")
_CANONICAL_CHAIN = re.compile(r"^outpost(?:_chain(\d+))?$", re.IGNORECASE)


def read_frame(path: Path) -> tuple[pd.DataFrame, bool]:
    """Read the file as a table; the flag is ``True`` when cells are text (CSV), ``False`` for a SAS data set.

    Raises
    ------
    SasOutputError
        When the file is missing, empty, of an unknown type or unreadable.
    """
    if not path.is_file():
        raise SasOutputError(
            f"{path} does not exist. Run sas_reference/partially_clustered.sas in SAS (see "
            "sas_reference/README.md) or give the path of the file SAS wrote."
        )
    suffix = path.suffix.lower()
    if suffix == ".sas7bdat":
        try:
            frame = pd.read_sas(path, format="sas7bdat", encoding="latin-1")
        except Exception as exc:  # pandas raises several types for a damaged file
            raise SasOutputError(
                f"{path} is not a readable SAS data set ({type(exc).__name__}: {exc}). Copy the "
                "file again from the SAS session, or export it to CSV with PROC EXPORT."
            ) from None
        frame.columns = [str(c).strip() for c in frame.columns]
        return frame, False
    if suffix != ".csv":
        raise SasOutputError(
            f"{path}: unknown file type {path.suffix!r}; SAS output is read from .csv (PROC EXPORT) "
            "or .sas7bdat files."
        )
    raw = path.read_bytes()
    if not raw.strip():
        raise SasOutputError(f"{path} is empty. Export the data set again with PROC EXPORT.")
    try:
        # UTF-8 or Windows-1252 (SAS sessions often write WLATIN1); anything else is refused
        frame = read_text_table(decode_bytes(raw, str(path), SasOutputError).text)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise SasOutputError(f"{path} is not a readable CSV file ({exc}). Export it again.") from None
    return frame, True


def numeric_column(frame: pd.DataFrame, column: str, path: Path, is_text: bool) -> np.ndarray:
    """Return a column as floats; any blank, SAS missing (``.``) or non-numeric cell is an error.

    Raises
    ------
    SasOutputError
        Naming the file, the column and the first lines (or observations) at fault.
    """
    values = frame[column]
    if is_text:
        nums = pd.to_numeric(values.str.strip(), errors="coerce").to_numpy(dtype=float)
    else:
        nums = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(nums)
    if bad.any():
        idx = np.flatnonzero(bad)
        where = "line" if is_text else "observation"
        first = idx + (2 if is_text else 1)
        shown = ", ".join(str(i) for i in first[:8]) + (f" … ({idx.size} cells)" if idx.size > 8 else "")
        sample = values.iloc[idx[0]]
        raise SasOutputError(
            f"{path}: column {column} has non-numeric, missing or infinite values at {where}(s) "
            f"{shown} (e.g. {sample!r}). A posterior sample must be complete: re-export the data set "
            "from SAS, and check the SAS log for sampling errors."
        )
    return nums


def chain_number(path: Path) -> int | None:
    """Return the chain of a canonical OUTPOST file (``outpost`` → 1, ``outpost_chain2`` → 2), else None."""
    m = _CANONICAL_CHAIN.match(path.stem)
    if not m:
        return None
    return int(m.group(1)) if m.group(1) else 1


def model_dir(output_dir: Path, residual: str) -> Path:
    """Return where one model's files live: ``output_dir/<residual>``, or ``output_dir`` itself.

    ``output_dir`` itself is used when it already holds OUTPOST files and has no ``<residual>`` folder.

    Raises
    ------
    SasOutputError
        For an unknown residual structure.
    """
    check_residual(residual, SasOutputError)
    output_dir = Path(output_dir)
    sub = output_dir / residual
    if sub.is_dir():
        return sub
    if output_dir.is_dir() and any(chain_number(p) is not None for p in output_dir.iterdir()
                                   if p.suffix.lower() in EXTENSIONS):
        return output_dir
    return sub


def find_outpost(output_dir: Path, residual: str) -> list[Path]:
    """Return the canonical OUTPOST files of a model, in chain order (CSV preferred over sas7bdat)."""
    d = model_dir(output_dir, residual)
    if not d.is_dir():
        return []
    by_chain: dict[int, Path] = {}
    for p in sorted(d.iterdir()):
        chain = chain_number(p)
        if chain is None or not p.is_file() or p.suffix.lower() not in EXTENSIONS:
            continue
        if chain not in by_chain or p.suffix.lower() == ".csv":
            by_chain[chain] = p
    return [by_chain[k] for k in sorted(by_chain)]


def available(output_dir: Path = SAS_OUTPUT, residual: str = "single") -> bool:
    """Whether real SAS output (an OUTPOST file in the canonical layout) exists for the model."""
    return bool(find_outpost(Path(output_dir), residual))
