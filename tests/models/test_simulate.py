"""Simulation from the model family: prior draws against the families' known moments, outcomes given parameters."""

from __future__ import annotations

import numpy as np
import pytest

from partclust.errors import SpecError
from partclust.models.priors import (Exponential, Flat, Gamma, GammaOnPrecision, GammaOnSD, InverseGamma, Normal,
                                     Uniform)
from partclust.models.simulate import (draw_parameters, draw_prior, partially_nested_design, simulate_outcome,
                                       with_outcome)

N = 200_000


# Means and variances from the families' textbook definitions (SAS parameterizations: var, rate, scale).
@pytest.mark.parametrize("prior, mean, var", [
    (Normal(2.0, 9.0), 2.0, 9.0),
    (Gamma(3.0, 2.0), 1.5, 0.75),  # shape/rate, var shape/rate²
    (InverseGamma(5.0, 2.0), 0.5, 2.0**2 / (4.0**2 * 3.0)),  # scale/(a−1), scale²/((a−1)²(a−2))
    (Uniform(0.0, 100.0), 50.0, 100.0**2 / 12),
    (Exponential(0.5), 0.5, 0.25),
    (GammaOnSD(4.0, 2.0), 4.0 * 5.0 / 4.0, None),  # E[sd²] = var + mean² = a/b² + a²/b²
    (GammaOnPrecision(5.0, 2.0), 2.0 / 4.0, None),  # E[1/τ] = rate/(a−1)
])
def test_prior_draws_have_the_family_moments(prior, mean, var):
    x = draw_prior(prior, np.random.default_rng(1), N)
    se = x.std() / np.sqrt(N)
    assert abs(x.mean() - mean) < 5 * se
    if var is not None:
        assert abs(x.var() / var - 1) < 0.03
    assert prior.log_density(x).min() > -np.inf  # every draw inside the support


def test_improper_prior_is_refused():
    with pytest.raises(SpecError, match="proper prior"):
        draw_prior(Flat(), np.random.default_rng(1))


def test_partially_nested_design_recycles_sizes():
    md = partially_nested_design(5, [2, 4], 7, "per_condition")
    assert md.n_groups == 5 and list(md.group_sizes.values()) == [2, 4, 2, 4, 2]
    assert md.n == 14 + 7 and int((md.group < 0).sum()) == 7
    assert md.residual_names == ("s2e_control", "s2e_treated")
    with pytest.raises(SpecError):
        partially_nested_design(1, 5, 10)


def test_simulated_outcome_has_the_model_moments():
    """Mean b0 + b1·Tx, control variance s2e_control, treated within-cluster covariance s2u."""
    md = partially_nested_design(2, 2, 2, "per_condition")
    params = {"b0": 1.0, "b1": 2.0, "s2e_control": 0.5, "s2e_treated": 2.0}
    rng = np.random.default_rng(3)
    ys = np.array([simulate_outcome(md, {**params, "s2u": 1.5, "u": rng.normal(0, np.sqrt(1.5), 2)}, rng)
                   for _ in range(40_000)])
    treated = md.X[:, 1] == 1
    assert np.allclose(ys.mean(axis=0), 1.0 + 2.0 * md.X[:, 1], atol=0.05)
    var = ys.var(axis=0)
    assert np.allclose(var[~treated], 0.5, rtol=0.05) and np.allclose(var[treated], 3.5, rtol=0.05)
    same = np.flatnonzero(md.group == 0)
    assert abs(np.cov(ys[:, same[0]], ys[:, same[1]])[0, 1] - 1.5) < 0.1


def test_draw_parameters_and_with_outcome(run1_design):
    from partclust.models.model_data import builtin_data

    md = builtin_data(run1_design, "single")
    p = draw_parameters(md, np.random.default_rng(0))
    assert set(p) == {"b0", "b1", "s2u", "s2e", "u"} and p["u"].shape == (md.n_groups,)
    y = simulate_outcome(md, p, np.random.default_rng(1))
    sim = with_outcome(md, y)
    assert np.array_equal(sim.y, y) and sim.source == "<simulated>" and np.array_equal(sim.X, md.X)
    with pytest.raises(SpecError):
        with_outcome(md, y[:-1])
