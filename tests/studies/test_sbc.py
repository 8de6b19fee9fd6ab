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
    with pytest.raises(SpecError):
        SBCSettings(draws=10, chains=1, rank_draws=99)
    assert "replicates" not in SBCSettings().record()  # more replicates keep the ones already run
