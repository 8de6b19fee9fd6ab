"""Notebook 05's logic: Monte Carlo arithmetic, the skewness table, the mixing and prior-trap studies,
the prior densities, and conclusions that follow the numbers."""

from __future__ import annotations

import math
from types import SimpleNamespace

import matplotlib
import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

matplotlib.use("Agg")

from partclust import files  # noqa: E402
from partclust.evaluation import mc_error  # noqa: E402
from partclust.models import SAS_PRIORS, Priors  # noqa: E402
from partclust.models import priors as priors_module  # noqa: E402
from partclust.runner.notebooks import as_list  # noqa: E402
from partclust.studies import grid  # noqa: E402
from partclust.studies import s2u as why  # noqa: E402


# ---- arithmetic ------------------------------------------------------------------------------
def test_draws_needed_scales_with_the_square_of_the_mcse():
    assert mc_error.draws_needed(1000, 0.01, 0.005) == pytest.approx(4000)
    assert mc_error.draws_needed(4000, 0.0025, 0.005) == pytest.approx(1000)
    assert mc_error.draws_needed(2000, 0.005, 0.005) == pytest.approx(2000)
    assert math.isnan(mc_error.draws_needed(1000, math.nan))


def test_draws_needed_from_ess():
    # sd 0.28 needs (0.28/0.005)² = 3136 effective draws; at 0.5 per draw that is 6272 draws.
    assert mc_error.draws_needed_from_ess(0.28, 0.5, 0.005) == pytest.approx(6272)
    assert math.isnan(mc_error.draws_needed_from_ess(0.28, 0.0))


def test_gibbs_autocorrelation_and_ar1_ess():
    assert why.gibbs_autocorrelation(10, 0.4) == pytest.approx(0.5)  # 1 - 2/(10*0.4)
    assert why.gibbs_autocorrelation(100, 0.4) == pytest.approx(0.95)
    assert why.gibbs_autocorrelation(2, 0.1) == 0.0  # conditional wider than the posterior: no lag
    assert why.ess_per_draw_ar1(0.5) == pytest.approx(1 / 3)
    assert why.ess_per_draw_ar1(0.0) == pytest.approx(1.0)


# ---- (a) skewness ------------------------------------------------------------------------------
def test_hpd_interval_of_a_gamma_is_the_95_percent_set_of_equal_density():
    g = stats.gamma(2.0)
    lo, hi = why.hpd_interval(g.pdf, upper=40.0)
    assert g.pdf(lo) == pytest.approx(g.pdf(hi), rel=1e-4)
    assert g.cdf(hi) - g.cdf(lo) == pytest.approx(0.95, abs=1e-5)
    assert hi - lo < g.ppf(0.975) - g.ppf(0.025)


def test_hpd_interval_of_a_symmetric_density_is_the_equal_tail_interval():
    lo, hi = why.hpd_interval(stats.norm.pdf, upper=10.0, lower=-10.0)
    assert lo == pytest.approx(-1.959964, abs=1e-4)
    assert hi == pytest.approx(1.959964, abs=1e-4)


def _gamma_exact(shape: float = 3.0) -> SimpleNamespace:
    g = stats.gamma(shape)
    table = pd.DataFrame([{"param": "s2u", "mean": g.mean(), "sd": g.std(), "q2.5": g.ppf(0.025),
                           "median": g.median(), "q97.5": g.ppf(0.975)}])
    return SimpleNamespace(table=table, s2u_mode=shape - 1.0, s2u_density=g.pdf)


def test_skew_table_orders_a_right_skewed_posterior():
    t = why.skew_table(_gamma_exact(3.0), reml_s2u=1.5)
    assert tuple(t.columns) == why.SKEW_COLUMNS
    v = t.set_index("statistic")["value"]
    assert v["posterior mean"] > v["posterior median"] > v["posterior mode"]
    assert v["posterior mean"] == pytest.approx(3.0)
    assert v["posterior mode"] == pytest.approx(2.0)
    assert v["REML estimate"] == pytest.approx(1.5)
    d = t.set_index("statistic")["minus_mean"]
    assert d["posterior mean"] == 0 and d["posterior median"] < 0 and d["REML estimate"] == pytest.approx(-1.5)
    eti = t[t["statistic"].str.contains("equal-tail")].iloc[0]
    hpd = t[t["statistic"].str.contains("HPD")].iloc[0]
    # right skew: the HPD interval sits left of the equal-tail one and is shorter
    assert hpd["lower"] < eti["lower"] and hpd["upper"] < eti["upper"]
    assert hpd["upper"] - hpd["lower"] < eti["upper"] - eti["lower"]
    assert (t["sas"].str.len() > 0).all() and (t["pymc"].str.len() > 0).all()


def test_skew_table_on_the_real_posterior(run1_design):
    from partclust.references.exact import exact_posterior

    t = why.skew_table(exact_posterior(run1_design, "single"), reml_s2u=0.26)
    v = t.set_index("statistic")["value"]
    assert v["posterior mean"] > v["posterior median"] > v["posterior mode"] > 0


# ---- (c) priors and quadrature ----------------------------------------------------------------
@pytest.mark.parametrize("kind", ["gamma", "inverse_gamma", "gamma_on_sd", "gamma_on_precision"])
def test_log_prior_s2u_is_a_density_on_the_variance_scale(kind):
    p = Priors(s2u_prior=kind, s2u_alpha=2.0, s2u_beta=1.5)
    f = lambda x: float(np.exp(priors_module.log_prior_s2u(p, x)))  # noqa: E731
    total = integrate.quad(f, 0, 1)[0] + integrate.quad(f, 1, np.inf)[0]
    assert total == pytest.approx(1.0, abs=1e-7)
    below_one = integrate.quad(f, 0, 1)[0]
    g = stats.gamma(2.0, scale=1 / 1.5)
    expected = {"gamma": g.cdf(1.0), "gamma_on_sd": g.cdf(1.0),  # P(s2u ≤ 1) = P(sd ≤ 1)
                "gamma_on_precision": g.sf(1.0), "inverse_gamma": stats.invgamma(2.0, scale=1.5).cdf(1.0)}
    assert below_one == pytest.approx(expected[kind], abs=1e-7)


def test_default_traps_skip_the_scale_rate_swap_only_when_it_is_the_same_prior():
    traps = why.default_traps(SAS_PRIORS)
    names = [t.name for t in traps]
    assert names[0] == "correct" and traps[0].priors == SAS_PRIORS
    assert len(set(names)) == len(names)
    assert "gamma scale read as rate" not in names
    assert {t.priors.b_sd for t in traps} >= {100.0, 10000.0, 0.01}
    other = why.default_traps(Priors(s2u_beta=2.0))
    swapped = {t.name: t.priors for t in other}["gamma scale read as rate"]
    assert swapped.s2u_beta == pytest.approx(0.5)


def _trap_runs(rows):
    return pd.DataFrame([{"trap": n, "mean": m, "mcse_mean": s, "gate_passed": ok} for n, m, s, ok in rows])


def test_trap_summary_pools_converged_seeds_and_applies_bonferroni():
    traps = [why.PriorTrap(n, "", "", SAS_PRIORS) for n in ("correct", "far", "near")]
    runs = _trap_runs([
        ("correct", 0.40, 0.01, True), ("correct", 0.41, 0.01, True), ("correct", 9.0, 0.01, False),
        ("far", 0.50, 0.01, True), ("far", 0.52, 0.01, True),
        ("near", 0.41, 0.01, True), ("near", 0.40, 0.01, True),
    ])
    exact = {"correct": {"mean": 0.404}, "far": {"mean": 0.515}, "near": {"mean": 0.404}}
    t = why.trap_summary(runs, traps, exact).set_index("trap")
    assert t.loc["correct", "runs_used"] == 2 and t.loc["correct", "excluded"] == 1
    assert t.loc["correct", "fit_mean"] == pytest.approx(0.405)
    assert t.loc["far", "fit_se"] == pytest.approx(math.sqrt(2e-4) / 2)
    assert t.loc["far", "z"] == pytest.approx(0.105 / 0.01)
    assert t.loc["far", "z_crit"] == pytest.approx(stats.norm.isf(0.05 / 4))
    assert t.loc["far", "verdict"] == why.MOVES
    assert t.loc["near", "verdict"] == why.NO_MOVE
    assert t.loc["far", "exact_difference"] == pytest.approx(0.111)


# ---- (b) mixing -------------------------------------------------------------------------------
def _runs(config, sampler, param, means, mcses, ess, total=1000, effects=10, sample_s=1.0):
    return [{"config": config, "sampler": sampler, "parameterization": param, "n_effects": effects, "seed": k,
             "chains": 1, "draws": total, "tune": 0, "total_draws": total, "mean": m, "sd": 0.3, "mcse_mean": s,
             "ess_bulk": e, "gate_passed": True, "divergences": 0, "sample_s": sample_s, "wall_s": sample_s}
            for k, (m, s, e) in enumerate(zip(means, mcses, ess))]


def test_mixing_summary_arithmetic():
    runs = pd.DataFrame(_runs("a", "nutpie", "centered", [0.40, 0.42, 0.44], [0.01, 0.02, 0.02], [100, 200, 300]))
    row = why.mixing_summary(runs, target=0.005, exact_mean=0.42).iloc[0]
    assert row["ess_per_1000"] == pytest.approx(200)
    assert row["sd_of_means"] == pytest.approx(0.02)
    assert row["rms_mcse"] == pytest.approx(math.sqrt(3e-4))
    assert row["rmse_vs_exact"] == pytest.approx(math.sqrt(8e-4 / 3))
    assert row["draws_needed_spread"] == pytest.approx(16000)  # 1000·(0.02/0.005)²
    assert row["draws_needed_mcse"] == pytest.approx(12000)  # 1000·3e-4/2.5e-5
    assert row["draws_needed_ess"] == pytest.approx((0.3 / 0.005) ** 2 / 0.2)
    assert row["sd_lo"] < 0.02 < row["sd_hi"]
    assert row["gate_passed"] == "3/3"


def test_mixing_study_tiny_run(run1_design):
    configs = [why.MixingConfig("nutpie", "noncentered", 30, 30, 1),
               why.MixingConfig("metropolis", "sas_singletons", 20, 10, 1)]
    study = why.mixing_study(run1_design, configs, [1, 2], cores=1)
    runs = study.runs
    assert tuple(runs.columns) == grid.RUN_COLUMNS
    assert len(runs) == 4
    assert list(runs["n_effects"]) == [10, 10, 110, 110]
    assert set(study.traces) == {c.label for c in configs}
    assert study.traces[configs[1].label].shape == (20,)
    assert (runs["mean"] > 0).all() and (runs["total_draws"] == [30, 30, 20, 20]).all()
    summary = why.mixing_summary(runs)
    assert tuple(summary.columns) == why.MIXING_COLUMNS
    assert list(summary["seeds"]) == [2, 2]


# ---- (d) conclusions --------------------------------------------------------------------------
def _skew(mean=0.40, median=0.33, mode=0.23, reml_v=0.26):
    return pd.DataFrame({"statistic": ["posterior mean", "posterior median", "posterior mode", "REML estimate"],
                         "value": [mean, median, mode, reml_v]})


def _mixing(metro110_means):
    rows = (_runs("nuts c", "nutpie", "centered", [0.400, 0.405, 0.410], [0.005] * 3, [400] * 3)
            + _runs("nuts s", "nutpie", "sas_singletons", [0.39, 0.41, 0.42], [0.02] * 3, [30] * 3, effects=110)
            + _runs("met c", "metropolis", "centered", [0.39, 0.40, 0.42], [0.01] * 3, [80] * 3)
            + _runs("met s", "metropolis", "sas_singletons", metro110_means, [0.03] * 3, [5] * 3, effects=110))
    return why.mixing_summary(pd.DataFrame(rows))


def _traps(z_far):
    return pd.DataFrame([
        {"trap": "correct", "verdict": "reference", "fit_mean": 0.405, "exact_mean": 0.405, "z": math.nan,
         "z_crit": math.nan, "exact_difference": math.nan},
        {"trap": "far", "verdict": why.MOVES if abs(z_far) > 2.5 else why.NO_MOVE, "fit_mean": 0.54,
         "exact_mean": 0.54, "z": z_far, "z_crit": 2.5, "exact_difference": 0.135},
    ])


def test_conclusions_follow_the_numbers():
    strong = why.conclusions(_skew(), _mixing([0.25, 0.40, 0.55]), _traps(12.0), published=(0.40, 0.41))
    text = "\n".join(strong)
    assert "Skewness — survives" in text
    assert "Slow mixing with 110 effects under Metropolis — survives" in text
    assert "Prior mistranslation — survives for 1 of 1" in text
    assert "contains the exact posterior mean" in text
    assert "rules out for the 2011 PyMC program: far" in text

    weak = why.conclusions(_skew(median=0.399), _mixing([0.400, 0.404, 0.408]), _traps(1.0), published=(0.30, 0.31))
    text = "\n".join(weak)
    assert "Skewness — does not explain it" in text
    assert "not supported by these runs" in text
    assert "Prior mistranslation — does not explain it" in text
    assert "misses the exact posterior mean 0.4000 by more than" in text
    assert weak[-1].startswith("**Overall:** none of the three")


def test_conclusions_allow_for_the_published_numbers_own_error_and_unjudged_traps():
    traps = _traps(12.0)
    traps.loc[1, "verdict"] = "no runs"
    lines = why.conclusions(_skew(), _mixing([0.25, 0.40, 0.55]), traps, published=(0.39, 0.40), published_se=0.01)
    assert "not judged by sampling" in lines[2] and "far (exact shift +0.1350)" in lines[2]
    assert "by less than its own Monte Carlo error (±0.020)" in lines[-1]
    lines = why.conclusions(_skew(), _mixing([0.25, 0.40, 0.55]), _traps(12.0), published=(0.30, 0.31),
                            published_se=0.01)
    assert "by more than its own Monte Carlo error" in lines[-1]


def test_conclusions_quote_the_measured_spread():
    lines = why.conclusions(_skew(), _mixing([0.25, 0.40, 0.55]), _traps(12.0))
    assert "SD 0.1500" in lines[1]  # SD of 0.25, 0.40, 0.55
    assert "the 0.0050 of nuts c" in lines[1]  # SD of 0.400, 0.405, 0.410
    assert "30.0×" in lines[1]


# ---- figures and files ------------------------------------------------------------------------
def test_figures_and_tables(tmp_path):
    mixing = _mixing([0.25, 0.40, 0.55])
    figs = [why.plot_mixing(mixing), why.plot_traces({"a": np.linspace(0, 1, 50)}, 0.5),
            why.plot_traps(pd.DataFrame({"trap": ["correct", "x"], "fit_mean": [0.4, 0.5], "fit_se": [0.01, 0.01],
                                         "exact_mean": [0.4, 0.51]}))]
    for fig in figs:
        assert all(ax.get_xlabel() for ax in fig.axes)
        assert fig._suptitle is not None or all(ax.get_title() for ax in fig.axes)
    paths = files.write_tables({"mixing": mixing}, tmp_path / "why")
    assert paths == [tmp_path / "why" / "mixing.csv"]
    assert len(pd.read_csv(paths[0])) == len(mixing)


def test_as_list_reads_papermill_text_parameters():
    assert as_list([1, 2]) == [1, 2]
    assert as_list("[1, 2, 3]") == [1, 2, 3]
    assert as_list("4,5") == [4, 5]
    assert as_list(7) == [7]
    assert as_list("['centered', 'sas_singletons']", str) == ["centered", "sas_singletons"]
