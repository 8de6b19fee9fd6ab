"""Fits of translated programs agree with exact posteriors within Monte Carlo error (slow: they sample).

- SAS's Behrens–Fisher example data (two groups, flat means, ∝ 1/v variances): the marginal posteriors
  are closed-form (Student t for each mean, inverse-gamma for each variance), written here from the
  textbook result, independently of the code under test.
- ``sas_reference/partially_clustered.sas`` translated: the exact posterior by quadrature of the
  built-in models (which the translated model equals, ``test_model.py``).

Tolerance: every compared statistic within 4 of its reported MCSE (about 25 comparisons per fit; a
3.9-sigma family-wise level under normality), fixed seeds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import EXTERNAL, need_external
from helpers_translate import HEIGHTS_PROGRAM, program_data
from scipy import stats

from partclust.inference import FitSettings, fit_translated, select_params, summarize_params
from partclust.layout import REPO_ROOT
from partclust.translate.program_data import read_program_data
from partclust.translate.translation import translate_file, translation_of
from partclust.translate.program import parse_program_text

BEHRENS = EXTERNAL / "sas_doc_behrens.csv"
SAS_PROGRAM = REPO_ROOT / "sas_reference" / "partially_clustered.sas"
Z = 4.0

# The Behrens–Fisher model as SAS's documentation writes it: PARMS blocks, prefix wildcard, general()
# priors, IF/ELSE DO blocks and a derived quantity in MONITOR=.
BEHRENS_PROGRAM = """\
title 'Two means, two variances';
proc mcmc data=behrens outpost=postout seed=123 nmc=40000 monitor=(_parms_ mudif) statistics(alpha=0.01);
   ods select PostSumInt;
   parm mu1 0 mu2 0;
   parm sig21 1;
   parm sig22 1;
   prior mu: ~ general(0);
   prior sig21 ~ general(-log(sig21), lower=0);
   prior sig22 ~ general(-log(sig22), lower=0);
   mudif = mu1 - mu2;
   if ind = 1 then do;
      mu = mu1;
      s2 = sig21;
   end;
   else do;
      mu = mu2;
      s2 = sig22;
   end;
   model y ~ normal(mu, var=s2);
run;
"""


def behrens_exact(df: pd.DataFrame) -> pd.DataFrame:
    """Closed-form marginal posteriors: mu_k ~ ybar_k + s_k/√n_k · t(n_k − 1); sig2_k ~ IG((n_k − 1)/2, (n_k − 1)s_k²/2)."""
    rows = []
    y, g = df["y"].astype(float).to_numpy(), df["ind"].astype(int).to_numpy()
    var_mu = {}
    mean_mu = {}
    for k in (1, 2):
        x = y[g == k]
        n, ybar, s2 = x.size, x.mean(), x.var(ddof=1)
        t = stats.t(n - 1, loc=ybar, scale=np.sqrt(s2 / n))
        ig = stats.invgamma((n - 1) / 2, scale=(n - 1) * s2 / 2)
        for name, dist in ((f"mu{k}", t), (f"sig2{k}", ig)):
            rows.append({"param": name, "mean": dist.mean(), "sd": dist.std(), "q2.5": dist.ppf(0.025),
                         "median": dist.ppf(0.5), "q97.5": dist.ppf(0.975)})
        mean_mu[k], var_mu[k] = t.mean(), t.var()
    rows.append({"param": "mudif", "mean": mean_mu[1] - mean_mu[2], "sd": np.sqrt(var_mu[1] + var_mu[2])})
    return pd.DataFrame(rows).set_index("param")


def assert_within_mc_error(summary: pd.DataFrame, exact: pd.DataFrame, min_compared: int) -> int:
    s = summary.set_index("param")
    compared = 0
    worst = []
    for param, ref in exact.iterrows():
        for stat, mcse in (("mean", "mcse_mean"), ("sd", "mcse_sd"), ("q2.5", "mcse_q2.5"),
                           ("median", "mcse_median"), ("q97.5", "mcse_q97.5")):
            if stat not in ref or not np.isfinite(ref[stat]):
                continue
            z = (s.at[param, stat] - ref[stat]) / s.at[param, mcse]
            worst.append((abs(z), param, stat))
            compared += 1
    assert compared >= min_compared
    bad = [w for w in worst if w[0] > Z]
    assert not bad, f"beyond {Z} MCSE: {bad}"
    return compared


@pytest.mark.slow
def test_behrens_fisher_fit_equals_the_closed_form():
    need_external(BEHRENS)
    df = pd.read_csv(BEHRENS, dtype=str)
    translation = translation_of(parse_program_text(BEHRENS_PROGRAM, path="behrens.sas"), program_data(df))
    assert translation.family.member, translation.family.reason
    settings = FitSettings(model="behrens", seed=11, draws=1000, tune=1000, chains=4, sas_program="behrens.sas")
    tm = translation.model("noncentered")
    result = fit_translated(tm, settings, cores=1)
    summary = summarize_params(select_params(result.posterior, tm.reported()))
    assert list(summary["param"]) == ["mu1", "mu2", "sig21", "sig22", "mudif"]
    assert result.divergences == 0
    assert assert_within_mc_error(summary, behrens_exact(df), 20) == 22


@pytest.mark.slow
def test_the_project_program_fit_equals_the_exact_posterior(run1_path, run1_design):
    from partclust.references.exact import exact_posterior

    translation = translate_file(SAS_PROGRAM, read_program_data(str(run1_path)), step=2)
    settings = FitSettings(model=translation.name, seed=3, draws=1000, tune=1000, chains=4,
                           sas_program=str(SAS_PROGRAM), step=2, parameterization="sas_singletons")
    tm = translation.model("sas_singletons")
    result = fit_translated(tm, settings, cores=1)
    summary = summarize_params(select_params(result.posterior, tm.reported()))
    exact = exact_posterior(run1_design, "per_condition").table.set_index("param")
    assert list(summary["param"]) == list(exact.index)
    assert assert_within_mc_error(summary, exact, 70) >= 70


HEIGHTS = EXTERNAL / "sas_doc_heights.csv"



@pytest.mark.slow
def test_heights_random_intercept_fit_equals_the_exact_posterior():
    """Heavy tails: σ²_g with 4 families and a near-improper prior; compare what the exact posterior reports."""
    from partclust.references import program_references

    need_external(HEIGHTS)
    translation = translation_of(parse_program_text(HEIGHTS_PROGRAM, path="heights.sas"),
                                 program_data(pd.read_csv(HEIGHTS, dtype=str)))
    assert translation.family.member, translation.family.reason
    assert translation.family.names == {"s2u": "s2g", "u": "gamma"}
    settings = FitSettings(model="heights", seed=5, draws=2000, tune=2000, chains=4, sas_program="heights.sas",
                           target_accept=0.95)
    tm = translation.model("noncentered")
    result = fit_translated(tm, settings, cores=1)
    summary = summarize_params(select_params(result.posterior, tm.reported()))
    assert list(summary["param"]) == ["b0", "b1", "s2", "s2g", "gamma[1]", "gamma[2]", "gamma[3]", "gamma[4]"]
    exact = program_references(translation)["exact"].table
    wide = exact.pivot_table(index="param", columns="statistic", values="value", aggfunc="first")
    # quantiles exist for every parameter; moments only where the exact posterior reports them
    assert np.isfinite(wide.loc["s2g", ["q2.5", "median", "q97.5"]].astype(float)).all()
    assert assert_within_mc_error(summary, wide, 25) >= 25
