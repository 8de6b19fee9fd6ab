"""Figures shared by the notebooks: the data, one fit's diagnostics, comparisons.

Every function returns a matplotlib figure (or a displayable object) and never shows or saves it:
the notebook decides, so reports embed exactly what a reader sees in JupyterLab.
"""

from partclust.reporting.plots.calibration import bias_plot, coverage_plot, ecdf_differences, rank_histograms
from partclust.reporting.plots.comparison import calibration_plot, forest, s2u_density, z_against_normal
from partclust.reporting.plots.data import cluster_size_table, outcome_by_arm_and_cluster, outcome_by_group
from partclust.reporting.plots.diagnostics import close_all, model_graph, rank_plot, trace_plot

__all__ = ["bias_plot", "coverage_plot", "ecdf_differences", "rank_histograms", "calibration_plot", "close_all", "cluster_size_table", "forest", "model_graph",
           "outcome_by_arm_and_cluster", "outcome_by_group", "rank_plot", "s2u_density", "trace_plot", "z_against_normal"]
