"""Validate a table into a frozen :class:`Design`: the data layer's one product.

Every problem with the data raises :class:`~partclust.errors.DataError`, whose message names the
file, the column and the rows at fault and says what to do, so that no bad input can turn into a
silent NaN result downstream. Where the file comes from is :mod:`partclust.data.source`.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from partclust.data.identity import content_sha256
from partclust.data.labels import label_order, normalize_labels
from partclust.data.source import resolve_data_path
from partclust.data.tables import decode_bytes, read_text_table
from partclust.errors import DataError

__all__ = ["REQUIRED_COLUMNS", "Design", "read_table", "validate", "load_design", "design_frame"]

REQUIRED_COLUMNS = ("i", "j", "treat", "y")


@dataclass(frozen=True)
class Design:
    """A validated partially clustered design.

    Rows keep the file's order. Treated subjects carry the index of their cluster in
    ``clusters``; controls carry -1. ``sas_clusters`` lists every distinct value of ``j`` (treated
    clusters first, then the controls' singletons), which is what PROC MCMC's ``RANDOM ... SUBJECT=j``
    creates one effect for. Ids are normalised (:func:`~partclust.data.labels.normalize_label`):
    ``1`` and ``1.0`` are one cluster, labelled ``1``.

    Attributes
    ----------
    sha256 : str
        SHA-256 of the file's bytes (provenance; empty for a table not read from a file).
    content_sha256 : str
        Canonical hash of the validated table (:func:`~partclust.data.identity.content_sha256`): what
        identifies the dataset wherever results are matched to data.
    encoding : str
        The text encoding the file was read with (:data:`~partclust.data.tables.ENCODINGS`; empty for
        a table not read from a file).
    """

    y: np.ndarray
    treat: np.ndarray
    subject: tuple[str, ...]  # "j:i", unique
    cluster_of_row: np.ndarray
    clusters: tuple[str, ...]
    control_clusters: tuple[str, ...]
    sas_cluster_of_row: np.ndarray
    source: str
    sha256: str
    content_sha256: str = ""
    encoding: str = ""

    @property
    def n(self) -> int:
        """Number of subjects (rows of the file)."""
        return int(self.y.size)

    @property
    def n_clusters(self) -> int:
        """Number of treated clusters (the cluster effects the models estimate)."""
        return len(self.clusters)

    @property
    def sas_clusters(self) -> tuple[str, ...]:
        """Every distinct value of ``j``: the treated clusters, then the controls' singletons."""
        return self.clusters + self.control_clusters

    @property
    def cluster_sizes(self) -> dict[str, int]:
        """Subjects per treated cluster, by label, in the order of ``clusters``."""
        counts = np.bincount(self.cluster_of_row[self.treat == 1], minlength=self.n_clusters)
        return {label: int(c) for label, c in zip(self.clusters, counts)}

    @property
    def n_treated(self) -> int:
        """Number of treated subjects."""
        return int(self.treat.sum())

    @property
    def n_control(self) -> int:
        """Number of control subjects."""
        return self.n - self.n_treated

    def describe(self) -> str:
        """Describe the design in a few human-readable lines (what ``partclust validate`` prints)."""
        sizes = self.cluster_sizes
        if len(sizes) <= 20:
            size_text = ", ".join(f"{k}: {v}" for k, v in sizes.items())
        else:
            counts = np.fromiter(sizes.values(), dtype=np.int64, count=len(sizes))
            size_text = (f"{counts.min()}–{counts.max()} (median {np.median(counts):g}); first five: "
                         + ", ".join(f"{k}: {v}" for k, v in list(sizes.items())[:5]))
        lines = [
            f"data: {self.source}",
            f"encoding: {self.encoding or 'not read from a file'}",
            f"sha256 (file bytes): {self.sha256}",
            f"content sha256 (validated table): {self.content_sha256}",
            f"subjects: {self.n} ({self.n_treated} treated, {self.n_control} control)",
            f"treated clusters: {self.n_clusters}",
            "cluster sizes: " + size_text,
            f"control singletons (clusters of one): {len(self.control_clusters)}",
        ]
        return "\n".join(lines)


def _rows(mask: np.ndarray, limit: int = 8) -> str:
    """File line numbers (header is line 1) of the rows flagged in ``mask``."""
    idx = np.flatnonzero(mask) + 2
    shown = ", ".join(str(i) for i in idx[:limit])
    return shown + (f" … ({idx.size} rows)" if idx.size > limit else "")


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read the CSV: any text encoding of :func:`~partclust.data.tables.decode_bytes`, any line ending.

    Returns
    -------
    pandas.DataFrame
        Every cell as text; ``frame.attrs["encoding"]`` names the encoding used and
        ``frame.attrs["sha256"]`` is the SHA-256 of the bytes read.

    Raises
    ------
    DataError
        When the path is a directory, cannot be read, is empty, is not text (saying what it is:
        gzip, Excel, …), is in an encoding that cannot be told, or is not CSV.
    """
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path} is a directory, not a data file. {_csv_hint(path)}")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}.") from None
    if not raw.strip():
        raise DataError(f"{path} is empty. Point --data at the run1.csv file.")
    decoded = decode_bytes(raw, str(path))
    try:
        frame = read_text_table(decoded.text, skipinitialspace=True)
    except pd.errors.ParserError as exc:
        raise DataError(f"{path} is not a readable CSV file ({exc}).") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} has no header or rows. Point --data at the run1.csv file.") from None
    frame.attrs["encoding"] = decoded.encoding
    frame.attrs["sha256"] = hashlib.sha256(raw).hexdigest()
    return frame


def _csv_hint(directory: Path) -> str:
    try:
        found = sorted(p.name for p in directory.iterdir() if p.suffix.lower() == ".csv")
    except OSError:
        found = []
    if found:
        return f"Give the CSV file itself, e.g. --data {directory / found[0]}."
    return "Give the path of the CSV file itself."


def _text_column(df: pd.DataFrame, col: str) -> pd.Series:
    """Return a column as stripped text."""
    values = df[col]
    if not pd.api.types.is_string_dtype(values.dtype) or values.dtype == object:
        values = values.astype(str)
    return values.str.strip()


def _numbers(text: pd.Series) -> np.ndarray:
    """Text cells as floats; a cell that is not a number becomes NaN."""
    try:
        return text.astype("float64").to_numpy(dtype=float)
    except (ValueError, TypeError):
        return pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)


def validate(df: pd.DataFrame, source: str = "<table>", sha256: str = "", encoding: str | None = None) -> Design:
    """Check every assumption the models make and build the :class:`Design`.

    Parameters
    ----------
    df : pandas.DataFrame
        Columns ``i`` (subject), ``j`` (cluster), ``treat`` (0/1) and ``y`` (outcome); others are
        ignored. Cells may be text (as :func:`read_table` gives) or numbers.
    source : str
        How to name the data in messages (the file's path).
    sha256 : str
        SHA-256 of the file's bytes, kept for provenance.
    encoding : str, optional
        The file's text encoding (default: ``df.attrs["encoding"]`` when present).

    Returns
    -------
    Design

    Raises
    ------
    DataError
        Naming the file, the column and the lines at fault: a missing column, no rows, blank ids,
        a non-numeric or non-finite outcome, an outcome without variation, treat not 0/1, a subject
        listed twice, a cluster with both arms, controls sharing a cluster id, an empty arm, or fewer
        than two treated clusters.
    """
    if encoding is None:
        encoding = str(df.attrs.get("encoding", ""))
    df = df.rename(columns=lambda c: str(c).strip())
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        hint = ""
        if len(df.columns) == 1:
            only = str(df.columns[0])
            sep = next((name for ch, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "bars")) if ch in only),
                       None)
            if sep:
                hint = f" The header {only!r} looks separated by {sep}: save the file with commas as separators."
        raise DataError(
            f"{source}: required column(s) {', '.join(missing)} missing; found {list(df.columns)}. "
            "The file needs columns i (subject), j (cluster), treat (0/1) and y (outcome)." + hint
        )
    if len(df) == 0:
        raise DataError(f"{source} has a header but no rows.")

    subject = normalize_labels(_text_column(df, "i"))
    cluster = normalize_labels(_text_column(df, "j"))
    for col, values in (("i", subject), ("j", cluster)):
        blank = values == ""
        if blank.any():
            raise DataError(f"{source}: column {col} is blank at line(s) {_rows(blank)}. Fill in the ids.")

    y = _numbers(_text_column(df, "y"))
    bad_y = ~np.isfinite(y)
    if bad_y.any():
        raise DataError(
            f"{source}: column y is non-numeric, NaN or infinite at line(s) {_rows(bad_y)}. "
            "Every subject needs a finite numeric outcome; fix or remove those rows."
        )
    if y.size > 1 and np.all(y == y[0]):
        raise DataError(
            f"{source}: column y has no variation (all {y.size} values are {y[0]:g}); no variance can be "
            "estimated from it. Check that the y column holds the outcome."
        )

    treat_num = _numbers(_text_column(df, "treat"))
    bad_t = ~np.isin(treat_num, (0.0, 1.0))
    if bad_t.any():
        raise DataError(
            f"{source}: column treat must be 0 (control) or 1 (treated); not so at line(s) {_rows(bad_t)}."
        )
    treat = treat_num.astype(np.int8)

    # In run1 ``i`` numbers subjects within their cluster, so a subject is identified by (j, i).
    dup = pd.DataFrame({"j": cluster, "i": subject}).duplicated(keep=False).to_numpy()
    if dup.any():
        raise DataError(
            f"{source}: duplicate subject ids (the same i within the same cluster j, numbers compared as "
            f"numbers) at line(s) {_rows(dup)}. Each subject must appear once; remove or renumber the "
            "repeated rows."
        )

    codes, uniques = pd.factorize(cluster, sort=False)
    n_rows = np.bincount(codes, minlength=uniques.size)
    n_treated = np.bincount(codes, weights=treat, minlength=uniques.size)
    mixed = (n_treated > 0) & (n_treated < n_rows)
    if mixed.any():
        labels = uniques[mixed]
        rows = mixed[codes]
        raise DataError(
            f"{source}: cluster(s) {', '.join(map(str, labels[:8]))} in column j contain both treated and "
            f"control subjects (line(s) {_rows(rows)}). Clusters exist only in the treated arm; give each "
            "control its own id."
        )
    shared = (n_treated == 0) & (n_rows > 1)
    if shared.any():
        rows = shared[codes]
        raise DataError(
            f"{source}: control subjects share cluster id(s) {', '.join(map(str, uniques[shared][:8]))} in "
            f"column j (line(s) {_rows(rows)}). Controls are unclustered: give each control a distinct j."
        )
    if treat.sum() == 0 or (treat == 0).sum() == 0:
        empty = "treated (treat = 1)" if treat.sum() == 0 else "control (treat = 0)"
        raise DataError(f"{source}: the {empty} arm has no subjects; both arms are needed.")

    is_treated = n_treated > 0
    if is_treated.sum() < 2:
        raise DataError(
            f"{source}: only {int(is_treated.sum())} treated cluster(s) in column j; the cluster variance "
            "needs at least two treated clusters."
        )
    order = label_order(uniques)
    treated_codes = order[is_treated[order]]
    sas_codes = np.concatenate([treated_codes, order[~is_treated[order]]])
    treated_labels = uniques[treated_codes].tolist()
    control_labels = uniques[order[~is_treated[order]]].tolist()
    index = np.full(uniques.size, -1, dtype=np.int64)
    index[treated_codes] = np.arange(treated_codes.size)
    sas_index = np.empty(uniques.size, dtype=np.int64)
    sas_index[sas_codes] = np.arange(uniques.size)
    cluster_of_row = index[codes]
    sas_cluster_of_row = sas_index[codes]

    for arr in (y, treat, cluster_of_row, sas_cluster_of_row):
        arr.setflags(write=False)
    return Design(
        y=y,
        treat=treat,
        subject=tuple((pd.Series(cluster, dtype=object) + ":" + pd.Series(subject, dtype=object)).tolist()),
        cluster_of_row=cluster_of_row,
        clusters=tuple(treated_labels),
        control_clusters=tuple(control_labels),
        sas_cluster_of_row=sas_cluster_of_row,
        source=source,
        sha256=sha256,
        content_sha256=content_sha256(subject.tolist(), cluster.tolist(), treat, y),
        encoding=encoding,
    )


def load_design(path: str | os.PathLike | None = None, *, allow_download: bool = True) -> Design:
    """Resolve, read and validate the dataset in one call.

    Raises
    ------
    DataError
        From :func:`~partclust.data.source.resolve_data_path`, :func:`read_table` or :func:`validate`.
    """
    p = resolve_data_path(path, allow_download=allow_download)
    frame = read_table(p)
    return validate(frame, source=str(p), sha256=frame.attrs["sha256"])


def design_frame(design: Design) -> pd.DataFrame:
    """Return the design as a tidy table, one row per subject in the file's order (for notebooks and plots).

    Returns
    -------
    pandas.DataFrame
        Columns ``subject`` (``"<j>:<i>"``), ``cluster`` (the subject's value of ``j``), ``treat`` (0/1),
        ``arm`` (``"treated"`` or ``"control"``) and ``y`` (the outcome, in its own units).
    """
    cl = np.array(design.sas_clusters, dtype=object)[design.sas_cluster_of_row]
    return pd.DataFrame(
        {
            "subject": design.subject,
            "cluster": cl,
            "treat": design.treat.astype(int),
            "arm": np.where(design.treat == 1, "treated", "control"),
            "y": design.y,
        }
    )
