"""Replicating a SAS PROC MCMC analysis of a partially clustered trial in PyMC.

Monte Carlo error is measured and separated from real differences.

Layers, each a sub-package, every import pointing down this list:

``data`` (find, read, validate → Design) → ``models`` (priors, names, the PyMC model) → ``inference``
(settings, sampling, summaries and the convergence gate, run records) → ``references`` (exact
posterior, REML, PyMC 2 (2011), SAS output) → ``evaluation`` (comparison engine, Monte Carlo error) →
``studies`` (multi-seed study, why σ²_u differed) → ``reporting`` (HTML pages, index, figures) →
``runner`` (papermill, Dask, the command line). Cross-cutting: ``errors``, ``config``, ``layout``,
``validate``, ``files``.

The names below load their layer on first use, so ``import partclust`` stays light.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_PUBLIC = {
    "PartclustError": "partclust.errors", "DataError": "partclust.errors", "SpecError": "partclust.errors",
    "FitError": "partclust.errors", "SasOutputError": "partclust.errors", "ComparisonError": "partclust.errors",
    "StudyError": "partclust.errors", "NotebookError": "partclust.errors", "ReportError": "partclust.errors",
    "ResultsLayout": "partclust.layout",
    "Design": "partclust.data", "load_design": "partclust.data", "design_frame": "partclust.data",
    "Priors": "partclust.models", "SAS_PRIORS": "partclust.models", "build_model": "partclust.models",
    "FitSettings": "partclust.inference", "fit": "partclust.inference", "summarize": "partclust.inference",
    "convergence_gate": "partclust.inference", "write_run": "partclust.inference", "read_run": "partclust.inference",
    "exact_posterior": "partclust.references.exact", "reml": "partclust.references.reml",
    "all_references": "partclust.references", "Reference": "partclust.references",
    "compare": "partclust.evaluation", "compare_all": "partclust.evaluation", "fit_table": "partclust.evaluation",
    "load_runs": "partclust.evaluation", "mc_error_table": "partclust.evaluation",
    "StudySettings": "partclust.studies", "aggregate_model": "partclust.studies",
    "run_study": "partclust.runner.dask", "main": "partclust.runner",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str):
    """Load a public name's layer on first use (``import partclust`` itself imports no layer)."""
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'partclust' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
