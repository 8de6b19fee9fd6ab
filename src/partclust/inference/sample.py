"""Sampling: build the model, sample it with nutpie, PyMC's NUTS or Metropolis-within-Gibbs.

Compiled nutpie models are cached on disk per model structure (:mod:`partclust.inference.compiled`),
so a new process loads what any process compiled before, and per process, so a process that fits the
same model for many seeds (a study worker's kernel) does not even reload it; the draws do not depend
on either cache.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pymc as pm
import xarray as xr

from partclust.data import Design
from partclust.inference.settings import FitSettings
from partclust.models.checks import check_data
from partclust.models.priors import SAS_PRIORS, Priors
from partclust.models.pymc import build_model

__all__ = ["FitResult", "fit"]


@dataclass
class FitResult:
    """What :func:`fit` returns: the settings, the ArviZ ``DataTree`` and the timings (seconds)."""

    settings: FitSettings
    trace: Any  # xarray.DataTree with a posterior and sample_stats group
    timings: dict[str, Any] = field(default_factory=dict)  # seconds, and compile_cached

    @property
    def posterior(self) -> xr.Dataset:
        """The posterior group as a Dataset with dims (chain, draw[, cluster])."""
        return self.trace["posterior"].to_dataset()

    @property
    def divergences(self) -> int:
        """Number of divergent transitions after tuning (0 for samplers that report none)."""
        stats = self.trace.children.get("sample_stats")
        if stats is None or "diverging" not in stats:
            return 0
        return int(np.asarray(stats["diverging"]).sum())


# Compiled nutpie models, per process, keyed by everything the compiled code depends on. Compiling
# (PyTensor → numba) costs several seconds while sampling costs under one, so a process that fits
# the same model for many seeds (a study worker's kernel) compiles it once. Sampling from a cached
# compiled model with a given seed gives exactly the draws a fresh compile gives.
_COMPILED: dict[tuple, Any] = {}


def _design_key(design: Design) -> str:
    h = hashlib.sha256()
    for arr in (design.y, design.treat, design.cluster_of_row, design.sas_cluster_of_row):
        h.update(np.ascontiguousarray(arr).tobytes())
    h.update("\x00".join(design.sas_clusters).encode())
    return h.hexdigest()


def _sample_nutpie(model: pm.Model, s: FitSettings, timings: dict[str, Any], key: tuple, cores: int | None):
    import nutpie

    from partclust.inference.compiled import compile_model

    t = time.perf_counter()
    compiled = _COMPILED.get(key)
    timings["compile_cached"] = compiled is not None
    if compiled is None:
        compiled, record = compile_model(model)
        _COMPILED[key] = compiled
        timings["compile_source"] = record["source"]
        if record["rebuilt"] or record["reason"]:
            timings["compile_note"] = record["rebuilt"] or record["reason"]
    else:
        timings["compile_source"] = "process"
    timings["compile_s"] = time.perf_counter() - t
    t = time.perf_counter()
    trace = nutpie.sample(
        compiled, draws=s.draws, tune=s.tune, chains=s.chains, seed=s.seed, cores=cores,
        progress_bar=False, save_warmup=False, target_accept=s.target_accept,
    )
    timings["sample_s"] = time.perf_counter() - t
    return trace


def _sample_pymc(model: pm.Model, s: FitSettings, timings: dict[str, float]):
    t = time.perf_counter()
    with model:
        step = None
        if s.sampler == "metropolis":
            # One Metropolis update per free variable in turn: a Metropolis-within-Gibbs scheme,
            # the kind of sampler PROC MCMC uses (it blocks parameters and random effects).
            step = [pm.Metropolis([v]) for v in model.free_RVs]
        trace = pm.sample(
            draws=s.draws, tune=s.tune, chains=s.chains, cores=1, random_seed=s.seed, step=step,
            nuts_sampler="pymc", progressbar=False, compute_convergence_checks=False,
            **({} if step else {"target_accept": s.target_accept}),
        )
    timings["compile_s"] = 0.0
    timings["sample_s"] = time.perf_counter() - t
    return trace


def fit(design: Design, settings: FitSettings, priors: Priors = SAS_PRIORS, cores: int | None = None) -> FitResult:
    """Build the model for ``design`` and sample it as ``settings`` say.

    Parameters
    ----------
    design : Design
    settings : FitSettings
    priors : Priors
        Default: the SAS program's.
    cores : int, optional
        Threads nutpie samples chains on (None: all); it does not change the draws.

    Returns
    -------
    FitResult
        ``trace`` holds ``posterior`` and ``sample_stats``; ``timings`` has ``build_s``,
        ``compile_s``, ``sample_s``, ``compile_cached`` (compiled earlier in this process) and, for
        nutpie, ``compile_source`` (``process``, or where :func:`~partclust.inference.compiled.compile_model`
        took the compiled model from: ``memory``, ``disk``, ``compiled``…).

    Raises
    ------
    DataError
        When the model cannot be fitted to these data under these priors
        (:func:`~partclust.models.checks.check_data`).
    """
    check_data(design, settings.model, priors)
    timings: dict[str, Any] = {}
    t = time.perf_counter()
    model = build_model(design, settings.model, settings.parameterization, priors)
    timings["build_s"] = time.perf_counter() - t
    if settings.sampler == "nutpie":
        key = (_design_key(design), settings.model, settings.parameterization, priors)
        trace = _sample_nutpie(model, settings, timings, key, cores)
    else:
        trace = _sample_pymc(model, settings, timings)
    return FitResult(settings=settings, trace=trace, timings=timings)


