"""The exact posterior by quadrature: no Monte Carlo error, the arbiter every fit is judged against.

``sufficient`` (per-cluster statistics, the Gaussian conditionals given the variances) →
``quadrature`` (scales and grids for the variances) → ``sinc`` (quantiles from interpolated CDFs
and Gaussian mixtures) → ``posterior`` (:class:`ExactPosterior`).
"""

from partclust.references.exact.posterior import (DEFAULT_GRID, TABLE_COLUMNS, ExactPosterior, exact_draws,
                                                  exact_posterior, log_density_variances)

__all__ = ["DEFAULT_GRID", "TABLE_COLUMNS", "ExactPosterior", "exact_draws", "exact_posterior",
           "log_density_variances"]
