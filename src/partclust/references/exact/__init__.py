"""The exact posterior by quadrature: no Monte Carlo error, the arbiter every fit is judged against.

For every model of the family (any fixed-effect design, one grouping factor, one or two residual
variances). ``sufficient`` (per-group and per-cluster statistics, shared with REML; the Gaussian
conditionals given the variances) →
``quadrature`` (scales and grids for the variances) → ``sinc`` (quantiles from interpolated CDFs
and Gaussian mixtures) → ``posterior`` (:class:`ExactPosterior`).
"""

from partclust.references.exact.posterior import (DEFAULT_GRID, TABLE_COLUMNS, ExactPosterior, as_model_data,
                                                  exact_draws, exact_posterior, log_density_variances)

__all__ = ["DEFAULT_GRID", "TABLE_COLUMNS", "ExactPosterior", "as_model_data", "exact_draws", "exact_posterior",
           "log_density_variances"]
