"""Stage 3 (references) — read the output of ``sas_reference/partially_clustered.sas``.

Nobody here can run SAS, so this module only *reads* what a SAS user produced; it never makes SAS
numbers up. The primary input is PROC MCMC's OUTPOST sample (one file per chain; CSV from PROC
EXPORT, or the ``.sas7bdat`` data set itself). Our own code computes every summary from those draws
(:func:`partclust.fit.summarize`); the ODS tables SAS printed (PostSumInt, PostIntervals, MCSE, ESS,
AutoCorr) are read when present and used only to cross-check that the draws are the ones SAS
summarized.

Layout (``<model>`` is ``single`` or ``per_condition``)::

    sas_reference/output/<model>/outpost.csv          chain 1 (the program's default call)
    sas_reference/output/<model>/outpost_chain2.csv   further chains, one file each (optional)
    sas_reference/output/<model>/postsumint.csv       ODS tables of the run that wrote outpost.csv;
    …/postintervals.csv, mcse.csv, ess.csv, autocorr.csv   ``postsumint_chain2.csv`` etc. likewise
    sas_reference/output/<model>/run_info.csv         SAS version, seed, NBI/NMC/THIN (optional)

OUTPOST columns: ``Iteration``, the parameters (``b0 b1 s2u s2e`` or ``… s2e_control s2e_treated``),
one column ``u_<j>`` per value of the SUBJECT= variable ``j`` (the treated clusters and the controls'
singletons), and PROC MCMC's bookkeeping ``Log…`` columns. Column names are matched without regard
to case. Files named otherwise (e.g. ``outpost_synthetic.csv``) are read only when given explicitly,
so a synthetic test fixture can never be taken for real SAS output.

Every problem raises :class:`SasOutputError`, whose message names the file, the column (and rows)
at fault and says what to do.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from partclust.data import Design, sha256_of
from partclust.fit import summarize
from partclust.model import RESIDUALS, residual_names, scalar_names
from partclust.paths import SAS_OUTPUT

MIN_DRAWS_PER_CHAIN = 100
"""Below this many draws per chain an autocorrelation-based MCSE (hence any comparison) is not
trustworthy; such a sample is refused rather than summarized."""

OUTPOST = "outpost"
TABLES: tuple[str, ...] = ("postsumint", "postintervals", "mcse", "ess", "autocorr")
RUN_INFO = "run_info"
EXTENSIONS: tuple[str, ...] = (".csv", ".sas7bdat")
RANDOM_EFFECT = "u"
DEFAULT_MCSE_UNITS = 0.1
"""PostSumInt is computed by SAS from the very draws in OUTPOST, so the two agree up to the printed
rounding; a tenth of an MCSE still catches a table that belongs to another run (whose means differ
by about 1.4 MCSE) while allowing for float formatting."""

_SD_COLUMNS = ("stddev", "standarddeviation", "std", "sd")
_CANONICAL_CHAIN = re.compile(r"^outpost(?:_chain(\d+))?$", re.IGNORECASE)
_NUMBER_TEXT = re.compile(r"^\s*[+-]?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?\s*$")
_FRAME_VARS = ("iteration",)


class SasOutputError(ValueError):
    """SAS output cannot be used; the message names the file and column and says what to do."""


# --------------------------------------------------------------------------------------------
# files


def _read_frame(path: Path) -> tuple[pd.DataFrame, bool]:
    """The file as a table; ``True`` when cells are text (CSV), ``False`` for a SAS data set."""
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
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # SAS sessions often write WLATIN1
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise SasOutputError(f"{path} is not a readable CSV file ({exc}). Export it again.") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame, True


def _numeric(frame: pd.DataFrame, column: str, path: Path, is_text: bool) -> np.ndarray:
    """A column as floats; any blank, SAS missing (``.``) or non-numeric cell is an error."""
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


def _chain_number(path: Path) -> int | None:
    m = _CANONICAL_CHAIN.match(path.stem)
    if not m:
        return None
    return int(m.group(1)) if m.group(1) else 1


def model_dir(output_dir: Path, residual: str) -> Path:
    """Where one model's files live: ``output_dir/<residual>``, or ``output_dir`` itself when it
    already holds OUTPOST files."""
    _check_residual(residual)
    output_dir = Path(output_dir)
    sub = output_dir / residual
    if sub.is_dir():
        return sub
    if output_dir.is_dir() and any(_chain_number(p) is not None for p in output_dir.iterdir()
                                   if p.suffix.lower() in EXTENSIONS):
        return output_dir
    return sub


def find_outpost(output_dir: Path, residual: str) -> list[Path]:
    """The canonical OUTPOST files of a model, in chain order (CSV preferred over sas7bdat)."""
    d = model_dir(output_dir, residual)
    if not d.is_dir():
        return []
    by_chain: dict[int, Path] = {}
    for p in sorted(d.iterdir()):
        chain = _chain_number(p)
        if chain is None or not p.is_file() or p.suffix.lower() not in EXTENSIONS:
            continue
        if chain not in by_chain or p.suffix.lower() == ".csv":
            by_chain[chain] = p
    return [by_chain[k] for k in sorted(by_chain)]


def available(output_dir: Path = SAS_OUTPUT, residual: str = "single") -> bool:
    """Whether real SAS output (an OUTPOST file in the canonical layout) exists for the model."""
    return bool(find_outpost(Path(output_dir), residual))


# --------------------------------------------------------------------------------------------
# OUTPOST → xarray


def _check_residual(residual: str) -> None:
    if residual not in RESIDUALS:
        raise SasOutputError(f"residual must be one of {', '.join(RESIDUALS)}; got {residual!r}")


def _label_key(label: str) -> str:
    """How a subject value appears in a SAS name: numbers as SAS prints them, other characters
    that cannot appear in a SAS name as ``_``; compared without regard to case."""
    s = str(label).strip()
    try:
        x = float(s)
    except ValueError:
        return re.sub(r"[^0-9a-z_]", "_", s.lower())
    if np.isfinite(x) and x == int(x):
        return str(int(x))
    return re.sub(r"[^0-9a-z_]", "_", s.lower())


def _effect_index(design: Design, source: str) -> dict[str, str]:
    index: dict[str, str] = {}
    for label in design.sas_clusters:
        key = _label_key(label)
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
    frame, is_text = _read_frame(path)
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
        label = index.get(_label_key(raw_label))
        if label is None:
            unknown.append(col)
            continue
        if label in effects:
            raise SasOutputError(
                f"{path}: columns for cluster {label!r} appear twice ({col} and another u_ column). "
                "Export the OUTPOST data set unchanged."
            )
        effects[label] = _numeric(frame, col, path, is_text)
    if unknown:
        raise SasOutputError(
            f"{path}: random-effect column(s) {', '.join(unknown[:8])}"
            f"{' …' if len(unknown) > 8 else ''} match no value of j in the data ({design.source}). "
            "The output was made from another dataset, or the data file differs: run the SAS program "
            "on the same run1.csv."
        )
    absent = [lab for lab in design.sas_clusters if lab not in effects]
    if absent:
        kind = "treated cluster" if any(lab in design.clusters for lab in absent) else "control singleton"
        raise SasOutputError(
            f"{path}: random-effect column(s) {', '.join('u_' + _label_key(a) for a in absent[:8])}"
            f"{' …' if len(absent) > 8 else ''} missing ({len(absent)} {kind} effect(s) of "
            f"{len(design.sas_clusters)}). PROC MCMC writes one u_<j> per value of j; run the program "
            "with `monitor=(u)` on the RANDOM statement and without NOOUTPOST."
        )

    scalars = {n: _numeric(frame, columns[n.lower()], path, is_text) for n in wanted}
    if "iteration" in columns:
        iteration = _numeric(frame, columns["iteration"], path, is_text)
        if np.any(np.diff(iteration) <= 0):
            raise SasOutputError(
                f"{path}: column {columns['iteration']} is not strictly increasing; the file mixes "
                "or repeats chains. Give each chain's OUTPOST file separately, unchanged."
            )
    else:
        iteration = np.arange(1, len(frame) + 1, dtype=float)
    log_density = {
        c: _numeric(frame, c, path, is_text) for c in frame.columns if c.lower().startswith("log")
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
        return int(self.posterior.sizes["chain"])

    def provenance(self) -> dict[str, object]:
        """What a run record stores about the sample (files, checksums, size)."""
        return {
            "files": [str(p) for p in self.files],
            "sha256": list(self.sha256),
            "chains": self.n_chains,
            "draws_per_chain": self.n_draws,
            "residual": self.residual,
            "ignored_columns": list(self.ignored_columns),
        }


def _as_paths(paths: Path | str | Sequence[Path | str]) -> list[Path]:
    if isinstance(paths, (str, Path)):
        return [Path(paths)]
    return [Path(p) for p in paths]


def read_outpost(paths: Path | Sequence[Path], design: Design, residual: str) -> SasPosterior:
    """Read one OUTPOST file per chain (CSV or sas7bdat) into a :class:`SasPosterior`."""
    _check_residual(residual)
    files = _as_paths(paths)
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


# --------------------------------------------------------------------------------------------
# ODS tables and the cross-check


def _sibling(outpost: Path, stem: str) -> Path | None:
    """``postsumint_chain2.csv`` beside ``outpost_chain2.csv`` (names compared without case)."""
    if not outpost.stem.lower().startswith(OUTPOST):
        return None
    suffix = outpost.stem[len(OUTPOST):]
    wanted = [f"{stem}{suffix}{ext}".lower() for ext in EXTENSIONS]
    present = {p.name.lower(): p for p in outpost.parent.iterdir() if p.is_file()}
    for name in wanted:
        if name in present:
            return present[name]
    return None


def _rounding(cell: object) -> float:
    """Half a unit in the last printed digit of a text cell (0 for binary values)."""
    if not isinstance(cell, str):
        return 0.0
    m = _NUMBER_TEXT.match(cell)
    if not m:
        return 0.0
    decimals = len(m.group(2) or "") - int(m.group(3) or 0)
    return 0.5 * 10.0 ** (-decimals)


def _read_table(path: Path, name: str, chain: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The table (lower-case columns, a ``chain`` column) and, per numeric cell, its rounding."""
    frame, is_text = _read_frame(path)
    frame = frame.rename(columns=lambda c: str(c).strip().lower())
    if "parameter" not in frame.columns:
        raise SasOutputError(
            f"{path}: no Parameter column in the {name} table (found {list(frame.columns)}). Export "
            f"the ODS OUTPUT data set {name} unchanged with PROC EXPORT."
        )
    out = pd.DataFrame({"chain": chain, "parameter": frame["parameter"].astype(str).str.strip()})
    rounding = pd.DataFrame(index=out.index)
    for col in frame.columns:
        if col == "parameter":
            continue
        values = frame[col]
        if not is_text:
            numeric = pd.api.types.is_numeric_dtype(values)
            out[col] = values.to_numpy(dtype=float) if numeric else values.astype(str).str.strip().to_numpy()
            continue
        text = values.str.strip()
        nums = pd.to_numeric(text, errors="coerce")
        if nums.notna().sum() == text.ne("").sum() and text.ne("").any():
            out[col] = nums.to_numpy(dtype=float)
            rounding[col] = values.map(_rounding).to_numpy(dtype=float)
        else:
            out[col] = text.to_numpy()
    return out, rounding


def _read_run_info(path: Path) -> dict[str, str]:
    frame, _ = _read_frame(path)
    cols = {c.lower(): c for c in frame.columns}
    if "key" not in cols or "value" not in cols:
        raise SasOutputError(
            f"{path}: run information needs columns key and value; found {list(frame.columns)}. "
            "Export WORK.RUN_INFO again, or remove the file."
        )
    return {str(k).strip(): str(v).strip() for k, v in zip(frame[cols["key"]], frame[cols["value"]])}


@dataclass(frozen=True, eq=False)
class SasOutput:
    """Everything one PROC MCMC run (one or more chains) left in ``output/<model>/``.

    ``summary`` is computed by our code from the OUTPOST draws (mean, sd, quantiles, ESS, MCSE);
    ``tables`` are SAS's own ODS tables (lower-case column names plus a ``chain`` column), kept for
    the record and for :meth:`cross_check`.
    """

    sample: SasPosterior
    summary: pd.DataFrame
    tables: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    table_files: Mapping[str, tuple[Path, ...]] = field(default_factory=dict)
    run_info: Mapping[str, str] = field(default_factory=dict)
    rounding: Mapping[str, pd.DataFrame] = field(default_factory=dict, repr=False)
    """Half a unit in the last digit SAS wrote, cell by cell (aligned with ``tables``)."""

    @property
    def posterior(self) -> xr.Dataset:
        return self.sample.posterior

    @property
    def residual(self) -> str:
        return self.sample.residual

    def provenance(self) -> dict[str, object]:
        record = self.sample.provenance()
        record["tables"] = {k: [str(p) for p in v] for k, v in self.table_files.items()}
        record["table_sha256"] = {k: [sha256_of(p) for p in v] for k, v in self.table_files.items()}
        record["run_info"] = dict(self.run_info)
        return record

    def _draws_by_sas_name(self) -> dict[str, xr.DataArray]:
        """Every sampled quantity under its SAS name (lower case), with dims (chain, draw)."""
        post = self.sample.posterior
        out = {name.lower(): post[name] for name in scalar_names(self.residual)}
        for label in post["u"].coords["cluster"].values:
            out[f"{RANDOM_EFFECT}_{_label_key(label)}"] = post["u"].sel(cluster=label, drop=True)
        ctrl = self.sample.u_control
        for label in ctrl.coords["control_cluster"].values:
            out[f"{RANDOM_EFFECT}_{_label_key(label)}"] = ctrl.sel(control_cluster=label, drop=True)
        return out

    def cross_check(self, mcse_units: float = DEFAULT_MCSE_UNITS, all_rows: bool = False) -> pd.DataFrame:
        """Compare SAS's PostSumInt means and SDs with those of the OUTPOST draws, chain by chain.

        A row is a discrepancy when ``|sas − ours| > mcse_units·MCSE + rounding`` (MCSE of our
        draws for that statistic; rounding is half a unit in the last digit SAS printed), when N
        differs from the number of draws, or when SAS lists a parameter the sample lacks. Returns
        the discrepancies (every comparison with ``all_rows=True``); empty means consistent.
        """
        columns = ["chain", "param", "stat", "sas", "ours", "diff", "mcse", "tolerance", "z", "ok", "note"]
        table = self.tables.get("postsumint")
        if table is None:
            raise SasOutputError(
                "no PostSumInt table was read, so there is nothing to cross-check. Put postsumint.csv "
                "(ODS OUTPUT PostSumInt=, exported with PROC EXPORT) beside outpost.csv."
            )
        rounding = self.rounding.get("postsumint", pd.DataFrame(index=table.index))
        files = self.table_files.get("postsumint", ())
        sd_col = next((c for c in _SD_COLUMNS if c in table.columns), None)
        if "mean" not in table.columns or sd_col is None:
            raise SasOutputError(
                f"{', '.join(map(str, files))}: the PostSumInt table needs Mean and StdDev columns; "
                f"found {list(table.columns)}."
            )
        draws = self._draws_by_sas_name()
        names = list(draws)
        rows = []
        for chain, part in table.groupby("chain", sort=True):
            ds = xr.Dataset({f"p{k}": draws[n].isel(chain=[chain]) for k, n in enumerate(names)})
            mcse_mean = az.mcse(ds, method="mean")
            mcse_sd = az.mcse(ds, method="sd")
            for idx, rec in part.iterrows():
                key = str(rec["parameter"]).strip().lower()
                if key not in draws:
                    rows.append({"chain": chain, "param": rec["parameter"], "stat": "parameter",
                                 "ok": False, "note": "listed by SAS but not in the OUTPOST sample"})
                    continue
                var = f"p{names.index(key)}"
                x = np.asarray(ds[var]).ravel()
                n_sas = pd.to_numeric(pd.Series([rec.get("n", np.nan)]), errors="coerce").iloc[0]
                if np.isfinite(n_sas) and int(n_sas) != x.size:
                    rows.append({"chain": chain, "param": key, "stat": "n", "sas": float(n_sas),
                                 "ours": float(x.size), "diff": float(n_sas) - x.size, "ok": False,
                                 "note": "PostSumInt counts a different number of draws than OUTPOST"})
                for stat, col, ours, mcse in (
                    ("mean", "mean", float(x.mean()), float(mcse_mean[var])),
                    ("sd", sd_col, float(x.std(ddof=1)), float(mcse_sd[var])),
                ):
                    sas = float(pd.to_numeric(pd.Series([rec[col]]), errors="coerce").iloc[0])
                    if not np.isfinite(sas):
                        rows.append({"chain": chain, "param": key, "stat": stat, "ours": ours, "ok": False,
                                     "note": f"SAS value {rec[col]!r} in column {col} is not a number"})
                        continue
                    digits = float(rounding.at[idx, col]) if col in rounding.columns else 0.0
                    digits = digits if np.isfinite(digits) else 0.0
                    tol = mcse_units * mcse + digits + 1e-9 * max(1.0, abs(ours))
                    diff = sas - ours
                    ok = bool(abs(diff) <= tol)
                    rows.append({
                        "chain": chain, "param": key, "stat": stat, "sas": sas, "ours": ours,
                        "diff": diff, "mcse": mcse, "tolerance": tol,
                        "z": diff / mcse if mcse > 0 else np.nan, "ok": ok,
                        "note": "" if ok else f"differs by more than {mcse_units:g} MCSE + rounding",
                    })
        result = pd.DataFrame(rows, columns=columns)
        if not all_rows:
            result = result[~result["ok"].astype(bool)]
        return result.reset_index(drop=True)


def read_sas_output(
    source: Path | Sequence[Path],
    design: Design,
    residual: str,
    *,
    tables: Mapping[str, Path | Sequence[Path]] | None = None,
) -> SasOutput:
    """Read a PROC MCMC run: OUTPOST draws plus the ODS tables and run information when present.

    ``source`` is either a directory in the canonical layout (``sas_reference/output`` or its
    ``<model>/`` folder) or the OUTPOST file(s) themselves, one per chain. ODS tables are found
    beside each OUTPOST file by name (``outpost_x.csv`` → ``postsumint_x.csv``) unless ``tables``
    names them (one file per chain, in chain order).
    """
    _check_residual(residual)
    if isinstance(source, (str, Path)) and Path(source).is_dir():
        outposts = find_outpost(Path(source), residual)
        if not outposts:
            raise SasOutputError(
                f"no OUTPOST file for the {residual} model under {model_dir(Path(source), residual)} "
                "(expected outpost.csv, or outpost.sas7bdat, and optionally outpost_chain2.csv …). "
                "None is published for this dataset: run sas_reference/partially_clustered.sas in SAS "
                "to produce it."
            )
    else:
        outposts = _as_paths(source)
    sample = read_outpost(outposts, design, residual)

    found: dict[str, list[Path]] = {}
    explicit = {k.lower(): _as_paths(v) for k, v in (tables or {}).items()}
    unknown = sorted(set(explicit) - set(TABLES))
    if unknown:
        raise SasOutputError(f"unknown table name(s) {unknown}; known: {', '.join(TABLES)}.")
    for name in TABLES:
        if name in explicit:
            paths = explicit[name]
            if len(paths) != len(outposts):
                raise SasOutputError(
                    f"{len(paths)} {name} file(s) given for {len(outposts)} OUTPOST file(s); give one "
                    "per chain, in the same order."
                )
            found[name] = paths
            continue
        paths = [_sibling(p, name) for p in outposts]
        if any(p is not None for p in paths):
            if any(p is None for p in paths):
                lacking = [o.name for o, p in zip(outposts, paths) if p is None]
                raise SasOutputError(
                    f"the {name} table is missing for {', '.join(lacking)} but present for other "
                    "chains; export it for every run or remove it for all."
                )
            found[name] = [p for p in paths if p is not None]
    frames: dict[str, pd.DataFrame] = {}
    rounding: dict[str, pd.DataFrame] = {}
    for name, paths in found.items():
        parts = [_read_table(p, name, k) for k, p in enumerate(paths)]
        frames[name] = pd.concat([t for t, _ in parts], ignore_index=True)
        rounding[name] = pd.concat([r for _, r in parts], ignore_index=True)
    info_path = _sibling(outposts[0], RUN_INFO)
    run_info = _read_run_info(info_path) if info_path is not None else {}
    return SasOutput(
        sample=sample,
        summary=summarize(sample.posterior, residual),
        tables=frames,
        table_files={k: tuple(v) for k, v in found.items()},
        run_info=run_info,
        rounding=rounding,
    )
