"""Translation layer: text → model specification (between ``models`` and ``inference``).

``grammar`` (the PROC MCMC grammar, ``procmcmc.lark``, and its lark parser) → ``distributions``
(PROC MCMC distributions and PRIOR statements → prior families) → ``formula`` (formulas such as
``y ~ treat + pretest + (0 + treat | coach)``, read with ``formulae``, → :class:`~partclust.models.ModelSpec`)
→ ``specs`` (a specification from command-line or notebook options, and back from a run record).
"""

from partclust.translate.distributions import parse_distribution, parse_prior

__all__ = ["parse_distribution", "parse_prior"]
