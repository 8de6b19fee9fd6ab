"""Inference layer: run settings, sampling, summaries with MCSEs and the convergence gate, run records.

``settings``, ``summary`` and ``runs`` import no PyMC; ``fit`` and ``FitResult`` (``inference.sample``)
are loaded on first use, so a process that only reads runs stays light.
"""

from partclust.errors import FitError
from partclust.inference.runs import (POSTERIOR_NC, RUN_FILES, RUN_JSON, SUMMARY_CSV, TREE_GROUPS, default_run_dir,
                                      file_record,
                                      is_complete, read_posterior, read_run, read_trace, run_tree, verify_run,
                                      write_run)
from partclust.inference.settings import SEED_MAX, FitSettings
from partclust.inference.summary import (GATE, MCSE_COLUMN, QUANTILES, STATISTICS, SUMMARY_COLUMNS, convergence_gate,
                                         flat_params, gate_description, select_params, summarize, summarize_params)

__all__ = [
    "GATE", "MCSE_COLUMN", "POSTERIOR_NC", "RUN_FILES", "QUANTILES", "RUN_JSON", "SEED_MAX", "STATISTICS",
    "SUMMARY_COLUMNS", "SUMMARY_CSV", "TREE_GROUPS", "FitError", "FitResult", "FitSettings", "convergence_gate",
    "default_run_dir", "fit", "flat_params", "gate_description", "is_complete", "read_posterior", "read_run",
    "read_trace", "run_tree", "summarize", "verify_run", "write_run", "select_params", "summarize_params",
    "sample_model", "fit_translated", "file_record",
]


def __getattr__(name: str):
    if name in ("fit", "FitResult", "sample_model", "fit_translated"):
        from partclust.inference import sample

        return getattr(sample, name)
    raise AttributeError(f"module 'partclust.inference' has no attribute {name!r}")
