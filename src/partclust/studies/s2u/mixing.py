"""(b) Mixing: whether PROC MCMC's one effect per value of j (110, 100 touched by no data) slows σ²_u.

:func:`mixing_study` fits the 10-effect and the 110-effect parameterizations under NUTS and under
Metropolis-within-Gibbs for several seeds; :func:`mixing_summary` turns the runs into ESS per 1,000
draws, the across-seed spread of the posterior mean and the draws needed for a target MCSE;
:func:`gibbs_autocorrelation` gives what even an ideal Gibbs sampler would do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from partclust.data import Design
from partclust.errors import SpecError
from partclust.evaluation.mc_error import TARGET_MCSE, draws_needed, draws_needed_from_ess, sd_interval
from partclust.inference.settings import FitSettings
from partclust.models.priors import SAS_PRIORS, Priors
from partclust.studies.grid import RUN_COLUMNS, GridJob, GridResult, fit_grid

__all__ = ["SAMPLER_LABELS", "MIXING_COLUMNS", "MixingConfig", "mixing_configs", "mixing_study", "mixing_summary",
           "gibbs_autocorrelation", "ess_per_draw_ar1", "RUN_COLUMNS"]

SAMPLER_LABELS = {"nutpie": "NUTS (nutpie)", "pymc": "NUTS (PyMC)", "metropolis": "Metropolis-within-Gibbs"}


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
        """``"<sampler label> · <parameterization>"``."""
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


def mixing_study(
    design: Design,
    configs: Sequence[MixingConfig],
    seeds: Sequence[int],
    residual: str = "single",
    priors: Priors = SAS_PRIORS,
    cores: int | None = None,
    target_accept: float = 0.9,
) -> GridResult:
    """Fit every configuration with every seed; one row per run (columns :data:`RUN_COLUMNS`).

    No run is dropped for failing the convergence gate: slow mixing is what is being measured, so
    the gate's verdict is a column instead.

    Raises
    ------
    SpecError
        When no seed is given.
    """
    if not seeds:
        raise SpecError("mixing_study needs at least one seed")
    jobs = [
        GridJob(cfg.label, FitSettings(model=residual, parameterization=cfg.parameterization, seed=int(seed),
                                       draws=int(cfg.draws), tune=int(cfg.tune), chains=int(cfg.chains),
                                       sampler=cfg.sampler, target_accept=target_accept), priors)
        for cfg in configs for seed in seeds
    ]
    return fit_grid(design, jobs, cores)


MIXING_COLUMNS: tuple[str, ...] = (
    "config", "sampler", "parameterization", "n_effects", "seeds", "chains", "draws", "total_draws",
    "mean_of_means", "ess_per_1000", "sd_of_means", "sd_lo", "sd_hi", "rms_mcse", "spread_to_mcse",
    "rmse_vs_exact", "draws_needed_mcse", "draws_needed_ess", "draws_needed_spread", "gate_passed",
    "divergences", "sample_s_per_run", "wall_s_per_run", "wall_s_total",
)


def mixing_summary(runs: pd.DataFrame, target: float = TARGET_MCSE, exact_mean: float | None = None) -> pd.DataFrame:
    """Summarize σ²_u's mixing per configuration: ESS, spread across seeds, draws needed for a target.

    Parameters
    ----------
    runs : pandas.DataFrame
        One row per run, columns :data:`~partclust.studies.grid.RUN_COLUMNS` (:func:`mixing_study`).
    target : float
        The MCSE of σ²_u's posterior mean wanted (outcome units²).
    exact_mean : float, optional
        σ²_u's exact posterior mean, for ``rmse_vs_exact`` (NaN without it).

    Returns
    -------
    pandas.DataFrame
        One row per configuration, in the order of ``runs``; columns :data:`MIXING_COLUMNS`:

        - ``config``, ``sampler``, ``parameterization``, ``n_effects``, ``seeds``, ``chains``, ``draws``
          (per chain), ``total_draws`` (all chains);
        - ``mean_of_means``: σ²_u's posterior mean averaged over seeds;
        - ``ess_per_1000``: mean over seeds of bulk ESS per 1,000 draws (all chains);
        - ``sd_of_means``: SD of the seeds' posterior means, with ``sd_lo``, ``sd_hi`` its 95 % interval
          (χ² with seeds − 1 degrees of freedom; NaN for one seed);
        - ``rms_mcse``: root-mean-square of the reported MCSEs; ``spread_to_mcse`` = sd_of_means /
          rms_mcse (1 if the MCSE is honest);
        - ``rmse_vs_exact``: root-mean-square error of the seeds' means against ``exact_mean``;
        - ``draws_needed_mcse``, ``draws_needed_ess``, ``draws_needed_spread``: total draws for MCSE ≤
          ``target``, from the reported MCSE, from the ESS (posterior SD²/target² effective draws) and
          from the observed spread;
        - ``gate_passed`` (``"<passed>/<seeds>"``), ``divergences`` (sum over seeds);
        - ``sample_s_per_run``, ``wall_s_per_run``, ``wall_s_total``: seconds.

        σ²_u's statistics are in outcome units².

    Notes
    -----
    Times are per run and include each sampler's fixed set-up (PyMC's Metropolis compiles its step
    functions in every run, a few seconds), so they do not extrapolate linearly in the draws.
    """
    rows = []
    for label, g in runs.groupby("config", sort=False):
        n = len(g)
        total = float(g["total_draws"].iloc[0])
        sd = float(g["mean"].std(ddof=1)) if n > 1 else math.nan
        lo, hi = sd_interval(sd, n)
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


def gibbs_autocorrelation(n_effects: int, var_log_s2u: float) -> float:
    """Lag-1 autocorrelation of log σ²_u under an ideal two-block Gibbs sampler (σ²_u | u, u | σ²_u).

    For a two-block Gibbs sampler the lag-1 autocorrelation is the fraction of missing information,
    1 − E[Var(θ | u)] / Var(θ) (Liu, Wong and Kong 1994). Given m effects, log σ²_u has conditional
    variance ≈ 2/m (a scaled χ²_m), while its posterior variance is ``var_log_s2u``: so
    ρ ≈ 1 − 2/(m·var_log_s2u). A back-of-envelope bound (Gaussian on the log scale, prior ignored):
    real Metropolis steps only mix slower.

    References
    ----------
    Liu, J. S., Wong, W. H. and Kong, A. (1994). Covariance structure of the Gibbs sampler with
    applications to the comparisons of estimators and augmentation schemes. *Biometrika* 81(1), 27–40.
    doi:10.1093/biomet/81.1.27
    """
    if n_effects < 1 or not var_log_s2u > 0:
        return math.nan
    return max(0.0, 1.0 - 2.0 / (n_effects * var_log_s2u))


def ess_per_draw_ar1(rho: float) -> float:
    """Effective draws per draw of an AR(1) chain with lag-1 autocorrelation ``rho``: (1−ρ)/(1+ρ)."""
    if not -1.0 < rho < 1.0:
        return math.nan
    return (1.0 - rho) / (1.0 + rho)
