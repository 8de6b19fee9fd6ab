"""The one PyMC builder: any :class:`~partclust.models.spec.ModelSpec`, read through its data, as a PyMC model.

    y = X·b + z ⊙ u[g] + e,   u_k ~ N(0, s2u),   e_i ~ N(0, s2e[r_i])

The built-in run1 models (y_i = b0 + b1·Tx_i + u_{j(i)}·Tx_i + e_i) are two specifications; the graph
built for them is the one the project always built (same variables, same order), so a seed gives the
same draws.

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

from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from partclust.models.priors import SAS_PRIORS, Priors
from partclust.models.model_data import ModelData, model_data_of
from partclust.validate import check_parameterization

__all__ = ["build_model"]


def build_model(
    data: Any,
    residual: str = "single",
    parameterization: str = "noncentered",
    priors: Priors = SAS_PRIORS,
    swappable_outcome: bool = False,
) -> pm.Model:
    """Build the PyMC model of a specification read through its data: the only place a PyMC model is written.

    Parameters
    ----------
    data : ModelData or Design
        The data read through a specification, or a validated run1 design (then ``residual`` and
        ``priors`` choose the built-in model).
    residual : {"single", "per_condition"}
        For a Design only: one residual variance ``s2e``, or ``s2e_control`` and ``s2e_treated``.
    parameterization : {"noncentered", "centered", "sas_singletons"}
        How the cluster effects are sampled (module docstring).
    priors : Priors
        For a Design only; the default reproduces the SAS program.
    swappable_outcome : bool
        Hold the outcome in a ``pm.Data`` named ``y_observed`` (dims ``obs``), so that a compiled
        model can be given another outcome of the same design without compiling again (nutpie's
        ``with_data(y_observed=…)``; simulation studies). The log density is unchanged.

    Returns
    -------
    pymc.Model
        Free variables in this order: the fixed effects (``b0 b1`` or ``b[<column>]``), ``s2u`` (or the
        trap families' ``sd_u``/``tau_u``), the effects (``z``, ``u`` or ``u_sas``), the residual
        variances; the likelihood ``y``. Dims ``cluster`` (the sampled effects, by the data's labels;
        ``u`` has it), ``obs`` (one per row), and ``sas_cluster`` (every label) for ``sas_singletons``.

    Raises
    ------
    SpecError
        For an unknown residual structure or parameterization.
    """
    check_parameterization(parameterization)
    md = model_data_of(data, residual, priors)
    coords: dict[str, list] = {"obs": list(md.rows)}
    if md.has_random:
        coords = {"cluster": list(md.groups), "obs": list(md.rows)}
        if parameterization == "sas_singletons":
            coords["sas_cluster"] = list(md.sas_groups)
    used = set(md.scalar_names) | {"y", "u", "z", "u_sas"}

    with pm.Model(coords=coords) as model:
        tensors: dict[str, Any] = {}

        def column(name: str, values: np.ndarray) -> Any:
            if name not in tensors:
                safe = name if name not in used else f"data_{name}"
                tensors[name] = pm.Data(safe, np.asarray(values, dtype=float), dims="obs")
            return tensors[name]

        spec = md.spec
        z_col = spec.random.multiplies if spec.random is not None else None
        if z_col is not None and z_col in md.x_columns:
            column(z_col, md.z)  # created first, as the built-in models always did
        bs = [md.priors[name].pymc(name) for name in md.fixed_names]
        mu = None
        for b, col, k in zip(bs, md.x_columns, range(md.p)):
            term = b if col == "Intercept" else b * column(col, md.X[:, k])
            mu = term if mu is None else mu + term
        if md.has_random:
            s2u = md.priors["s2u"].pymc("s2u")
            sd_u = pt.sqrt(s2u)
            if parameterization == "noncentered":
                z = pm.Normal("z", 0.0, 1.0, dims="cluster")
                u = pm.Deterministic("u", sd_u * z, dims="cluster")
                effect = u[np.maximum(md.group, 0)]
            elif parameterization == "centered":
                u = pm.Normal("u", 0.0, sigma=sd_u, dims="cluster")
                effect = u[np.maximum(md.group, 0)]
            else:
                u_all = pm.Normal("u_sas", 0.0, sigma=sd_u, dims="sas_cluster")
                pm.Deterministic("u", u_all[: md.n_groups], dims="cluster")
                effect = u_all[np.maximum(md.sas_group, 0)]
            if z_col is not None:
                effect = effect * column(z_col, md.z)
            mu = effect if mu is None else mu + effect
        s2e = [md.priors[name].pymc(name) for name in md.residual_names]
        if len(s2e) == 1:
            sd_e = pt.sqrt(s2e[0])
        elif len(s2e) == 2:
            level = _level_tensor(md, column)
            sd_e = pt.sqrt(pt.switch(pt.eq(level, 1.0), s2e[1], s2e[0]))
        else:
            sd_e = pt.sqrt(pt.stack(s2e)[md.resid])
        if mu is None:
            mu = pt.zeros(md.n)
        observed = pm.Data("y_observed", md.y, dims="obs") if swappable_outcome else md.y
        pm.Normal("y", mu=mu, sigma=sd_e, observed=observed, dims="obs")
    return model


def _level_tensor(md: ModelData, column: Any) -> Any:
    """Return the residual level (0 or 1) per row as a data tensor.

    That is the residual-by column itself when it is a 0/1 column already in the model (the built-in
    per-condition model's ``treat``), so the built-in graph is unchanged.
    """
    by = md.spec.residual_by
    level = md.resid.astype(float)
    for name, values in ([(by, md.z)] if md.z is not None and md.spec.random.multiplies == by else []) + [
            (c, md.X[:, k]) for k, c in enumerate(md.x_columns) if c == by]:
        if np.array_equal(np.asarray(values, float), level):
            return column(name, values)
    return column(f"{by}_level", level)
