"""Writing files so that a reader never sees half of one: write to a temporary name, then rename.

A crash, a full disk or a kill between the two steps leaves the previous file (or none), never a
truncated one. Errors from the file system become one line naming the folder and the reason.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from partclust.errors import PartclustError

__all__ = ["WriteError", "atomic_path", "write_text", "write_json", "write_csv", "write_with", "write_tables",
           "json_default"]


class WriteError(PartclustError, OSError):
    """A result could not be written (read-only folder, disk full); the message names the folder."""

    exit_code = 1


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed to ``path``.

    Raises
    ------
    WriteError
        When the folder cannot be created or written (the temporary file is removed).
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        os.close(fd)
    except OSError as exc:
        raise WriteError(f"cannot write into {target.parent}: {exc.strerror or exc}. "
                         "Free space or choose another output folder.") from None
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except OSError as exc:
        tmp_path.unlink(missing_ok=True)
        raise WriteError(f"cannot write {target}: {exc.strerror or exc}. "
                         "Free space or choose another output folder, then rerun.") from None
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def json_default(obj: Any) -> Any:
    """JSON form of NumPy scalars and paths (for :func:`json.dumps`)."""
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as indented JSON atomically; returns the path."""
    return write_text(path, json.dumps(data, indent=2, default=json_default) + "\n")


def write_csv(path: str | os.PathLike, frame: Any, float_format: str = "%.10g") -> Path:
    """Write a DataFrame as CSV (no index, 10 significant digits) atomically; returns the path."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format=float_format)
    return Path(path)


def write_with(path: str | os.PathLike, writer: Callable[[Path], None]) -> Path:
    """Call ``writer(tmp)`` to write a temporary file, then rename it to ``path``."""
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def write_tables(tables: Mapping[str, Any], out_dir: str | os.PathLike) -> list[Path]:
    """Write each DataFrame of ``tables`` as ``<name>.csv`` in ``out_dir``; returns the paths."""
    return [write_csv(Path(out_dir) / f"{name}.csv", df) for name, df in tables.items()]
