"""Translation layer: text → model specification (between ``models`` and ``inference``).

``grammar`` (the PROC MCMC grammar, ``procmcmc.lark``, and its lark parser) → ``distributions``
(PROC MCMC distributions and PRIOR statements → prior families) → ``formula`` (formulas such as
``y ~ treat + pretest + (0 + treat | coach)``, read with ``formulae``, → :class:`~partclust.models.ModelSpec`)
→ ``specs`` (a specification from command-line or notebook options, and back from a run record).
"""

from partclust.translate.distributions import parse_distribution, parse_prior
from partclust.translate.formula import formula_data, parse_formula
from partclust.translate.specs import (as_prior_list, load_model_data, model_spec, parse_priors, spec_from_record,
                                       spec_key)

__all__ = ["as_prior_list", "formula_data", "load_model_data", "model_spec", "parse_distribution", "parse_formula",
           "parse_prior", "parse_priors", "spec_from_record", "spec_key"]
