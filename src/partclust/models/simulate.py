"""Simulating from the model family: parameters from a specification's priors, outcomes given parameters.

    y = X·b + z ⊙ u[g] + e,   u_k ~ N(0, σ²_u),   e_i ~ N(0, σ²_e[r_i])

What simulation-based calibration (Talts et al. 2018) and a design-level simulation study need: draw
θ from the prior (:func:`draw_parameters`), an outcome y | θ for a fixed design (:func:`simulate_outcome`),
the design's :class:`ModelData` carrying that outcome (:func:`with_outcome`), and a synthetic partially
nested design of any number of clusters, cluster sizes and controls (:func:`partially_nested_design`).
Draws use numpy's ``Generator`` directly, independently of PyMC, so a model's prior is checked against an
independent computation.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np
import pandas as pd

from partclust.errors import SpecError
from partclust.models.model_data import ModelData, builtin_data
from partclust.models.priors import (
    SAS_PRIORS, Exponential, Gamma, GammaOnPrecision, GammaOnSD, InverseGamma, Normal, Prior, Priors, Uniform,
)

__all__ = ["draw_prior", "draw_parameters", "simulate_outcome", "with_outcome", "partially_nested_design"]


def draw_prior(prior: Prior, rng: np.random.Generator, size: int | None = None) -> Any:
    """Draw from a proper prior family, on the parameter's own scale.

    Parameters
    ----------
    prior : Prior
        ``Normal`` (variance ``var``), ``Gamma`` (rate), ``InverseGamma`` (scale), ``Uniform``,
        ``Exponential`` (scale), ``GammaOnSD`` (v = sd², sd ~ Gamma) or ``GammaOnPrecision`` (v = 1/τ).
    rng : numpy.random.Generator
    size : int, optional
        Number of draws (None: one float).

    Returns
    -------
    float or numpy.ndarray
        Shape ``(size,)`` when ``size`` is given.

    Raises
    ------
    SpecError
        For an improper prior (``general(…)``): nothing can be simulated from it.
    """
    if isinstance(prior, Normal):
        return rng.normal(prior.mean, np.sqrt(prior.var), size)
    if isinstance(prior, Gamma):
        return rng.gamma(prior.shape, 1.0 / prior.rate, size)
    if isinstance(prior, InverseGamma):
        return 1.0 / rng.gamma(prior.shape, 1.0 / prior.scale, size)
    if isinstance(prior, Uniform):
        return rng.uniform(prior.lower, prior.upper, size)
    if isinstance(prior, Exponential):
        return rng.exponential(prior.scale, size)
    if isinstance(prior, GammaOnSD):
        return rng.gamma(prior.shape, 1.0 / prior.rate, size) ** 2
    if isinstance(prior, GammaOnPrecision):
        return 1.0 / rng.gamma(prior.shape, 1.0 / prior.rate, size)
    raise SpecError(f"cannot simulate from the prior {prior.sas()}: simulation needs a proper prior")


def draw_parameters(md: ModelData, rng: np.random.Generator) -> dict[str, Any]:
    """Draw every parameter of ``md``'s specification from its prior, then the cluster effects.

    Returns
    -------
    dict
        One float per scalar parameter (``md.scalar_names``: fixed effects, ``s2u``, residual variances)
        and, with a random effect, ``u``: array of shape (n_groups,) drawn from N(0, s2u).

    Raises
    ------
    SpecError
        When a prior is improper.
    """
    params: dict[str, Any] = {name: float(draw_prior(md.priors[name], rng)) for name in md.scalar_names}
    if md.has_random:
        params["u"] = rng.normal(0.0, np.sqrt(params["s2u"]), md.n_groups)
    return params


def simulate_outcome(md: ModelData, params: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
    """Simulate y = X·b + z ⊙ u[g] + e for ``md``'s design given ``params``.

    Parameters
    ----------
    md : ModelData
        The design (X, z, groups, residual groups); its own outcome is ignored.
    params : dict
        Fixed effects and residual variances by name, and ``u`` (shape (n_groups,)) with a random effect.
    rng : numpy.random.Generator

    Returns
    -------
    numpy.ndarray
        Shape (n,), in the outcome's units.
    """
    b = np.array([params[name] for name in md.fixed_names], dtype=float)
    mean = md.X @ b
    if md.has_random:
        u = np.append(np.asarray(params["u"], dtype=float), 0.0)  # index −1: rows no effect touches
        mean = mean + md.effect_multiplier * u[md.group]
    sd = np.sqrt(np.array([params[name] for name in md.residual_names], dtype=float))[md.resid]
    return mean + sd * rng.standard_normal(md.n)


def with_outcome(md: ModelData, y: np.ndarray) -> ModelData:
    """Return ``md`` with outcome ``y`` (same design, specification and priors), marked as simulated.

    Raises
    ------
    SpecError
        When ``y`` does not have one finite value per row.
    """
    y = np.asarray(y, dtype=float)
    if y.shape != (md.n,) or not np.all(np.isfinite(y)):
        raise SpecError(f"a simulated outcome needs {md.n} finite values; got shape {y.shape}")
    return dataclasses.replace(md, y=y, source="<simulated>", sha256="", content_sha256="")


def partially_nested_design(treated_clusters: int, cluster_sizes: int | Sequence[int], controls: int,
                            residual: str = "single", priors: Priors = SAS_PRIORS) -> ModelData:
    """Build a partially nested trial's design read through a built-in model (outcome all zeros).

    Parameters
    ----------
    treated_clusters : int
        Number of treated clusters (≥ 2).
    cluster_sizes : int or sequence of int
        One size for every cluster, or sizes recycled over the clusters (a size distribution, e.g.
        ``[5, 10, 15]``).
    controls : int
        Number of unclustered controls (≥ 2), each its own singleton cluster as SAS codes them.
    residual : {"single", "per_condition"}
    priors : Priors

    Returns
    -------
    ModelData
        Columns ``i j treat y`` read as run1 is; clusters labelled 1…K, controls K+1….

    Raises
    ------
    SpecError
        For fewer than 2 clusters or controls, or a cluster size below 1.
    """
    sizes = [int(s) for s in np.resize(np.atleast_1d(np.asarray(cluster_sizes, dtype=int)), int(treated_clusters))]
    if treated_clusters < 2 or controls < 2 or min(sizes, default=0) < 1:
        raise SpecError(f"a design needs ≥ 2 treated clusters of ≥ 1 subject and ≥ 2 controls; got "
                        f"{treated_clusters} clusters of sizes {sizes} and {controls} controls")
    from partclust.data.design import validate

    j = np.concatenate([np.repeat(np.arange(1, len(sizes) + 1), sizes),
                        np.arange(len(sizes) + 1, len(sizes) + 1 + int(controls))])
    treat = np.concatenate([np.ones(sum(sizes), dtype=int), np.zeros(int(controls), dtype=int)])
    rng = np.random.default_rng(0)  # placeholder outcome with spread, so the design validates
    table = pd.DataFrame({"i": np.arange(1, j.size + 1), "j": j, "treat": treat, "y": rng.standard_normal(j.size)})
    design = validate(table, source="<simulated design>")
    md = builtin_data(design, residual, priors)
    return with_outcome(md, np.zeros(md.n))
