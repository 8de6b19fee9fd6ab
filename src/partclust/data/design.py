"""Validate a table into a frozen :class:`Design`: the data layer's one product.

Every problem with the data raises :class:`~partclust.errors.DataError`, whose message names the
file, the column and the rows at fault and says what to do, so that no bad input can turn into a
silent NaN result downstream. Where the file comes from is :mod:`partclust.data.source`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from partclust.data.source import resolve_data_path, sha256_of
from partclust.data.tables import decode_text, read_text_table
from partclust.errors import DataError

__all__ = ["REQUIRED_COLUMNS", "MISSING_LABELS", "Design", "read_table", "validate", "load_design", "design_frame"]

REQUIRED_COLUMNS = ("i", "j", "treat", "y")
MISSING_LABELS: frozenset[str] = frozenset({"", "na", "nan", "n/a", ".", "null", "none"})
"""Cell texts (case-insensitive) read as a missing cluster id (SAS writes a missing number as ``.``)."""


@dataclass(frozen=True)
class Design:
    """A validated partially clustered design.

    Rows keep the file's order. Treated subjects carry the index of their cluster in
    ``clusters``; controls carry -1. ``sas_clusters`` lists every distinct value of ``j`` (treated
    clusters first, then the controls' singletons or shared placeholder), which is what PROC MCMC's
    ``RANDOM ... SUBJECT=j`` creates one effect for; a control without any ``j`` has
    ``sas_cluster_of_row`` −1. ``notes`` says how the controls' ids were read.
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
    notes: tuple[str, ...] = ()

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
        lines = [
            f"data: {self.source}",
            f"sha256: {self.sha256}",
            f"subjects: {self.n} ({self.n_treated} treated, {self.n_control} control)",
            f"treated clusters: {self.n_clusters}",
            "cluster sizes: " + ", ".join(f"{k}: {v}" for k, v in sizes.items()),
            f"control singletons (clusters of one): {len(self.control_clusters)}",
        ]
        return "\n".join(lines + list(self.notes))


def _rows(mask: np.ndarray, limit: int = 8) -> str:
    """File line numbers (header is line 1) of the rows flagged in ``mask``."""
    idx = np.flatnonzero(mask) + 2
    shown = ", ".join(str(i) for i in idx[:limit])
    return shown + (f" … ({idx.size} rows)" if idx.size > limit else "")


def _label_sort_key(labels: list[str]) -> list[str]:
    """Numeric labels sort as numbers, anything else as text; order is only cosmetic."""
    try:
        return sorted(labels, key=lambda s: (float(s), s))
    except ValueError:
        return sorted(labels)


def read_table(path: Path) -> pd.DataFrame:
    r"""Read the CSV with any line ending (the original uses old-Mac ``\r``), every cell as text.

    Raises
    ------
    DataError
        When the file is empty or not a readable CSV file.
    """
    raw = Path(path).read_bytes()
    if not raw.strip():
        raise DataError(f"{path} is empty. Point --data at the run1.csv file.")
    try:
        return read_text_table(decode_text(raw), skipinitialspace=True)
    except pd.errors.ParserError as exc:
        raise DataError(f"{path} is not a readable CSV file ({exc}).") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} has no header or rows. Point --data at the run1.csv file.") from None


def validate(df: pd.DataFrame, source: str = "<table>", sha256: str = "") -> Design:
    """Check every assumption the models make and build the :class:`Design`.

    Parameters
    ----------
    df : pandas.DataFrame
        Columns ``i`` (subject id, unique within its cluster), ``j`` (cluster id; one per control),
        ``treat`` (0 or 1) and ``y`` (finite outcome); cells may be text.
    source : str
        Named in error messages and recorded in the design (usually the file's path).
    sha256 : str
        The file's SHA-256, recorded with every result.

    Returns
    -------
    Design
        Rows in the file's order; treated clusters and controls' singletons sorted by label (numbers as
        numbers).

    Raises
    ------
    DataError
        Naming the column and the file's line numbers: a required column missing, no rows, a blank id, a
        non-numeric or non-finite ``y``, ``treat`` not 0/1, a repeated subject, a cluster with both arms,
        controls sharing an id, an empty arm, or fewer than two treated clusters.
    """
    df = df.rename(columns=lambda c: str(c).strip())
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(
            f"{source}: required column(s) {', '.join(missing)} missing; found {list(df.columns)}. "
            "The file needs columns i (subject), j (cluster), treat (0/1) and y (outcome)."
        )
    if len(df) == 0:
        raise DataError(f"{source} has a header but no rows.")

    subject = df["i"].astype(str).str.strip()
    cluster = df["j"].astype(str).str.strip()
    blank = (subject == "").to_numpy()
    if blank.any():
        raise DataError(f"{source}: column i is blank at line(s) {_rows(blank)}. Fill in the ids.")
    no_cluster = cluster.str.lower().isin(MISSING_LABELS).to_numpy()

    y = pd.to_numeric(df["y"].astype(str).str.strip(), errors="coerce").to_numpy(dtype=float)
    bad_y = ~np.isfinite(y)
    if bad_y.any():
        raise DataError(
            f"{source}: column y is non-numeric, NaN or infinite at line(s) {_rows(bad_y)}. "
            "Every subject needs a finite numeric outcome; fix or remove those rows."
        )

    treat_num = pd.to_numeric(df["treat"].astype(str).str.strip(), errors="coerce").to_numpy(dtype=float)
    bad_t = ~np.isin(treat_num, (0.0, 1.0))
    if bad_t.any():
        raise DataError(
            f"{source}: column treat must be 0 (control) or 1 (treated); not so at line(s) {_rows(bad_t)}."
        )
    treat = treat_num.astype(np.int8)
    bad = no_cluster & (treat == 1)
    if bad.any():
        raise DataError(f"{source}: treated subject(s) with a missing cluster id in column j at line(s) {_rows(bad)}. "
                        "Every treated subject belongs to a cluster; only controls may have none.")
    cluster = cluster.where(~no_cluster, "")

    # In run1 ``i`` numbers subjects within their cluster, so a subject is identified by (j, i).
    dup = pd.DataFrame({"j": cluster, "i": subject}).duplicated(keep=False).to_numpy()
    if dup.any():
        raise DataError(
            f"{source}: duplicate subject ids (the same i within the same cluster j) at line(s) "
            f"{_rows(dup)}. Each subject must appear once; remove or renumber the repeated rows."
        )

    arms = pd.DataFrame({"j": cluster, "treat": treat})
    mixed = arms.groupby("j")["treat"].nunique()
    mixed = mixed[mixed > 1].index.tolist()
    if mixed:
        rows = cluster.isin(mixed).to_numpy()
        raise DataError(
            f"{source}: cluster(s) {', '.join(map(str, mixed[:8]))} in column j contain both treated and "
            f"control subjects (line(s) {_rows(rows)}). Clusters exist only in the treated arm; give each "
            "control its own id."
        )
    notes = []
    control_counts = cluster[(treat == 0) & ~no_cluster].value_counts()
    for label in _label_sort_key(control_counts[control_counts > 1].index.tolist()):
        notes.append(f"{control_counts[label]} controls share placeholder {label} — treated as unclustered")
    if no_cluster.any():
        notes.append(f"{int(no_cluster.sum())} controls have no cluster id — treated as unclustered")
    if treat.sum() == 0 or (treat == 0).sum() == 0:
        empty = "treated (treat = 1)" if treat.sum() == 0 else "control (treat = 0)"
        raise DataError(f"{source}: the {empty} arm has no subjects; both arms are needed.")

    treated_labels = _label_sort_key(cluster[treat == 1].unique().tolist())
    if len(treated_labels) < 2:
        raise DataError(
            f"{source}: only {len(treated_labels)} treated cluster(s) in column j; the cluster variance "
            "needs at least two treated clusters."
        )
    control_labels = _label_sort_key(cluster[(treat == 0) & ~no_cluster].unique().tolist())
    index = {label: k for k, label in enumerate(treated_labels)}
    sas_index = {label: k for k, label in enumerate(treated_labels + control_labels)}
    cluster_of_row = np.array([index.get(c, -1) for c in cluster], dtype=np.int64)
    sas_cluster_of_row = np.array([sas_index.get(c, -1) for c in cluster], dtype=np.int64)

    for arr in (y, treat, cluster_of_row, sas_cluster_of_row):
        arr.setflags(write=False)
    return Design(
        y=y,
        treat=treat,
        subject=tuple(cluster + ":" + subject),
        cluster_of_row=cluster_of_row,
        clusters=tuple(treated_labels),
        control_clusters=tuple(control_labels),
        sas_cluster_of_row=sas_cluster_of_row,
        source=source,
        sha256=sha256,
        notes=tuple(notes),
    )


def load_design(path: str | os.PathLike | None = None, *, allow_download: bool = True) -> Design:
    """Resolve, read and validate the dataset in one call.

    Parameters
    ----------
    path : str or path, optional
        The CSV; default ``$RUN1_CSV``, then ``data/run1.csv``, then the pinned download
        (:func:`~partclust.data.source.resolve_data_path`).
    allow_download : bool
        Whether the pinned download may be fetched when no local copy is found.

    Returns
    -------
    Design
        With ``source`` the resolved path and ``sha256`` the file's checksum.

    Raises
    ------
    DataError
        When the file cannot be found, read or validated (see :func:`validate`).
    """
    p = resolve_data_path(path, allow_download=allow_download)
    return validate(read_table(p), source=str(p), sha256=sha256_of(p))


def design_frame(design: Design) -> pd.DataFrame:
    """Return the design as a tidy table, one row per subject in the file's order (for notebooks and plots).

    Returns
    -------
    pandas.DataFrame
        Columns ``subject`` (``"<j>:<i>"``), ``cluster`` (the subject's value of ``j``; blank when it has none),
        ``treat`` (0/1), ``arm`` (``"treated"`` or ``"control"``) and ``y`` (the outcome, in its own units).
    """
    labels = np.array(design.sas_clusters + ("",), dtype=object)  # −1 (no id) picks the blank
    cl = labels[design.sas_cluster_of_row]
    return pd.DataFrame(
        {
            "subject": design.subject,
            "cluster": cl,
            "treat": design.treat.astype(int),
            "arm": np.where(design.treat == 1, "treated", "control"),
            "y": design.y,
        }
    )
