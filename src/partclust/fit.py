"""Stage 3 — sample a model, summarize it, apply the convergence gate, and write the run record.

A run directory holds ``posterior.nc`` (the draws), ``summary.csv`` (one row per scalar, ``u[<label>]``
for the cluster effects) and ``run.json`` (settings, seed, sampler, versions, data SHA-256, timings,
divergences, convergence gate). The same seed and settings give an identical ``summary.csv``.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from partclust.data import Design
from partclust.paths import RESULTS
from partclust.model import SAS_PRIORS, Priors, build_model, scalar_names
from partclust.settings import SAMPLERS, FitError, FitSettings, package_versions  # noqa: F401  (re-exported)

QUANTILES: dict[str, float] = {"q2.5": 0.025, "median": 0.5, "q97.5": 0.975}
SUMMARY_COLUMNS: tuple[str, ...] = (
    "param", "mean", "sd", "mcse_mean", "mcse_sd", "ess_bulk", "ess_tail", "r_hat",
    "q2.5", "median", "q97.5", "mcse_q2.5", "mcse_median", "mcse_q97.5",
)
GATE = {"r_hat_max": 1.01, "ess_bulk_min": 400.0, "ess_tail_min": 400.0, "divergences_max": 0}


@dataclass
class FitResult:
    settings: FitSettings
    trace: Any  # xarray.DataTree with a posterior and sample_stats group
    timings: dict[str, Any] = field(default_factory=dict)  # seconds, and compile_cached

    @property
    def posterior(self) -> xr.Dataset:
        return self.trace["posterior"].to_dataset()

    @property
    def divergences(self) -> int:
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


def _sample_nutpie(model: pm.Model, s: FitSettings, timings: dict[str, float], key: tuple, cores: int | None):
    import nutpie

    t = time.perf_counter()
    compiled = _COMPILED.get(key)
    timings["compile_cached"] = compiled is not None
    if compiled is None:
        compiled = _COMPILED[key] = nutpie.compile_pymc_model(model)
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

    ``cores`` limits the threads nutpie samples chains on (None: all); it does not change the draws.
    """
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


def flat_params(posterior: xr.Dataset, residual: str) -> dict[str, xr.DataArray]:
    """The reported parameters as scalar draws arrays, named ``b0`` … and ``u[<label>]``."""
    out: dict[str, xr.DataArray] = {}
    for name in scalar_names(residual):
        out[name] = posterior[name]
    if "u" in posterior:
        for label in posterior["u"].coords["cluster"].values:
            out[f"u[{label}]"] = posterior["u"].sel(cluster=label, drop=True)
    return out


def summarize(posterior: xr.Dataset, residual: str) -> pd.DataFrame:
    """Posterior table with MCSEs (ArviZ, rank-normalized, over all chains)."""
    params = flat_params(posterior, residual)
    ds = xr.Dataset({k.replace("[", "__").replace("]", ""): v for k, v in params.items()})
    stats: dict[str, xr.Dataset] = {
        "mcse_mean": az.mcse(ds, method="mean"),
        "mcse_sd": az.mcse(ds, method="sd"),
        "ess_bulk": az.ess(ds, method="bulk"),
        "ess_tail": az.ess(ds, method="tail"),
        "r_hat": az.rhat(ds),
    }
    for col, p in QUANTILES.items():
        stats[f"mcse_{col}"] = az.mcse(ds, method="quantile", prob=p)
    rows = []
    for name, key in zip(params, ds.data_vars):
        draws = np.asarray(ds[key].transpose("chain", "draw")).ravel()
        row = {"param": name, "mean": draws.mean(), "sd": draws.std(ddof=1)}
        for col, p in QUANTILES.items():
            row[col] = float(np.quantile(draws, p))
        for col, st in stats.items():
            row[col] = float(st[key])
        rows.append(row)
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def convergence_gate(summary: pd.DataFrame, divergences: int) -> dict[str, Any]:
    """The study's convergence gate: R-hat ≤ 1.01, bulk and tail ESS ≥ 400, no divergences."""
    worst = {
        "r_hat_max": float(summary["r_hat"].max()),
        "ess_bulk_min": float(summary["ess_bulk"].min()),
        "ess_tail_min": float(summary["ess_tail"].min()),
        "divergences": int(divergences),
    }
    checks = {
        "r_hat": worst["r_hat_max"] <= GATE["r_hat_max"],
        "ess_bulk": worst["ess_bulk_min"] >= GATE["ess_bulk_min"],
        "ess_tail": worst["ess_tail_min"] >= GATE["ess_tail_min"],
        "divergences": worst["divergences"] <= GATE["divergences_max"],
    }
    failed = [k for k, ok in checks.items() if not ok]
    return {
        "passed": not failed,
        "checks": checks,
        "worst": worst,
        "thresholds": dict(GATE),
        "reason": "" if not failed else "failed: " + ", ".join(
            f"{k} ({_worst_text(k, worst)})" for k in failed
        ),
    }


def _worst_text(check: str, worst: dict[str, float]) -> str:
    key = {"r_hat": "r_hat_max", "ess_bulk": "ess_bulk_min", "ess_tail": "ess_tail_min"}.get(check, "divergences")
    return f"{key}={worst[key]:.4g}"


def write_run(
    out_dir: str | Path,
    result: FitResult,
    design: Design,
    summary: pd.DataFrame | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write posterior.nc, summary.csv and run.json into ``out_dir``; returns the run record."""
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
    posterior.to_netcdf(out / "posterior.nc", engine="h5netcdf")
    summary.to_csv(out / "summary.csv", index=False, float_format="%.10g")
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
    (out / "run.json").write_text(json.dumps(record, indent=2, default=_json_default))
    return record


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def default_run_dir(settings: FitSettings) -> Path:
    """Where an interactive fit writes when no ``output_dir`` is given."""
    name = f"{settings.model}-{settings.parameterization}-{settings.sampler}-seed-{settings.seed}"
    return RESULTS / "runs" / "interactive" / name


def read_run(run_dir: str | Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """Read a completed run directory (``run.json`` and ``summary.csv``)."""
    d = Path(run_dir)
    missing = [f for f in ("run.json", "summary.csv") if not (d / f).is_file()]
    if missing:
        raise FitError(f"{d} is not a completed run: {', '.join(missing)} missing. Rerun the fit.")
    return json.loads((d / "run.json").read_text()), pd.read_csv(d / "summary.csv")
