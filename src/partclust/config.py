"""Names shared by every layer, and the versions a record stores; importable without PyMC.

The command line, the study driver and the Dask workers validate settings and schedule runs in
processes that never sample; keeping these definitions free of PyMC/ArviZ keeps them light.
"""

from __future__ import annotations

import functools
import platform

__all__ = ["RESIDUALS", "PARAMETERIZATIONS", "SAMPLERS", "VERSIONED_PACKAGES", "NOTEBOOK_FILES", "MAX_SEEDS",
           "MAX_WORKERS", "NO_WHY_ROLES", "package_versions"]

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
