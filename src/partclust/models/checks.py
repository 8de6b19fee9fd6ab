"""Can a model be fitted to these data under these priors? Checked before anything is computed.

The data layer checks what every model needs (:func:`~partclust.data.validate`); what one model needs
depends on its residual structure and its priors, so it is checked here, once, and every command that
fits, integrates or compares a model calls :func:`check_data` first — so a dataset too small for a
model, or on a scale its priors exclude, is refused with one sentence instead of failing inside a
sampler or the quadrature.

Degrees of freedom. A residual variance estimated with k degrees of freedom has a likelihood that
decays like (σ²)^(−k/2) as σ² grows. Under the Uniform(0, ``s2e_upper``) prior the posterior is then
proper without the prior's upper bound only for k ≥ 3 (the density must fall faster than 1/σ²); with
fewer, the bound of the prior, not the data, decides where the posterior's mass lies, and the sampler
and the quadrature are both asked for a number the data do not contain. The controls give n_c − 1
degrees of freedom, the treated subjects n_t − J within their J clusters (what separates σ²_e from
σ²_u); the single-residual model pools the two.

Scale. Each residual variance's moment estimate v with k degrees of freedom has the one-sided
99.9 % lower confidence bound k·v / χ²₀.₉₉₉(k). When that bound is above the prior's upper end, the
data exclude every value the prior allows (an outcome in the wrong units, e.g. multiplied by 10¹²).
Likewise a fixed effect whose 99.9 % confidence interval lies wholly beyond ±5 prior SDs (Normal(0,
``b_sd``²)) is on a scale the prior excludes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from partclust.errors import DataError
from partclust.models.priors import SAS_PRIORS, Priors
from partclust.validate import check_residual

__all__ = [
    "MIN_RESIDUAL_DF",
    "SCALE_CONFIDENCE",
    "ResidualEvidence",
    "check_data",
    "data_problems",
    "residual_evidence",
]

MIN_RESIDUAL_DF = 3
"""Fewest degrees of freedom a residual variance needs (see the module docstring)."""
SCALE_CONFIDENCE = 0.999
"""Confidence of the bounds that decide whether the priors exclude the data's scale."""
_B_PRIOR_SDS = 5.0


@dataclass(frozen=True)
class ResidualEvidence:
    """What the data say about one residual variance: its name, degrees of freedom, sum of squares.

    ``estimate`` is SS / df (NaN without degrees of freedom); ``lower`` the one-sided
    :data:`SCALE_CONFIDENCE` lower confidence bound df·estimate / χ²(df).
    """

    name: str
    what: str
    df: int
    ss: float

    @property
    def estimate(self) -> float:
        """SS / df, the moment estimate of the variance (NaN without degrees of freedom)."""
        return self.ss / self.df if self.df > 0 else math.nan

    @property
    def lower(self) -> float:
        """One-sided :data:`SCALE_CONFIDENCE` lower confidence bound of the variance, SS / χ²(df)."""
        if self.df <= 0:
            return math.nan
        return float(self.ss / special.chdtri(self.df, 1.0 - SCALE_CONFIDENCE))


def _arm_sums(design) -> tuple[tuple[int, float], tuple[int, float]]:
    """(df, SS) of the controls around their mean and of the treated subjects within their clusters."""
    y = np.asarray(design.y, dtype=float)
    treated = np.asarray(design.treat) == 1
    yc = y[~treated]
    ss_c = float(np.sum((yc - yc.mean()) ** 2)) if yc.size else 0.0
    idx = np.asarray(design.cluster_of_row)[treated]
    yt = y[treated]
    n_j = np.bincount(idx, minlength=design.n_clusters)
    means = np.bincount(idx, weights=yt, minlength=design.n_clusters) / np.maximum(n_j, 1)
    ss_w = float(np.sum((yt - means[idx]) ** 2))
    return (int(yc.size) - 1, ss_c), (int(yt.size) - int(np.count_nonzero(n_j)), ss_w)


def residual_evidence(design, residual: str) -> list[ResidualEvidence]:
    """Degrees of freedom and sums of squares behind each residual variance of the model.

    Parameters
    ----------
    design : Design
    residual : {"single", "per_condition"}

    Returns
    -------
    list of ResidualEvidence
        One per residual variance, in :func:`~partclust.models.names.residual_names` order.
    """
    check_residual(residual)
    (df_c, ss_c), (df_t, ss_t) = _arm_sums(design)
    if residual == "single":
        return [ResidualEvidence("s2e", "the controls and the treated subjects within their clusters",
                                 max(df_c, 0) + max(df_t, 0), ss_c + ss_t)]
    return [ResidualEvidence("s2e_control", "the controls", max(df_c, 0), ss_c),
            ResidualEvidence("s2e_treated", "the treated subjects within their clusters", max(df_t, 0), ss_t)]


def data_problems(design, residual: str, priors: Priors | None = SAS_PRIORS) -> list[str]:
    """Every reason the model cannot be fitted to ``design`` under ``priors`` (empty when it can).

    Parameters
    ----------
    design : Design
    residual : {"single", "per_condition"}
    priors : Priors or None
        None for a likelihood-only fit (REML): then each residual variance needs one degree of
        freedom and some variation, and no scale is excluded.

    Returns
    -------
    list of str
        Sentences naming the model, the parameter, the numbers and what to do.
    """
    out = []
    label = f"the {residual} residual model"
    need = MIN_RESIDUAL_DF if priors is not None else 1
    why = (f"for its posterior to be set by the data rather than by the upper end of its Uniform(0, "
           f"{priors.s2e_upper:g}) prior" if priors is not None else "to estimate it")
    for ev in residual_evidence(design, residual):
        if ev.df < need:
            out.append(
                f"{design.source}: too few data for {label}: {ev.name} gets {ev.df} degree(s) of freedom from "
                f"{ev.what} ({design.n_control} controls; {design.n_treated} treated subjects in "
                f"{design.n_clusters} clusters), and at least {need} are needed {why}. "
                "Add subjects" + (" or use the single residual model." if residual == "per_condition" else ".")
            )
        elif ev.ss <= 0.0:
            out.append(
                f"{design.source}: {ev.name} cannot be estimated for {label}: the outcome does not vary among "
                f"{ev.what}. Check the y column."
            )
        elif priors is not None and ev.lower > priors.s2e_upper:
            out.append(
                f"{design.source}: the outcome's scale is outside what the priors allow: {ev.name} is about "
                f"{ev.estimate:.3g} (its {SCALE_CONFIDENCE:.1%} lower confidence bound is {ev.lower:.3g}), but its "
                f"prior is Uniform(0, {priors.s2e_upper:g}) on the variance. Express y in units whose residual "
                "variance is below the prior's bound (e.g. divide y by a power of ten), or change the prior."
            )
    if priors is not None:
        out.extend(_fixed_effect_problems(design, priors))
    return out


def _fixed_effect_problems(design, priors: Priors) -> list[str]:
    y = np.asarray(design.y, dtype=float)
    treated = np.asarray(design.treat) == 1
    z = float(special.ndtri(0.5 + SCALE_CONFIDENCE / 2))
    limit = _B_PRIOR_SDS * priors.b_sd
    yc = y[~treated]
    idx = np.asarray(design.cluster_of_row)[treated]
    n_j = np.bincount(idx, minlength=design.n_clusters)
    means = np.bincount(idx, weights=y[treated], minlength=design.n_clusters) / np.maximum(n_j, 1)
    # the treated mean's SE from the spread of cluster means: right whatever σ²_u is
    se_c = float(np.std(yc, ddof=1) / math.sqrt(yc.size)) if yc.size > 1 else math.inf
    se_t = float(np.std(means, ddof=1) / math.sqrt(means.size)) if means.size > 1 else math.inf
    out = []
    for name, est, se in (("b0 (the control mean)", float(yc.mean()), se_c),
                          ("b1 (treated − control)", float(means.mean() - yc.mean()), math.hypot(se_c, se_t))):
        if abs(est) - z * se > limit:
            out.append(
                f"{design.source}: the outcome's scale is outside what the priors allow: {name} is about {est:.3g}, "
                f"more than {_B_PRIOR_SDS:g} prior SDs from 0 under its Normal(0, {priors.b_sd:g}²) prior. Express y "
                "in other units or centre it, or change the prior."
            )
    return out


def check_data(design, residual: str, priors: Priors | None = SAS_PRIORS) -> None:
    """Refuse data a model cannot be fitted to (too few, no variation, a scale the priors exclude).

    Parameters
    ----------
    design : Design
    residual : {"single", "per_condition"}
    priors : Priors or None
        None for a likelihood-only fit (REML; see :func:`data_problems`).

    Raises
    ------
    DataError
        The first of :func:`data_problems`, as one sentence.
    SpecError
        For an unknown residual structure.
    """
    problems = data_problems(design, residual, priors)
    if problems:
        raise DataError(problems[0])
