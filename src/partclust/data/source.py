"""Where the dataset comes from: an explicit path, ``$RUN1_CSV``, ``data/run1.csv``, or the pinned download.

The dataset is third-party and never committed. A download comes from a pinned, immutable URL and is
kept only if its SHA-256 matches.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from partclust.errors import DataError
from partclust.layout import REPO_ROOT

__all__ = ["DATA_URL", "DATA_SHA256", "DEFAULT_DATA_PATH", "ENV_VAR", "sha256_of", "download", "resolve_data_path"]

DATA_URL = (
    "https://raw.githubusercontent.com/aflaxman/pymc-multilevel-example/"
    "0fd196ba6c51f5f966d02c06cebe3e84f83acae8/data.csv"
)
DATA_SHA256 = "6d83ebed46db51fb5a06d8e9644b04a3f8d38ad0ceeccd9480ebef646e55433d"
DEFAULT_DATA_PATH = REPO_ROOT / "data" / "run1.csv"
ENV_VAR = "RUN1_CSV"


def sha256_of(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, as 64 hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def download(dest: Path | None = None, url: str | None = None, sha256: str | None = None) -> Path:
    """Download the pinned dataset to ``dest`` and verify its checksum.

    Raises
    ------
    DataError
        When the download fails or its SHA-256 differs (the file is then deleted).
    """
    import urllib.request

    dest = DEFAULT_DATA_PATH if dest is None else dest
    url = DATA_URL if url is None else url
    sha256 = DATA_SHA256 if sha256 is None else sha256
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(tmp, "wb") as out:
            out.write(resp.read())
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DataError(
            f"could not download the dataset from {url} ({exc}). Give a local copy with --data PATH "
            f"or the environment variable {ENV_VAR}."
        ) from None
    got = sha256_of(tmp)
    if got != sha256:
        tmp.unlink(missing_ok=True)
        raise DataError(
            f"the download from {url} has SHA-256 {got}, expected {sha256}; it was deleted. "
            "Check your network or proxy, or give a verified local copy with --data PATH."
        )
    tmp.replace(dest)
    return dest


def _existing_file(p: Path, todo: str) -> Path:
    """``p`` resolved, if it names a file; otherwise a :class:`DataError` saying what it is instead."""
    if p.is_dir():
        csvs = sorted(q.name for q in p.glob("*.csv"))
        inside = f" (it holds {', '.join(csvs[:3])}{' …' if len(csvs) > 3 else ''})" if csvs else ""
        raise DataError(f"{p} is a directory, not a data file{inside}. Give the path of the CSV file itself.")
    if not p.exists():
        raise DataError(f"data file {p} does not exist. {todo}")
    if not p.is_file():
        raise DataError(f"{p} is not a regular file. Give the path of the CSV file itself.")
    if not os.access(p, os.R_OK):
        raise DataError(f"cannot read {p}: permission denied. Make it readable or give another copy with --data.")
    return p.resolve()


def resolve_data_path(path: str | os.PathLike | None = None, *, allow_download: bool = True) -> Path:
    """Find the dataset: explicit path, then ``$RUN1_CSV``, then ``data/run1.csv``, then download.

    Raises
    ------
    DataError
        When the path given (or ``$RUN1_CSV``) does not exist or is a directory, or nothing is found
        and downloading is not allowed.
    """
    if path not in (None, ""):
        return _existing_file(Path(path).expanduser(), "Check the path given with --data (data_path in a notebook).")
    env = os.environ.get(ENV_VAR)
    if env:
        return _existing_file(Path(env).expanduser(), f"Fix or unset the environment variable {ENV_VAR}.")
    if DEFAULT_DATA_PATH.is_file():
        return DEFAULT_DATA_PATH
    if not allow_download:
        raise DataError(
            f"no dataset found: give --data PATH, set {ENV_VAR}, or put the file at {DEFAULT_DATA_PATH}."
        )
    return download()
