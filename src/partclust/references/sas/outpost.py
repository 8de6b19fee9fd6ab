"""OUTPOST draws → an xarray posterior in the project's names (:class:`SasPosterior`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from partclust.data import Design, normalize_label, sha256_of
from partclust.errors import SasOutputError
from partclust.references.sas.files import numeric_column, read_frame
from partclust.references.sas.layouts import RANDOM_EFFECT, EffectLayout, OutpostLayout
from partclust.validate import check_residual

__all__ = ["MIN_DRAWS_PER_CHAIN", "RANDOM_EFFECT", "SasPosterior", "read_outpost", "label_key", "EffectLayout",
           "OutpostLayout", "read_outpost_layout", "read_program_outpost"]

MIN_DRAWS_PER_CHAIN = 100
"""Below this many draws per chain an autocorrelation-based MCSE (hence any comparison) is not
trustworthy; such a sample is refused rather than summarized."""
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


def _effect_index(labels: Sequence[str], source: str, name: str = RANDOM_EFFECT, subject: str = "j") -> dict[str, str]:
    index: dict[str, str] = {}
    for label in labels:
        key = label_key(label)
        if key in index:
            raise SasOutputError(
                f"{source}: cluster labels {index[key]!r} and {label!r} would have the same SAS name "
                f"{name}_{key}; rename one of them in the data's column {subject}."
            )
        index[key] = label
    return index


@dataclass(frozen=True, eq=False)
class _Chain:
    scalars: dict[str, np.ndarray]
    effects: dict[str, dict[str, np.ndarray]]  # effect → subject label → draws
    iteration: np.ndarray
    log_density: dict[str, np.ndarray]
    ignored: tuple[str, ...]


def _read_chain(path: Path, layout: OutpostLayout) -> _Chain:
    frame, is_text = read_frame(path)
    columns = {c.lower(): c for c in frame.columns}
    wanted = layout.scalars
    scalar_cols = {n.lower() for n in wanted + layout.optional}
    effect_cols: dict[str, dict[str, str]] = {e.name: {} for e in layout.effects}
    for c in frame.columns:
        if c.lower() in scalar_cols:
            continue
        for e in sorted(layout.effects, key=lambda e: -len(e.name)):
            m = re.match(rf"^{re.escape(e.name)}_(.+)$", c, re.IGNORECASE)
            if m:
                effect_cols[e.name][c] = m.group(1)
                break
    found_scalars = [n for n in wanted if n.lower() in columns]
    any_effects = any(effect_cols.values())
    effect_help = " and ".join(f"{e.name}_<{e.subject}> for each value of {e.subject}" for e in layout.effects)
    if not found_scalars and not any_effects:
        raise SasOutputError(
            f"{path}: no recognisable parameter columns (found {list(frame.columns)[:12]}"
            f"{' …' if frame.shape[1] > 12 else ''}). An OUTPOST sample needs columns "
            f"{', '.join(wanted)}{' and ' + effect_help if effect_help else ''}; export PROC MCMC's OUTPOST= data "
            "set (not a summary table) with PROC EXPORT."
        )
    missing = [n for n in wanted if n.lower() not in columns]
    if missing:
        hint = layout.missing_hint(missing, columns) if layout.missing_hint else ""
        present = ", ".join(columns[n.lower()] for n in wanted if n.lower() in columns) or "none"
        raise SasOutputError(
            f"{path}: parameter column(s) {', '.join(missing)} missing for the {layout.model} model "
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

    effects: dict[str, dict[str, np.ndarray]] = {}
    for e in layout.effects:
        index = _effect_index(e.touched + e.untouched, str(path), e.name, e.subject)
        got: dict[str, np.ndarray] = {}
        unknown = []
        for col, raw_label in effect_cols[e.name].items():
            label = index.get(label_key(raw_label))
            if label is None:
                unknown.append(col)
                continue
            if label in got:
                raise SasOutputError(
                    f"{path}: columns for cluster {label!r} appear twice ({col} and another {e.name}_ column). "
                    "Export the OUTPOST data set unchanged."
                )
            got[label] = numeric_column(frame, col, path, is_text)
        if unknown:
            raise SasOutputError(
                f"{path}: random-effect column(s) {', '.join(unknown[:8])}"
                f"{' …' if len(unknown) > 8 else ''} match no value of {e.subject} in the data ({layout.data_source}). "
                "The output was made from another dataset, or the data file differs: run the SAS program "
                "on the same data."
            )
        absent = [lab for lab in e.touched + e.untouched if lab not in got]
        if absent:
            n_touched = sum(lab in set(e.touched) for lab in absent)
            n_untouched = len(absent) - n_touched
            if layout.missing_hint is not None:  # the built-in models' words
                counts = (f"{n_touched} of {len(e.touched)} treated cluster effects and {n_untouched} of "
                          f"{len(e.untouched)} control singleton effects")
            else:
                counts = (f"{n_touched} of {len(e.touched)} effects of subjects in the data and {n_untouched} of "
                          f"{len(e.untouched)} other subjects' effects")
            raise SasOutputError(
                f"{path}: random-effect column(s) {', '.join(e.name + '_' + label_key(a) for a in absent[:8])}"
                f"{' …' if len(absent) > 8 else ''} missing ({counts}). PROC MCMC writes one "
                f"{e.name}_<{e.subject}> per value of {e.subject}; run the program with `monitor=({e.name})` on "
                "the RANDOM statement and without NOOUTPOST."
            )
        effects[e.name] = got

    scalars = {n: numeric_column(frame, columns[n.lower()], path, is_text) for n in wanted}
    for n in layout.optional:
        if n.lower() in columns:
            scalars[n] = numeric_column(frame, columns[n.lower()], path, is_text)
    for name in layout.variances:
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
        c: numeric_column(frame, c, path, is_text) for c in frame.columns
        if c.lower().startswith("log") and c.lower() not in scalar_cols
    }
    used = {columns[n.lower()] for n in scalars} | {c for cols in effect_cols.values() for c in cols}
    used |= set(log_density) | {columns[v] for v in _FRAME_VARS if v in columns}
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
    layout: OutpostLayout | None = None
    untouched: dict[str, xr.DataArray] | None = None

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
    return read_outpost_layout(paths, OutpostLayout.for_design(design, residual))


def read_program_outpost(paths: Path | Sequence[Path], translation: Any) -> SasPosterior:
    """Read the OUTPOST file(s) of a translated PROC MCMC program (:class:`~partclust.translate.Translation`).

    ``posterior`` holds the program's parameters, its MONITOR= derived quantities when the files have them,
    and each random effect's touched values over the PyMC model's dim; the untouched effects are in
    ``untouched`` (and, for the first RANDOM statement, ``u_control``).

    Raises
    ------
    SasOutputError
        Naming the file and the column at fault.
    """
    return read_outpost_layout(paths, OutpostLayout.for_translation(translation))


def read_outpost_layout(paths: Path | Sequence[Path], layout: OutpostLayout) -> SasPosterior:
    """Read OUTPOST file(s), one per chain, laid out as ``layout`` says."""
    files = as_paths(paths)
    if not files:
        raise SasOutputError("no OUTPOST file given. Pass the path of outpost.csv (one per chain).")
    sums = [sha256_of(p) if p.is_file() else "" for p in files]
    chains = [_read_chain(p, layout) for p in files]
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
    coords: dict[str, Any] = {"chain": np.arange(len(chains)), "draw": np.arange(n)}

    def stack(get) -> np.ndarray:
        return np.stack([get(c) for c in chains])

    names = list(layout.scalars) + [o for o in layout.optional if all(o in c.scalars for c in chains)]
    data: dict[str, Any] = {name: (("chain", "draw"), stack(lambda c, k=name: c.scalars[k])) for name in names}
    untouched: dict[str, xr.DataArray] = {}
    for e in layout.effects:
        u = stack(lambda c, e=e: np.column_stack([c.effects[e.name][lab] for lab in e.touched])
                  if e.touched else np.empty((n, 0)))
        data[e.name] = (("chain", "draw", e.dim), u)
        coords[e.dim] = list(e.touched)
        other = (stack(lambda c, e=e: np.column_stack([c.effects[e.name][lab] for lab in e.untouched]))
                 if e.untouched else np.empty((len(chains), n, 0)))
        dim = "control_cluster" if layout.missing_hint is not None else f"{e.dim}_untouched"
        untouched[e.name] = xr.DataArray(other, dims=("chain", "draw", dim),
                                         coords={"chain": coords["chain"], "draw": coords["draw"],
                                                 dim: list(e.untouched)}, name=f"{e.name}_untouched")
    posterior = xr.Dataset(data, coords=coords)
    posterior.attrs.update({"source": "SAS PROC MCMC OUTPOST", "residual": layout.model})
    first = untouched[layout.effects[0].name] if layout.effects else xr.DataArray(
        np.empty((len(chains), n, 0)), dims=("chain", "draw", "control_cluster"),
        coords={"chain": coords["chain"], "draw": coords["draw"], "control_cluster": []})
    u_control = first.rename("u_control")
    log_names = [k for k in chains[0].log_density if all(k in c.log_density for c in chains)]
    log_density = xr.Dataset(
        {k: (("chain", "draw"), stack(lambda c, key=k: c.log_density[key])) for k in log_names},
        coords={"chain": coords["chain"], "draw": coords["draw"]},
    )
    ignored = tuple(sorted({col for c in chains for col in c.ignored}))
    return SasPosterior(
        posterior=posterior,
        u_control=u_control,
        residual=layout.model,
        files=tuple(files),
        sha256=tuple(sums),
        n_draws=n,
        iterations=stack(lambda c: c.iteration),
        log_density=log_density,
        ignored_columns=ignored,
        layout=layout,
        untouched=untouched,
    )
