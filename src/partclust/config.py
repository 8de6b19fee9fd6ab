"""Names shared by every layer, and the versions a record stores; importable without PyMC.

The command line, the study driver and the Dask workers validate settings and schedule runs in
processes that never sample; keeping these definitions free of PyMC/ArviZ keeps them light.
"""

from __future__ import annotations

import functools
import platform
import sys

__all__ = ["RESIDUALS", "PARAMETERIZATIONS", "SAMPLERS", "VERSIONED_PACKAGES", "NOTEBOOK_FILES", "MAX_SEEDS",
           "MAX_WORKERS", "NO_WHY_ROLES", "package_versions", "import_nbformat"]

RESIDUALS: tuple[str, ...] = ("single", "per_condition")
"""The two residual structures of STUDY.md: one σ²_e, or one per condition."""
PARAMETERIZATIONS: tuple[str, ...] = ("noncentered", "centered", "sas_singletons")
"""How the cluster effects are sampled (see :mod:`partclust.models.pymc`)."""
SAMPLERS: tuple[str, ...] = ("nutpie", "pymc", "metropolis")
"""nutpie's NUTS, PyMC's own NUTS, and PyMC's Metropolis-within-Gibbs."""
MAX_SEEDS = 10_000
"""Most seeds one study runs per model (each run is a fit of seconds; 10,000 is hours per model)."""
MAX_WORKERS = 1024
"""Most local worker processes a study starts."""
NOTEBOOK_FILES: dict[str, str] = {
    "summary": "00_summary.ipynb",
    "data": "01_data.ipynb",
    "fit": "02_fit.ipynb",
    "compare": "03_compare.ipynb",
    "monte_carlo": "04_monte_carlo.ipynb",
    "why": "05_why_s2u_differed.ipynb",
    "your_trial": "06_your_trial.ipynb",
    "translate": "07_translate.ipynb",
    "efficiency": "08_efficiency.ipynb",
    "model_choice": "09_residual_variances.ipynb",
    "sensitivity": "10_prior_sensitivity.ipynb",
    "sbc": "11_sbc.ipynb",
    "design_simulation": "12_design_simulation.ipynb",
}
"""Each notebook in ``notebooks/`` by its role. The study runs them and the landing page (the executed
``summary``) links every other entry, each with what it found; a notebook added here is listed there."""
NO_WHY_ROLES: tuple[str, ...] = ("why", "efficiency", "model_choice", "sensitivity")
"""The notebooks (by role) a study leaves out with ``--no-why``: 05, 08, 09 and 10 fit models of their own."""
VERSIONED_PACKAGES: tuple[str, ...] = (
    "partclust", "pymc", "pytensor", "nutpie", "numba", "arviz", "arviz-stats", "numpy", "scipy",
    "pandas", "xarray", "papermill",
)


@functools.cache
def _versions() -> tuple[tuple[str, str], ...]:
    from importlib import metadata

    out = [("python", platform.python_version())]
    for pkg in VERSIONED_PACKAGES:
        try:
            out.append((pkg, metadata.version(pkg)))
        except metadata.PackageNotFoundError:
            out.append((pkg, "not installed"))
    return tuple(out)


def package_versions() -> dict[str, str]:
    """Versions of Python and of every package a result depends on.

    Returns
    -------
    dict of str to str
        ``{"python": "3.12.1", "pymc": …}``; a package that is absent maps to ``"not installed"``.
        Run records, reference sidecars and every notebook's Environment cell store this.
    """
    return dict(_versions())


def import_nbformat():
    """Import and return ``nbformat`` without the IRI syntax checker that jsonschema would build on import.

    ``nbformat`` validates notebooks with ``jsonschema``, whose ``_format`` module imports every format checker it
    finds installed. With ``rfc3987-syntax`` installed (``jsonschema[format-nongpl]``, required by
    ``jupyter-events``), that import builds about 40 Earley parsers with lark: 3.6–3.7 s here (``python -c "import
    rfc3987_syntax"``), paid by every process that runs papermill or nbconvert (the study driver, each worker,
    ``partclust fit --notebook``). The notebook schema checks no ``iri`` format, so nothing is lost; see
    python-jsonschema/jsonschema issues 1392 and 1428. ``rfc3987_syntax`` is hidden only while ``jsonschema``'s
    formats load, and only when neither is loaded yet: afterwards ``import rfc3987_syntax`` works as usual, and
    ``jsonschema``'s checker then lacks the ``iri`` and ``iri-reference`` formats in this process.

    Returns
    -------
    module
        ``nbformat``.
    """
    if "jsonschema._format" not in sys.modules and "rfc3987_syntax" not in sys.modules:
        sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]  # an import of it raises ImportError
        try:
            import jsonschema._format  # noqa: F401
        finally:
            if sys.modules.get("rfc3987_syntax", 0) is None:
                del sys.modules["rfc3987_syntax"]
    import nbformat

    return nbformat
