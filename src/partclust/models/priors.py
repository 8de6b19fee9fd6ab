"""The priors, each family defined once: its PyMC builder and its log density on the variance scale.

The defaults reproduce the SAS program (STUDY.md) and are fixed in the main analysis. The σ²_u prior
families besides ``gamma`` exist to measure the translation traps of STUDY.md (a Gamma prior put on
the SD or on the precision instead of the variance, an inverse-gamma); the PyMC model
(:mod:`partclust.models.pymc`), the exact posterior (:mod:`partclust.references.exact`) and the
σ²_u investigation all take them from :func:`s2u_prior_rv` and :func:`log_prior_s2u`, so a prior is
never written twice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from partclust.validate import check_choice, check_positive

__all__ = ["S2U_PRIORS", "Priors", "SAS_PRIORS", "log_prior_s2u", "log_prior_residual", "s2u_prior_rv",
           "describe_s2u_prior"]

S2U_PRIORS: tuple[str, ...] = ("gamma", "gamma_on_sd", "gamma_on_precision", "inverse_gamma")


@dataclass(frozen=True)
class Priors:
    """Prior settings (defaults: the SAS program's).

    Parameters
    ----------
    b_sd : float
        SD of the Normal(0, b_sd²) prior on each fixed effect (SAS ``normal(0, var=10000)`` → 100).
    s2u_prior : {"gamma", "gamma_on_sd", "gamma_on_precision", "inverse_gamma"}
        Where the Gamma(``s2u_alpha``, rate ``s2u_beta``) prior is put: on the variance σ²_u (correct),
        on the SD σ_u, on the precision 1/σ²_u; or an inverse-gamma(shape ``s2u_alpha``, scale
        ``s2u_beta``) on the variance.
    s2u_alpha, s2u_beta : float
        Shape and rate (scale for the inverse-gamma).
    s2e_upper : float
        Upper end of the Uniform(0, s2e_upper) prior on each residual variance (outcome units²).

    Raises
    ------
    SpecError
        For an unknown ``s2u_prior`` or a parameter that is not a positive number.
    """

    b_sd: float = 100.0
    s2u_prior: str = "gamma"
    s2u_alpha: float = 1.0
    s2u_beta: float = 1.0
    s2e_upper: float = 100.0

    def __post_init__(self) -> None:
        """Refuse an unknown σ²_u prior family or a parameter that is not a positive number."""
        check_choice("s2u_prior", self.s2u_prior, S2U_PRIORS)
        for name in ("b_sd", "s2u_alpha", "s2u_beta", "s2e_upper"):
            check_positive(name, getattr(self, name))


SAS_PRIORS = Priors()


def s2u_prior_rv(priors: Priors) -> Any:
    """Create σ²_u's prior in the current PyMC model context; returns the tensor of σ²_u.

    For priors put on the SD or the precision, the free variable is ``sd_u`` or ``tau_u`` and
    ``s2u`` is a Deterministic.
    """
    import pymc as pm

    a, b = priors.s2u_alpha, priors.s2u_beta
    if priors.s2u_prior == "gamma":
        return pm.Gamma("s2u", alpha=a, beta=b)
    if priors.s2u_prior == "inverse_gamma":
        return pm.InverseGamma("s2u", alpha=a, beta=b)
    if priors.s2u_prior == "gamma_on_sd":
        sd_u = pm.Gamma("sd_u", alpha=a, beta=b)
        return pm.Deterministic("s2u", sd_u**2)
    tau_u = pm.Gamma("tau_u", alpha=a, beta=b)
    return pm.Deterministic("s2u", 1.0 / tau_u)


def log_prior_s2u(priors: Priors, s2u: Any) -> np.ndarray:
    """Log prior density of σ²_u on the variance scale, broadcast over an array.

    For a prior put on the SD (σ_u = √σ²_u) or the precision (τ = 1/σ²_u) the change of variables'
    Jacobian is included (1/(2σ_u) and 1/σ⁴_u). Outside the support: −inf.

    Returns
    -------
    numpy.ndarray
        Same shape as ``s2u``.
    """
    x = np.asarray(s2u, dtype=float)
    a, b = priors.s2u_alpha, priors.s2u_beta
    log_norm = a * math.log(b) - special.gammaln(a)
    with np.errstate(divide="ignore", invalid="ignore"):
        if priors.s2u_prior == "gamma":
            out = log_norm + special.xlogy(a - 1.0, x) - b * x
            return np.where(x >= 0, out, -np.inf)
        if priors.s2u_prior == "inverse_gamma":
            out = log_norm - (a + 1.0) * np.log(x) - b / x
        elif priors.s2u_prior == "gamma_on_sd":
            sd = np.sqrt(x)
            out = log_norm + special.xlogy(a - 1.0, sd) - b * sd - np.log(2.0 * sd)
        else:
            tau = 1.0 / x
            out = log_norm + special.xlogy(a - 1.0, tau) - b * tau - 2.0 * np.log(x)
    return np.where(x > 0, out, -np.inf)


def log_prior_residual(priors: Priors, s2e: Any) -> np.ndarray:
    """Log density of the Uniform(0, ``s2e_upper``) prior of a residual variance (−inf outside)."""
    s = np.asarray(s2e, dtype=float)
    return np.where((s > 0) & (s <= priors.s2e_upper), -math.log(priors.s2e_upper), -np.inf)


def describe_s2u_prior(priors: Priors) -> str:
    """Describe the σ²_u prior in words, e.g. ``"Gamma(shape 1, rate 1) on σ²_u"``."""
    a, b = priors.s2u_alpha, priors.s2u_beta
    return {
        "gamma": f"Gamma(shape {a:g}, rate {b:g}) on σ²_u",
        "gamma_on_sd": f"Gamma(shape {a:g}, rate {b:g}) on σ_u",
        "gamma_on_precision": f"Gamma(shape {a:g}, rate {b:g}) on 1/σ²_u",
        "inverse_gamma": f"inverse-gamma(shape {a:g}, scale {b:g}) on σ²_u",
    }[priors.s2u_prior]
