"""Calibration figures: one panel per model × parameter, the bands drawn, axes labelled."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd

from partclust.reporting.plots import bias_plot, close_all, coverage_plot, ecdf_differences, rank_histograms


def _ranks():
    rng = np.random.default_rng(0)
    rows = [{"model": m, "replicate": k, "parameter": p, "rank": int(rng.integers(0, 100)), "n_draws": 99}
            for m, ps in (("single", ["b0", "s2u", "s2e"]), ("per_condition", ["b0", "s2u", "s2e_control",
                                                                             "s2e_treated"]))
            for p in ps for k in range(30)]
    return pd.DataFrame(rows)


def test_rank_histograms_and_ecdf_panels():
    ranks = _ranks()
    fig = rank_histograms(ranks, bins=10)
    titled = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titled) == 7 and "single: s2u" in titled and "replicates" in fig._suptitle.get_text()
    assert all(ax.get_xlabel() for ax in fig.axes if ax.get_title())
    pit = ranks.assign(pit=(ranks["rank"] + 0.5) / 100)
    fig = ecdf_differences(pit, n_simulations=200)
    drawn = [ax for ax in fig.axes if ax.get_title()]
    assert len(drawn) == 7 and all(ax.collections for ax in drawn)  # the band (fill_between) on every panel
    close_all()


def test_coverage_and_bias_plots():
    rows = [{"cell": f"cell-{k:02d}", "treated_clusters": k_c, "cluster_size": "5", "icc": icc, "variance_ratio": 1.0,
             "controls": 50, "model": m, "parameter": p, "n": 20, "coverage": 0.9, "coverage_mcse": 0.06,
             "bias": 0.01, "bias_mcse": 0.02}
            for k, (k_c, icc) in enumerate([(5, 0.1), (10, 0.1), (5, 0.2), (10, 0.2)])
            for m in ("single", "per_condition") for p in ("b1", "s2u")]
    cov = pd.DataFrame(rows)
    fig = coverage_plot(cov)
    ax = fig.axes[0]
    assert ax.patches or ax.collections  # the nominal band
    assert "coverage" in ax.get_ylabel() and ax.get_xlabel() == "treated clusters"
    assert len(ax.get_lines()) >= 2  # one line per ICC, plus the nominal line
    fig = bias_plot(cov)
    assert "bias" in fig.axes[0].get_ylabel()
    close_all()
