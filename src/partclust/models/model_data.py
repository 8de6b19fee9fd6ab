"""A table read through a :class:`~partclust.models.spec.ModelSpec`: what a model, the exact posterior and REML need.

That is y, X, z, the group and residual group of every row, labels and notes on how the data were read.

:func:`build_model_data` reads any validated table given its fixed-effect design;
:func:`builtin_data` reads a run1 :class:`~partclust.data.Design` through a built-in specification, so
the PyMC model, the exact posterior and REML read every model the same way.

Real-data conventions for the grouping column (:func:`group_index`): a row whose effect multiplier z
is 0 ("a control" of a partially nested trial) belongs to no group when its cluster id is missing
(blank, NA, ``.``), is a placeholder shared by such rows only (e.g. every control coded 0), or is a
singleton (SAS's coding of unclustered subjects). Such effects are touched by no data and are not
sampled, unless the SAS-singletons parameterization asks for one effect per distinct value, as PROC
MCMC's ``RANDOM … SUBJECT=`` creates. A row with z ≠ 0 and a missing cluster id is an error.

Length: just over 400 lines, nearly half docstrings; one concept, reading a table through a
specification (the conventions, the validated arrays, and the built-in models' reading of a Design).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from partclust.data.design import MISSING_LABELS
from partclust.errors import DataError, SpecError
from partclust.models.priors import SAS_PRIORS, Prior, Priors
from partclust.models.spec import PRIOR_GROUPS, ModelSpec, builtin_spec

__all__ = ["ModelData", "GroupIndex", "build_model_data", "builtin_data", "content_hash", "group_index", "model_data_of",
           "numeric_column", "normalise_labels", "MISSING_LABELS"]


def normalise_labels(values: pd.Series) -> pd.Series:
    """Cluster labels as text, with numbers written alike (``1``, ``1.0`` and `` 1`` are one label)."""
    text = values.astype(str).str.strip()
    num = pd.to_numeric(text, errors="coerce")
    integral = num.notna() & np.isfinite(num) & (num == np.round(num)) & (num.abs() < 2**53)
    out = text.copy()
    out[integral] = num[integral].astype("int64").astype(str)
    other = num.notna() & ~integral & np.isfinite(num)
    out[other] = num[other].map(repr)
    return out


def _rows(mask: np.ndarray, limit: int = 8) -> str:
    idx = np.flatnonzero(mask) + 2
    shown = ", ".join(str(i) for i in idx[:limit])
    return shown + (f" … ({idx.size} rows)" if idx.size > limit else "")


def _label_sort_key(labels: list[str]) -> list[str]:
    try:
        return sorted(labels, key=lambda s: (float(s), s))
    except ValueError:
        return sorted(labels)


def numeric_column(table: pd.DataFrame, column: str, source: str, role: str) -> np.ndarray:
    """Read a column as finite floats.

    Raises
    ------
    DataError
        Naming the column, its role and the lines that are not finite numbers.
    """
    if column not in table.columns:
        raise DataError(f"{source}: no column {column!r} (the {role}); columns are {list(table.columns)}")
    col = table[column]
    values = pd.to_numeric(col.astype(str).str.strip() if col.dtype == object else col, errors="coerce")
    arr = np.asarray(values, dtype=float)
    bad = ~np.isfinite(arr)
    if bad.any():
        raise DataError(f"{source}: column {column} (the {role}) is missing, non-numeric or infinite at "
                        f"line(s) {_rows(bad)}. Fix or remove those rows.")
    return arr


@dataclass(frozen=True)
class GroupIndex:
    """Rows → sampled groups (−1 for none) and rows → every distinct label (SAS's subjects)."""

    group: np.ndarray
    labels: tuple[str, ...]
    sas_group: np.ndarray
    sas_labels: tuple[str, ...]
    notes: tuple[str, ...]


def group_index(labels: pd.Series, z: np.ndarray, source: str, column: str, z_name: str) -> GroupIndex:
    """Index rows by group under the real-data conventions of the module docstring.

    Parameters
    ----------
    labels : pandas.Series
        The grouping column as read (text).
    z : numpy.ndarray
        The effect's multiplier per row (1 for a random intercept).
    source, column, z_name : str
        For messages: the file, the grouping column and the multiplier's column.

    Returns
    -------
    GroupIndex
        Sampled groups are the labels of rows with z ≠ 0, sorted (numbers as numbers); ``sas_labels``
        lists them first, then every other distinct label.

    Raises
    ------
    DataError
        When a row with z ≠ 0 has a missing cluster id, or fewer than two groups are touched by data.
    """
    text = normalise_labels(labels)
    missing = text.str.lower().isin(MISSING_LABELS).to_numpy()
    touched = z != 0
    bad = missing & touched
    if bad.any():
        who = "subject(s)" if z_name == "1" else f"subject(s) with {z_name} ≠ 0"
        raise DataError(f"{source}: {who} with a missing cluster id in column {column} at line(s) "
                        f"{_rows(bad)}. Only rows whose effect is multiplied by 0 may be unclustered.")
    lab = text.to_numpy(dtype=object)
    touched_labels = _label_sort_key(pd.unique(lab[touched & ~missing]).tolist())
    if len(touched_labels) < 2:
        raise DataError(f"{source}: only {len(touched_labels)} cluster(s) in column {column} have data the effect "
                        f"touches ({z_name} ≠ 0); the effect variance needs at least two.")
    touched_set = set(touched_labels)
    rest_mask = ~missing & ~np.isin(lab, list(touched_set))
    rest = pd.Series(lab[rest_mask])
    counts = rest.value_counts()
    others = _label_sort_key(counts.index.tolist())
    notes = []
    what = "rows" if z_name == "1" else f"rows with {z_name} = 0"
    if z_name != "1":
        what = "controls" if set(np.unique(z)) <= {0.0, 1.0} else what
    for label in _label_sort_key([k for k, c in counts.items() if c > 1]):
        notes.append(f"{counts[label]} {what} share placeholder {label} in column {column} — treated as unclustered")
    n_single = int((counts == 1).sum())
    if n_single:
        notes.append(f"{n_single} {what} have their own id in column {column} (SAS's coding of unclustered "
                     "subjects) — treated as unclustered")
    if missing.any():
        notes.append(f"{int(missing.sum())} {what} have no id in column {column} — treated as unclustered")
    index = {label: k for k, label in enumerate(touched_labels)}
    sas_labels = touched_labels + others
    sas_index = {label: k for k, label in enumerate(sas_labels)}
    group = np.array([index.get(v, -1) if not m else -1 for v, m in zip(lab, missing)], dtype=np.int64)
    sas_group = np.array([sas_index.get(v, -1) if not m else -1 for v, m in zip(lab, missing)], dtype=np.int64)
    group[~touched] = -1
    return GroupIndex(group, tuple(touched_labels), sas_group, tuple(sas_labels), tuple(notes))


@dataclass(frozen=True, eq=False)
class ModelData:
    """A table read through a :class:`ModelSpec`: everything a model, the exact posterior and REML need.

    Attributes
    ----------
    spec : ModelSpec
    y : numpy.ndarray
        Outcome, shape (n,).
    X : numpy.ndarray
        Fixed-effect design, shape (n, p); ``x_columns`` names its columns (``Intercept`` for ones).
    fixed_names : tuple of str
        Parameter name of each column of X (``b0``, ``b[treat]``, …).
    z : numpy.ndarray or None
        The effect's multiplier per row, shape (n,); ``None`` without random effect.
    group : numpy.ndarray
        Index into ``groups`` per row, −1 for rows no sampled effect touches.
    groups : tuple of str
        Labels of the sampled effects (``u[<label>]``).
    sas_group, sas_groups
        The same over every distinct label (PROC MCMC's subjects; ``sas_singletons``); −1: no label.
    resid : numpy.ndarray
        Index into ``resid_levels`` per row.
    resid_levels, residual_names : tuple of str
        Levels of the residual-by column (``("all",)`` without one) and their parameter names.
    rows : tuple of str
        A label per row (the ``obs`` dimension).
    priors : dict of str to Prior
        The prior of every scalar parameter, by name.
    source, sha256 : str
        The data file and its SHA-256 (of the bytes: provenance).
    content_sha256 : str
        Canonical hash of what the model reads (:func:`content_hash`): what identifies the dataset.
    encoding : str
        The file's text encoding (empty for a table not read from a file).
    notes : tuple of str
        How the data were read (placeholders, unclustered rows), for ``partclust validate``.
    """

    spec: ModelSpec
    y: np.ndarray
    X: np.ndarray
    x_columns: tuple[str, ...]
    fixed_names: tuple[str, ...]
    z: np.ndarray | None
    group: np.ndarray
    groups: tuple[str, ...]
    sas_group: np.ndarray
    sas_groups: tuple[str, ...]
    resid: np.ndarray
    resid_levels: tuple[str, ...]
    residual_names: tuple[str, ...]
    rows: tuple[str, ...]
    priors: dict[str, Prior] = field(default_factory=dict)
    source: str = "<table>"
    sha256: str = ""
    notes: tuple[str, ...] = ()
    content_sha256: str = ""
    encoding: str = ""

    @property
    def n(self) -> int:
        """Number of rows."""
        return int(self.y.size)

    @property
    def p(self) -> int:
        """Number of fixed effects."""
        return int(self.X.shape[1])

    @property
    def has_random(self) -> bool:
        """Whether the model has a random effect."""
        return self.spec.random is not None

    @property
    def n_groups(self) -> int:
        """Number of sampled effects."""
        return len(self.groups)

    @property
    def clusters(self) -> tuple[str, ...]:
        """The sampled effects' labels (as :attr:`partclust.data.Design.clusters` names them)."""
        return self.groups

    @property
    def sas_clusters(self) -> tuple[str, ...]:
        """Every distinct label of the grouping column, sampled ones first (PROC MCMC's subjects)."""
        return self.sas_groups

    @property
    def control_clusters(self) -> tuple[str, ...]:
        """The labels no data touch (SAS singletons and placeholders)."""
        return self.sas_groups[len(self.groups):]

    @property
    def variance_names(self) -> tuple[str, ...]:
        """``s2u`` (with a random effect), then the residual variances."""
        return (("s2u",) if self.has_random else ()) + self.residual_names

    @property
    def scalar_names(self) -> tuple[str, ...]:
        """Every scalar parameter in table order: fixed effects, ``s2u``, residual variances."""
        return self.fixed_names + self.variance_names

    @property
    def effect_multiplier(self) -> np.ndarray:
        """Z per row, ones for a random intercept, zeros without random effect."""
        if self.spec.random is None:
            return np.zeros(self.n)
        return np.ones(self.n) if self.z is None else self.z

    @property
    def group_sizes(self) -> dict[str, int]:
        """Rows per sampled group."""
        counts = np.bincount(self.group[self.group >= 0], minlength=self.n_groups)
        return {label: int(c) for label, c in zip(self.groups, counts)}

    def prior_table(self) -> pd.DataFrame:
        """One row per parameter: its prior in PROC MCMC syntax, the PyMC call, and in words."""
        rows = [{"param": k, "sas": p.sas(k), "pymc": p.pymc_text(k), "prior": p.describe()}
                for k, p in self.priors.items()]
        if self.has_random:
            rows.append({"param": "u", "sas": f"random u ~ normal(0, var=s2u) subject={self.spec.random.group}",
                         "pymc": "pm.Normal('u', 0, sigma=sqrt(s2u), dims='cluster')",
                         "prior": f"Normal(0, variance s2u), one per {self.spec.random.group}"})
        return pd.DataFrame(rows, columns=["param", "sas", "pymc", "prior"])

    def describe(self) -> str:
        """Describe the data as the model reads them, in a few lines (``partclust validate``)."""
        spec = self.spec
        lines = [f"data: {self.source}", f"sha256: {self.sha256}", f"model: {spec.text()}"
                 + (f", residual variance by {spec.residual_by}" if spec.residual_by else ""),
                 f"rows: {self.n}; fixed effects: {', '.join(self.fixed_names)}"]
        if self.has_random:
            sizes = list(self.group_sizes.values())
            size = f"{min(sizes)}" if min(sizes) == max(sizes) else f"{min(sizes)}–{max(sizes)}"
            lines.append(f"clusters ({spec.random.group}) with an effect: {self.n_groups}, "
                         f"size{'s' if min(sizes) != max(sizes) else ''} {size}; rows without an effect: "
                         f"{int((self.group < 0).sum())}")
        if spec.residual_by:
            counts = np.bincount(self.resid, minlength=len(self.resid_levels))
            lines.append("residual variances: " + ", ".join(
                f"{name} ({c} rows)" for name, c in zip(self.residual_names, counts)))
        lines += list(self.notes)
        return "\n".join(lines)


def _finalise_priors(spec: ModelSpec, fixed_names: Sequence[str], residual_names: Sequence[str]) -> dict[str, Prior]:
    known = set(fixed_names) | set(residual_names) | set(PRIOR_GROUPS)
    if spec.random is None:
        known.discard("s2u")
    unknown = [k for k, _ in spec.priors if k not in known]
    if unknown:
        raise SpecError(f"prior on unknown parameter {unknown[0]}; the parameters are "
                        f"{', '.join(list(fixed_names) + (['s2u'] if spec.random else []) + list(residual_names))}")
    out = {name: spec.prior(name, "b") for name in fixed_names}
    if spec.random is not None:
        out["s2u"] = spec.prior("s2u", "s2u")
    out.update({name: spec.prior(name, "s2e") for name in residual_names})
    return out


def build_model_data(spec: ModelSpec, table: pd.DataFrame, X: np.ndarray, x_columns: Sequence[str],
                     source: str = "<table>", sha256: str = "", rows: Sequence[str] | None = None) -> ModelData:
    """Read ``table`` through ``spec`` with the fixed-effect design ``X`` already built.

    Parameters
    ----------
    spec : ModelSpec
    table : pandas.DataFrame
        The validated table (cells as text or numbers).
    X : numpy.ndarray
        Shape (n, p): the fixed-effect design (e.g. from ``formulae``), columns named ``x_columns``.
    source, sha256 : str
        The data file and its SHA-256 (provenance).
    rows : sequence of str, optional
        Row labels (default: the file's line numbers).

    Returns
    -------
    ModelData

    Raises
    ------
    DataError
        For a missing or non-numeric column, a missing cluster id where the effect acts, too few clusters.
    SpecError
        For a prior on a parameter the data do not have, or collinear fixed effects.
    """
    n = len(table)
    if n == 0:
        raise DataError(f"{source} has a header but no rows.")
    y = numeric_column(table, spec.outcome, source, "outcome")
    if np.ptp(y) == 0:
        raise DataError(f"{source}: the outcome {spec.outcome} has the same value in every row; nothing to model.")
    X = np.asarray(X, dtype=float)
    if X.shape != (n, len(x_columns)):
        raise SpecError(f"the fixed-effect design has shape {X.shape}, expected ({n}, {len(x_columns)})")
    if not np.isfinite(X).all():
        raise DataError(f"{source}: a fixed-effect column is missing or not numeric at line(s) "
                        f"{_rows(~np.isfinite(X).all(axis=1))}")
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise SpecError(f"the fixed effects {', '.join(x_columns)} are collinear in {source} (the design matrix "
                        "has a column that is a combination of the others); drop one")
    if spec.fixed_names:
        fixed_names = tuple(spec.fixed_names)
    else:
        fixed_names = tuple(f"b[{c}]" for c in x_columns)
    z = None
    group = np.full(n, -1, dtype=np.int64)
    sas_group = group.copy()
    labels: tuple[str, ...] = ()
    sas_labels: tuple[str, ...] = ()
    notes: list[str] = []
    if spec.random is not None:
        r = spec.random
        if r.group not in table.columns:
            raise DataError(f"{source}: no column {r.group!r} (the grouping factor); columns are {list(table.columns)}")
        if r.multiplies is not None:
            z = numeric_column(table, r.multiplies, source, "column the random effect multiplies")
        gi = group_index(table[r.group], np.ones(n) if z is None else z, source, r.group,
                         "1" if r.multiplies is None else r.multiplies)
        group, labels, sas_group, sas_labels = gi.group, gi.labels, gi.sas_group, gi.sas_labels
        notes += gi.notes
    if spec.residual_by is not None:
        if spec.residual_by not in table.columns:
            raise DataError(f"{source}: no column {spec.residual_by!r} (the residual-by column); "
                            f"columns are {list(table.columns)}")
        lev_text = normalise_labels(table[spec.residual_by])
        miss = lev_text.str.lower().isin(MISSING_LABELS).to_numpy()
        if miss.any():
            raise DataError(f"{source}: column {spec.residual_by} (the residual-by column) is missing at line(s) "
                            f"{_rows(miss)}")
        levels = tuple(_label_sort_key(pd.unique(lev_text).tolist()))
        resid = np.array([levels.index(v) for v in lev_text], dtype=np.int64) if len(levels) < 50 else \
            pd.Categorical(lev_text, categories=list(levels)).codes.astype(np.int64)
        if len(levels) < 2:
            notes.append(f"column {spec.residual_by} has one level ({levels[0]}): one residual variance")
    else:
        levels = ("all",)
        resid = np.zeros(n, dtype=np.int64)
    if spec.residual_names:
        if len(spec.residual_names) != len(levels):
            raise SpecError(f"{len(spec.residual_names)} residual variance names for {len(levels)} level(s) "
                            f"of {spec.residual_by}: {', '.join(levels)}")
        residual_names = tuple(spec.residual_names)
    elif spec.residual_by is None:
        residual_names = ("s2e",)
    else:
        residual_names = tuple(f"s2e[{lv}]" for lv in levels)
    priors = _finalise_priors(spec, fixed_names, residual_names)
    arrays = [y, X, group, sas_group, resid] + ([z] if z is not None else [])
    for arr in arrays:
        arr.setflags(write=False)
    return ModelData(spec, y, X, tuple(x_columns), fixed_names, z, group, labels, sas_group, sas_labels, resid,
                     levels, residual_names, tuple(rows) if rows is not None else tuple(str(k + 2) for k in range(n)),
                     priors, source, sha256, tuple(notes),
                     content_hash(y, X, x_columns, z, group, labels, resid, levels),
                     str(getattr(table, "attrs", {}).get("encoding", "")))


def content_hash(y: np.ndarray, X: np.ndarray, x_columns: Sequence[str], z: np.ndarray | None, group: np.ndarray,
                 labels: Sequence[str], resid: np.ndarray, levels: Sequence[str]) -> str:
    """Return the SHA-256 of what a model reads from a table (64 hex digits).

    The outcome, the fixed-effect design and its column names, the effect's multiplier, every row's
    group label and residual level, as float64 bytes and text: the same data written with other line
    endings, number formats or cell spacing give the same hash.
    """
    import hashlib

    h = hashlib.sha256()
    for arr in (y, X, np.zeros(0) if z is None else z):
        h.update(np.ascontiguousarray(np.asarray(arr, dtype=np.float64)).tobytes())
    lab = np.array(list(labels) + [""], dtype=object)
    h.update("\x1f".join(map(str, x_columns)).encode())
    h.update("\x1e".join(lab[np.where(group >= 0, group, len(labels))].tolist()).encode())
    h.update("\x1e".join(np.array(list(levels), dtype=object)[resid].tolist()).encode())
    return h.hexdigest()


def builtin_data(design: Any, residual: str = "single", priors: Priors = SAS_PRIORS,
                 spec: ModelSpec | None = None) -> ModelData:
    """Read a validated run1-style :class:`~partclust.data.Design` through a built-in specification.

    Rows keep the design's order and subject labels; the sampled effects are the treated clusters and
    the SAS subjects every value of ``j`` (treated clusters first), exactly as the design lists them.
    ``spec`` (a built-in specification with other priors, e.g. from ``--prior``) replaces
    ``residual`` and ``priors``.

    Raises
    ------
    SpecError
        When ``spec`` is not a built-in model's specification.
    """
    if spec is None:
        spec = builtin_spec(residual, priors)
    elif not spec.is_builtin:
        raise SpecError(f"builtin_data needs a built-in model's specification; got {spec.text()!r}")
    residual = spec.name
    treat = np.asarray(design.treat, dtype=float)
    X = np.column_stack([np.ones(design.n), treat])
    resid = np.asarray(design.treat, dtype=np.int64) if residual == "per_condition" else np.zeros(design.n, np.int64)
    levels = ("0", "1") if residual == "per_condition" else ("all",)
    group = np.asarray(design.cluster_of_row, dtype=np.int64).copy()
    sas_group = np.asarray(design.sas_cluster_of_row, dtype=np.int64).copy()
    for arr in (X, treat, resid, group, sas_group):
        arr.setflags(write=False)
    notes = tuple(getattr(design, "notes", ()))
    return ModelData(spec, np.asarray(design.y), X, ("Intercept", "treat"), spec.fixed_names, treat, group,
                     tuple(design.clusters), sas_group, tuple(design.sas_clusters), resid, levels,
                     spec.residual_names, tuple(design.subject),
                     _finalise_priors(spec, spec.fixed_names, spec.residual_names), design.source, design.sha256,
                     notes, getattr(design, "content_sha256", ""), getattr(design, "encoding", ""))


def model_data_of(data: Any, residual: str = "single", priors: Priors = SAS_PRIORS) -> ModelData:
    """Return ``data`` if it is a :class:`ModelData`, else read a run1 Design through a built-in model.

    The built-in model is ``residual`` with ``priors``.

    Raises
    ------
    SpecError
        For an unknown residual structure.
    """
    from partclust.validate import check_residual

    if isinstance(data, ModelData):
        return data
    check_residual(residual)
    return builtin_data(data, residual, priors)
