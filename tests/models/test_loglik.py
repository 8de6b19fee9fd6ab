"""The array log-likelihood equals PyMC's own ``compute_log_likelihood`` of the built model, draw by draw and row by row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pymc as pm
import pytest
import xarray as xr

from partclust.models import build_model, model_data_of
from partclust.models.loglik import pointwise_log_likelihood
from partclust.translate import formula_data, parse_formula


def _draws(model, chains=2, n_draws=40, seed=3) -> xr.Dataset:
    """Arbitrary values of every free variable (positive variances), with ``u`` as the model defines it."""
    rng = np.random.default_rng(seed)
    out = {}
    for rv in model.free_RVs:
        shape = (chains, n_draws, *model.initial_point()[model.rvs_to_values[rv].name].shape)
        name = rv.name
        out[name] = rng.uniform(0.2, 2.0, shape) if name.startswith("s2") else rng.normal(size=shape)
    if "z" in out:
        out["u"] = np.sqrt(out["s2u"])[..., None] * out["z"]
    return xr.Dataset({k: (("chain", "draw", *[f"{k}_dim_{i}" for i in range(v.ndim - 2)]), v) for k, v in out.items()},
                      coords={"chain": np.arange(chains), "draw": np.arange(n_draws)})


def _pymc_and_ours(md, parameterization):
    model = build_model(md, parameterization=parameterization)
    posterior = _draws(model)
    tree = xr.DataTree.from_dict({"posterior": posterior})
    # PyMC evaluates the model's own likelihood graph (FAST_COMPILE: no C compilation, same arithmetic graph)
    theirs = pm.compute_log_likelihood(tree, model=model, extend_inferencedata=False, progressbar=False,
                                       compile_kwargs={"mode": "FAST_COMPILE"})["y"]
    ours = pointwise_log_likelihood(md, parameterization, {v: posterior[v].values for v in posterior.data_vars})
    return theirs.transpose("chain", "draw", "obs").values, ours


@pytest.mark.parametrize("parameterization", ["noncentered", "centered", "sas_singletons"])
@pytest.mark.parametrize("residual", ["single", "per_condition"])
def test_run1_models(run1_design, residual, parameterization):
    theirs, ours = _pymc_and_ours(model_data_of(run1_design, residual), parameterization)
    assert ours.shape == theirs.shape == (2, 40, 200)
    assert np.isfinite(ours).all()
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9)
    assert not np.allclose(ours[0], ours[1])  # the chains differ, so a mix-up of chains would show


def _frame(seed=5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 60
    return pd.DataFrame({"y": rng.normal(size=n), "x": rng.normal(size=n), "site": rng.integers(0, 3, n),
                         "g": rng.integers(0, 7, n), "arm": np.repeat([0, 1], n // 2)})


@pytest.mark.parametrize("formula,residual_by,parameterization", [
    ("y ~ x + (1 | g)", "site", "noncentered"),           # random intercept, three residual variances
    ("y ~ x + (1 | g)", None, "sas_singletons"),
    ("y ~ x + arm + (0 + arm | g)", "arm", "centered"),    # effect multiplying a column, two residual variances
    ("y ~ 0 + x", None, "noncentered"),                    # no intercept, no random effect
])
def test_formula_models(tmp_path, formula, residual_by, parameterization):
    path = tmp_path / "d.csv"
    table = _frame()
    table.to_csv(path, index=False)
    md = formula_data(table, parse_formula(formula, residual_by), source=str(path))
    theirs, ours = _pymc_and_ours(md, parameterization)
    assert ours.shape == theirs.shape == (2, 40, 60)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9)


def test_a_missing_variable_is_named(run1_design):
    md = model_data_of(run1_design, "single")
    with pytest.raises(KeyError, match="s2e"):
        pointwise_log_likelihood(md, "noncentered", {"b0": np.zeros((1, 2)), "b1": np.zeros((1, 2))})
