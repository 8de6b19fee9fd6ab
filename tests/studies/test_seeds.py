"""The per-model aggregate pools exactly the study's seeds, never seed folders left by an earlier study."""

from __future__ import annotations

from helpers import write_exact_run

from partclust.evaluation import REAL
from partclust.layout import ResultsLayout
from partclust.studies import aggregate_model


def _s2u_mean_vs_exact(agg):
    c = agg.comparison
    return c[(c.reference == "exact") & (c.param == "s2u") & (c.statistic == "mean")].iloc[0]


def test_aggregate_pools_only_the_given_seeds(run1_design, tmp_path):
    """Seeds 1-2 of this study plus a leftover seed 3 that really differs (σ²_u + 0.5): only 1-2 are pooled."""
    layout = ResultsLayout(tmp_path)
    for seed in (1, 2):
        write_exact_run(layout.run_dir("single", seed), run1_design, seed=seed, n=500)
    write_exact_run(layout.run_dir("single", 3), run1_design, seed=3, n=500, shift_s2u=0.5)

    every = aggregate_model("single", tmp_path, run1_design)  # by hand, no seed list: every folder
    assert every.n_seeds == 3 and layout.other_seed_runs("single", []) == []

    agg = aggregate_model("single", tmp_path, run1_design, seeds=[1, 2])
    assert agg.n_seeds == 2
    assert [d.name for d in layout.other_seed_runs("single", [1, 2])] == ["seed-3"]
    assert int(agg.mc.set_index("param").loc["s2u", "n_seeds"]) == 2
    assert _s2u_mean_vs_exact(agg)["verdict"] != REAL
    # the leftover run, pooled, moves σ²_u's mean by about 0.5 / 3
    assert _s2u_mean_vs_exact(every)["fit_value"] - _s2u_mean_vs_exact(agg)["fit_value"] > 0.1
    assert layout.run_dir("single", 3).is_dir()  # left on disk, untouched


def test_seed_runs_filters_by_seed_and_skips_missing_folders(tmp_path):
    layout = ResultsLayout(tmp_path)
    for seed in (1, 3, 10):
        layout.run_dir("single", seed).mkdir(parents=True)
    (layout.runs("single") / ".seed-2.tmp-abc").mkdir()
    assert [p.name for p in layout.seed_runs("single")] == ["seed-1", "seed-3", "seed-10"]
    assert [p.name for p in layout.seed_runs("single", [10, 2, 1])] == ["seed-1", "seed-10"]
