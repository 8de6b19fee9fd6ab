"""Inference layer: run settings, sampling, summaries with MCSEs and the convergence gate, run records.

Every name is loaded from its module on first use (PEP 562), so importing one light module, such as
``partclust.inference.settings`` to check a command's options, does not load pandas with ``runs`` and
``summary`` (1.3 s here), nor PyMC with ``sample``.
"""

from __future__ import annotations

import importlib
from typing import Any

from partclust.errors import FitError

_WHERE = {
    **dict.fromkeys(("POSTERIOR_NC", "RUN_FILES", "RUN_JSON", "SUMMARY_CSV", "TREE_GROUPS", "default_run_dir",
                     "file_record", "is_complete", "read_posterior", "read_run", "read_trace", "run_tree",
                     "verify_run", "write_run"), "runs"),
    **dict.fromkeys(("SEED_MAX", "FitSettings"), "settings"),
    **dict.fromkeys(("GATE", "MCSE_COLUMN", "QUANTILES", "STATISTICS", "SUMMARY_COLUMNS", "convergence_gate",
                     "flat_params", "gate_description", "select_params", "summarize", "summarize_params"), "summary"),
    **dict.fromkeys(("fit", "FitResult", "sample_model", "fit_translated", "compile_phrase"), "sample"),
}

__all__ = [
    "FitError", "POSTERIOR_NC", "RUN_FILES", "RUN_JSON", "SUMMARY_CSV", "TREE_GROUPS", "default_run_dir",
    "file_record", "is_complete", "read_posterior", "read_run", "read_trace", "run_tree", "verify_run", "write_run",
    "SEED_MAX", "FitSettings", "GATE", "MCSE_COLUMN", "QUANTILES", "STATISTICS", "SUMMARY_COLUMNS",
    "convergence_gate", "flat_params", "gate_description", "select_params", "summarize", "summarize_params", "fit",
    "FitResult", "sample_model", "fit_translated", "compile_phrase",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'partclust.inference' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"partclust.inference.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
