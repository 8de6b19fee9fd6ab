"""Why σ²_u differed between SAS PROC MCMC and PyMC: the three candidate explanations, measured.

(a) **Skewness.** With 10 clusters the posterior of σ²_u is right-skewed, so its mean, median and mode
    (and the REML estimate) are far apart, and SAS and PyMC print different summaries by default.
    :func:`skew_table` puts them side by side with where each program reports them.
(b) **Mixing.** PROC MCMC creates one effect per value of ``j`` (110, 100 of them touched by no data)
    and updates σ²_u conditional on all of them. :func:`mixing_study` fits the 10-effect and the
    110-effect parameterizations under NUTS and under Metropolis-within-Gibbs for several seeds;
    :func:`mixing_summary` turns the runs into ESS per 1,000 draws, the across-seed spread of the
    posterior mean, and the draws needed for a target MCSE.
(c) **Prior translation traps.** :func:`prior_trap_study` fits the plausible mistranslations of the
    SAS priors; :func:`trap_summary` says which move σ²_u by more than Monte Carlo error, and
    :func:`s2u_posterior` gives each trap's σ²_u posterior by quadrature (no Monte Carlo error).
(d) :func:`conclusions` states which explanations survive, from the numbers alone.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import integrate, interpolate, optimize, special, stats

from partclust.aggregate import ratio_interval
from partclust.compare import z_critical
from partclust.data import Design
from partclust.fit import FitSettings, convergence_gate, fit, summarize
from partclust.model import SAS_PRIORS, Priors, residual_names

TARGET_MCSE = 0.005
SAMPLER_LABELS = {"nutpie": "NUTS (nutpie)", "pymc": "NUTS (PyMC)", "metropolis": "Metropolis-within-Gibbs"}

# Where each summary of σ²_u appears by default in the two programs' output (and in PROC MIXED).
REPORTED_BY: dict[str, tuple[str, str]] = {
    "posterior mean": (
        "PostSumInt `Mean` (the default table); PostSummaries `Mean`",
        "`az.summary` `mean` (default); PyMC 2 `stats()['mean']` (the 2011 print)",
    ),
    "posterior median": (
        "PostSummaries `P50` (only with STATISTICS=SUMMARY or ALL)",
        "not in `az.summary`'s default table; PyMC 2 `stats()['quantiles'][50]`",
    ),
    "posterior mode": (
        "not reported",
        "not reported (`pm.find_MAP` is the joint mode of all parameters, a different number)",
    ),
    "REML estimate": (
        "PROC MIXED `Covariance Parameter Estimates` (not PROC MCMC)",
        "not PyMC (lme4, nlme, statsmodels MixedLM)",
    ),
    "95 % equal-tail interval": (
        "PostIntervals `Equal-Tail Interval` (STATISTICS=INTERVAL or ALL)",
        "`az.summary` eti (ArviZ ≥ 1.0; its default level is 89 %)",
    ),
    "95 % HPD interval": (
        "PostSumInt `HPD Interval` (the default table); PostIntervals",
        "`az.hdi` (ArviZ < 1.0's `az.summary` default, at 94 %); PyMC 2 `95% HPD interval`",
    ),
}
SKEW_COLUMNS: tuple[str, ...] = ("statistic", "value", "lower", "upper", "minus_mean", "sas", "pymc")


def as_list(value: Any, kind: type = int) -> list:
    """A notebook list parameter as a list of ``kind``: a list, one value, or text such as
    ``"[1, 2]"``, ``"1,2"`` or ``"centered sas_singletons"`` (what ``papermill -p`` passes)."""
    if isinstance(value, str):
        items = [v.strip().strip("'\"") for v in value.strip().strip("[]()").replace(",", " ").split()]
        return [kind(v) for v in items if v]
    if isinstance(value, (list, tuple)):
        return [kind(v) for v in value]
    return [kind(value)]


# ---------------------------------------------------------------------------------------------
# Arithmetic of Monte Carlo error
# ---------------------------------------------------------------------------------------------
def draws_needed(draws: float, mcse: float, target: float = TARGET_MCSE) -> float:
    """Draws for MCSE ≤ ``target``, extrapolated from a run of ``draws`` draws with ``mcse``.

    MCSE falls as 1/√draws once a chain is past its transient, so draws·(mcse/target)².
    """
    if not (draws > 0 and target > 0) or not np.isfinite(mcse):
        return math.nan
    return float(draws) * (float(mcse) / float(target)) ** 2


def draws_needed_from_ess(posterior_sd: float, ess_per_draw: float, target: float = TARGET_MCSE) -> float:
    """Draws for MCSE ≤ ``target`` via ESS: (sd/target)² effective draws at ``ess_per_draw`` each."""
    if not (ess_per_draw > 0 and target > 0) or not np.isfinite(posterior_sd):
        return math.nan
    return (float(posterior_sd) / float(target)) ** 2 / float(ess_per_draw)


def gibbs_autocorrelation(n_effects: int, var_log_s2u: float) -> float:
    """Lag-1 autocorrelation of log σ²_u under an ideal two-block Gibbs sampler (σ²_u | u, u | σ²_u).

    For a two-block Gibbs sampler the lag-1 autocorrelation is the fraction of missing information,
    1 − E[Var(θ | u)] / Var(θ). Given m effects, log σ²_u has conditional variance ≈ 2/m (a scaled
    χ²_m), while its posterior variance is ``var_log_s2u``: so ρ ≈ 1 − 2/(m·var_log_s2u). A
    back-of-envelope bound (Gaussian on the log scale, prior ignored): real Metropolis steps only
    mix slower.
    """
    if n_effects < 1 or not var_log_s2u > 0:
        return math.nan
    return max(0.0, 1.0 - 2.0 / (n_effects * var_log_s2u))


def ess_per_draw_ar1(rho: float) -> float:
    """Effective draws per draw of an AR(1) chain with lag-1 autocorrelation ``rho``: (1−ρ)/(1+ρ)."""
    if not -1.0 < rho < 1.0:
        return math.nan
    return (1.0 - rho) / (1.0 + rho)


# ---------------------------------------------------------------------------------------------
# (a) Skewness: mean, median, mode, REML and intervals
# ---------------------------------------------------------------------------------------------
def hpd_interval(density: Any, upper: float, mass: float = 0.95, lower: float = 0.0,
                 nodes: int = 20001) -> tuple[float, float]:
    """Highest-density interval of a unimodal density on [lower, upper] (``upper`` past the tail).

    The density is evaluated on a fine grid; the CDF is its cumulative trapezoid integral. For a
    level c the interval ends are where the density crosses c (linear interpolation between nodes,
    or ``lower`` when the density there is still above c); c is solved so the interval holds ``mass``.
    """
    if not 0 < mass < 1 or not upper > lower:
        raise ValueError(f"need 0 < mass < 1 and upper > lower; got mass={mass}, [{lower}, {upper}]")
    xs = np.linspace(lower, upper, nodes)
    d = np.asarray(density(xs), dtype=float)
    cdf = integrate.cumulative_trapezoid(d, xs, initial=0.0)
    total = cdf[-1]
    if not total > 0:
        raise ValueError("the density integrates to zero on the grid")
    cdf = cdf / total
    d = d / total
    k = int(np.argmax(d))

    def ends(c: float) -> tuple[float, float]:
        left = np.flatnonzero(d[: k + 1] < c)
        if left.size:
            i = left[-1]
            lo = xs[i] + (c - d[i]) / (d[i + 1] - d[i]) * (xs[i + 1] - xs[i])
        else:
            lo = xs[0]
        right = np.flatnonzero(d[k:] < c)
        if right.size:
            i = k + right[0]
            hi = xs[i - 1] + (d[i - 1] - c) / (d[i - 1] - d[i]) * (xs[i] - xs[i - 1])
        else:
            hi = xs[-1]
        return float(lo), float(hi)

    def held(c: float) -> float:
        lo, hi = ends(c)
        return float(np.interp(hi, xs, cdf) - np.interp(lo, xs, cdf)) - mass

    c = optimize.brentq(held, 1e-12 * d[k], d[k] * (1 - 1e-12), xtol=1e-14 * d[k], rtol=1e-12)
    return ends(c)


def skew_table(exact: Any, reml_s2u: float, mass: float = 0.95) -> pd.DataFrame:
    """σ²_u's exact posterior mean, median, mode, the REML estimate, and the equal-tail and HPD
    intervals, each with where SAS and PyMC report it (columns :data:`SKEW_COLUMNS`).

    ``exact`` is an :class:`partclust.exact.ExactPosterior` (anything with ``table``, ``s2u_mode``
    and ``s2u_density``); ``minus_mean`` is each point summary minus the posterior mean.
    """
    row = exact.table.set_index("param").loc["s2u"]
    mean = float(row["mean"])
    lo_eti, hi_eti = float(row["q2.5"]), float(row["q97.5"])
    upper = hi_eti + 12.0 * float(row["sd"])
    lo_hpd, hi_hpd = hpd_interval(exact.s2u_density, upper, mass=mass)
    pct = f"{mass:.0%}".replace("%", " %")
    points = [("posterior mean", mean), ("posterior median", float(row["median"])),
              ("posterior mode", float(exact.s2u_mode)), ("REML estimate", float(reml_s2u))]
    rows = [{"statistic": name, "value": v, "lower": math.nan, "upper": math.nan, "minus_mean": v - mean}
            for name, v in points]
    rows += [{"statistic": f"{pct} equal-tail interval", "value": math.nan, "lower": lo_eti, "upper": hi_eti,
              "minus_mean": math.nan},
             {"statistic": f"{pct} HPD interval", "value": math.nan, "lower": lo_hpd, "upper": hi_hpd,
              "minus_mean": math.nan}]
    for r in rows:
        sas, pymc = REPORTED_BY.get(r["statistic"].replace(pct, "95 %"), ("", ""))
        r["sas"], r["pymc"] = sas, pymc
    return pd.DataFrame(rows, columns=list(SKEW_COLUMNS))


# ---------------------------------------------------------------------------------------------
# (b) Mixing: parameterization × sampler × seed
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MixingConfig:
    """One sampler on one parameterization, with its sizes (``draws`` per chain after ``tune``)."""

    sampler: str
    parameterization: str
    draws: int
    tune: int
    chains: int

    @property
    def label(self) -> str:
        return f"{SAMPLER_LABELS.get(self.sampler, self.sampler)} · {self.parameterization}"


def mixing_configs(
    nuts_parameterizations: Sequence[str],
    nuts_sizes: tuple[int, int, int],
    metropolis_parameterizations: Sequence[str],
    metropolis_sizes: tuple[int, int, int],
) -> list[MixingConfig]:
    """NUTS (nutpie) and Metropolis configurations; sizes are (draws per chain, tune, chains)."""
    out = []
    for sampler, params, sizes in (("nutpie", nuts_parameterizations, nuts_sizes),
                                   ("metropolis", metropolis_parameterizations, metropolis_sizes)):
        draws, tune, chains = (int(v) for v in sizes)
        out += [MixingConfig(sampler, p, draws, tune, chains) for p in params]
    return out


def n_effects(design: Design, parameterization: str) -> int:
    """Cluster effects a parameterization samples: 10 treated clusters, or one per value of j."""
    return len(design.sas_clusters) if parameterization == "sas_singletons" else design.n_clusters


@contextlib.contextmanager
def _quiet(names: Sequence[str] = ("pymc", "pymc.sampling", "pymc.stats")) -> Iterator[None]:
    """Silence the samplers' progress logging for the duration of a study (restored afterwards)."""
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        yield
    finally:
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)


RUN_COLUMNS: tuple[str, ...] = (
    "config", "sampler", "parameterization", "n_effects", "seed", "chains", "draws", "tune", "total_draws",
    "mean", "sd", "mcse_mean", "ess_bulk", "ess_tail", "r_hat", "divergences", "gate_passed", "gate_reason",
    "compile_s", "sample_s", "wall_s",
)


@dataclass
class MixingStudy:
    """The per-run table and, per configuration, the σ²_u draws of its first seed's first chain."""

    runs: pd.DataFrame
    traces: dict[str, np.ndarray] = field(default_factory=dict)


def _run_row(design: Design, settings: FitSettings, priors: Priors, cores: int | None,
             label: str) -> tuple[dict[str, Any], Any]:
    t = time.perf_counter()
    result = fit(design, settings, priors=priors, cores=cores)
    summary = summarize(result.posterior, settings.model)
    wall = time.perf_counter() - t
    gate = convergence_gate(summary, result.divergences)
    s = summary.set_index("param").loc["s2u"]
    row = {
        "config": label, "sampler": settings.sampler, "parameterization": settings.parameterization,
        "n_effects": n_effects(design, settings.parameterization), "seed": settings.seed,
        "chains": settings.chains, "draws": settings.draws, "tune": settings.tune,
        "total_draws": settings.draws * settings.chains,
        **{k: float(s[k]) for k in ("mean", "sd", "mcse_mean", "ess_bulk", "ess_tail", "r_hat")},
        "divergences": result.divergences, "gate_passed": gate["passed"], "gate_reason": gate["reason"],
        "compile_s": float(result.timings.get("compile_s", 0.0)),
        "sample_s": float(result.timings.get("sample_s", math.nan)), "wall_s": wall,
    }
    return row, result


def mixing_study(
    design: Design,
    configs: Sequence[MixingConfig],
    seeds: Sequence[int],
    residual: str = "single",
    priors: Priors = SAS_PRIORS,
    cores: int | None = None,
    target_accept: float = 0.9,
) -> MixingStudy:
    """Fit every configuration with every seed; one row per run (columns :data:`RUN_COLUMNS`).

    No run is dropped for failing the convergence gate: slow mixing is what is being measured, so
    the gate's verdict is a column instead.
    """
    if not seeds:
        raise ValueError("mixing_study needs at least one seed")
    rows, traces = [], {}
    with _quiet():
        for cfg in configs:
            for k, seed in enumerate(seeds):
                settings = FitSettings(
                    model=residual, parameterization=cfg.parameterization, seed=int(seed), draws=int(cfg.draws),
                    tune=int(cfg.tune), chains=int(cfg.chains), sampler=cfg.sampler, target_accept=target_accept,
                )
                row, result = _run_row(design, settings, priors, cores, cfg.label)
                rows.append(row)
                if k == 0:
                    traces[cfg.label] = np.asarray(result.posterior["s2u"].isel(chain=0)).copy()
    return MixingStudy(pd.DataFrame(rows, columns=list(RUN_COLUMNS)), traces)


MIXING_COLUMNS: tuple[str, ...] = (
    "config", "sampler", "parameterization", "n_effects", "seeds", "chains", "draws", "total_draws",
    "mean_of_means", "ess_per_1000", "sd_of_means", "sd_lo", "sd_hi", "rms_mcse", "spread_to_mcse",
    "rmse_vs_exact", "draws_needed_mcse", "draws_needed_ess", "draws_needed_spread", "gate_passed",
    "divergences", "sample_s_per_run", "wall_s_per_run", "wall_s_total",
)


def mixing_summary(runs: pd.DataFrame, target: float = TARGET_MCSE, exact_mean: float | None = None) -> pd.DataFrame:
    """One row per configuration (columns :data:`MIXING_COLUMNS`).

    ``ess_per_1000``: mean over seeds of bulk ESS per 1,000 draws (all chains). ``sd_of_means``: SD of
    the seeds' posterior means, with a 95 % interval (χ²); ``rms_mcse``: root-mean-square of their
    reported MCSEs; ``spread_to_mcse``: the two's ratio (1 if the MCSE is honest). ``rmse_vs_exact``:
    root-mean-square error of the seeds' means against the exact mean. Draws needed for MCSE ≤
    ``target``: from the reported MCSE, from the ESS (posterior SD²/target² effective draws), and
    from the observed spread. Times are per run and include each sampler's fixed set-up (PyMC's
    Metropolis compiles its step functions in every run, a few seconds), so they do not extrapolate
    linearly in the draws.
    """
    rows = []
    for label, g in runs.groupby("config", sort=False):
        n = len(g)
        total = float(g["total_draws"].iloc[0])
        sd = float(g["mean"].std(ddof=1)) if n > 1 else math.nan
        lo, hi = ratio_interval(sd, n)
        rms = float(np.sqrt(np.mean(g["mcse_mean"] ** 2)))
        ess_draw = float(np.mean(g["ess_bulk"] / g["total_draws"]))
        post_sd = float(np.sqrt(np.mean(g["sd"] ** 2)))
        rmse = (float(np.sqrt(np.mean((g["mean"] - exact_mean) ** 2))) if exact_mean is not None else math.nan)
        needed = {
            "draws_needed_mcse": draws_needed(total, rms, target),
            "draws_needed_ess": draws_needed_from_ess(post_sd, ess_draw, target),
            "draws_needed_spread": draws_needed(total, sd, target),
        }
        rows.append({
            "config": label, "sampler": g["sampler"].iloc[0], "parameterization": g["parameterization"].iloc[0],
            "n_effects": int(g["n_effects"].iloc[0]), "seeds": n, "chains": int(g["chains"].iloc[0]),
            "draws": int(g["draws"].iloc[0]), "total_draws": int(total), "mean_of_means": float(g["mean"].mean()),
            "ess_per_1000": 1000.0 * ess_draw, "sd_of_means": sd, "sd_lo": lo, "sd_hi": hi, "rms_mcse": rms,
            "spread_to_mcse": sd / rms if rms > 0 else math.nan, "rmse_vs_exact": rmse, **needed,
            "gate_passed": f"{int(g['gate_passed'].sum())}/{n}", "divergences": int(g["divergences"].sum()),
            "sample_s_per_run": float(g["sample_s"].mean()), "wall_s_per_run": float(g["wall_s"].mean()),
            "wall_s_total": float(g["wall_s"].sum()),
        })
    return pd.DataFrame(rows, columns=list(MIXING_COLUMNS))


# ---------------------------------------------------------------------------------------------
# (c) Prior translation traps
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PriorTrap:
    """A plausible translation of the SAS priors: what SAS said, what the translation gives."""

    name: str
    sas: str
    pymc: str
    priors: Priors


def scale_rate_swapped(priors: Priors) -> Priors:
    """The σ²_u prior with SAS ``scale=`` read as PyMC's rate (or ``iscale=`` as a scale): β → 1/β."""
    return replace(priors, s2u_beta=1.0 / priors.s2u_beta)


def default_traps(correct: Priors = SAS_PRIORS) -> list[PriorTrap]:
    """The translation traps of STUDY.md, correct translation first.

    The scale/rate swap is included only when it changes the prior: Gamma(shape 1, rate 1) and
    Gamma(shape 1, scale 1) are the same distribution.
    """
    a, b = correct.s2u_alpha, correct.s2u_beta
    var = correct.b_sd**2
    traps = [
        PriorTrap("correct", f"s2u ~ gamma(shape={a:g}, iscale={b:g}); b ~ normal(0, var={var:g})",
                  f"pm.Gamma('s2u', alpha={a:g}, beta={b:g}); pm.Normal(sigma={correct.b_sd:g})", correct),
    ]
    swapped = scale_rate_swapped(correct)
    if swapped != correct:
        traps.append(PriorTrap("gamma scale read as rate", f"s2u ~ gamma(shape={a:g}, scale={1 / b:g})",
                               f"pm.Gamma('s2u', alpha={a:g}, beta={1 / b:g})", swapped))
    traps += [
        PriorTrap("gamma on the SD", f"s2u ~ gamma(shape={a:g}, iscale={b:g}) on the variance",
                  f"sd_u = pm.Gamma(alpha={a:g}, beta={b:g}); s2u = sd_u**2",
                  replace(correct, s2u_prior="gamma_on_sd")),
        PriorTrap("gamma on the precision", f"s2u ~ gamma(shape={a:g}, iscale={b:g}) on the variance",
                  f"tau_u = pm.Gamma(alpha={a:g}, beta={b:g}); s2u = 1/tau_u (PyMC 2 habit)",
                  replace(correct, s2u_prior="gamma_on_precision")),
        PriorTrap("inverse-gamma on the variance", f"s2u ~ igamma(shape={a:g}, scale={b:g})",
                  f"pm.InverseGamma('s2u', alpha={a:g}, beta={b:g})", replace(correct, s2u_prior="inverse_gamma")),
        PriorTrap("b: variance read as SD", f"b ~ normal(0, var={var:g})",
                  f"pm.Normal(sigma={var:g})", replace(correct, b_sd=var)),
        PriorTrap("b: variance read as precision", f"b ~ normal(0, var={var:g})",
                  f"PyMC 2 Normal(tau={var:g}), i.e. sigma={1 / math.sqrt(var):g}",
                  replace(correct, b_sd=1.0 / math.sqrt(var))),
    ]
    return traps


def log_prior_s2u(priors: Priors, s2u: Any) -> np.ndarray:
    """log density of σ²_u's prior on the variance scale, with the Jacobian where the prior is on
    another scale. Written from scipy's distributions, independently of the PyMC models."""
    x = np.asarray(s2u, dtype=float)
    a, b = priors.s2u_alpha, priors.s2u_beta
    gamma = stats.gamma(a, scale=1.0 / b)
    with np.errstate(divide="ignore", invalid="ignore"):
        if priors.s2u_prior == "gamma":
            return gamma.logpdf(x)
        if priors.s2u_prior == "inverse_gamma":
            return stats.invgamma(a, scale=b).logpdf(x)
        if priors.s2u_prior == "gamma_on_sd":
            sd = np.sqrt(x)
            return gamma.logpdf(sd) - np.log(2.0 * sd)
        if priors.s2u_prior == "gamma_on_precision":
            return gamma.logpdf(1.0 / x) - 2.0 * np.log(x)
    raise ValueError(f"unknown s2u_prior {priors.s2u_prior!r}")


def _residual_axis(center: float, upper: float, half_width: float, step: float) -> np.ndarray:
    t = np.arange(center - half_width, center + half_width + step / 2, step)
    return t[t < math.log(upper)]


def s2u_posterior(
    design: Design,
    residual: str = "single",
    priors: Priors = SAS_PRIORS,
    step: float = 0.1,
    residual_step: float = 0.04,
    tail_nats: float = 40.0,
) -> dict[str, float]:
    """Mean, SD, median and Var(log σ²_u) of σ²_u's posterior under ``priors``, by quadrature.

    b and u are integrated out in closed form (:func:`partclust.exact.log_density_variances`, with
    the Gamma prior it implements divided out and ``priors``' σ²_u prior multiplied in); the
    variances are integrated by the trapezoid rule on a uniform grid of log variances (geometrically
    convergent for these smooth integrands), widened until the density on every open edge is below
    exp(−``tail_nats``) of its peak. Any σ²_u prior of :class:`Priors` works, so the translation
    traps get an answer without Monte Carlo error.
    """
    from partclust.exact import log_density_variances
    from partclust.reml import reml

    base = Priors(b_sd=priors.b_sd, s2e_upper=priors.s2e_upper)
    names = residual_names(residual)
    est = reml(design, residual).estimates
    s2u0 = max(est["s2u"], 1e-3 * float(np.var(design.y)))
    lo_u, hi_u = math.log(s2u0) - 60.0, math.log(s2u0) + 12.0
    centers = [math.log(est[n]) for n in names]
    half = [1.0] * len(names)
    log_upper = math.log(priors.s2e_upper)
    for _ in range(12):
        tu = np.arange(lo_u, hi_u + step / 2, step)
        axes = [tu] + [_residual_axis(c, priors.s2e_upper, h, residual_step) for c, h in zip(centers, half)]
        marg = _log_marginals(design, residual, priors, base, axes, names, log_density_variances)
        peak = max(float(np.max(m)) for m in marg)
        grow = False
        if marg[0][0] > peak - tail_nats:
            lo_u -= 30.0
            grow = True
        if marg[0][-1] > peak - tail_nats:
            hi_u += 6.0
            grow = True
        for k in range(1, len(axes)):
            top_open = axes[k][-1] + residual_step < log_upper
            if max(marg[k][0], marg[k][-1] if top_open else -np.inf) > peak - tail_nats:
                half[k - 1] *= 1.5
                grow = True
        if not grow:
            break
    else:
        raise RuntimeError("the quadrature grid for σ²_u did not cover the posterior; check the data and priors")
    w = np.exp(marg[0] - special.logsumexp(marg[0]))
    x = np.exp(tu)
    mean = float(np.sum(w * x))
    sd = math.sqrt(max(float(np.sum(w * x**2)) - mean**2, 0.0))
    m_log = float(np.sum(w * tu))
    var_log = float(np.sum(w * (tu - m_log) ** 2))
    # Median: the log marginal is smooth in log σ²_u; interpolate it finely before accumulating the CDF.
    fine = np.linspace(tu[0], tu[-1], 20 * tu.size)
    dens = np.exp(interpolate.CubicSpline(tu, marg[0] - np.max(marg[0]))(fine))
    cdf = integrate.cumulative_trapezoid(dens, fine, initial=0.0)
    median = float(np.exp(np.interp(0.5, cdf / cdf[-1], fine)))
    return {"mean": mean, "sd": sd, "median": median, "var_log": var_log}


def _log_marginals(design, residual, priors, base, axes, names, log_density) -> list[np.ndarray]:
    """Log marginal of the integrand (trapezoid weights included) along each axis of the grid.

    The residual axes are passed as open grids, so the O(clusters) work stays on the (σ²_u,
    treated-arm variance) plane.
    """
    tu = axes[0]
    dim = len(axes)
    wts = [np.log(np.r_[0.5, np.ones(a.size - 2), 0.5]) if a.size > 1 else np.zeros(1) for a in axes]
    opens = []
    for k in range(1, dim):
        shape = [1] * dim
        shape[k] = axes[k].size
        opens.append(axes[k].reshape(shape))
    rest = sum(t + w.reshape(t.shape) for t, w in zip(opens, wts[1:]))  # Jacobian + weights
    per = max(1, 2_000_000 // int(np.prod([a.size for a in axes[1:]])))
    parts = []
    for a in range(0, tu.size, per):
        t = tu[a:a + per].reshape((-1,) + (1,) * (dim - 1))
        s2u = np.exp(t)
        variances = {"s2u": s2u, **{n: np.exp(o) for n, o in zip(names, opens)}}
        lp = log_density(design, variances, residual, base)
        lp = lp - log_prior_s2u(base, s2u) + log_prior_s2u(priors, s2u) + t + wts[0][a:a + per].reshape(t.shape)
        parts.append(np.where(np.isfinite(lp + rest), lp + rest, -np.inf))
    out = np.concatenate(parts, axis=0)
    return [special.logsumexp(out, axis=tuple(i for i in range(dim) if i != k)) for k in range(dim)]


TRAP_RUN_COLUMNS: tuple[str, ...] = ("trap",) + RUN_COLUMNS


def prior_trap_study(
    design: Design,
    traps: Sequence[PriorTrap],
    seeds: Sequence[int],
    draws: int,
    tune: int,
    chains: int,
    residual: str = "single",
    parameterization: str = "noncentered",
    cores: int | None = None,
    target_accept: float = 0.9,
) -> pd.DataFrame:
    """Fit every trap with NUTS (nutpie) for every seed: one row per run (:data:`TRAP_RUN_COLUMNS`)."""
    rows = []
    with _quiet():
        for trap in traps:
            for seed in seeds:
                settings = FitSettings(model=residual, parameterization=parameterization, seed=int(seed),
                                       draws=int(draws), tune=int(tune), chains=int(chains), sampler="nutpie",
                                       target_accept=target_accept)
                row, _ = _run_row(design, settings, trap.priors, cores, trap.name)
                rows.append({"trap": trap.name, **row})
    return pd.DataFrame(rows, columns=list(TRAP_RUN_COLUMNS))


MOVES = "moves σ²_u beyond Monte Carlo error"
NO_MOVE = "within Monte Carlo error"
TRAP_COLUMNS: tuple[str, ...] = (
    "trap", "sas", "pymc", "runs_used", "excluded", "fit_mean", "fit_se", "difference", "se", "z", "z_crit",
    "verdict", "exact_mean", "exact_sd", "exact_median", "exact_difference", "fit_minus_exact_z",
)


def trap_summary(
    runs: pd.DataFrame,
    traps: Sequence[PriorTrap],
    exact: Mapping[str, Mapping[str, float]] | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Pool each trap's converged seeds and compare the mean of σ²_u with the correct translation's.

    Pooled mean = mean of the seeds' means, its SE = √(Σ MCSE²)/S. z = difference / √(SE_trap² +
    SE_correct²), judged against a Bonferroni threshold over the traps compared
    (:func:`partclust.compare.z_critical`). Runs failing the convergence gate are not pooled; their
    count is in ``excluded``. ``exact`` maps trap names to :func:`s2u_posterior` results.
    """
    exact = exact or {}
    pooled = {}
    for trap in traps:
        g = runs[runs["trap"] == trap.name]
        ok = g[g["gate_passed"].astype(bool)]
        s = len(ok)
        pooled[trap.name] = (
            float(ok["mean"].mean()) if s else math.nan,
            float(np.sqrt(np.sum(ok["mcse_mean"] ** 2))) / s if s else math.nan,
            s, len(g) - s,
        )
    ref_name = traps[0].name
    m_ref, se_ref = pooled[ref_name][:2]
    zc = z_critical(len(traps) - 1, alpha)
    ex_ref = exact.get(ref_name, {}).get("mean", math.nan)
    rows = []
    for trap in traps:
        m, se, used, excluded = pooled[trap.name]
        ex = exact.get(trap.name, {})
        is_ref = trap.name == ref_name
        diff = m - m_ref
        comb = math.sqrt(se**2 + se_ref**2)
        z = math.nan if is_ref or not comb > 0 else diff / comb
        exm = ex.get("mean", math.nan)
        rows.append({
            "trap": trap.name, "sas": trap.sas, "pymc": trap.pymc, "runs_used": used, "excluded": excluded,
            "fit_mean": m, "fit_se": se, "difference": math.nan if is_ref else diff,
            "se": math.nan if is_ref else comb, "z": z, "z_crit": math.nan if is_ref else zc,
            "verdict": "reference" if is_ref else (MOVES if abs(z) > zc else NO_MOVE) if np.isfinite(z) else "no runs",
            "exact_mean": exm, "exact_sd": ex.get("sd", math.nan), "exact_median": ex.get("median", math.nan),
            "exact_difference": math.nan if is_ref else exm - ex_ref,
            "fit_minus_exact_z": (m - exm) / se if se > 0 else math.nan,
        })
    return pd.DataFrame(rows, columns=list(TRAP_COLUMNS))


# ---------------------------------------------------------------------------------------------
# (d) Conclusions
# ---------------------------------------------------------------------------------------------
def _spread(row: pd.Series) -> float:
    """The observed Monte Carlo error of a configuration: across-seed SD, else RMSE vs exact, else MCSE."""
    for col in ("sd_of_means", "rmse_vs_exact", "rms_mcse"):
        v = row.get(col, math.nan)
        if v is not None and np.isfinite(v):
            return float(v)
    return math.nan


def _best(mixing: pd.DataFrame, sampler: str, params: Sequence[str]) -> pd.Series | None:
    g = mixing[(mixing["sampler"] == sampler) & mixing["parameterization"].isin(params)]
    if g.empty:
        return None
    return g.loc[g.apply(_spread, axis=1).idxmin()]


def _get(mixing: pd.DataFrame, sampler: str, param: str) -> pd.Series | None:
    g = mixing[(mixing["sampler"] == sampler) & (mixing["parameterization"] == param)]
    return None if g.empty else g.iloc[0]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _fmt_draws(n: float) -> str:
    if not np.isfinite(n):
        return "an unknown number of"
    return f"{n:,.0f}" if n < 1e6 else f"{n / 1e6:,.1f} million"


def conclusions(
    skew: pd.DataFrame,
    mixing: pd.DataFrame,
    traps: pd.DataFrame,
    target: float = TARGET_MCSE,
    factor: float = 2.0,
    published: tuple[float, float] | None = None,
    published_se: float = 0.0,
) -> list[str]:
    """Markdown bullets: which explanations survive, stated with the measured numbers.

    - skewness survives when the posterior mean and median of σ²_u differ by more than ``factor``
      × the Monte Carlo error of the best 10-effect NUTS configuration (so two programs printing
      different summaries would look like a real difference);
    - slow mixing survives when the 110-effect Metropolis configuration's Monte Carlo error (SD of
      the seeds' means; RMSE against exact with one seed) is more than ``factor`` times the best
      10-effect NUTS configuration's;
    - a prior trap survives when its z against the correct translation passes the Bonferroni threshold.

    ``published``: the interval [lo, hi) a truncated published σ²_u mean (PyMC 2, 2011) stands for,
    with ``published_se`` its own Monte Carlo error; the last bullet then says whether it agrees with
    the exact mean, and which surviving prior traps it rules out for the program that produced it.
    """
    out: list[str] = []
    survivors: list[str] = []
    pts = skew.set_index("statistic")["value"]
    mean, median, mode, reml_v = (float(pts.get(k, math.nan)) for k in
                                  ("posterior mean", "posterior median", "posterior mode", "REML estimate"))
    nuts = _best(mixing, "nutpie", ("centered", "noncentered"))
    mc_nuts = _spread(nuts) if nuts is not None else math.nan
    if not np.isfinite(mc_nuts):
        mc_nuts = target
    nuts_name = nuts["config"] if nuts is not None else f"a run with MCSE {target:g}"
    gap = mean - median
    if abs(gap) > factor * mc_nuts:
        survivors.append("skewness (if different summaries were compared)")
        out.append(
            f"**Skewness — survives, as an explanation of different *printed* numbers.** The exact posterior "
            f"of σ²_u has mean {mean:.3f}, median {median:.3f} and mode {mode:.3f} (REML {reml_v:.3f}). Mean "
            f"and median differ by {abs(gap):.3f}, {abs(gap) / mc_nuts:.0f}× the Monte Carlo error of "
            f"{nuts_name} ({mc_nuts:.4f}): a SAS median (PostSummaries P50), a mode or a REML estimate set "
            f"beside a PyMC mean would look like a real difference. Both programs' "
            f"default tables print the *mean*, so this explains the discrepancy only if different summaries "
            f"were compared."
        )
    else:
        out.append(
            f"**Skewness — does not explain it.** Mean {mean:.3f} and median {median:.3f} of σ²_u differ by "
            f"{abs(gap):.3f}, within {factor:g}× the Monte Carlo error of {nuts_name} ({mc_nuts:.4f})."
        )

    m110 = _get(mixing, "metropolis", "sas_singletons")
    m10 = _best(mixing, "metropolis", ("centered", "noncentered"))
    n110 = _get(mixing, "nutpie", "sas_singletons")
    if m110 is not None and nuts is not None:
        s110, s_nuts = _spread(m110), _spread(nuts)
        ratio = s110 / s_nuts if s_nuts > 0 else math.inf
        parts = [
            f"Over {_plural(int(m110['seeds']), 'seed')} of {int(m110['total_draws']):,} draws, the "
            f"{int(m110['n_effects'])}-effect Metropolis posterior mean of σ²_u varies with SD {s110:.4f} "
            f"(ESS {m110['ess_per_1000']:.1f} per 1,000 draws), "
            f"{ratio:.1f}× the {s_nuts:.4f} of {nuts['config']} ({_plural(int(nuts['seeds']), 'seed')} of "
            f"{int(nuts['total_draws']):,} draws; ESS {nuts['ess_per_1000']:.0f} per 1,000)."
        ]
        if all(np.isfinite([m110["sd_lo"], nuts["sd_hi"]])):
            parts.append("Their 95 % intervals do not overlap." if m110["sd_lo"] > nuts["sd_hi"]
                         else "Their 95 % intervals overlap: more seeds would sharpen this.")
        if m10 is not None and _spread(m10) > 0:
            parts.append(f"Under the same Metropolis sampler the {int(m10['n_effects'])}-effect "
                         f"{m10['parameterization']} model's SD is {_spread(m10):.4f}, so the "
                         f"{int(m110['n_effects'] - m10['n_effects'])} singleton effects alone multiply it by "
                         f"{s110 / _spread(m10):.1f}.")
        if np.isfinite(m110["spread_to_mcse"]) and m110["spread_to_mcse"] > factor:
            parts.append(f"Its reported MCSE ({m110['rms_mcse']:.4f}) is {m110['spread_to_mcse']:.1f}× smaller than "
                         f"the spread actually seen, so a user trusting it would call Monte Carlo noise a real "
                         f"difference.")
        if n110 is not None and n110["ess_per_1000"] < nuts["ess_per_1000"] / factor:
            parts.append(f"Even NUTS is slowed by the {int(n110['n_effects'])} effects (ESS "
                         f"{n110['ess_per_1000']:.0f} vs {nuts['ess_per_1000']:.0f} per 1,000 draws).")
        need_110 = max(m110["draws_needed_spread"], m110["draws_needed_mcse"])
        need_nuts = max(nuts["draws_needed_spread"], nuts["draws_needed_mcse"])
        parts.append(f"For MCSE ≤ {target:g} it needs about {_fmt_draws(need_110)} draws, against "
                     f"{_fmt_draws(need_nuts)} for {nuts['config']}.")
        if ratio > factor:
            survivors.append("slow mixing of the 110-effect parameterization under Metropolis")
            head = "**Slow mixing with 110 effects under Metropolis — survives.**"
        else:
            head = "**Slow mixing with 110 effects under Metropolis — not supported by these runs.**"
        out.append(" ".join([head] + parts))

    t = traps[traps["verdict"] != "reference"]
    moved = t[t["verdict"] == MOVES]
    within = t[t["verdict"] == NO_MOVE]
    untested = t[~t["verdict"].isin([MOVES, NO_MOVE])]
    ref = traps[traps["verdict"] == "reference"]
    ref_mean = math.nan
    if len(ref):
        ref_mean = float(ref["exact_mean"].iloc[0]) if np.isfinite(ref["exact_mean"].iloc[0]) \
            else float(ref["fit_mean"].iloc[0])

    def shifts(rows: pd.DataFrame) -> str:
        return ", ".join(f"{r.trap}" + (f" (exact shift {r.exact_difference:+.4f})"
                                        if np.isfinite(r.exact_difference) else "") for r in rows.itertuples())

    not_run = (f" No converged NUTS runs, so not judged by sampling (raise the draws): {shifts(untested)}."
               if len(untested) else "")
    if len(moved):
        items = "; ".join(
            f"{r.trap}: {(r.exact_mean if np.isfinite(r.exact_mean) else r.fit_mean):.3f} (z = {r.z:.1f})"
            for r in moved.itertuples()
        )
        survivors.append("a mistranslated prior (" + ", ".join(moved["trap"]) + ")")
        out.append(
            f"**Prior mistranslation — survives for {len(moved)} of {len(t)} traps.** Against the correct "
            f"translation's posterior mean {ref_mean:.3f}, σ²_u's posterior mean becomes {items} (Bonferroni "
            f"threshold |z| > {float(moved['z_crit'].iloc[0]):.2f}). Within Monte Carlo error: "
            f"{shifts(within) or 'none'}.{not_run}"
        )
    elif len(within):
        out.append(
            f"**Prior mistranslation — does not explain it.** None of the {len(within)} traps judged by sampling "
            f"moves σ²_u's posterior mean ({ref_mean:.3f}) beyond Monte Carlo error: {shifts(within)}.{not_run}"
        )
    elif len(t):
        out.append(f"**Prior mistranslation — not judged by sampling.**{not_run}")

    overall = ("**Overall:** the explanations that survive are " + "; ".join(survivors) + "."
               if survivors else "**Overall:** none of the three explanations survives these runs.")
    if published is not None and np.isfinite(mean):
        lo, hi = published
        margin = z_critical(1) * float(published_se)
        overall += f" The published PyMC 2 (2011) σ²_u was printed as {lo:.2f}, i.e. a mean in [{lo:.2f}, {hi:.2f}), "
        if lo <= mean < hi:
            overall += (f"which contains the exact posterior mean {mean:.4f}: the 2011 PyMC fit agrees with the exact "
                        f"answer, so the discrepancy most plausibly arose on the SAS side.")
        elif lo - margin <= mean < hi + margin:
            overall += (f"which misses the exact posterior mean {mean:.4f} by less than its own Monte Carlo error "
                        f"(±{margin:.3f}): the 2011 PyMC fit agrees with the exact answer, so the discrepancy most "
                        f"plausibly arose on the SAS side.")
        else:
            overall += (f"which misses the exact posterior mean {mean:.4f} by more than its own Monte Carlo error "
                        f"(±{margin:.3f}).")
        exact_moved = moved[np.isfinite(moved["exact_mean"])]
        if len(exact_moved):
            margin = z_critical(len(exact_moved)) * float(published_se)
            fits = (exact_moved["exact_mean"] >= lo - margin) & (exact_moved["exact_mean"] < hi + margin)
            ruled = ", ".join(exact_moved.loc[~fits, "trap"]) or "none"
            kept = ", ".join(exact_moved.loc[fits, "trap"]) or "none"
            overall += (f" Of the traps that move σ²_u, the published number (allowing ±{margin:.3f} for its own "
                        f"Monte Carlo error) rules out for the 2011 PyMC program: {ruled}; still compatible: {kept}.")
    out.append(overall)
    return out


# ---------------------------------------------------------------------------------------------
# Figures and files
# ---------------------------------------------------------------------------------------------
def plot_mixing(mixing: pd.DataFrame, target: float = TARGET_MCSE) -> plt.Figure:
    """ESS per 1,000 draws and across-seed SD of σ²_u's posterior mean, per configuration."""
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(12, 0.5 * len(mixing) + 2.2), sharey=True)
    y = np.arange(len(mixing))[::-1]
    colors = ["C0" if s != "metropolis" else "C3" for s in mixing["sampler"]]
    ess = mixing["ess_per_1000"].clip(lower=0.1)
    ax0.barh(y, ess, color=colors, alpha=0.8)
    ax0.set_xscale("log")
    ax0.set_yticks(y, [f"{c}\n({n} effects)" for c, n in zip(mixing["config"], mixing["n_effects"])])
    ax0.set_xlabel("bulk ESS of σ²_u per 1,000 draws (log scale)")
    ax0.set_title("Effective draws per 1,000 draws")
    sd = mixing["sd_of_means"].to_numpy(dtype=float)
    lo = np.where(np.isfinite(mixing["sd_lo"]), sd - mixing["sd_lo"], 0.0)
    hi = np.where(np.isfinite(mixing["sd_hi"]), mixing["sd_hi"] - sd, 0.0)
    ax1.errorbar(sd, y, xerr=[lo, hi], fmt="o", color="k", capsize=3, label="SD of seed means (95 % interval)")
    ax1.plot(mixing["rms_mcse"], y, "x", color="C1", ms=8, label="reported MCSE (RMS over seeds)")
    ax1.axvline(target, color="grey", ls="--", lw=1, label=f"target MCSE {target:g}")
    ax1.set_xscale("log")
    ax1.set_xlabel("Monte Carlo error of σ²_u's posterior mean (units², log scale)")
    ax1.set_title("Across-seed spread vs reported MCSE")
    handles, labels = ax1.get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="lower right", ncol=3)
    fig.suptitle("Mixing of σ²_u: 10 vs 110 cluster effects, NUTS vs Metropolis-within-Gibbs")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def plot_traces(traces: Mapping[str, np.ndarray], exact_mean: float | None = None, max_panels: int = 6) -> plt.Figure:
    """The σ²_u draws of one chain per configuration, to see the autocorrelation."""
    items = list(traces.items())[:max_panels]
    fig, axes = plt.subplots(len(items), 1, figsize=(11, 1.6 * len(items) + 1), sharex=False, squeeze=False)
    for ax, (label, draws) in zip(axes[:, 0], items):
        ax.plot(np.arange(draws.size), draws, lw=0.5)
        if exact_mean is not None:
            ax.axhline(exact_mean, color="k", ls="--", lw=1)
        ax.set_ylabel("σ²_u")
        ax.set_title(label, fontsize=9, loc="left")
    axes[-1, 0].set_xlabel("draw (after tuning), first chain of the first seed")
    fig.suptitle("Trace of σ²_u per configuration (dashed: exact posterior mean)")
    fig.tight_layout()
    return fig


def plot_traps(traps: pd.DataFrame) -> plt.Figure:
    """σ²_u's posterior mean per prior translation: NUTS (point ± 1.96 SE) and quadrature (cross)."""
    fig, ax = plt.subplots(figsize=(9, 0.5 * len(traps) + 1.8))
    y = np.arange(len(traps))[::-1]
    ax.errorbar(traps["fit_mean"], y, xerr=1.96 * traps["fit_se"].fillna(0), fmt="o", capsize=3,
                label="NUTS, seeds pooled (± 1.96 SE)")
    ax.plot(traps["exact_mean"], y, "x", color="C3", ms=9, label="quadrature (no Monte Carlo error)")
    ref = traps.iloc[0]
    ax.axvline(ref["exact_mean"] if np.isfinite(ref["exact_mean"]) else ref["fit_mean"], color="grey", ls="--",
               lw=1, label=f"{ref['trap']} translation")
    ax.set_yticks(y, traps["trap"])
    ax.set_xlabel("posterior mean of σ²_u (outcome units²)")
    ax.set_title("σ²_u's posterior mean under each translation of the SAS priors")
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def write_tables(tables: Mapping[str, pd.DataFrame], out_dir: str | Path) -> list[Path]:
    """Write each table as ``<name>.csv`` in ``out_dir`` (created)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, df in tables.items():
        path = out / f"{name}.csv"
        df.to_csv(path, index=False, float_format="%.10g")
        paths.append(path)
    return paths
