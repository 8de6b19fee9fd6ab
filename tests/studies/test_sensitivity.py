"""σ²_u prior sensitivity: the alternatives, the shift arithmetic, and each exact posterior against NUTS."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from helpers import unbalanced_frame

from partclust.data.design import validate
from partclust.evaluation import z_critical
from partclust.models import Gamma, HalfCauchyOnSD, HalfNormalOnSD, InverseGamma, UniformOnSD
from partclust.studies import sensitivity as sens


def test_the_sas_prior_first_then_the_usual_alternatives():
    alts = sens.default_alternatives(2.0, 0.5, (0.001, 0.01), 5.0)
    assert alts[0].prior == Gamma(1.0, 1.0)
    assert [a.prior for a in alts[1:]] == [HalfCauchyOnSD(2.0), HalfNormalOnSD(0.5), InverseGamma(0.001, 0.001),
                                           InverseGamma(0.01, 0.01), UniformOnSD(5.0)]
    assert len({a.name for a in alts}) == len(alts)


def test_alternative_data_changes_only_the_s2u_prior():
    design = validate(unbalanced_frame(), source="generated")
    md = sens.alternative_data(design, "per_condition", HalfCauchyOnSD(1.0))
    assert md.priors["s2u"] == HalfCauchyOnSD(1.0)
    base = sens.alternative_data(design, "per_condition", Gamma(1.0, 1.0))
    assert {k: v for k, v in md.priors.items() if k != "s2u"} == {k: v for k, v in base.priors.items() if k != "s2u"}
    again = sens.alternative_data(md, "ignored", InverseGamma(0.01, 0.01))  # data read through a spec
    assert again.priors["s2u"] == InverseGamma(0.01, 0.01) and again.spec.prior("s2u", "s2u") == InverseGamma(0.01, 0.01)


def test_moves_when_the_shift_exceeds_the_bonferroni_threshold_times_the_mcse():
    rows = []
    for prior, s2u, b1 in (("sas", 0.40, 0.30), ("near", 0.41, 0.30), ("far", 0.30, 0.30)):
        for p, v in (("s2u", s2u), ("b1", b1)):
            rows.append({"prior": prior, "sas": "", "param": p, "mean": v, "sd": 0.1, "median": v, "q2.5": v,
                         "q97.5": v, "note": ""})
    table = pd.DataFrame(rows)
    mc = {(p, s): 0.01 for p in ("s2u", "b1") for s in ("mean", "median", "q2.5", "q97.5")}
    moves = sens.moves_table(table, mc)
    zc = z_critical(16)  # 2 alternatives × 2 parameters × 4 statistics
    assert moves["z_crit"].iloc[0] == pytest.approx(zc)
    far = moves[(moves["prior"] == "far") & (moves["param"] == "s2u")]
    assert far["shift"].tolist() == pytest.approx([-0.10] * 4) and far["moves"].all()  # 10 MCSEs > z_crit ≈ 3.4
    near = moves[(moves["prior"] == "near") & (moves["param"] == "s2u")]
    assert near["shift_to_mc_error"].tolist() == pytest.approx([1.0] * 4) and not near["moves"].any()
    assert not moves[moves["param"] == "b1"]["moves"].any()


def test_prior_densities_on_the_curve_grid_are_each_prior_on_the_variance():
    design = validate(unbalanced_frame(), source="generated")
    alts = sens.default_alternatives()[:2]
    posts = sens.exact_sensitivity(design, alts)
    curves = sens.density_curves(posts, alts, upper=2.0, n=50)
    c = curves[curves["prior"] == alts[1].name]
    x = c["s2u"].to_numpy()
    # half-Cauchy(1) on σ: density on v is 2/(π(1+v)) · 1/(2√v)
    np.testing.assert_allclose(c["prior_density"], 1.0 / (math.pi * (1 + x) * np.sqrt(x)), rtol=1e-12)
    assert (c["posterior_density"] > 0).all()


@pytest.mark.slow
def test_each_exact_posterior_matches_nuts_on_a_generated_design():
    """Every alternative prior's quadrature posterior against one NUTS fit (fixed seed): the mean, median and
    2.5/97.5 % quantiles of σ²_u and b1, z from the fit's MCSEs, Bonferroni over all priors × statistics.

    One inverse-gamma(ε, ε) stands for both defaults: the two differ only in ε, and ε = 0.001 is the harder one."""
    design = validate(unbalanced_frame(), source="generated")
    alts = sens.default_alternatives(epsilons=(0.001,))
    posts = sens.exact_sensitivity(design, alts)
    confirm, extra = sens.confirm_fits(design, alts, posts, seed=11, draws=1000, tune=1000, chains=4, cores=2)
    assert len(confirm) == len(alts) * 2 * 4
    assert (confirm["divergences"] == 0).all()
    zc = z_critical(len(confirm))
    worst = confirm.loc[confirm["z"].abs().idxmax()]
    assert confirm["z"].abs().max() <= zc, f"{worst['prior']} {worst['param']} {worst['statistic']}: z = {worst['z']:.2f}"
    # the test can tell the priors apart: their exact σ²_u means differ by more than the fits' MCSE of the mean
    table = sens.sensitivity_table(posts, alts).set_index(["prior", "param"])
    spread = table.xs("s2u", level="param")["mean"]
    means = confirm[(confirm["param"] == "s2u") & (confirm["statistic"] == "mean")]
    assert spread.max() - spread.min() > 5 * means["fit_se"].max()
