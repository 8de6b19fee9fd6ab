"""PROC MCMC's ODS tables (PostSumInt, PostIntervals, MCSE, ESS, AutoCorr) and the cross-check with OUTPOST."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from partclust.data import Design, sha256_of
from partclust.errors import SasOutputError
from partclust.inference.summary import summarize
from partclust.models.names import scalar_names
from partclust.references.sas.files import EXTENSIONS, OUTPOST, RUN_INFO, TABLES, find_outpost, model_dir, read_frame
from partclust.references.sas.outpost import RANDOM_EFFECT, SasPosterior, as_paths, label_key, read_outpost
from partclust.validate import check_residual

__all__ = ["DEFAULT_MCSE_UNITS", "SasOutput", "read_sas_output", "cross_check_status"]

DEFAULT_MCSE_UNITS = 0.1
"""PostSumInt is computed by SAS from the very draws in OUTPOST, so the two agree up to the printed
rounding; a tenth of an MCSE still catches a table that belongs to another run (whose means differ
by about 1.4 MCSE) while allowing for float formatting."""
_SD_COLUMNS = ("stddev", "standarddeviation", "std", "sd")
_NUMBER_TEXT = re.compile(r"^\s*[+-]?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?\s*$")


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
    """Read a table (lower-case columns, a ``chain`` column) and, per numeric cell, its rounding."""
    frame, is_text = read_frame(path)
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
    frame, _ = read_frame(path)
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
        """The OUTPOST draws (see :class:`SasPosterior`)."""
        return self.sample.posterior

    @property
    def residual(self) -> str:
        """The residual structure the run sampled."""
        return self.sample.residual

    def provenance(self) -> dict[str, object]:
        """Return the sample's provenance plus the ODS table files, their SHA-256 and the run information."""
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
            out[f"{RANDOM_EFFECT}_{label_key(label)}"] = post["u"].sel(cluster=label, drop=True)
        ctrl = self.sample.u_control
        for label in ctrl.coords["control_cluster"].values:
            out[f"{RANDOM_EFFECT}_{label_key(label)}"] = ctrl.sel(control_cluster=label, drop=True)
        return out

    def cross_check(self, mcse_units: float = DEFAULT_MCSE_UNITS, all_rows: bool = False) -> pd.DataFrame:
        """Compare SAS's PostSumInt means and SDs with those of the OUTPOST draws, chain by chain.

        A row is a discrepancy when ``|sas − ours| > mcse_units·MCSE + rounding`` (MCSE of our
        draws for that statistic; rounding is half a unit in the last digit SAS printed), when N
        differs from the number of draws, or when SAS lists a parameter the sample lacks.

        Parameters
        ----------
        mcse_units : float
            Allowed difference in MCSEs of our draws, beyond the printed rounding
            (:data:`DEFAULT_MCSE_UNITS`).
        all_rows : bool
            Return every comparison, not only the discrepancies.

        Returns
        -------
        pandas.DataFrame
            The discrepancies (every comparison with ``all_rows=True``); empty means consistent. Columns:
            ``chain`` (0-based, in OUTPOST file order), ``param`` (SAS name, lower case), ``stat``
            (``mean``, ``sd``, ``n`` or ``parameter``), ``sas`` and ``ours`` (SAS's printed value and the
            draws' value, in the parameter's units), ``diff`` = sas − ours, ``mcse`` (our draws' MCSE of
            that statistic, one chain), ``tolerance`` (mcse_units·mcse + rounding + 1e-9·max(1, |ours|)),
            ``z`` = diff / mcse, ``ok`` (bool) and ``note`` (why a row fails).

        Raises
        ------
        SasOutputError
            When no PostSumInt table was read, or it lacks Mean and StdDev columns.
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
        import arviz as az

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

    Parameters
    ----------
    source : path or sequence of paths
        A directory in the canonical layout (``sas_reference/output`` or its ``<model>/`` folder), or
        the OUTPOST file(s) themselves, one per chain.
    design : Design
        The data the SAS program was run on.
    residual : {"single", "per_condition"}
        The residual structure the program sampled.
    tables : mapping of str to path or sequence of paths, optional
        ODS tables by name (:data:`~partclust.references.sas.TABLES`), one file per chain in chain
        order; by default each is found beside its OUTPOST file (``outpost_x.csv`` →
        ``postsumint_x.csv``).

    Returns
    -------
    SasOutput
        ``sample`` (:func:`read_outpost`); ``summary`` computed by our code from the draws (columns
        :data:`~partclust.inference.SUMMARY_COLUMNS`); ``tables`` SAS's ODS tables (lower-case columns plus
        ``chain``), ``table_files``, ``run_info`` and the printed ``rounding`` of each cell.

    Raises
    ------
    SasOutputError
        Naming the file and what to do: no OUTPOST file for the model, an unknown table name, a table
        given or present for some chains only, or any problem :func:`read_outpost` and the table readers
        find.
    """
    check_residual(residual, SasOutputError)
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
        outposts = as_paths(source)
    sample = read_outpost(outposts, design, residual)

    found: dict[str, list[Path]] = {}
    explicit = {k.lower(): as_paths(v) for k, v in (tables or {}).items()}
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


def cross_check_status(output: SasOutput, mcse_units: float = DEFAULT_MCSE_UNITS) -> dict[str, object]:
    """Run :meth:`SasOutput.cross_check` when a PostSumInt table is present; summarise the outcome.

    Parameters
    ----------
    output : SasOutput
    mcse_units : float
        Tolerance in MCSEs (plus the printed rounding).

    Returns
    -------
    dict
        ``ran`` (a PostSumInt table was there), ``passed`` (None when not run), ``compared`` and
        ``discrepancies`` (counts of statistics), and ``message``: one sentence naming the files and
        the first discrepancy when it failed, else "".
    """
    if "postsumint" not in output.tables:
        return {"ran": False, "passed": None, "compared": 0, "discrepancies": 0, "message": ""}
    rows = output.cross_check(mcse_units=mcse_units, all_rows=True)
    bad = rows[~rows["ok"].astype(bool)]
    status: dict[str, object] = {"ran": True, "passed": bad.empty, "compared": len(rows),
                                 "discrepancies": len(bad), "message": ""}
    if not bad.empty:
        first = bad.iloc[0]
        if pd.notna(first.get("sas")) and pd.notna(first.get("ours")):
            what = (f"chain {int(first['chain']) + 1}, {first['param']} {first['stat']}: PostSumInt "
                    f"{first['sas']:.6g}, the draws {first['ours']:.6g}")
        else:
            what = f"chain {int(first['chain']) + 1}, {first['param']}: {first['note']}"
        tables = ", ".join(str(p) for p in output.table_files.get("postsumint", ()))
        posts = ", ".join(str(p) for p in output.sample.files)
        status["message"] = (
            f"the PostSumInt table ({tables}) disagrees with the OUTPOST draws ({posts}): {len(bad)} of "
            f"{len(rows)} checks fail (first: {what}; tolerance {mcse_units:g} MCSE + rounding). The two files "
            "come from different PROC MCMC runs or were edited: export both from the same run."
        )
    return status
