"""The run record: what a fit writes into its folder, and how a folder is read back.

A run folder holds ``posterior.nc`` (the draws), ``summary.csv`` (one row per scalar, ``u[<label>]``
for the cluster effects) and ``run.json`` (settings, seed, sampler, versions, data SHA-256, timings,
divergences, convergence gate), written last. The same seed and settings give an identical
``summary.csv``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from partclust.config import package_versions
from partclust.errors import FitError
from partclust.files import write_csv, write_json, write_with
from partclust.inference.settings import FitSettings
from partclust.inference.summary import convergence_gate, summarize
from partclust.layout import ResultsLayout
from partclust.models.spec import builtin_spec

if TYPE_CHECKING:
    import xarray as xr

    from partclust.inference.sample import FitResult

__all__ = ["RUN_JSON", "SUMMARY_CSV", "POSTERIOR_NC", "write_run", "read_run", "read_posterior", "default_run_dir",
           "is_complete", "run_spec_record"]

RUN_JSON = "run.json"
SUMMARY_CSV = "summary.csv"
POSTERIOR_NC = "posterior.nc"


def write_run(
    out_dir: str | Path,
    result: FitResult,
    design: Any,
    summary: pd.DataFrame | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write posterior.nc, summary.csv and, last, run.json into ``out_dir``; returns the run record.

    Parameters
    ----------
    out_dir : path
    result : FitResult
    design : Design or ModelData
        The data fitted (a ModelData also records its specification under ``model_spec``), or a translated
        PROC MCMC program (:class:`~partclust.translate.Translation`: ``model_spec`` identifies the program and
        its family specification, ``sas_program`` records the PROC MCMC options, PARMS blocks and RANDOM
        statements SAS was asked to run).
    summary : pandas.DataFrame, optional
        From :func:`~partclust.inference.summary.summarize` (computed for the built-in models when absent;
        required for a translated program).
    extra : dict, optional
        More fields for run.json.

    Returns
    -------
    dict
        The run record as written to run.json.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    spec = getattr(design, "spec", None)
    if summary is None:
        if result.settings.sas_program:
            raise FitError("write_run needs the summary of a translated program's fit")
        summary = summarize(result.posterior, design.scalar_names if spec is not None else result.settings.model)
    gate = convergence_gate(summary, result.divergences)
    posterior = result.posterior
    for name in list(posterior.data_vars):
        if posterior[name].dtype == object:
            posterior = posterior.drop_vars(name)
    write_with(out / POSTERIOR_NC, lambda tmp: posterior.to_netcdf(tmp, engine="h5netcdf"))
    write_csv(out / SUMMARY_CSV, summary)
    result.timings["write_s"] = time.perf_counter() - t
    record = {
        "settings": asdict(result.settings),
        "seed": int(result.settings.seed),
        "sampler": result.settings.sampler,
        "data": {"path": design.source, "sha256": design.sha256, "n": design.n,
                 "clusters": list(design.groups if spec is not None else getattr(design, "clusters", ()))},
        "model_spec": spec.record() if spec is not None else (
            json.loads(result.settings.spec) if result.settings.spec else
            design.spec_record() if hasattr(design, "spec_record") else builtin_spec(result.settings.model).record()),
        "versions": package_versions(),
        "timings": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in result.timings.items()},
        "divergences": result.divergences,
        "convergence": gate,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if hasattr(design, "program"):  # a translated PROC MCMC program: what SAS was asked to do
        record["sas_program"] = design.record()
    if extra:
        record.update(extra)
    write_json(out / RUN_JSON, record)
    return record


def default_run_dir(settings: FitSettings) -> Path:
    """Where an interactive fit writes when no ``output_dir`` is given."""
    name = f"{settings.model}-{settings.parameterization}-{settings.sampler}-seed-{settings.seed}"
    return ResultsLayout().interactive_run(name)


def run_spec_record(record: dict[str, Any]) -> dict[str, Any]:
    """Return the model specification a run record fitted.

    Runs written before records held one fitted the built-in model with the SAS program's priors.
    """
    return record.get("model_spec") or builtin_spec(record["settings"]["model"]).record()


def read_run(run_dir: str | Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """Read a completed run directory (``run.json`` and ``summary.csv``).

    Returns
    -------
    (dict, pandas.DataFrame)
        The run record and the summary (columns :data:`~partclust.inference.SUMMARY_COLUMNS`).

    Raises
    ------
    FitError
        When either file is missing (the run did not complete).
    """
    d = Path(run_dir)
    missing = [f for f in (RUN_JSON, SUMMARY_CSV) if not (d / f).is_file()]
    if missing:
        raise FitError(f"{d} is not a completed run: {', '.join(missing)} missing. Rerun the fit.")
    return json.loads((d / RUN_JSON).read_text()), pd.read_csv(d / SUMMARY_CSV)


def is_complete(path: Path, settings: FitSettings, data_sha256: str) -> bool:
    """Whether ``path`` holds a finished run of exactly these settings and this dataset."""
    try:
        record = json.loads((Path(path) / RUN_JSON).read_text())
    except (OSError, ValueError):
        return False
    return (record.get("settings") == asdict(settings)
            and record.get("data", {}).get("sha256") == data_sha256
            and (Path(path) / SUMMARY_CSV).is_file() and (Path(path) / POSTERIOR_NC).is_file())


def read_posterior(run_dir: str | Path) -> "xr.Dataset":
    """Read the posterior draws of a run folder (``posterior.nc``), dims (chain, draw[, cluster]).

    Raises
    ------
    FitError
        When the file is missing or unreadable.
    """
    import xarray as xr

    path = Path(run_dir) / POSTERIOR_NC
    try:
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            return ds.load()
    except (OSError, ValueError) as exc:
        raise FitError(f"cannot read {path}: {exc}. Rerun the fit.") from None
