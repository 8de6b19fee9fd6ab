"""Translation layer: text → model specification and model (between ``models`` and ``inference``).

``grammar`` (the PROC MCMC grammar, ``procmcmc.lark``, and its lark parser) → ``distributions``
(PROC MCMC distributions and PRIOR statements → prior families) → the PROC MCMC program translator:
``source`` (text with the file line of every character, comments, statements) → ``macros`` (the SAS macro
subset) → ``program`` (a PROC MCMC step read into a :class:`Program`; refusals name the line) →
``evaluate`` (the programming statements over the data: PyTensor, or polynomials for the family) →
``model`` (the PyMC model of a program) → ``family`` (its :class:`~partclust.models.ModelSpec`, or why not)
→ ``table`` (the SAS ↔ PyMC table) → ``translation`` (:func:`translate_file`: all of it for a file and its data).
"""

from partclust.translate.distributions import parse_distribution, parse_prior
from partclust.translate.formula import formula_data, parse_formula
from partclust.translate.specs import (as_prior_list, load_model_data, model_spec, parse_priors, spec_from_record,
                                       spec_key)

__all__ = ["as_prior_list", "formula_data", "load_model_data", "model_spec", "parse_distribution", "parse_formula",
           "parse_prior", "parse_priors", "spec_from_record", "spec_key", "read_program", "translate_file",
           "Translation", "RefusedError"]


def __getattr__(name: str):
    if name in ("read_program", "RefusedError"):
        from partclust.translate import program

        return getattr(program, name)
    if name in ("translate_file", "Translation"):
        from partclust.translate import translation

        return getattr(translation, name)
    raise AttributeError(f"module 'partclust.translate' has no attribute {name!r}")
