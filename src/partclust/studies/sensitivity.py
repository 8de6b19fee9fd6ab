"""How much the σ²_u prior matters: the SAS prior against the usual alternatives, exactly and by NUTS.

:func:`default_alternatives` lists the priors (SAS's first); :func:`exact_sensitivity` computes each
one's exact posterior (quadrature, no Monte Carlo error); :func:`sensitivity_table` tabulates σ²_u and
b1 under each; :func:`confirm_fits` fits each prior once with NUTS and judges the fit against its own
exact posterior with the comparison engine; :func:`moves_table` says which inferences move, relative to
the SAS prior, by more than the Monte Carlo error of a fit; :func:`power_scaling` is ArviZ's
power-scaling sensitivity check (arviz-stats ``psense_summary``) as a second view.

References
----------
Gelman, A. (2006). Prior distributions for variance parameters in hierarchical models. *Bayesian
Analysis* 1(3), 515–534. doi:10.1214/06-BA117A

Kallioinen, N., Paananen, T., Bürkner, P.-C. and Vehtari, A. (2023). Detecting and diagnosing prior and
likelihood sensitivity with power-scaling. *Statistics and Computing* 34, 57. doi:10.1007/s11222-023-10366-5
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from partclust.evaluation.compare import compare, fit_table, z_critical
from partclust.inference.settings import FitSettings
from partclust.models.priors import (SAS_PRIORS, HalfCauchyOnSD, HalfNormalOnSD, InverseGamma, Prior, UniformOnSD)
from partclust.models.spec import builtin_spec

__all__ = ["AlternativePrior", "default_alternatives", "alternative_data", "exact_sensitivity", "sensitivity_table",
           "SENSITIVITY_COLUMNS", "confirm_fits", "CONFIRM_COLUMNS", "moves_table", "MOVES_COLUMNS",
           "density_curves", "power_scaling", "effect_param", "PARAMS", "SAS_NAME"]

PARAMS: tuple[str, ...] = ("s2u", "b1")
"""The parameters whose inferences are compared across priors (``b1``: the treatment effect, renamed
``effect`` in the tables when the model calls it otherwise, see :func:`effect_param`)."""
STATS: tuple[str, ...] = ("mean", "median", "q2.5", "q97.5")
SAS_NAME = "SAS: gamma(shape=1, iscale=1) on σ²_u"


@dataclass(frozen=True)
class AlternativePrior:
    """One prior on σ²_u: a short name and its family (on the variance or on the SD)."""

    name: str
    prior: Prior


def default_alternatives(half_cauchy_scale: float = 1.0, half_normal_scale: float = 1.0,
                         epsilons: Sequence[float] = (0.001, 0.01), uniform_sd_upper: float = 10.0,
                         own: tuple[str, Prior] | None = None) -> list[AlternativePrior]:
    """List the SAS prior then the usual alternatives: half-Cauchy, half-normal, inverse-gamma(ε, ε), uniform on σ_u.

    Parameters
    ----------
    half_cauchy_scale, half_normal_scale : float
        Scales of the half-Cauchy and half-normal priors on σ_u (outcome units).
    epsilons : sequence of float
        ε of each inverse-gamma(shape ε, scale ε) prior on σ²_u.
    uniform_sd_upper : float
        Upper end A of the Uniform(0, A) prior on σ_u (outcome units; σ²_u ≤ A²).
    own : (str, Prior), optional
        A model's own effect variance, by its name and prior (a PROC MCMC program's): that prior comes first
        instead of SAS's, the names say the variance's name (``half-Cauchy(1) on √s2g``), and an
        alternative equal to it is left out.

    Returns
    -------
    list of AlternativePrior

    Raises
    ------
    SpecError
        For a parameter that is not a positive number.
    """
    var, sd = ("σ²_u", "σ_u") if own is None else (own[0], f"√{own[0]}")
    first = AlternativePrior(SAS_NAME, SAS_PRIORS.s2u) if own is None else \
        AlternativePrior(f"program: {own[0]} ~ {own[1].sas(own[0])}", own[1])
    out = [first,
           AlternativePrior(f"half-Cauchy({half_cauchy_scale:g}) on {sd}", HalfCauchyOnSD(half_cauchy_scale)),
           AlternativePrior(f"half-normal({half_normal_scale:g}) on {sd}", HalfNormalOnSD(half_normal_scale))]
    out += [AlternativePrior(f"inverse-gamma({e:g}, {e:g}) on {var}", InverseGamma(e, e)) for e in epsilons]
    out.append(AlternativePrior(f"uniform(0, {uniform_sd_upper:g}) on {sd}", UniformOnSD(uniform_sd_upper)))
    return [first] + [a for a in out[1:] if a.prior != first.prior]


def alternative_data(design: Any, residual: str, prior: Prior) -> Any:
    """Return the data read through the same model with ``prior`` on σ²_u (every other prior unchanged).

    Parameters
    ----------
    design : Design or ModelData
        A run1 design (read through the built-in ``residual`` model with the SAS priors otherwise), or data
        already read through any specification of the family (``residual`` is then ignored).
    residual : str
    prior : Prior
        On σ²_u (or on σ_u: its density is put on the variance).

    Returns
    -------
    ModelData
    """
    from dataclasses import replace

    from partclust.models.model_data import ModelData, builtin_data

    if isinstance(design, ModelData):
        return replace(design, spec=design.spec.with_priors({"s2u": prior}), priors={**design.priors, "s2u": prior})
    return builtin_data(design, spec=builtin_spec(residual).with_priors({"s2u": prior}))


def effect_param(data: Any) -> str:
    """Name of the treatment effect: the fixed effect of the column the cluster effect multiplies (run1: ``b1``)."""
    md = data
    if not hasattr(md, "fixed_names"):
        return "b1"
    mult = md.spec.random.multiplies if md.spec.random is not None else None
    if mult is not None:
        for name, col in zip(md.fixed_names, md.x_columns):
            if col == mult:
                return name
    return md.fixed_names[min(1, len(md.fixed_names) - 1)]


def exact_sensitivity(design: Any, alternatives: Sequence[AlternativePrior], residual: str = "single") -> dict[str, Any]:
    """Return each prior's exact posterior (:class:`~partclust.references.exact.ExactPosterior`) by name."""
    from partclust.references.exact import exact_posterior

    return {a.name: exact_posterior(alternative_data(design, residual, a.prior)) for a in alternatives}


SENSITIVITY_COLUMNS: tuple[str, ...] = ("prior", "sas", "param", "mean", "sd", "median", "q2.5", "q97.5", "note")


def sensitivity_table(posteriors: Mapping[str, Any], alternatives: Sequence[AlternativePrior]) -> pd.DataFrame:
    """Tabulate σ²_u and b1 under each prior from the exact posteriors (no Monte Carlo error).

    Returns
    -------
    pandas.DataFrame
        One row per prior × parameter (:data:`PARAMS`; ``b1`` is the treatment effect whatever the model
        names it), columns :data:`SENSITIVITY_COLUMNS`; ``sas`` is the
        prior as PROC MCMC text, ``note`` the quadrature's note (a moment that does not exist is NaN).
        σ²_u in outcome units², b1 in outcome units.
    """
    rows = []
    for a in alternatives:
        table = posteriors[a.name].table.set_index("param")
        effect = effect_param(posteriors[a.name].model_data)
        for p in PARAMS:
            r = table.loc[effect if p == "b1" else p]
            rows.append({"prior": a.name, "sas": a.prior.sas("s2u"), "param": p,
                         **{k: float(r[k]) for k in ("mean", "sd", "median", "q2.5", "q97.5")},
                         "note": str(r.get("note", "") or "")})
    return pd.DataFrame(rows, columns=list(SENSITIVITY_COLUMNS))


CONFIRM_COLUMNS: tuple[str, ...] = ("prior", "param", "statistic", "fit_value", "fit_se", "exact_value", "z",
                                    "z_crit", "verdict", "divergences", "gate_passed")


def confirm_fits(design: Any, alternatives: Sequence[AlternativePrior], posteriors: Mapping[str, Any],
                 residual: str = "single", seed: int = 1, draws: int = 1000, tune: int = 1000, chains: int = 4,
                 cores: int | None = None, keep: str | None = None, target_accept: float = 0.99
                 ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Fit each prior once with NUTS (nutpie, non-centered) and judge it against its exact posterior.

    The comparison engine (:func:`partclust.evaluation.compare`) judges the mean, median and 2.5/97.5 %
    quantiles of σ²_u and b1 with the fit's MCSEs and a Bonferroni threshold over those rows.

    Parameters
    ----------
    keep : str, optional
        Name of the prior whose whole fit is returned (for :func:`power_scaling`); None keeps none.
    target_accept : float
        NUTS's target acceptance: 0.99 by default (small steps cost little here), since priors with mass
        near σ_u = 0 (on the SD, or inverse-gamma) narrow the funnel's neck; at 0.9 and 0.95 the half-normal
        prior's fit of a generated design had a divergence.

    Returns
    -------
    (pandas.DataFrame, dict)
        Columns :data:`CONFIRM_COLUMNS`, one row per prior × parameter × statistic; and
        ``{"summaries": {prior: summary table}, "fit": FitResult of ``keep`` or None}``.
    """
    from partclust.inference.sample import fit
    from partclust.inference.summary import convergence_gate, summarize
    from partclust.references.registry import exact_reference
    from partclust.translate.specs import spec_key

    rows, summaries, kept = [], {}, None
    for a in alternatives:
        md = alternative_data(design, residual, a.prior)
        effect = effect_param(md)
        builtin = md.spec.is_builtin
        settings = FitSettings(model=md.spec.name, parameterization="noncentered", seed=int(seed), draws=int(draws),
                               tune=int(tune), chains=int(chains), sampler="nutpie", target_accept=target_accept,
                               spec="" if builtin else spec_key(md.spec))
        result = fit(md, settings, cores=cores, log_likelihood=a.name == keep)
        summary = summarize(result.posterior, md.scalar_names)
        summary["param"] = summary["param"].replace({effect: "b1"}) if effect != "b1" else summary["param"]
        summaries[a.name] = summary
        gate = convergence_gate(summary, result.divergences)
        if a.name == keep:
            kept = result
        ft = fit_table([summary])
        ft = ft[ft["param"].isin(PARAMS) & ft["statistic"].isin(STATS)].reset_index(drop=True)
        ref = exact_reference(md, md.spec.name, posterior=posteriors[a.name])
        if effect != "b1":
            ref = replace(ref, table=ref.table.assign(param=ref.table["param"].replace({effect: "b1"})))
        cmp = compare(ft, ref)
        for _, r in cmp.iterrows():
            rows.append({"prior": a.name, "param": r["param"], "statistic": r["statistic"],
                         "fit_value": r["fit_value"], "fit_se": r["fit_se"], "exact_value": r["reference_value"],
                         "z": r["z"], "z_crit": r["z_crit"], "verdict": r["verdict"],
                         "divergences": result.divergences, "gate_passed": bool(gate["passed"])})
    return pd.DataFrame(rows, columns=list(CONFIRM_COLUMNS)), {"summaries": summaries, "fit": kept}


MOVES_COLUMNS: tuple[str, ...] = ("prior", "param", "statistic", "sas_value", "value", "shift", "mc_error",
                                  "shift_to_mc_error", "z_crit", "moves")


def moves_table(table: pd.DataFrame, mc_error: Mapping[tuple[str, str], float], alpha: float = 0.05) -> pd.DataFrame:
    """Which exact inferences move, relative to the SAS prior, by more than a fit's Monte Carlo error.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`sensitivity_table`; the SAS prior's rows are those of its first prior.
    mc_error : mapping
        (param, statistic) → the Monte Carlo standard error of that statistic in one fit (e.g. the SAS
        prior's confirming fit; outcome units or units²).
    alpha : float
        Family-wise error rate; the threshold is Bonferroni over every compared shift.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`MOVES_COLUMNS`, one row per alternative prior × parameter × statistic: ``shift`` =
        alternative − SAS (exact, no Monte Carlo error), ``shift_to_mc_error`` = shift / MCSE, ``moves``
        True when |shift| > z_crit · MCSE: a fit of that size would see the difference as real.
    """
    first = table["prior"].iloc[0]
    base = table[table["prior"] == first].set_index("param")
    others = table[table["prior"] != first]
    m = len(others) * len(STATS)
    zc = z_critical(max(m, 1), alpha)
    rows = []
    for _, r in others.iterrows():
        for stat in STATS:
            se = float(mc_error.get((r["param"], stat), math.nan))
            shift = float(r[stat]) - float(base.loc[r["param"], stat])
            ratio = shift / se if se > 0 else math.nan
            rows.append({"prior": r["prior"], "param": r["param"], "statistic": stat,
                         "sas_value": float(base.loc[r["param"], stat]), "value": float(r[stat]), "shift": shift,
                         "mc_error": se, "shift_to_mc_error": ratio, "z_crit": zc,
                         "moves": bool(np.isfinite(ratio) and abs(ratio) > zc)})
    return pd.DataFrame(rows, columns=list(MOVES_COLUMNS))


def density_curves(posteriors: Mapping[str, Any], alternatives: Sequence[AlternativePrior], upper: float | None = None,
                   n: int = 400) -> pd.DataFrame:
    """Prior and exact posterior densities of σ²_u under each prior on one grid (for the overlay plot).

    Parameters
    ----------
    upper : float, optional
        Grid's upper end in outcome units² (default: the largest 99th-percentile-ish end, 1.5 × the
        largest posterior 97.5 % quantile).

    Returns
    -------
    pandas.DataFrame
        Columns ``prior``, ``s2u``, ``prior_density``, ``posterior_density`` (per outcome unit²).
    """
    if upper is None:
        upper = 1.5 * max(float(p.table.set_index("param").loc["s2u", "q97.5"]) for p in posteriors.values())
    x = np.linspace(upper / n, upper, n)
    frames = []
    for a in alternatives:
        with np.errstate(over="ignore"):
            prior = np.exp(a.prior.log_density(x))
        frames.append(pd.DataFrame({"prior": a.name, "s2u": x, "prior_density": prior,
                                    "posterior_density": posteriors[a.name].s2u_density(x)}))
    return pd.concat(frames, ignore_index=True)


def power_scaling(fit_result: Any, design: Any, residual: str, prior: Prior) -> pd.DataFrame:
    """ArviZ's power-scaling sensitivity of one fit (arviz-stats ``psense_summary``) for b0, b1, σ²_u, σ²_e.

    The fit must hold its pointwise log-likelihood; the log prior of each draw is added here (PyMC's
    ``compute_log_prior`` on the same model).

    Returns
    -------
    pandas.DataFrame
        One row per parameter: ``prior`` and ``likelihood`` sensitivity (CJS distance per unit of
        power-scaling) and arviz-stats' diagnosis (e.g. "✓" or "prior-data conflict").
    """
    import arviz_stats as azs
    import pymc as pm

    from partclust.models.pymc import build_model

    md = alternative_data(design, residual, prior)
    tree = fit_result.trace
    model = build_model(md, parameterization=fit_result.settings.parameterization)
    pm.compute_log_prior(tree, model=model, extend_inferencedata=True, progressbar=False)
    names = [n for n in md.scalar_names if n in tree["posterior"]]
    out = azs.psense_summary(tree, var_names=names)
    return out.reset_index().rename(columns={"index": "param"}) if not isinstance(out, pd.DataFrame) or \
        "param" not in out.columns else out
