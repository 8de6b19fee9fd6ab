"""OUTPOST draws → an xarray posterior in the project's names (:class:`SasPosterior`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from partclust.data import Design, normalize_label, sha256_of
from partclust.errors import SasOutputError
from partclust.models.names import residual_names, scalar_names
from partclust.references.sas.files import numeric_column, read_frame
from partclust.validate import check_residual

__all__ = ["MIN_DRAWS_PER_CHAIN", "RANDOM_EFFECT", "SasPosterior", "read_outpost", "label_key"]

MIN_DRAWS_PER_CHAIN = 100
"""Below this many draws per chain an autocorrelation-based MCSE (hence any comparison) is not
trustworthy; such a sample is refused rather than summarized."""
RANDOM_EFFECT = "u"
_FRAME_VARS = ("iteration",)


def label_key(label: str) -> str:
    """How a subject value appears in a SAS name, compared without regard to case.

    The value is first normalised as the data layer does (:func:`~partclust.data.normalize_label`:
    ``1``, ``1.0`` and ``01`` are the number 1), so an OUTPOST column matches a cluster exactly when
    the data would call them one id; an integer is then written as SAS prints it, and any other
    character that cannot appear in a SAS name becomes ``_``.
    """
    s = normalize_label(label)
    if re.fullmatch(r"-?\d+", s):
        return s
    return re.sub(r"[^0-9a-z_]", "_", s.lower())


def _effect_index(design: Design, source: str) -> dict[str, str]:
    index: dict[str, str] = {}
    for label in design.sas_clusters:
        key = label_key(label)
        if key in index:
            raise SasOutputError(
                f"{source}: cluster labels {index[key]!r} and {label!r} would have the same SAS name "
                f"u_{key}; rename one of them in the data's column j."
            )
        index[key] = label
    return index


@dataclass(frozen=True, eq=False)
class _Chain:
    scalars: dict[str, np.ndarray]
    effects: dict[str, np.ndarray]  # design label → draws
    iteration: np.ndarray
    log_density: dict[str, np.ndarray]
    ignored: tuple[str, ...]


def _read_chain(path: Path, design: Design, residual: str) -> _Chain:
    frame, is_text = read_frame(path)
    columns = {c.lower(): c for c in frame.columns}
    wanted = scalar_names(residual)
    effect_pattern = re.compile(rf"^{RANDOM_EFFECT}_(.+)$", re.IGNORECASE)
    effect_cols = {c: m.group(1) for c in frame.columns if (m := effect_pattern.match(c))}
    found_scalars = [n for n in wanted if n.lower() in columns]
    if not found_scalars and not effect_cols:
        raise SasOutputError(
            f"{path}: no recognisable parameter columns (found {list(frame.columns)[:12]}"
            f"{' …' if frame.shape[1] > 12 else ''}). An OUTPOST sample needs columns "
            f"{', '.join(wanted)} and u_<j> for each value of j; export PROC MCMC's OUTPOST= data set "
            "(not a summary table) with PROC EXPORT."
        )
    missing = [n for n in wanted if n.lower() not in columns]
    if missing:
        other = "per_condition" if residual == "single" else "single"
        hint = ""
        if all(n.lower() in columns for n in residual_names(other)):
            hint = (f" The file has the {other} model's residual variance(s): read it with "
                    f"residual={other!r} or point to output/{residual}/.")
        present = ", ".join(columns[n.lower()] for n in wanted if n.lower() in columns) or "none"
        raise SasOutputError(
            f"{path}: parameter column(s) {', '.join(missing)} missing for the {residual} model "
            f"(found {present}).{hint} Check the MONITOR= option of the PROC MCMC run that wrote "
            "this file."
        )
    if len(frame) == 0:
        raise SasOutputError(f"{path} has a header but no draws. Re-run PROC MCMC and export again.")
    if len(frame) < MIN_DRAWS_PER_CHAIN:
        raise SasOutputError(
            f"{path} has {len(frame)} draws; at least {MIN_DRAWS_PER_CHAIN} per chain are needed to "
            "estimate Monte Carlo standard errors. Run PROC MCMC with a larger NMC= (see "
            "sas_reference/README.md)."
        )

    index = _effect_index(design, str(path))
    effects: dict[str, np.ndarray] = {}
    unknown = []
    for col, raw_label in effect_cols.items():
        label = index.get(label_key(raw_label))
        if label is None:
            unknown.append(col)
            continue
        if label in effects:
            raise SasOutputError(
                f"{path}: columns for cluster {label!r} appear twice ({col} and another u_ column). "
                "Export the OUTPOST data set unchanged."
            )
        effects[label] = numeric_column(frame, col, path, is_text)
    if unknown:
        raise SasOutputError(
            f"{path}: random-effect column(s) {', '.join(unknown[:8])}"
            f"{' …' if len(unknown) > 8 else ''} match no value of j in the data ({design.source}). "
            "The output was made from another dataset, or the data file differs: run the SAS program "
            "on the same run1.csv."
        )
    absent = [lab for lab in design.sas_clusters if lab not in effects]
    if absent:
        treated = set(design.clusters)
        n_treated = sum(lab in treated for lab in absent)
        n_control = len(absent) - n_treated
        raise SasOutputError(
            f"{path}: random-effect column(s) {', '.join('u_' + label_key(a) for a in absent[:8])}"
            f"{' …' if len(absent) > 8 else ''} missing ({n_treated} of {design.n_clusters} treated cluster "
            f"effects and {n_control} of {len(design.control_clusters)} control singleton effects). PROC MCMC "
            "writes one u_<j> per value of j; run the program with `monitor=(u)` on the RANDOM statement and "
            "without NOOUTPOST."
        )

    scalars = {n: numeric_column(frame, columns[n.lower()], path, is_text) for n in wanted}
    for name in ("s2u", *residual_names(residual)):
        bad = scalars[name] <= 0
        if bad.any():
            idx = np.flatnonzero(bad)
            where = "line" if is_text else "observation"
            first = idx + (2 if is_text else 1)
            shown = ", ".join(str(i) for i in first[:8]) + (f" … ({idx.size} draws)" if idx.size > 8 else "")
            raise SasOutputError(
                f"{path}: column {columns[name.lower()]} holds a variance draw ≤ 0 at {where}(s) {shown} "
                f"(e.g. {scalars[name][idx[0]]!r}); every draw of a variance is positive in PROC MCMC's OUTPOST, "
                "so the file is damaged or is not that sample. Export the OUTPOST data set again."
            )
    if "iteration" in columns:
        iteration = numeric_column(frame, columns["iteration"], path, is_text)
        if np.any(np.diff(iteration) <= 0):
            raise SasOutputError(
                f"{path}: column {columns['iteration']} is not strictly increasing; the file mixes "
                "or repeats chains. Give each chain's OUTPOST file separately, unchanged."
            )
    else:
        iteration = np.arange(1, len(frame) + 1, dtype=float)
    log_density = {
        c: numeric_column(frame, c, path, is_text) for c in frame.columns if c.lower().startswith("log")
    }
    used = {columns[n.lower()] for n in wanted} | set(effect_cols) | set(log_density)
    used |= {columns[v] for v in _FRAME_VARS if v in columns}
    ignored = tuple(c for c in frame.columns if c not in used)
    return _Chain(scalars, effects, iteration, log_density, ignored)


@dataclass(frozen=True, eq=False)
class SasPosterior:
    """A PROC MCMC posterior sample in the project's names.

    ``posterior`` has ``b0 b1 s2u`` and the residual variance(s) with dims (chain, draw), and ``u``
    with dim ``cluster`` labelled by the data's treated clusters. ``u_control`` holds the controls'
    singleton effects (dim ``control_cluster``): multiplied by Tx = 0 they see no data, so they are
    draws from the prior given s2u and are kept apart from the reported parameters.
    """

    posterior: xr.Dataset
    u_control: xr.DataArray
    residual: str
    files: tuple[Path, ...]
    sha256: tuple[str, ...]
    n_draws: int
    iterations: np.ndarray
    log_density: xr.Dataset
    ignored_columns: tuple[str, ...] = ()

    @property
    def n_chains(self) -> int:
        """Number of chains (OUTPOST files) in the sample."""
        return int(self.posterior.sizes["chain"])

    def provenance(self) -> dict[str, object]:
        """Return what a run record stores about the sample (files, checksums, size, ignored columns)."""
        return {
            "files": [str(p) for p in self.files],
            "sha256": list(self.sha256),
            "chains": self.n_chains,
            "draws_per_chain": self.n_draws,
            "residual": self.residual,
            "ignored_columns": list(self.ignored_columns),
        }


def as_paths(paths: Path | str | Sequence[Path | str]) -> list[Path]:
    if isinstance(paths, (str, Path)):
        return [Path(paths)]
    return [Path(p) for p in paths]


def read_outpost(paths: Path | Sequence[Path], design: Design, residual: str) -> SasPosterior:
    """Read one OUTPOST file per chain (CSV or sas7bdat) into a :class:`SasPosterior`.

    Parameters
    ----------
    paths : path or sequence of paths
        The OUTPOST files, one per chain, in chain order; each needs the model's parameter columns and
        one ``u_<j>`` column per value of ``j`` in the data (names matched without regard to case).
    design : Design
        The data the SAS program was run on (its values of ``j`` name the effects).
    residual : {"single", "per_condition"}
        The residual structure the program sampled.

    Returns
    -------
    SasPosterior
        ``posterior``: scalars with dims (chain, draw) and ``u`` with dims (chain, draw, cluster), the
        treated clusters by label; ``u_control`` with dims (chain, draw, control_cluster);
        ``log_density`` PROC MCMC's ``Log…`` columns; files, checksums and ignored columns for the record.

    Raises
    ------
    SasOutputError
        Naming the file and column: no file given, a file missing or unreadable, parameter or effect
        columns missing or unknown, non-numeric draws, fewer than :data:`MIN_DRAWS_PER_CHAIN` draws, an
        ``Iteration`` column that is not increasing, the same file given twice, or chains of different
        lengths.
    """
    check_residual(residual, SasOutputError)
    files = as_paths(paths)
    if not files:
        raise SasOutputError("no OUTPOST file given. Pass the path of outpost.csv (one per chain).")
    sums = [sha256_of(p) if p.is_file() else "" for p in files]
    chains = [_read_chain(p, design, residual) for p in files]
    seen: dict[str, Path] = {}
    for p, s in zip(files, sums):
        if s in seen:
            raise SasOutputError(
                f"{p} and {seen[s]} are the same file (equal SHA-256); each chain needs its own run "
                "with its own SEED=."
            )
        seen[s] = p
    lengths = [c.iteration.size for c in chains]
    if len(set(lengths)) > 1:
        detail = ", ".join(f"{p.name}: {n}" for p, n in zip(files, lengths))
        raise SasOutputError(
            f"the OUTPOST files have different numbers of draws ({detail}). Run every chain with the "
            "same NBI=, NMC= and THIN=."
        )
    n = lengths[0]
    coords = {"chain": np.arange(len(chains)), "draw": np.arange(n)}

    def stack(get) -> np.ndarray:
        return np.stack([get(c) for c in chains])

    data = {name: (("chain", "draw"), stack(lambda c, k=name: c.scalars[k]))
            for name in scalar_names(residual)}
    u = stack(lambda c: np.column_stack([c.effects[lab] for lab in design.clusters]))
    data[RANDOM_EFFECT] = (("chain", "draw", "cluster"), u)
    posterior = xr.Dataset(data, coords={**coords, "cluster": list(design.clusters)})
    posterior.attrs.update({"source": "SAS PROC MCMC OUTPOST", "residual": residual})
    if design.control_clusters:
        ctrl = stack(lambda c: np.column_stack([c.effects[lab] for lab in design.control_clusters]))
    else:
        ctrl = np.empty((len(chains), n, 0))
    u_control = xr.DataArray(
        ctrl, dims=("chain", "draw", "control_cluster"),
        coords={**coords, "control_cluster": list(design.control_clusters)}, name="u_control",
    )
    log_names = [k for k in chains[0].log_density if all(k in c.log_density for c in chains)]
    log_density = xr.Dataset(
        {k: (("chain", "draw"), stack(lambda c, key=k: c.log_density[key])) for k in log_names},
        coords=coords,
    )
    ignored = tuple(sorted({col for c in chains for col in c.ignored}))
    return SasPosterior(
        posterior=posterior,
        u_control=u_control,
        residual=residual,
        files=tuple(files),
        sha256=tuple(sums),
        n_draws=n,
        iterations=stack(lambda c: c.iteration),
        log_density=log_density,
        ignored_columns=ignored,
    )
