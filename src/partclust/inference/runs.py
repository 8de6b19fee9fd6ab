"""The run record: what a fit writes into its folder, and how a folder is read back.

A run folder holds ``posterior.nc``, ``summary.csv`` (one row per scalar, ``u[<label>]`` for the
cluster effects) and ``run.json`` (settings, seed, sampler, versions, data SHA-256, timings,
divergences, convergence gate), written last. The same seed and settings give an identical
``summary.csv``.

``posterior.nc`` is an ArviZ ``DataTree`` in one netCDF-4 file, readable with ``az.from_netcdf``:

==================  ==============================================================================
group               contents
==================  ==============================================================================
``posterior``       the draws, dims (chain, draw[, cluster]); ``cluster`` holds the data's labels
``sample_stats``    the sampler's per-draw statistics (``diverging``, ``energy``, step sizes, …)
``log_likelihood``  ``y``: the pointwise log-likelihood, dims (chain, draw, obs), for PSIS-LOO
``observed_data``   ``y`` by ``obs`` (the subject ids)
``constant_data``   ``treat`` by ``obs``
==================  ==============================================================================

The root's attributes hold the run's settings (``model``, ``parameterization``, ``seed``, ``draws``,
``tune``, ``chains``, ``sampler``, ``target_accept``), ``data_sha256``, ``data_n`` and
``partclust_version``. Files written before this layout hold the posterior alone at the root; the
readers here accept both.
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

__all__ = ["RUN_JSON", "SUMMARY_CSV", "POSTERIOR_NC", "TREE_GROUPS", "write_run", "read_run", "read_posterior",
           "read_trace", "run_tree", "default_run_dir", "is_complete"]

RUN_JSON = "run.json"
SUMMARY_CSV = "summary.csv"
POSTERIOR_NC = "posterior.nc"
TREE_GROUPS: tuple[str, ...] = ("posterior", "sample_stats", "log_likelihood", "observed_data", "constant_data")
"""The groups of ``posterior.nc``, in the order they are written (absent groups are skipped)."""


def run_tree(result: FitResult, design: Design) -> "xr.DataTree":
    """Return the run's ArviZ ``DataTree`` as ``posterior.nc`` stores it (see the module docstring).

    Variables netCDF cannot store (object dtype, e.g. nutpie's per-draw divergence messages,
    which are empty unless a draw diverged; ``run.json`` counts the divergences) are dropped.
    """
    import xarray as xr

    groups = {}
    children = result.trace.children
    for name in [g for g in TREE_GROUPS if g in children] + [g for g in children if g not in TREE_GROUPS]:
        ds = children[name].to_dataset()
        groups[f"/{name}"] = ds.drop_vars([v for v in ds.data_vars if ds[v].dtype == object])
    tree = xr.DataTree.from_dict(groups)
    settings = asdict(result.settings)
    tree.attrs.update({
        **settings,
        "data_sha256": design.sha256,
        "data_n": int(design.n),
        "partclust_version": package_versions().get("partclust", "unknown"),
    })
    return tree


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
    tree = run_tree(result, design)
    write_with(out / POSTERIOR_NC, lambda tmp: tree.to_netcdf(tmp, engine="h5netcdf"))
    write_csv(out / SUMMARY_CSV, summary)
    result.timings["write_s"] = time.perf_counter() - t
    record = {
        "settings": asdict(result.settings),
        "seed": int(result.settings.seed),
        "sampler": result.settings.sampler,
        "data": {"path": design.source, "sha256": design.sha256, "n": design.n,
                 "clusters": list(design.clusters)},
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

    Reads only the ``posterior`` group of a ``DataTree`` file, or the root of a file written before
    runs stored the whole tree.

    Raises
    ------
    FitError
        When the file is missing or unreadable.
    """
    import xarray as xr

    path = Path(run_dir) / POSTERIOR_NC
    if not path.is_file():
        raise FitError(f"cannot read {path}: no such file. Rerun the fit.")
    try:
        try:
            with xr.open_dataset(path, engine="h5netcdf", group="posterior") as ds:
                return ds.load()
        except OSError as exc:
            if "group not found" not in str(exc):
                raise
        with xr.open_dataset(path, engine="h5netcdf") as ds:  # a flat file: the posterior at the root
            return ds.load()
    except (OSError, ValueError) as exc:
        raise FitError(f"cannot read {path}: {exc}. Rerun the fit.") from None


def read_trace(run_dir: str | Path) -> "xr.DataTree":
    """Read the whole ArviZ ``DataTree`` of a run folder, for ``az.loo``, ``az.plot_energy`` and the like.

    A file written before runs stored the whole tree comes back as a tree with its one
    ``posterior`` group.

    Raises
    ------
    FitError
        When the file is missing or unreadable.
    """
    import xarray as xr

    path = Path(run_dir) / POSTERIOR_NC
    if not path.is_file():
        raise FitError(f"cannot read {path}: no such file. Rerun the fit.")
    try:
        with xr.open_datatree(path, engine="h5netcdf") as tree:
            tree = tree.load()
    except (OSError, ValueError) as exc:
        raise FitError(f"cannot read {path}: {exc}. Rerun the fit.") from None
    if "posterior" not in tree.children and tree.data_vars:
        return xr.DataTree.from_dict({"/posterior": tree.to_dataset()})
    return tree
