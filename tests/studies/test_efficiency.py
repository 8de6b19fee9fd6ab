"""Efficiency of set-ups: the table's arithmetic, the recommendation, and the exact sampler's ESS ≈ draws."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from helpers import unbalanced_frame

from partclust.data.design import validate
from partclust.evaluation import CONSISTENT, REAL
from partclust.studies import efficiency as eff


def _runs() -> pd.DataFrame:
    rows = []
    spec = {  # config: (sampler, parameterization, means over 3 seeds, ess_bulk, sample_s, compile_s, divergences)
        "fast": ("nutpie", "centered", (0.40, 0.41, 0.39), 1000.0, 1.0, 5.0, 0),
        "slow": ("metropolis", "centered", (0.40, 0.42, 0.38), 100.0, 10.0, 0.0, 0),
        "off": ("pymc", "noncentered", (0.60, 0.61, 0.59), 800.0, 2.0, 0.0, 0),
        "divergent": ("pymc", "centered", (0.40, 0.40, 0.40), 5000.0, 0.5, 0.0, 3),
    }
    for label, (sampler, param, means, ess, sample_s, compile_s, div) in spec.items():
        for k, m in enumerate(means):
            rows.append({"residual": "single", "config": label, "sampler": sampler, "parameterization": param,
                         "n_effects": 10, "seed": k + 1, "chains": 2, "draws": 1000, "tune": 500, "total_draws": 2000,
                         "mean": m, "sd": 0.3, "mcse_mean": 0.01, "ess_bulk": ess, "ess_tail": ess / 2, "r_hat": 1.0,
                         "divergences": div, "gate_passed": True, "gate_reason": "",
                         "compile_s": compile_s if k == 0 else 0.0, "sample_s": sample_s,
                         "wall_s": sample_s + 0.5 + (compile_s if k == 0 else 0.0)})
    return pd.DataFrame(rows, columns=list(eff.EFFICIENCY_RUN_COLUMNS))


def test_rates_end_to_end_times_and_verdicts():
    table = eff.efficiency_table(_runs(), {"single": 0.40}, target=0.005).set_index("config")
    fast = table.loc["fast"]
    assert fast["ess_bulk_per_s"] == pytest.approx(1000.0) and fast["ess_tail_per_s"] == pytest.approx(500.0)
    assert fast["end_to_end_s"] == pytest.approx(1.5 + 5.0)  # build + sampling per run, one compile
    assert fast["ess_bulk_per_s_end_to_end"] == pytest.approx(1000.0 / 6.5)
    assert fast["draws_needed"] == pytest.approx(2000 * (0.01 / 0.005) ** 2)
    assert fast["seconds_to_target"] == pytest.approx(6.5 - 1.0 + 1.0 * 4)
    assert table.loc["fast", "verdict"] == CONSISTENT and table.loc["slow", "verdict"] == CONSISTENT
    assert table.loc["off", "verdict"] == REAL  # 0.2 off with a spread of 0.01: not Monte Carlo error
    lines = eff.recommendation(table.reset_index(), 0.005)
    assert "NUTS (nutpie), centered" in lines[0] and "8,000 draws" in lines[0]  # the divergent one is excluded
    assert "slow" in lines[-1]
    assert "NUTS (nutpie), centered" in eff.headline(table.reset_index(), 0.005)


def test_configs_need_sizes_for_every_sampler():
    cfgs = eff.efficiency_configs(["nutpie", "metropolis"], ["centered"], {"nutpie": [10, 5, 2], "metropolis": [20, 5, 1]})
    assert [(c.sampler, c.draws, c.chains) for c in cfgs] == [("nutpie", 10, 2), ("metropolis", 20, 1)]
    with pytest.raises(Exception, match="pymc"):
        eff.efficiency_configs(["pymc"], ["centered"], {})


def test_exact_sampler_ess_is_the_number_of_draws():
    """I.i.d. draws: bulk ESS / draws is 1 up to its own sampling error, estimated from the seeds' spread."""
    design = validate(unbalanced_frame(), source="generated")
    runs = eff.exact_runs(design, "single", seeds=range(1, 9), draws=500, chains=4)
    ratio = runs["ess_bulk"] / runs["total_draws"]
    se = float(ratio.std(ddof=1)) / math.sqrt(len(ratio))
    assert abs(float(ratio.mean()) - 1.0) <= 4 * se, (ratio.mean(), se)
    assert (runs["sampler"] == eff.EXACT_SAMPLER).all() and (runs["divergences"] == 0).all()


@pytest.mark.slow
def test_a_small_grid_reuses_the_mixing_study_and_matches_the_exact_mean():
    from partclust.references.exact import exact_posterior

    design = validate(unbalanced_frame(), source="generated")
    cfgs = eff.efficiency_configs(["nutpie"], ["centered", "noncentered"], {"nutpie": [500, 500, 2]})
    runs = eff.efficiency_runs(design, ["single"], cfgs, [1, 2, 3], exact_draws=500, exact_chains=2, cores=2)
    exact = float(exact_posterior(design, "single").table.set_index("param").loc["s2u", "mean"])
    table = eff.efficiency_table(runs, {"single": exact})
    assert list(table["config"]) == [eff.EXACT_LABEL, "NUTS (nutpie) · centered", "NUTS (nutpie) · noncentered"]
    assert (table["verdict"] == CONSISTENT).all()
    assert np.isfinite(table["ess_bulk_per_s_end_to_end"]).all()


def _full_grid_table() -> pd.DataFrame:
    """Every sampler × parameterization the project offers, each consistent and without divergences."""
    from partclust.config import PARAMETERIZATIONS, SAMPLERS

    rows = []
    for s in SAMPLERS:
        for p in PARAMETERIZATIONS:
            for k in range(3):
                rows.append({"residual": "single", "config": f"{s} · {p}", "sampler": s, "parameterization": p,
                             "n_effects": 10, "seed": k + 1, "chains": 2, "draws": 1000, "tune": 500,
                             "total_draws": 2000, "mean": 0.40 + 0.005 * (k - 1), "sd": 0.3, "mcse_mean": 0.01,
                             "ess_bulk": 500.0, "ess_tail": 400.0, "r_hat": 1.0, "divergences": 0,
                             "gate_passed": True, "gate_reason": "", "compile_s": 1.0, "sample_s": 1.0, "wall_s": 2.5})
    return eff.efficiency_table(pd.DataFrame(rows, columns=list(eff.EFFICIENCY_RUN_COLUMNS)), {"single": 0.40})


def test_a_partial_grid_names_the_set_ups_it_did_not_try():
    """--quick's table has 4 of the 9 combinations: the recommendation says it is among those, naming the 5 others."""
    table = eff.efficiency_table(_runs(), {"single": 0.40}, target=0.005)
    assert eff.untried_setups(table) == [("nutpie", "noncentered"), ("nutpie", "sas_singletons"),
                                         ("pymc", "sas_singletons"), ("metropolis", "noncentered"),
                                         ("metropolis", "sas_singletons")]
    lines = eff.recommendation(table, 0.005)
    untried = next(line for line in lines if "not tried here" in line)
    assert "4 of the 9" in untried and "Among the set-ups tried only" in untried
    for label in ("NUTS (nutpie) · noncentered", "NUTS (nutpie) · sas_singletons", "NUTS (PyMC) · sas_singletons",
                  "Metropolis-within-Gibbs · noncentered", "Metropolis-within-Gibbs · sas_singletons"):
        assert label in untried
    assert "NUTS (nutpie) · centered" not in untried and "NUTS (PyMC) · noncentered" not in untried
    assert "(among the 4 of 9 set-ups tried)" in eff.headline(table, 0.005)


def test_the_full_grid_claims_no_omission():
    table = _full_grid_table()
    assert eff.untried_setups(table) == []
    assert not any("not tried" in line for line in eff.recommendation(table, 0.005))
    assert "among" not in eff.headline(table, 0.005)
