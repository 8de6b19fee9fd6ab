"""Evaluation layer: whether a difference is Monte Carlo error or real, and whether the reported MCSE is right.

``compare`` (the verdict engine: Bonferroni, Student-t for few seeds, interval-aware for truncated
numbers) and ``mc_error`` (calibration of the MCSE across seeds, draws needed for a target MCSE).
"""

from partclust.errors import ComparisonError
from partclust.evaluation.compare import (COMPARISON_COLUMNS, CONSISTENT, FAMILY_ALPHA, MIN_SEEDS_FOR_SPREAD,
                                          NOT_COMPARABLE, REAL, REFERENCE_WORDS, SE_FROM_MCSE, SE_FROM_SPREAD,
                                          FlagSummary, RunSet, compare, compare_all, effective_df,
                                          expected_false_alarms, fit_table, flag_summary, load_runs, per_seed_z,
                                          real_differences_text, verdict_counts, z_critical)
from partclust.evaluation.mc_error import (MC_ERROR_COLUMNS, TARGET_MCSE, draws_needed, draws_needed_from_ess,
                                           mc_error_table, ratio_band, ratio_interval, sd_interval, z_summary)

__all__ = [
    "COMPARISON_COLUMNS", "CONSISTENT", "FAMILY_ALPHA", "MC_ERROR_COLUMNS", "MIN_SEEDS_FOR_SPREAD", "NOT_COMPARABLE",
    "REAL", "REFERENCE_WORDS", "SE_FROM_MCSE", "SE_FROM_SPREAD", "TARGET_MCSE",
    "ComparisonError", "FlagSummary", "RunSet", "compare", "compare_all", "draws_needed", "draws_needed_from_ess",
    "effective_df", "expected_false_alarms", "fit_table", "flag_summary", "load_runs", "mc_error_table",
    "per_seed_z", "ratio_band", "real_differences_text", "ratio_interval", "sd_interval", "verdict_counts", "z_critical", "z_summary",
]
