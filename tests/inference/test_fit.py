"""Sampling, the summary table, the convergence gate, the run record, and the fit notebook."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from partclust.data import load_design
from partclust.inference import (
    SUMMARY_COLUMNS,
    FitError,
    FitSettings,
    convergence_gate,
    fit,
    read_posterior,
    read_run,
    summarize,
    write_run,
)
from partclust.inference import sample as fit_module
from partclust.runner.cli import main

SMALL = dict(draws=200, tune=200, chains=2)


def test_settings_are_checked():
    with pytest.raises(FitError, match="model must be one of"):
        FitSettings(model="double")
    with pytest.raises(FitError, match="sampler must be one of"):
        FitSettings(sampler="gibbs")
    with pytest.raises(FitError, match="draws >= 10"):
        FitSettings(draws=3)
    with pytest.raises(FitError, match="must be an integer"):
        FitSettings(seed=1.5)


def _fake_posterior(rng, chains=4, draws=500, shift=0.0):
    labels = ["a", "b", "c"]
    post = xr.Dataset(
        {
            "b0": (("chain", "draw"), rng.normal(0, 1, (chains, draws))),
            "b1": (("chain", "draw"), rng.normal(2, 1, (chains, draws))),
            "s2u": (("chain", "draw"), rng.gamma(2, 1, (chains, draws))),
            "s2e": (("chain", "draw"), rng.gamma(5, 0.2, (chains, draws))),
            "u": (("chain", "draw", "cluster"), rng.normal(0, 1, (chains, draws, 3))),
        },
        coords={"chain": range(chains), "draw": range(draws), "cluster": labels},
    )
    post["b0"] = post["b0"] + shift * (post.chain == 0)
    return post


def test_summary_values_are_plain_numpy_statistics():
    post = _fake_posterior(np.random.default_rng(3))
    s = summarize(post, "single").set_index("param")
    assert list(s.reset_index().columns) == list(SUMMARY_COLUMNS)
    assert list(s.index) == ["b0", "b1", "s2u", "s2e", "u[a]", "u[b]", "u[c]"]
    draws = post["u"].sel(cluster="b").values.ravel()
    assert s.loc["u[b]", "mean"] == pytest.approx(draws.mean())
    assert s.loc["u[b]", "sd"] == pytest.approx(draws.std(ddof=1))
    assert s.loc["u[b]", "q97.5"] == pytest.approx(np.quantile(draws, 0.975))
    # i.i.d. draws: MCSE of the mean is close to sd / sqrt(N)
    n = draws.size
    assert s.loc["b1", "mcse_mean"] == pytest.approx(s.loc["b1", "sd"] / np.sqrt(n), rel=0.15)
    assert s["r_hat"].max() < 1.01


def test_summary_diagnostics_are_arviz_dataset_api_numbers():
    """The vectorized array path gives exactly what ArviZ's Dataset functions give, defaults included."""
    import arviz_stats as az

    rng = np.random.default_rng(8)
    post = _fake_posterior(rng)
    ar = np.zeros((4, 500))  # autocorrelated chains: tail ESS depends on which tail probability is used
    for t in range(1, 500):
        ar[:, t] = 0.9 * ar[:, t - 1] + rng.normal(size=4)
    post["s2u"] = (("chain", "draw"), np.exp(ar / 3))
    s = summarize(post, "single").set_index("param")
    expected = {"ess_bulk": az.ess(post, method="bulk"), "ess_tail": az.ess(post, method="tail"),
                "r_hat": az.rhat(post), "mcse_mean": az.mcse(post, method="mean"),
                "mcse_sd": az.mcse(post, method="sd"),
                "mcse_q97.5": az.mcse(post, method="quantile", prob=0.975)}
    for col, ds in expected.items():
        assert s.loc["s2u", col] == float(ds["s2u"]), col
        assert s.loc["u[c]", col] == float(ds["u"].sel(cluster="c")), col
    assert s.loc["s2u", "ess_tail"] < 0.5 * s.loc["s2e", "ess_tail"]  # the AR(1) chains are seen as such


def test_gate_flags_each_failure():
    good = summarize(_fake_posterior(np.random.default_rng(4)), "single")
    assert convergence_gate(good, 0)["passed"]
    gate = convergence_gate(good, 3)
    assert not gate["passed"] and gate["checks"]["divergences"] is False and "divergences" in gate["reason"]
    stuck = summarize(_fake_posterior(np.random.default_rng(5), shift=3.0), "single")
    gate = convergence_gate(stuck, 0)
    assert gate["checks"]["r_hat"] is False and "r_hat_max" in gate["reason"]
    short = summarize(_fake_posterior(np.random.default_rng(6), chains=2, draws=100), "single")
    gate = convergence_gate(short, 0)
    assert gate["checks"]["ess_bulk"] is False and gate["checks"]["ess_tail"] is False


def test_same_seed_same_summary_and_run_record(run1_design, tmp_path):
    settings = FitSettings(model="per_condition", seed=5, **SMALL)
    fit_module._COMPILED.clear()  # the first fit compiles, the second reuses: both must agree
    cached = []
    for k in (1, 2):
        r = fit(run1_design, settings, cores=1)
        cached.append(r.timings["compile_cached"])
        write_run(tmp_path / f"run{k}", r, run1_design)
    assert cached == [False, True]
    a = (tmp_path / "run1" / "summary.csv").read_bytes()
    assert a == (tmp_path / "run2" / "summary.csv").read_bytes()
    record, summary = read_run(tmp_path / "run1")
    assert record["settings"]["seed"] == 5 and record["data"]["sha256"] == run1_design.sha256
    assert set(record["timings"]) >= {"build_s", "compile_s", "sample_s", "write_s"}
    assert record["versions"]["pymc"] and record["convergence"]["thresholds"]["r_hat_max"] == 1.01
    assert "s2e_treated" in set(summary["param"])
    post = read_posterior(tmp_path / "run1")
    assert post.sizes["chain"] == 2 and post.sizes["draw"] == 200
    other = fit(run1_design, FitSettings(model="per_condition", seed=6, **SMALL))
    assert not summarize(other.posterior, "per_condition").equals(summary)


def test_read_run_refuses_incomplete(tmp_path):
    with pytest.raises(FitError, match="not a complete run: run.json missing"):
        read_run(tmp_path)


@pytest.mark.slow
def test_fit_notebook_on_unbalanced_design(unbalanced_csv, tmp_path, capsys):
    """papermill executes the fit notebook on 7 unequal clusters with string labels, shuffled rows; the fit in
    the command's own process (the default) gives the same summary from the same seed.

    The single-residual centered model of this design is the one the efficiency test fits
    (``tests/studies/test_efficiency.py``): the session compiles it once."""
    out = tmp_path / "fit"
    args = ["fit", "--model", "single", "--seed", "3", "--draws", "150", "--tune", "150",
            "--chains", "2", "--parameterization", "centered", "--data", str(unbalanced_csv)]
    rc = main([*args, "--notebook", "--out", str(out)])
    assert rc == 0
    assert (out / "02_fit.ipynb").is_file() and (out / "posterior.nc").is_file()
    here = tmp_path / "here"
    assert main([*args, "--out", str(here)]) == 0
    assert not (here / "02_fit.ipynb").exists()
    assert (here / "summary.csv").read_bytes() == (out / "summary.csv").read_bytes()
    assert "--notebook" in capsys.readouterr().out
    summary = pd.read_csv(out / "summary.csv")
    design = load_design(unbalanced_csv)
    assert [p for p in summary.param if p.startswith("u[")] == [f"u[{c}]" for c in design.clusters]
    record = json.loads((out / "run.json").read_text())
    assert record["settings"]["parameterization"] == "centered"
    assert record["data"]["sha256"] == design.sha256
    assert "imports_s" in record["timings_notebook"]
    assert "imports_s" in json.loads((here / "run.json").read_text())["timings_cli"]


def test_fit_cli_rejects_bad_data_with_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("i,j,treat,y\n1,1,1,0.5\n2,1,1,0.1\n1,2,0,0.3\n")
    rc = main(["fit", "--model", "single", "--seed", "1", "--data", str(bad), "--out", str(tmp_path / "o")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "at least two treated clusters" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_validate_cli_prints_design(run1_path, capsys):
    assert main(["validate", "--data", str(run1_path)]) == 0
    out = capsys.readouterr().out
    assert "treated clusters: 10" in out and "100 treated, 100 control" in out


def test_the_compile_phrase_says_where_the_model_came_from():
    """A study's first run waited for the driver's build and loaded it: a page must not call that a compile."""
    from partclust.inference import compile_phrase

    assert compile_phrase({"compile_source": "disk", "compile_s": 25.93}) == \
        "model loaded from the compile cache in 25.9 s"
    assert compile_phrase({"compile_source": "compiled", "compile_s": 9.0}) == \
        "model compiled (and cached for later fits) in 9.0 s"
    assert compile_phrase({"compile_s": 1.25}) == "model compiled in 1.2 s"  # PyMC's own sampler records no source
