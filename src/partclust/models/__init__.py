"""Model layer: prior families (each defined once), the model specification and its data, names, the PyMC model.

``priors`` (prior families: PyMC builder, log density, PROC MCMC text) → ``spec`` (:class:`ModelSpec`; the
built-in run1 models as two specifications) → ``model_data`` (:class:`ModelData`: a table read through a
specification) → ``names`` → ``pymc`` (the one PyMC builder). ``checks`` says whether a model can be fitted to
a dataset (refusing too few data or a scale the priors exclude). ``simulate`` draws parameters from the priors
and outcomes given them (simulation-based calibration, design studies). All but ``pymc`` import no PyMC;
:func:`build_model` (``models.pymc``) is loaded on first use.
"""

from partclust.models.checks import MIN_RESIDUAL_DF, check_data, data_problems
from partclust.models.names import PARAM_LABELS, param_label, residual_names, scalar_names
from partclust.models.priors import (DEFAULT_PRIORS, PRIOR_FAMILIES, S2U_PRIORS, SAS_PRIORS, Exponential, Flat, Gamma,
                                     GammaOnPrecision, GammaOnSD, HalfCauchyOnSD, HalfNormalOnSD, InverseGamma,
                                     Normal, Prior, Priors, Reciprocal, Uniform, UniformOnSD, describe_s2u_prior,
                                     log_prior_residual, log_prior_s2u, s2u_prior_rv)
from partclust.models.model_data import ModelData, build_model_data, builtin_data, group_index, model_data_of
from partclust.models.spec import ModelSpec, RandomEffect, builtin_spec

__all__ = [
    "DEFAULT_PRIORS", "Exponential", "Flat", "Gamma", "GammaOnPrecision", "GammaOnSD", "HalfCauchyOnSD",
    "HalfNormalOnSD", "InverseGamma",
    "MIN_RESIDUAL_DF", "ModelData", "ModelSpec", "Normal", "PARAM_LABELS", "PRIOR_FAMILIES", "Prior", "Priors",
    "RandomEffect", "Reciprocal", "S2U_PRIORS", "SAS_PRIORS", "Uniform", "UniformOnSD", "build_model",
    "build_model_data",
    "builtin_data", "builtin_spec", "check_data", "data_problems", "describe_s2u_prior", "group_index",
    "log_prior_residual", "log_prior_s2u", "model_data_of", "param_label", "residual_names", "s2u_prior_rv",
    "scalar_names",
]


def __getattr__(name: str):
    if name == "build_model":
        from partclust.models import pymc

        return getattr(pymc, name)
    raise AttributeError(f"module 'partclust.models' has no attribute {name!r}")
