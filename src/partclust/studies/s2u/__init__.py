"""Why σ²_u differed between SAS PROC MCMC and PyMC: the candidate explanations, each measured.

``skew`` (a): mean, median, mode and REML of a skewed posterior · ``mixing`` (b): 10 vs 110 effects,
NUTS vs Metropolis-within-Gibbs · ``prior_traps`` (c): plausible mistranslations of the SAS priors ·
``findings`` (d): which explanations survive · ``figures``: the pictures.
"""

from partclust.studies.s2u.figures import plot_mixing, plot_traces, plot_traps
from partclust.studies.s2u.findings import Finding, brief, conclusions, judge, render
from partclust.studies.s2u.mixing import (MIXING_COLUMNS, SAMPLER_LABELS, MixingConfig, ess_per_draw_ar1,
                                          gibbs_autocorrelation, mixing_configs, mixing_study, mixing_summary)
from partclust.studies.s2u.prior_traps import (MOVES, NO_MOVE, TRAP_COLUMNS, TRAP_RUN_COLUMNS, PriorTrap,
                                               default_traps, prior_trap_study, scale_rate_swapped, trap_posteriors,
                                               trap_summary)
from partclust.studies.s2u.skew import REPORTED_BY, SKEW_COLUMNS, hpd_interval, skew_table

__all__ = [
    "MIXING_COLUMNS", "MOVES", "NO_MOVE", "REPORTED_BY", "SAMPLER_LABELS", "SKEW_COLUMNS", "TRAP_COLUMNS",
    "TRAP_RUN_COLUMNS", "Finding", "MixingConfig", "PriorTrap", "brief", "conclusions", "default_traps",
    "ess_per_draw_ar1", "gibbs_autocorrelation", "hpd_interval", "judge", "mixing_configs", "mixing_study",
    "mixing_summary", "plot_mixing", "plot_traces", "plot_traps", "prior_trap_study", "render",
    "scale_rate_swapped", "skew_table", "trap_posteriors", "trap_summary",
]
