"""Study layer: questions asked of many fits.

``seeds`` (the multi-seed study's definition and per-model aggregate) · ``grid`` (fit every
configuration × seed in one process and tabulate) · ``s2u/`` (why σ²_u differed) · ``efficiency``
(parameterization × sampler, notebook 08) · ``model_choice`` (which residual model, notebook 09) ·
``sensitivity`` (the σ²_u prior, notebook 10) · ``sbc`` (simulation-based calibration) · ``simulation``
(the design grid: bias and coverage across designs). Import these modules by name (they load ArviZ).
"""

from partclust.studies.grid import RUN_COLUMNS, GridJob, GridResult, fit_grid, n_effects
from partclust.studies.seeds import ModelAggregate, StudySettings, aggregate_model, s2u_headline, s2u_numbers

__all__ = ["RUN_COLUMNS", "GridJob", "GridResult", "ModelAggregate", "StudySettings", "aggregate_model", "fit_grid",
           "n_effects", "s2u_headline", "s2u_numbers"]
