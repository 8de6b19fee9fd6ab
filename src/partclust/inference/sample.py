"""Sampling: build the model, sample it with nutpie, PyMC's NUTS or Metropolis-within-Gibbs.

Compiled nutpie models are cached on disk per model structure (:mod:`partclust.inference.compiled`),
so a new process loads what any process compiled before, and per process, so a process that fits the
same model for many seeds (a study worker's kernel) does not even reload it; the draws do not depend
on either cache.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pymc as pm
import xarray as xr

from partclust.inference.settings import FitSettings
from partclust.models.checks import check_data
from partclust.models.priors import SAS_PRIORS, Priors
from partclust.models.pymc import build_model
from partclust.models.model_data import ModelData, builtin_data, model_data_of

__all__ = ["FitResult", "fit", "fit_outcome", "fit_translated", "sample_model", "COMPILE_SOURCES", "compile_phrase"]

COMPILE_SOURCES = {"disk": "loaded from the compile cache", "memory": "already loaded", "process": "already loaded",
                   "compiled": "compiled (and cached for later fits)", "compiled-here": "compiled (and cached)",
                   "compiled-unpublished": "compiled (not cached)", "uncached": "compiled by nutpie (not cached)"}
"""How a printout or page names :func:`~partclust.inference.compiled.compile_model`'s ``source``."""


def compile_phrase(timings: dict) -> str:
    """Say where a fit's compiled model came from and how long that took.

    E.g. "model loaded from the compile cache in 0.8 s"; a study's first run of a kernel waits for the driver's
    build of the entry, and that wait is in the seconds.
    """
    source = str(timings.get("compile_source") or "")
    return f"model {COMPILE_SOURCES.get(source, source or 'compiled')} in {float(timings.get('compile_s', 0)):.1f} s"


@dataclass
class FitResult:
    """What :func:`fit` returns: the settings, the ArviZ ``DataTree`` and the timings (seconds).

    ``trace`` has the groups ``posterior``, ``sample_stats``, ``observed_data``, ``constant_data`` and
    (unless the fit was asked not to compute it) ``log_likelihood``: one value per draw and
    observation, dims (chain, draw, obs), what PSIS-LOO needs.
    """

    settings: FitSettings
    trace: Any  # xarray.DataTree
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


def _design_key(data: Any) -> str:
    h = hashlib.sha256()
    if isinstance(data, ModelData):
        arrays = [data.y, data.X, data.group, data.sas_group, data.resid] + ([data.z] if data.z is not None else [])
        labels = data.sas_groups + ("\x01",) + data.rows
        h.update(json.dumps(data.spec.record(), sort_keys=True).encode())
    else:
        arrays = [data.y, data.treat, data.cluster_of_row, data.sas_cluster_of_row]
        labels = data.sas_clusters
    for arr in arrays:
        h.update(np.ascontiguousarray(arr).tobytes())
    h.update("\x00".join(labels).encode())
    return h.hexdigest()


def _sample_nutpie(model: pm.Model, s: FitSettings, timings: dict[str, Any], key: tuple | None,
                   cores: int | None):
    from pymc.backends.arviz import patch_nutpie_idata

    from partclust.inference.compiled import compile_model
    from partclust.inference.imports import import_nutpie

    nutpie = import_nutpie()

    t = time.perf_counter()
    compiled = _COMPILED.get(key) if key is not None else None
    timings["compile_cached"] = compiled is not None
    if compiled is None:
        compiled, record = compile_model(model)
        if key is not None:
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
    # nutpie returns posterior and sample_stats only; PyMC's own helper adds the observed and
    # constant data of the model, as pm.sample(nuts_sampler="nutpie") does.
    patch_nutpie_idata(trace, model, sampling_time=timings["sample_s"])
    return trace


def _sample_pymc(model: pm.Model, s: FitSettings, timings: dict[str, float], blocks: list[list[str]] | None = None):
    t = time.perf_counter()
    with model:
        step = None
        if s.sampler == "metropolis":
            # One Metropolis update per free variable in turn: a Metropolis-within-Gibbs scheme,
            # the kind of sampler PROC MCMC uses (it blocks parameters and random effects). A
            # translated program's PARMS statements are its blocks, as in PROC MCMC.
            groups = blocks or [[v.name] for v in model.free_RVs]
            step = [pm.Metropolis([model[name] for name in group]) for group in groups]
        trace = pm.sample(
            draws=s.draws, tune=s.tune, chains=s.chains, cores=1, random_seed=s.seed, step=step,
            nuts_sampler="pymc", progressbar=False, compute_convergence_checks=False,
            **({} if step else {"target_accept": s.target_accept}),
        )
    timings["compile_s"] = 0.0
    timings["sample_s"] = time.perf_counter() - t
    return trace


def _add_log_likelihood(trace: Any, model: pm.Model, timings: dict[str, Any],
                        built_from: tuple[ModelData, str] | None = None) -> None:
    """Add the pointwise log-likelihood group ``log_likelihood`` (variable ``y``, dims chain, draw, obs).

    For a model :func:`build_model` wrote (``built_from``: its data and parameterization) the values come from
    :func:`~partclust.models.loglik.pointwise_log_likelihood`, in milliseconds; for any other model (a translated
    program) PyMC evaluates the model's own likelihood draw by draw.
    """
    t = time.perf_counter()
    if built_from is None:
        pm.compute_log_likelihood(trace, model=model, extend_inferencedata=True, progressbar=False)
    else:
        from arviz_base import dict_to_dataset

        from partclust.models.loglik import pointwise_log_likelihood

        md, parameterization = built_from
        posterior = trace["posterior"]
        values = pointwise_log_likelihood(md, parameterization, {name: posterior[name].values for name in
                                                                 posterior.data_vars})
        coords = {"chain": posterior["chain"].values, "draw": posterior["draw"].values,
                  "obs": list(model.coords["obs"])}
        # PyMC's own attributes, given rather than looked up: arviz_base would scan the installed packages'
        # metadata for PyMC's version (0.1-0.3 s in every run here)
        trace["log_likelihood"] = dict_to_dataset({"y": values}, coords=coords, dims={"y": ["obs"]}, attrs={
            "inference_library": "pymc", "inference_library_version": pm.__version__})
    timings["log_likelihood_s"] = time.perf_counter() - t


def fit(data: Any, settings: FitSettings, priors: Priors = SAS_PRIORS, cores: int | None = None,
        log_likelihood: bool = True) -> FitResult:
    """Build the model for ``data`` and sample it as ``settings`` say.

    Parameters
    ----------
    data : ModelData or Design or Translation
        Data read through a specification, or a run1 design (then ``settings.model`` chooses the built-in
        model and ``priors`` its priors, unless ``settings.spec`` records other priors), or, with
        ``settings.sas_program``, a translated PROC MCMC program (:func:`fit_translated`).
    settings : FitSettings
    priors : Priors
        For a Design only. Default: the SAS program's.
    cores : int, optional
        Threads nutpie samples chains on (None: all); it does not change the draws.
    log_likelihood : bool
        Compute the pointwise log-likelihood of every draw (dims chain, draw, obs) so that PSIS-LOO
        never refits (about half a second for 4 × 2,000 draws); studies that only read σ²_u's draws
        turn it off.

    Returns
    -------
    FitResult
        ``trace`` holds ``posterior``, ``sample_stats``, ``observed_data`` (and ``constant_data`` when the
        model has data containers) and, unless ``log_likelihood`` is False, ``log_likelihood``; ``timings``
        has ``build_s``, ``compile_s``, ``sample_s``, ``log_likelihood_s``, ``compile_cached`` (compiled
        earlier in this process) and, for nutpie, ``compile_source`` (``process``, or where
        :func:`~partclust.inference.compiled.compile_model` took the compiled model from: ``memory``,
        ``disk``, ``compiled``…).

    Raises
    ------
    DataError
        When a run1 design cannot be fitted by the built-in model under these priors
        (:func:`~partclust.models.checks.check_data`; data read through a specification were checked
        when they were read).
    """
    if settings.sas_program:
        return fit_translated(data.model(settings.parameterization), settings, cores, log_likelihood)
    t = time.perf_counter()
    model, md, key = model_for(data, settings, priors)
    return sample_model(model, settings, key, cores, timings={"build_s": time.perf_counter() - t},
                        log_likelihood=log_likelihood, built_from=(md, settings.parameterization))


def model_for(data: Any, settings: FitSettings, priors: Priors = SAS_PRIORS) -> tuple[pm.Model, ModelData, tuple]:
    """Return the PyMC model :func:`fit` samples for ``data`` and ``settings`` (not a program's), its data and key.

    Returns
    -------
    (pymc.Model, ModelData, tuple)
        The model, the data it was built from, and the key of this process's compiled-model memo.

    Raises
    ------
    DataError
        When a run1 design cannot be fitted by the built-in model under these priors.
    """
    if not isinstance(data, ModelData):
        check_data(data, settings.model, None if settings.spec else priors)
    if not isinstance(data, ModelData) and settings.spec:
        from partclust.translate.specs import spec_from_record

        data = builtin_data(data, spec=spec_from_record(settings.spec))
    if isinstance(data, ModelData):
        md, key = data, (_design_key(data), settings.parameterization)
    else:
        md, key = model_data_of(data, settings.model, priors), (_design_key(data), settings.model,
                                                                 settings.parameterization, priors)
    return build_model(md, parameterization=settings.parameterization), md, key


def _structure_key(md: ModelData) -> str:
    """Hash of everything a compiled model depends on except the outcome (the swappable data)."""
    h = hashlib.sha256(json.dumps(md.spec.record(), sort_keys=True).encode())
    for arr in [md.X, md.group, md.sas_group, md.resid] + ([md.z] if md.z is not None else []):
        h.update(np.ascontiguousarray(arr).tobytes())
    h.update("\x00".join(md.sas_groups + ("\x01",) + md.rows).encode())
    return h.hexdigest()


def fit_outcome(data: ModelData, settings: FitSettings, cores: int | None = 1) -> FitResult:
    """Fit ``data`` with nutpie, compiling once per process and model structure and swapping the outcome in.

    The model is built with its outcome in a ``pm.Data`` (``swappable_outcome``); the compiled model of
    a structure (specification, design, parameterization) is cached per process and each further outcome is
    set with nutpie's ``with_data``, which gives exactly the draws a fresh compile of that outcome gives
    (tested) at a fraction of a millisecond instead of a compile (≈ 10–15 s). For simulation studies:
    many outcomes of one design.

    Parameters
    ----------
    data : ModelData
    settings : FitSettings
        Sampler must be ``nutpie``.
    cores : int, optional
        Threads nutpie samples chains on (default 1: one per Dask worker).

    Returns
    -------
    FitResult
        ``timings`` has ``build_s``, ``compile_s``, ``sample_s``, ``compile_cached`` and ``swap_s``.

    Raises
    ------
    FitError
        For another sampler than nutpie.
    """
    from partclust.errors import FitError
    from partclust.inference.imports import import_nutpie

    nutpie = import_nutpie()
    if settings.sampler != "nutpie":
        raise FitError(f"swapping the outcome into a compiled model needs the nutpie sampler, not {settings.sampler}")
    key = ("swappable", _structure_key(data), settings.parameterization)
    timings: dict[str, Any] = {"build_s": 0.0, "compile_s": 0.0}
    compiled = _COMPILED.get(key)
    timings["compile_cached"] = compiled is not None
    if compiled is None:
        t = time.perf_counter()
        model = build_model(data, parameterization=settings.parameterization, swappable_outcome=True)
        timings["build_s"] = time.perf_counter() - t
        t = time.perf_counter()
        compiled = _COMPILED[key] = nutpie.compile_pymc_model(model)
        timings["compile_s"] = time.perf_counter() - t
    t = time.perf_counter()
    compiled = compiled.with_data(y_observed=np.asarray(data.y, dtype=float))
    timings["swap_s"] = time.perf_counter() - t
    t = time.perf_counter()
    trace = nutpie.sample(compiled, draws=settings.draws, tune=settings.tune, chains=settings.chains,
                          seed=settings.seed, cores=cores, progress_bar=False, save_warmup=False,
                          target_accept=settings.target_accept)
    timings["sample_s"] = time.perf_counter() - t
    return FitResult(settings=settings, trace=trace, timings=timings)


def sample_model(model: pm.Model, settings: FitSettings, key: tuple | None = None, cores: int | None = None,
                 blocks: list[list[str]] | None = None, timings: dict[str, Any] | None = None,
                 log_likelihood: bool = True, built_from: tuple[ModelData, str] | None = None) -> FitResult:
    """Sample a PyMC model as ``settings`` say (the draws, tune, chains, seed and sampler; not the model).

    Parameters
    ----------
    model : pymc.Model
    settings : FitSettings
    key : tuple, optional
        Everything the compiled model depends on; with it, nutpie's compiled model is cached per process.
    cores : int, optional
        Threads nutpie samples chains on.
    blocks : list of list of str, optional
        Variables Metropolis updates together (default: one at a time).
    timings : dict, optional
        Timings measured so far (e.g. ``build_s``), kept in the result.
    log_likelihood : bool
        Add the pointwise log-likelihood group (PSIS-LOO without refitting).
    built_from : (ModelData, str), optional
        The data and parameterization :func:`build_model` wrote ``model`` from; then the log-likelihood is
        computed from them directly (:func:`~partclust.models.loglik.pointwise_log_likelihood`).

    Returns
    -------
    FitResult
    """
    timings = dict(timings or {})
    if settings.sampler == "nutpie":
        trace = _sample_nutpie(model, settings, timings, key, cores)
    else:
        trace = _sample_pymc(model, settings, timings, blocks)
    if log_likelihood:
        _add_log_likelihood(trace, model, timings, built_from)
    return FitResult(settings=settings, trace=trace, timings=timings)


def fit_translated(translated: Any, settings: FitSettings, cores: int | None = None,
                   log_likelihood: bool = True) -> FitResult:
    """Sample a translated PROC MCMC program (:class:`~partclust.translate.model.TranslatedModel`).

    The Metropolis sampler updates each PARMS block jointly and each random effect's vector as one block,
    as PROC MCMC blocks them; NUTS updates everything jointly.

    Parameters
    ----------
    translated : TranslatedModel
        Built with ``settings.parameterization``.
    settings : FitSettings
    cores : int, optional
    log_likelihood : bool
        Add the pointwise log-likelihood of the MODEL statement's column.

    Returns
    -------
    FitResult

    Raises
    ------
    FitError
        When the model was built with another parameterization than ``settings`` asks for.
    """
    from partclust.errors import FitError

    if translated.parameterization != settings.parameterization:
        raise FitError(f"the translated model is {translated.parameterization}, the settings ask for "
                       f"{settings.parameterization}")
    program, data = translated.program, translated.bound.data
    blocks = [list(b.names) for b in program.blocks]
    free = {v.name for v in translated.model.free_RVs}
    blocks += [[v.name] for v in translated.model.free_RVs if not any(v.name in b for b in blocks)]
    blocks = [[n for n in b if n in free] for b in blocks]
    key = ("translated", settings.program_sha256 or program.path, program.step, data.sha256 or id(data),
           settings.parameterization)
    return sample_model(translated.model, settings, key, cores, blocks=[b for b in blocks if b],
                        log_likelihood=log_likelihood)
