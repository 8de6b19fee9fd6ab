"""Study layer: questions asked of many fits.

``seeds`` (the multi-seed study's definition and per-model aggregate) · ``grid`` (fit every
configuration × seed in one process and tabulate) · ``s2u/`` (why σ²_u differed) · ``sbc`` (simulation-based
calibration) · ``simulation`` (the design grid: bias and coverage across designs).
"""

from partclust.studies.grid import RUN_COLUMNS, GridJob, GridResult, fit_grid, n_effects
from partclust.studies.seeds import ModelAggregate, StudySettings, aggregate_model, s2u_headline, s2u_numbers

__all__ = ["RUN_COLUMNS", "GridJob", "GridResult", "ModelAggregate", "StudySettings", "aggregate_model", "fit_grid",
           "n_effects", "s2u_headline", "s2u_numbers"]
