"""Model layer: the priors (each family defined once), parameter names, and the PyMC model.

``checks`` says whether a model can be fitted to a dataset (refusing too few data or a scale the priors
exclude). ``priors``, ``names`` and ``checks`` import no PyMC; :func:`build_model` (``models.pymc``) is loaded on first use.
"""

from partclust.models.checks import MIN_RESIDUAL_DF, check_data, data_problems
from partclust.models.names import PARAM_LABELS, param_label, residual_names, scalar_names
from partclust.models.priors import (S2U_PRIORS, SAS_PRIORS, Priors, describe_s2u_prior, log_prior_residual,
                                     log_prior_s2u, s2u_prior_rv)

__all__ = [
    "MIN_RESIDUAL_DF", "check_data", "data_problems", "PARAM_LABELS", "S2U_PRIORS", "SAS_PRIORS", "Priors", "build_model", "describe_s2u_prior",
    "log_prior_residual", "log_prior_s2u", "param_label", "residual_names", "s2u_prior_rv", "scalar_names",
]


def __getattr__(name: str):
    if name == "build_model":
        from partclust.models.pymc import build_model

        return build_model
    raise AttributeError(f"module 'partclust.models' has no attribute {name!r}")
