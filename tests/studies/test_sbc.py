"""SBC: the exact i.i.d. sampler passes, a fit with another prior than the simulation's is detected."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from partclust.errors import SpecError
from partclust.models.priors import Priors
from partclust.studies.sbc import SBCSettings, fractional_ranks, ranks_table, sbc_replicate, uniformity


def _ranks(design, settings, n):
    return ranks_table([sbc_replicate(design, settings, m, k) for m in settings.models for k in range(n)])


def test_exact_sampler_control_passes(run1_design):
    """The i.i.d. exact posterior is calibrated by construction: its ranks pass both tests (fixed seed)."""
    settings = SBCSettings(models=("single",), sampler="exact", seed=11)
    ranks = _ranks(run1_design, settings, 40)
    assert set(ranks["parameter"]) == {"b0", "b1", "s2u", "s2e"} and (ranks["n_draws"] == 99).all()
    assert ranks["rank"].between(0, 99).all()
    tests = uniformity(ranks, bins=5)
    assert tests["uniform"].all(), tests


def test_mismatched_prior_is_detected(run1_design):
    """Simulating σ²_u from Gamma(1, rate 1) and fitting with Gamma(1, rate 20) piles σ²_u's ranks at the top."""
    settings = SBCSettings(models=("single",), sampler="exact", seed=11, fit_priors=Priors(s2u_beta=20.0))
    assert settings.mismatched
    tests = uniformity(_ranks(run1_design, settings, 30), bins=5)
    s2u = tests[tests["parameter"] == "s2u"]
    assert not s2u["uniform"].any(), s2u
    assert (s2u["p_value"] < 1e-4).all()


def test_chi_square_matches_scipy_on_known_counts():
    """Ranks 0..9 (L = 9) in 10 bins: counts given directly, statistic and p from scipy's χ² distribution."""
    counts = np.array([9, 1, 5, 5, 5, 5, 5, 5, 5, 5])
    ranks = pd.DataFrame({"model": "single", "parameter": "b1", "rank": np.repeat(np.arange(10), counts),
                          "n_draws": 9, "replicate": np.arange(50)})
    row = uniformity(ranks, bins=10).iloc[0]
    expected = ((counts - 5) ** 2 / 5).sum()  # 6.4
    assert row["statistic"] == pytest.approx(expected)
    assert row["p_value"] == pytest.approx(stats.chi2.sf(expected, 9))
    assert row["test"].startswith("chi-square") and row["df"] == 9


def test_fractional_ranks_are_within_their_rank_cell():
    ranks = pd.DataFrame({"rank": [0, 5, 99], "n_draws": [99, 99, 99]})
    pit = fractional_ranks(ranks, seed=3).to_numpy()
    assert np.all((pit > ranks["rank"] / 100) & (pit < (ranks["rank"] + 1) / 100))


def test_settings_are_checked():
    with pytest.raises(SpecError):
        SBCSettings(models=("nope",))
    with pytest.raises(SpecError):
        SBCSettings(sampler="metropolis")
    with pytest.raises(SpecError, match=r"--chains 1 × --draws 10\) = 10 draws cannot be thinned to --rank-draws 99"):
        SBCSettings(draws=10, chains=1, rank_draws=99)
    with pytest.raises(SpecError, match=r"^bins \(--bins\) must be ≥ 2; got 1$"):  # the one setting out of range
        SBCSettings(bins=1)
    assert "replicates" not in SBCSettings().record()  # more replicates keep the ones already run


def test_sbc_of_a_specification_with_other_priors(run1_design):
    """Data read through a spec: its own priors are simulated from and fitted (σ²_u ~ igamma(3, scale=10), mean 5)."""
    from partclust.models.model_data import builtin_data
    from partclust.models.priors import InverseGamma
    from partclust.models.spec import builtin_spec

    md = builtin_data(run1_design, spec=builtin_spec("single").with_priors({"s2u": InverseGamma(3.0, 10.0)}))
    settings = SBCSettings(models=(md.spec.name,), sampler="exact", seed=5, spec="igamma s2u")
    ranks = ranks_table([sbc_replicate(md, settings, md.spec.name, k) for k in range(30)])
    assert set(ranks["parameter"]) == {"b0", "b1", "s2u", "s2e"}
    s2u_truth = ranks.loc[ranks["parameter"] == "s2u", "truth"]
    assert s2u_truth.mean() > 2.5  # drawn from the spec's prior (mean 5), not the SAS gamma (mean 1, SE 0.18 here)
    assert uniformity(ranks, bins=5)["uniform"].all()
    with pytest.raises(SpecError):
        SBCSettings(models=("a", "b"), spec="x")


@pytest.mark.slow
def test_nutpie_replicates_thin_rank_and_reuse_the_compiled_model():
    """Two NUTS replicates of a tiny design: ranks among 19 thinned draws, bulk ESS kept, one compile."""
    from partclust.models.simulate import partially_nested_design

    md = partially_nested_design(4, 3, 6, "single")  # the design tests/inference compiles too (cached per process)
    settings = SBCSettings(models=("single",), sampler="nutpie", draws=100, tune=100, chains=2, rank_draws=19,
                           spec="tiny design")
    first, second = (sbc_replicate(md, settings, "single", k) for k in range(2))
    assert second["timings"]["compile_cached"]
    ranks = ranks_table([first, second])
    assert (ranks["n_draws"] == 19).all() and ranks["rank"].between(0, 19).all()
    assert (ranks["ess_bulk"] > 19).all()
