"""Reference layer: what a fit is compared against, looked up by name.

``exact`` (quadrature posterior, no Monte Carlo error), ``reml`` (restricted maximum likelihood, the
PROC MIXED answer), ``pymc2_2011`` (published numbers, ``published/``), ``sas`` (PROC MCMC output,
``sas/``); ``base`` defines :class:`Reference`, ``registry`` builds them, ``store`` writes them to disk
with a provenance sidecar.

The names below load their module on first use, so ``partclust exact`` and ``partclust reml`` import
only the reference they compute (not the registry and everything it reads).
"""

import importlib

__all__ = [
    "REFERENCE_COLUMNS", "REFERENCE_NAMES", "Reference", "all_references", "exact_reference", "forest_table",
    "get_reference", "pymc2_reference", "reference_table", "refuse_inconsistent_sas", "reml_reference",
    "sas_notice", "sas_reference", "sas_refused", "side_by_side", "program_references",
]


def __getattr__(name: str):
    """Load a public name from ``base`` or ``registry`` on first use."""
    if name in ("REFERENCE_COLUMNS", "Reference", "reference_table"):
        return getattr(importlib.import_module("partclust.references.base"), name)
    if name in __all__:
        return getattr(importlib.import_module("partclust.references.registry"), name)
    raise AttributeError(f"module 'partclust.references' has no attribute {name!r}")
