"""The two PyMC models of the partially clustered trial, with SAS-matched priors.

    y_i = b0 + b1·Tx_i + u_{j(i)}·Tx_i + e_i,   u_j ~ N(0, s2u),   e_i ~ N(0, s2e[arm])

SAS PROC MCMC ↔ PyMC translation (the priors of the original SAS program; see STUDY.md):

================================================  =============================================
SAS PROC MCMC                                     PyMC (this module)
================================================  =============================================
``parms b0 0 b1 0 s2u 1 s2e 1;``                  free random variables ``b0 b1 s2u s2e``
``prior b0 b1 ~ normal(0, var=10000);``           ``pm.Normal("b0", mu=0, sigma=100)`` (SAS
                                                  ``var=`` is a variance; PyMC ``sigma`` an SD;
                                                  PyMC 2 took a precision ``tau=1e-4``)
``prior s2u ~ gamma(shape=1, iscale=1);``         ``pm.Gamma("s2u", alpha=1, beta=1)`` (SAS
                                                  ``iscale=`` is PyMC's rate ``beta``; SAS
                                                  ``scale=`` would be ``1/beta``)
``prior s2e ~ uniform(0, 100);``                  ``pm.Uniform("s2e", 0, 100)`` on the variance
``prior s2e_c s2e_t ~ uniform(0, 100);``          ``s2e_control``, ``s2e_treated`` likewise
``random u ~ normal(0, var=s2u) subject=j;``      ``pm.Normal("u", 0, sigma=sqrt(s2u),
                                                  dims="cluster")``; PROC MCMC makes one effect
                                                  per value of ``j`` (110), see ``sas_singletons``
``mu = b0 + b1*treat + u*treat;``                 ``mu = b0 + b1*treat + u[cluster]*treat``
``model y ~ normal(mu, var=s2e);``                ``pm.Normal("y", mu, sigma=sqrt(s2e))``
================================================  =============================================

Parameterizations of the cluster effects (the marginal posterior of b0, b1 and the variances is the
same for all three; what differs is how hard the geometry is for a sampler):

- ``noncentered``: ``z_j ~ N(0, 1)``, ``u_j = sqrt(s2u)·z_j`` for the treated clusters only;
- ``centered``: ``u_j ~ N(0, s2u)`` for the treated clusters only;
- ``sas_singletons``: centered, with one effect per distinct ``j`` including every control's
  singleton (multiplied by Tx = 0, so touched by no data), exactly as PROC MCMC's RANDOM statement.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from partclust.data import Design
from partclust.models.priors import SAS_PRIORS, Priors, s2u_prior_rv
from partclust.validate import check_parameterization, check_residual

__all__ = ["build_model"]


def build_model(
    design: Design,
    residual: str = "single",
    parameterization: str = "noncentered",
    priors: Priors = SAS_PRIORS,
) -> pm.Model:
    """Build the PyMC model of ``design``: the only place a PyMC model is written.

    Parameters
    ----------
    design : Design
        The validated data.
    residual : {"single", "per_condition"}
        One residual variance ``s2e``, or ``s2e_control`` and ``s2e_treated``.
    parameterization : {"noncentered", "centered", "sas_singletons"}
        How the cluster effects are sampled (module docstring).
    priors : Priors
        The priors; the default reproduces the SAS program.

    Returns
    -------
    pymc.Model
        With dims ``cluster`` (the treated clusters, by the data's labels; ``u`` has it) and ``obs``
        (one per row); ``sas_cluster`` (every value of j) for ``sas_singletons``.

    Raises
    ------
    SpecError
        For an unknown residual structure or parameterization.
    """
    check_residual(residual)
    check_parameterization(parameterization)
    coords = {"cluster": list(design.clusters), "obs": list(design.subject)}
    if parameterization == "sas_singletons":
        coords["sas_cluster"] = list(design.sas_clusters)
    treat = design.treat.astype(float)

    with pm.Model(coords=coords) as model:
        tx = pm.Data("treat", treat, dims="obs")
        b0 = pm.Normal("b0", mu=0.0, sigma=priors.b_sd)
        b1 = pm.Normal("b1", mu=0.0, sigma=priors.b_sd)
        s2u = s2u_prior_rv(priors)
        sd_u = pt.sqrt(s2u)
        if parameterization == "noncentered":
            z = pm.Normal("z", 0.0, 1.0, dims="cluster")
            u = pm.Deterministic("u", sd_u * z, dims="cluster")
            effect = u[np.maximum(design.cluster_of_row, 0)]
        elif parameterization == "centered":
            u = pm.Normal("u", 0.0, sigma=sd_u, dims="cluster")
            effect = u[np.maximum(design.cluster_of_row, 0)]
        else:
            u_all = pm.Normal("u_sas", 0.0, sigma=sd_u, dims="sas_cluster")
            pm.Deterministic("u", u_all[: design.n_clusters], dims="cluster")
            effect = u_all[design.sas_cluster_of_row]

        if residual == "single":
            s2e = pm.Uniform("s2e", 0.0, priors.s2e_upper)
            sd_e = pt.sqrt(s2e)
        else:
            s2e_c = pm.Uniform("s2e_control", 0.0, priors.s2e_upper)
            s2e_t = pm.Uniform("s2e_treated", 0.0, priors.s2e_upper)
            sd_e = pt.sqrt(pt.switch(pt.eq(tx, 1.0), s2e_t, s2e_c))

        mu = b0 + b1 * tx + effect * tx
        pm.Normal("y", mu=mu, sigma=sd_e, observed=design.y, dims="obs")
    return model
