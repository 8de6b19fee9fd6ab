"""Which residual model: PSIS-LOO against exact leave-one-out, the variance ratio, Pareto k and the conclusion."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from helpers import unbalanced_frame

from partclust.data.design import validate
from partclust.references.reml import LikelihoodRatioTest
from partclust.studies import model_choice as choice

SMALL = dict(sizes=(4, 6, 3, 5), n_control=12)
# The design of each residual model's PSIS-LOO test: the single-residual model on the suite's generated design
# (65 rows; its model is compiled for many tests, and its 65 quadratures take seconds), the per-condition one on
# a smaller design (its quadratures take about a second each).
LOO_DESIGN = {"single": {}, "per_condition": SMALL}


def test_variance_ratio_counts_draws_above_one():
    rng = np.random.default_rng(2)
    a, b = rng.gamma(20, 0.05, (2, 500)), rng.gamma(20, 0.05, (2, 500))
    post = xr.Dataset({"s2e_control": (("chain", "draw"), a), "s2e_treated": (("chain", "draw"), b)})
    r = choice.variance_ratio(post)
    assert r["p_greater"] == pytest.approx(float(np.mean(a / b > 1)))
    assert r["median"] == pytest.approx(float(np.median(a / b)))
    assert 0 < r["p_mcse"] < 0.05 and r["draws"] == 1000
    with pytest.raises(Exception, match="per-condition"):
        choice.variance_ratio(xr.Dataset({"s2e": (("chain", "draw"), a)}))


def test_every_pareto_k_above_the_threshold_is_listed():
    loos = {"single": SimpleNamespace(pareto_k=np.array([0.1, 0.71, 0.2, 1.3])),
            "per_condition": SimpleNamespace(pareto_k=np.array([0.1, 0.2, 0.3, 0.69]))}
    bad = choice.pareto_k_table(loos, ["a", "b", "c", "d"])
    assert bad[["model", "obs", "subject"]].values.tolist() == [["single", 1, "b"], ["single", 3, "d"]]


def _compare(best: str, diff: float, dse: float) -> pd.DataFrame:
    other = "single" if best == "per_condition" else "per_condition"
    return pd.DataFrame({"elpd_diff": [0.0, -diff], "dse": [0.0, dse], "p_worse": [np.nan, 0.9]},
                        index=[best, other])


def _shift() -> pd.DataFrame:
    return pd.DataFrame([{"param": p, "statistic": "mean", "single": 0.3, "per_condition": 0.31, "difference": 0.01,
                          "relative": 0.05} for p in ("b1", "s2u")])


@pytest.mark.parametrize("best,diff,dse,verdict", [
    ("per_condition", 6.0, 2.0, "support separate"),
    ("single", 6.0, 2.0, "favour one"),
    ("per_condition", 1.0, 2.0, "do not distinguish"),
])
def test_conclusion_follows_the_elpd_difference(best, diff, dse, verdict):
    ratio = {"median": 1.4, "q2.5": 1.0, "q97.5": 2.0, "p_greater": 0.97, "p_mcse": 0.004}
    lines = choice.conclusion(_compare(best, diff, dse), LikelihoodRatioTest(3.3, 1, 0.07), ratio, 0, _shift())
    assert verdict in lines[0] and f"{diff:.2f}" in lines[0]
    assert "not rejected" in lines[1] and "0.970" in lines[2] and "No observation" in lines[3]


@pytest.mark.slow
@pytest.mark.parametrize("residual", ["single", "per_condition"])
def test_psis_loo_matches_exact_leave_one_out(residual):
    """PSIS-LOO's ELPD from a NUTS fit (fixed seed) against exact leave-one-out: each row left out in turn and its
    predictive density p(y_i | y_−i) = p(y) / p(y_−i) from the quadrature's evidences; within PSIS's reported SE."""
    import arviz as az

    from partclust.inference import FitSettings, fit

    design = validate(unbalanced_frame(**LOO_DESIGN[residual]), source="generated")
    exact = choice.exact_loo(design, residual)
    assert exact.shape == (design.n,) and np.isfinite(exact).all()
    trace = fit(design, FitSettings(model=residual, seed=5, draws=1000, tune=1000, chains=4), cores=2).trace
    loo = az.loo(trace, pointwise=True)
    assert abs(float(loo.elpd) - exact.sum()) <= float(loo.se)
    assert (np.asarray(loo.pareto_k) <= choice.PARETO_K_BAD).all()
    # pointwise too: each PSIS term is near its exact value (a wrong constant per row would shift every term)
    assert np.max(np.abs(np.asarray(loo.elpd_i) - exact)) < 0.1


def test_the_given_seed_is_tried_first_then_any_seed_that_stored_the_log_likelihood(tmp_path, run1_design):
    """A study stores the log-likelihood in its first seed's run only; another seed list still finds one."""
    from helpers import write_exact_run

    from partclust.layout import ResultsLayout

    layout = ResultsLayout(tmp_path)
    write_exact_run(layout.run_dir("single", 3), run1_design, seed=3, n=50)  # a later seed of an earlier study
    assert choice.model_traces(layout, seed=3, models=("single",)) == {}  # none has it: the notebook fits
    write_exact_run(layout.run_dir("single", 1), run1_design, seed=1, n=50, log_likelihood=True)
    for seed in (3, 1, None):
        found = choice.model_traces(layout, seed=seed, models=("single",))
        assert found["single"][0] == layout.run_dir("single", 1), seed
        assert found["single"][1]["log_likelihood"]["y"].shape == (4, 50, run1_design.n)
    # a run left in the folder by a study of other data is never taken for the given seed's
    other = validate(unbalanced_frame(), source="generated")
    write_exact_run(layout.run_dir("single", 1), other, seed=1, n=50, log_likelihood=True)
    assert choice.model_traces(layout, seed=3, models=("single",)) == {}
