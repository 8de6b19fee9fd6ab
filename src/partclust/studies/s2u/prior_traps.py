"""(c) Prior translation traps: which plausible mistranslations of the SAS priors move σ²_u.

:func:`default_traps` lists them (correct translation first); :func:`prior_trap_study` fits each with
NUTS; :func:`trap_posteriors` gives each trap's σ²_u posterior by quadrature; :func:`trap_summary`
says which move σ²_u by more than Monte Carlo error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from partclust.data import Design
from partclust.evaluation.compare import z_critical
from partclust.inference.settings import FitSettings
from partclust.models.priors import SAS_PRIORS, Priors
from partclust.studies.grid import RUN_COLUMNS, GridJob, fit_grid

__all__ = ["PriorTrap", "scale_rate_swapped", "default_traps", "prior_trap_study", "trap_posteriors",
           "trap_summary", "TRAP_RUN_COLUMNS", "TRAP_COLUMNS", "MOVES", "NO_MOVE"]


@dataclass(frozen=True)
class PriorTrap:
    """A plausible translation of the SAS priors: what SAS said, what the translation gives."""

    name: str
    sas: str
    pymc: str
    priors: Priors


def scale_rate_swapped(priors: Priors) -> Priors:
    """Return the σ²_u prior with SAS ``scale=`` read as PyMC's rate (or ``iscale=`` as a scale): β → 1/β."""
    return replace(priors, s2u_beta=1.0 / priors.s2u_beta)


def default_traps(correct: Priors = SAS_PRIORS) -> list[PriorTrap]:
    """List the translation traps of STUDY.md, correct translation first.

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
    jobs = [
        GridJob(trap.name, FitSettings(model=residual, parameterization=parameterization, seed=int(seed),
                                       draws=int(draws), tune=int(tune), chains=int(chains), sampler="nutpie",
                                       target_accept=target_accept), trap.priors, {"trap": trap.name})
        for trap in traps for seed in seeds
    ]
    return fit_grid(design, jobs, cores, columns=TRAP_RUN_COLUMNS).runs


def trap_posteriors(design: Design, traps: Sequence[PriorTrap], residual: str = "single") -> dict[str, dict[str, float]]:
    """σ²_u's exact posterior under each trap's priors (quadrature, no Monte Carlo error).

    Returns
    -------
    dict
        Trap name → ``mean``, ``sd``, ``median`` of σ²_u and ``var_log``, the posterior variance of
        log σ²_u (outcome units², and nats² for ``var_log``).
    """
    from partclust.references.exact import exact_posterior

    out = {}
    for trap in traps:
        post = exact_posterior(design, residual, priors=trap.priors)
        row = post.table.set_index("param").loc["s2u"]
        m_log = post.expectation("s2u", np.log)
        var_log = post.expectation("s2u", lambda v: (np.log(v) - m_log) ** 2)
        out[trap.name] = {"mean": float(row["mean"]), "sd": float(row["sd"]), "median": float(row["median"]),
                          "var_log": var_log}
    return out


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

    Parameters
    ----------
    runs : pandas.DataFrame
        One row per run, columns :data:`TRAP_RUN_COLUMNS` (:func:`prior_trap_study`).
    traps : sequence of PriorTrap
        The correct translation first (the reference of every comparison), then the traps.
    exact : mapping, optional
        Trap name → σ²_u's exact ``mean``, ``sd`` and ``median`` (:func:`trap_posteriors`); NaN without.
    alpha : float
        Family-wise error rate over the traps compared.

    Returns
    -------
    pandas.DataFrame
        One row per trap, in the order of ``traps``; columns :data:`TRAP_COLUMNS`: ``trap``, ``sas``,
        ``pymc`` (what each program says); ``runs_used`` (converged seeds pooled) and ``excluded``
        (runs that failed the gate); ``fit_mean`` and ``fit_se`` (pooled mean and its SE); ``difference``,
        ``se``, ``z`` and ``z_crit`` against the correct translation (NaN on its own row); ``verdict``
        (:data:`MOVES`, :data:`NO_MOVE`, ``"reference"`` for the correct translation, ``"no runs"``);
        ``exact_mean``, ``exact_sd``, ``exact_median`` and ``exact_difference`` (quadrature, no Monte
        Carlo error); ``fit_minus_exact_z`` = (fit_mean − exact_mean) / fit_se. Outcome units².

    Notes
    -----
    Pooled mean = mean of the seeds' means, its SE = √(Σ MCSE²)/S. z = difference / √(SE_trap² +
    SE_correct²), judged against a Bonferroni threshold over the traps compared
    (:func:`partclust.evaluation.z_critical`). Runs failing the convergence gate are not pooled.
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
