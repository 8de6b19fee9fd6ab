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
from partclust.data import Design
from partclust.errors import FitError
from partclust.files import write_csv, write_json, write_with
from partclust.inference.settings import FitSettings
from partclust.inference.summary import convergence_gate, summarize
from partclust.layout import ResultsLayout

if TYPE_CHECKING:
    import xarray as xr

    from partclust.inference.sample import FitResult

__all__ = ["RUN_JSON", "SUMMARY_CSV", "POSTERIOR_NC", "write_run", "read_run", "read_posterior", "default_run_dir",
           "is_complete"]

RUN_JSON = "run.json"
SUMMARY_CSV = "summary.csv"
POSTERIOR_NC = "posterior.nc"


def write_run(
    out_dir: str | Path,
    result: FitResult,
    design: Design,
    summary: pd.DataFrame | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write posterior.nc, summary.csv and, last, run.json into ``out_dir``; returns the run record.

    Parameters
    ----------
    out_dir : path
    result : FitResult
    design : Design
    summary : pandas.DataFrame, optional
        From :func:`~partclust.inference.summary.summarize` (computed when absent).
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
    if summary is None:
        summary = summarize(result.posterior, result.settings.model)
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
        "data": {"path": design.source, "sha256": design.sha256, "content_sha256": design.content_sha256,
                 "encoding": design.encoding, "n": design.n, "clusters": list(design.clusters)},
        "versions": package_versions(),
        "timings": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in result.timings.items()},
        "divergences": result.divergences,
        "convergence": gate,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if extra:
        record.update(extra)
    write_json(out / RUN_JSON, record)
    return record


def default_run_dir(settings: FitSettings) -> Path:
    """Where an interactive fit writes when no ``output_dir`` is given."""
    name = f"{settings.model}-{settings.parameterization}-{settings.sampler}-seed-{settings.seed}"
    return ResultsLayout().interactive_run(name)


def read_run(run_dir: str | Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """Read a completed run directory (``run.json`` and ``summary.csv``)."""
    d = Path(run_dir)
    missing = [f for f in (RUN_JSON, SUMMARY_CSV) if not (d / f).is_file()]
    if missing:
        raise FitError(f"{d} is not a completed run: {', '.join(missing)} missing. Rerun the fit.")
    return json.loads((d / RUN_JSON).read_text()), pd.read_csv(d / SUMMARY_CSV)


def is_complete(path: Path, settings: FitSettings, content_sha256: str) -> bool:
    """Whether ``path`` holds a finished run of exactly these settings and this dataset.

    ``content_sha256`` is the dataset's canonical hash (:attr:`~partclust.data.Design.content_sha256`).
    """
    try:
        record = json.loads((Path(path) / RUN_JSON).read_text())
    except (OSError, ValueError):
        return False
    return (record.get("settings") == asdict(settings)
            and record.get("data", {}).get("content_sha256") == content_sha256
            and (Path(path) / SUMMARY_CSV).is_file() and (Path(path) / POSTERIOR_NC).is_file())


def read_posterior(run_dir: str | Path) -> "xr.Dataset":
    """The posterior draws of a run folder (``posterior.nc``), dims (chain, draw[, cluster]).

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
