"""Reference layer: what a fit is compared against, looked up by name.

``exact`` (quadrature posterior, no Monte Carlo error), ``reml`` (restricted maximum likelihood, the
PROC MIXED answer), ``pymc2_2011`` (published numbers, ``published/``), ``sas`` (PROC MCMC output,
``sas/``); ``base`` defines :class:`Reference`, ``registry`` builds them, ``store`` writes them to disk
with a provenance sidecar.
"""

from partclust.references.base import REFERENCE_COLUMNS, Reference, reference_table
from partclust.references.registry import (REFERENCE_NAMES, all_references, exact_reference, forest_table,
                                           get_reference, program_references, pymc2_reference,
                                           refuse_inconsistent_sas, reml_reference, sas_notice, sas_reference,
                                           sas_refused, side_by_side)

__all__ = [
    "REFERENCE_COLUMNS", "REFERENCE_NAMES", "Reference", "all_references", "exact_reference", "forest_table",
    "get_reference", "pymc2_reference", "reference_table", "refuse_inconsistent_sas", "reml_reference",
    "sas_notice", "sas_reference", "sas_refused", "side_by_side", "program_references",
]
