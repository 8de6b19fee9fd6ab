"""Figures shared by the notebooks: the data, one fit's diagnostics, comparisons, the other questions (08–10).

Every function returns a matplotlib figure (or a displayable object) and never shows or saves it:
the notebook decides, so reports embed exactly what a reader sees in JupyterLab.
"""

from partclust.reporting.plots.calibration import bias_plot, coverage_plot, ecdf_differences, rank_histograms
from partclust.reporting.plots.comparison import calibration_plot, forest, s2u_density, z_against_normal
from partclust.reporting.plots.data import cluster_size_table, outcome_by_arm_and_cluster, outcome_by_group
from partclust.reporting.plots.diagnostics import close_all, model_graph, rank_plot, trace_plot
from partclust.reporting.plots.questions import (efficiency_plot, pareto_k_plot, prior_sensitivity_plot,
                                                 variance_ratio_plot)

__all__ = ["bias_plot", "calibration_plot", "close_all", "cluster_size_table", "coverage_plot", "ecdf_differences",
           "efficiency_plot", "forest", "model_graph", "outcome_by_arm_and_cluster", "outcome_by_group", "pareto_k_plot",
           "prior_sensitivity_plot", "rank_histograms", "rank_plot", "s2u_density", "trace_plot", "variance_ratio_plot",
           "z_against_normal"]
