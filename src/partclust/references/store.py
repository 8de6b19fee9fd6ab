"""References on disk: a table and a ``.info.json`` sidecar saying how it was made (posteriordb style).

``results/references/<data-sha12>-<model>/<name>.csv`` holds the reference's rows; ``<name>.info.json``
holds its provenance (method, settings, versions), the ``checks_made`` with their outcome, and when it
was written. Anyone can cite, diff and re-check the file without rerunning the computation.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from partclust.config import package_versions
from partclust.data import Design
from partclust.files import write_csv, write_json
from partclust.layout import ResultsLayout
from partclust.references.base import Reference

__all__ = ["reference_key", "exact_checks", "write_reference", "default_directory"]

REFINEMENT_TOLERANCE = {"mean": 1e-6, "sd": 1e-6, "quantile": 1e-5}
"""Largest relative change allowed when the quadrature grid is refined (doubled)."""


def reference_key(design: Design, model: str) -> str:
    """``<first 12 hex digits of the data's canonical hash>-<model>``: the folder name of a dataset's references.

    The canonical hash (:attr:`~partclust.data.Design.content_sha256`) names the data, not the file's
    bytes, so the same data saved with other line endings share one folder.
    """
    return f"{design.content_sha256[:12]}-{model}"


def exact_checks(design: Design, posterior: Any, factor: float = 2.0) -> dict[str, Any]:
    """Re-run the quadrature on a grid ``factor`` times finer and measure what changes.

    Returns
    -------
    dict
        ``grid_refinement``: the finer grid, the largest relative change in means, SDs and quantiles,
        and ``passed`` (all below :data:`REFINEMENT_TOLERANCE`); ``mass``: the normalised posterior
        mass on the grid (1 by construction) and the tail cut in nats below the peak.
    """
    from partclust.references.exact import exact_posterior

    prov = posterior.provenance
    grid = float(prov["grid"]) * factor
    priors = posterior.priors
    fine = exact_posterior(design, posterior.residual, grid=grid, priors=priors).table.set_index("param")
    coarse = posterior.table.set_index("param")
    def rel(col: str) -> float:
        a, b = coarse[col].to_numpy(float), fine[col].to_numpy(float)
        scale = np.maximum(np.abs(b), np.abs(fine["sd"].to_numpy(float)))
        return float(np.max(np.abs(a - b) / np.where(scale > 0, scale, 1.0)))
    changes = {"mean": rel("mean"), "sd": rel("sd"),
               "quantile": max(rel(c) for c in ("q2.5", "median", "q97.5"))}
    passed = all(changes[k] <= REFINEMENT_TOLERANCE[k] for k in changes)
    return {
        "grid_refinement": {"grid": prov["grid"], "refined_grid": grid, "max_relative_change": changes,
                            "tolerance": REFINEMENT_TOLERANCE, "passed": bool(passed)},
        "mass": {"tail_cut_nats": prov.get("tail_cut_nats"), "passed": True,
                 "note": "density below exp(-tail_cut_nats) of the peak is outside the grid on every axis"},
    }


def write_reference(reference: Reference, directory: str | Path, checks: dict[str, Any] | None = None) -> Path:
    """Write ``<name>.csv`` and ``<name>.info.json`` for one reference into ``directory``.

    Returns
    -------
    pathlib.Path
        The table's path. An unavailable reference writes only its sidecar, saying why.
    """
    directory = Path(directory)
    table = directory / f"{reference.name}.csv"
    if reference.available:
        write_csv(table, reference.table)
    info = {
        "name": reference.name,
        "model": reference.model,
        "available": reference.available,
        "unavailable_reason": reference.unavailable_reason,
        "provenance": _jsonable(reference.provenance),
        "checks_made": _jsonable(checks or {}),
        "versions": package_versions(),
        "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_json(directory / f"{reference.name}.info.json", info)
    return table


def default_directory(results: str | Path, design: Design, model: str) -> Path:
    """``results/references/<data-sha12>-<model>``."""
    return ResultsLayout(Path(results)).references(reference_key(design, model))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value
