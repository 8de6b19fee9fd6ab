"""The comparison engine: interval-aware, multiplicity-aware, and able to fail."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from partclust.evaluation import (
    CONSISTENT,
    NOT_COMPARABLE,
    REAL,
    ComparisonError,
    compare,
    compare_all,
    fit_table,
    load_runs,
    per_seed_z,
    z_critical,
)
from partclust.inference import FitSettings, fit, summarize, write_run
from partclust.models import Priors
from partclust.references import all_references, exact_reference, pymc2_reference
from partclust.references.base import Reference, reference_table
from partclust.references.exact import exact_draws
from partclust.runner.cli import main


def _fit_rows(param, stat, value, se, n=1):
    return pd.DataFrame([{"param": param, "statistic": stat, "fit_value": value, "fit_se": se, "n_seeds": n}])


def _ref(rows, name="r"):
    return Reference(name, "single", reference_table(rows), {})


def test_point_reference_z_and_threshold():
    ref = _ref([{"param": "a", "statistic": "mean", "value": 1.0, "se": 0.03}])
    out = compare(_fit_rows("a", "mean", 1.2, 0.04), ref).iloc[0]
    assert out["difference"] == pytest.approx(0.2)
    assert out["se"] == pytest.approx(0.05)
    assert out["z"] == pytest.approx(4.0)
    assert out["z_crit"] == pytest.approx(1.959964, abs=1e-5)  # one comparison: plain two-sided 5 %
    assert out["verdict"] == REAL
    out = compare(_fit_rows("a", "mean", 1.05, 0.04), ref).iloc[0]
    assert out["verdict"] == CONSISTENT


def test_bonferroni_threshold_grows_with_the_number_of_comparisons():
    assert z_critical(1) < z_critical(10) < z_critical(100)
    rows = [{"param": f"p{k}", "statistic": "mean", "value": 0.0, "se": 0.0} for k in range(20)]
    fit = pd.concat([_fit_rows(f"p{k}", "mean", 2.5 if k == 0 else 0.0, 1.0) for k in range(20)])
    out = compare(fit, _ref(rows))
    # z = 2.5 would be "real" alone, but not among 20 comparisons (threshold ≈ 3.02)
    assert out.loc[out.param == "p0", "verdict"].item() == CONSISTENT
    assert out["z_crit"].iloc[0] == pytest.approx(3.0233, abs=1e-3)


def test_truncated_interval_reference():
    ref = _ref([{"param": "s2u", "statistic": "mean", "value": 0.40, "lo": 0.40, "hi": 0.41, "se": 0.0}])
    inside = compare(_fit_rows("s2u", "mean", 0.4099, 0.001), ref).iloc[0]
    assert inside["difference"] == 0.0 and inside["verdict"] == CONSISTENT
    below = compare(_fit_rows("s2u", "mean", 0.395, 0.001), ref).iloc[0]
    assert below["difference"] == pytest.approx(-0.005) and below["verdict"] == REAL
    above = compare(_fit_rows("s2u", "mean", 0.412, 0.0015), ref).iloc[0]
    assert above["difference"] == pytest.approx(0.002) and above["verdict"] == CONSISTENT


def test_not_comparable_cases():
    unavailable = Reference("sas", "single", reference_table([]), {}, available=False, unavailable_reason="no output")
    out = compare(_fit_rows("b0", "mean", 0.1, 0.01), unavailable).iloc[0]
    assert out["verdict"] == NOT_COMPARABLE and out["reason"] == "no output"
    ref = _ref([{"param": "b0", "statistic": "mean", "value": 0.0, "note": "a point estimate"}])
    assert compare(_fit_rows("b0", "mean", 5.0, 0.01), ref).iloc[0]["verdict"] == NOT_COMPARABLE
    missing = compare(_fit_rows("b9", "mean", 5.0, 0.01), ref).iloc[0]
    assert missing["verdict"] == NOT_COMPARABLE and "no value" in missing["reason"]
    no_se = compare(_fit_rows("b0", "sd", 5.0, np.nan), _ref([{"param": "b0", "statistic": "sd", "value": 1.0}])).iloc[0]
    assert no_se["verdict"] == NOT_COMPARABLE


def _summary(mean, mcse):
    s = pd.DataFrame({"param": ["a"], "mean": [mean], "mcse_mean": [mcse]})
    for col in ("sd", "q2.5", "median", "q97.5"):
        s[col] = 0.0
        s["mcse_" + col] = 0.1
    return s


def test_pooling_uses_observed_spread():
    one = fit_table([_summary(1.0, 0.05)])
    row = one[one.statistic == "mean"].iloc[0]
    assert row["fit_se"] == 0.05 and row["n_seeds"] == 1
    three = fit_table([_summary(m, 0.05) for m in (1.0, 1.2, 1.4)])
    row = three[three.statistic == "mean"].iloc[0]
    assert row["fit_value"] == pytest.approx(1.2)
    assert row["fit_se"] == pytest.approx(0.2 / np.sqrt(3))  # SD of (1.0, 1.2, 1.4) is 0.2


# ---- against the exact posterior -----------------------------------------------------------------
def _exact_fit(design, residual, seed, shift_s2u=0.0, chains=4, n=1000):
    post = exact_draws(design, residual, n=n, seed=seed, chains=chains)
    post["s2u"] = post["s2u"] + shift_s2u
    return summarize(post, residual)


@pytest.mark.parametrize("residual", ["single", "per_condition"])
def test_ideal_sampler_is_consistent_and_a_shift_is_flagged(run1_design, residual):
    """i.i.d. exact draws play a perfect sampler: nothing real; s2u shifted by 0.1 is flagged."""
    ref = exact_reference(run1_design, residual)
    ok = compare(fit_table([_exact_fit(run1_design, residual, seed=21)]), ref)
    assert (ok["verdict"] != REAL).all(), ok[ok.verdict == REAL]
    assert (ok["verdict"] == CONSISTENT).sum() >= 0.9 * len(ok)
    shifted = compare(fit_table([_exact_fit(run1_design, residual, seed=21, shift_s2u=0.1)]), ref)
    flagged = shifted[shifted.verdict == REAL]
    assert set(flagged["param"]) == {"s2u"} and {"mean", "median"} <= set(flagged["statistic"])


def test_per_seed_z_is_standard_normal_for_an_ideal_sampler(run1_design):
    ref = exact_reference(run1_design, "single")
    summaries = [_exact_fit(run1_design, "single", seed=100 + k, n=500) for k in range(12)]
    z = per_seed_z(summaries, ref)["z"].to_numpy()
    # 12 seeds × 14 parameters; the parameters are correlated, so allow generous sampling error
    assert abs(z.mean()) < 0.35 and 0.7 < z.std(ddof=1) < 1.3




@pytest.mark.slow
def test_nuts_matches_exact_and_a_wrong_prior_does_not(run1_design, tmp_path):
    """Real fits: the SAS-matched model agrees with exact; σ²_u ~ Gamma(1, rate 10) is caught."""
    settings = FitSettings(model="single", seed=3, draws=1000, tune=500, chains=4)
    good = fit(run1_design, settings, cores=1)
    refs = all_references(run1_design, "single")
    out = compare_all(fit_table([summarize(good.posterior, "single")]), refs)
    assert (out.loc[out.reference == "exact", "verdict"] != REAL).all()
    wrong = fit(run1_design, settings, priors=Priors(s2u_beta=10.0), cores=1)
    bad = compare(fit_table([summarize(wrong.posterior, "single")]), refs["exact"])
    s2u = bad[(bad.param == "s2u") & (bad.statistic == "mean")].iloc[0]
    assert s2u["verdict"] == REAL and s2u["difference"] < 0


def test_pymc2_reference_is_run1_only(run1_design, unbalanced_csv):
    from partclust.data import load_design

    ref = pymc2_reference(run1_design, "per_condition", {"s2u": 0.28})
    t = ref.table.set_index("param")
    assert t.loc["u[6]", "lo"] == -1.08 and t.loc["u[6]", "hi"] == pytest.approx(-1.07)
    assert t.loc["s2u", "se"] == pytest.approx(0.28 / np.sqrt(1000))
    other = pymc2_reference(load_design(unbalanced_csv), "single")
    assert not other.available and "run1 only" in other.unavailable_reason


def test_load_runs_and_compare_cli(run1_design, run1_path, unbalanced_csv, tmp_path, capsys):
    settings = FitSettings(model="single", seed=4, draws=1000, tune=500, chains=4)
    r = fit(run1_design, settings, cores=1)
    write_run(tmp_path / "a", r, run1_design)
    rec = json.loads((tmp_path / "a" / "run.json").read_text())
    assert rec["convergence"]["passed"], rec["convergence"]
    runs = load_runs([str(tmp_path / "a")], data_sha256=run1_design.sha256)
    assert runs.model == "single" and len(runs.included) == 1

    # a gate failure is excluded with its reason, never silently dropped
    failed = dict(rec, settings={**rec["settings"], "seed": 99},
                  convergence={**rec["convergence"], "passed": False, "reason": "failed: divergences (divergences=2)"})
    import shutil

    shutil.copytree(tmp_path / "a", tmp_path / "b")
    (tmp_path / "b" / "run.json").write_text(json.dumps(failed))
    runs = load_runs([str(tmp_path / "a"), str(tmp_path / "b")])
    assert runs.excluded == ((str(tmp_path / "b"), "convergence gate failed: divergences (divergences=2)"),)

    out = tmp_path / "cmp.csv"
    assert main(["compare", "--model", "single", "--runs", str(tmp_path / "a"), "--out", str(out)]) == 0
    cmp = pd.read_csv(out)
    assert set(cmp["reference"]) == {"exact", "reml", "pymc2_2011", "sas"}
    assert set(cmp["statistic"]) == {"mean", "sd", "q2.5", "median", "q97.5"}
    assert (cmp.loc[cmp.reference == "sas", "verdict"] == NOT_COMPARABLE).all()
    assert (cmp.loc[cmp.reference == "reml", "verdict"] == NOT_COMPARABLE).all()

    # the references come from --data; a run of another dataset is refused with exit code 2
    rc = main(["compare", "--model", "single", "--runs", str(tmp_path / "a"), "--data", str(unbalanced_csv),
               "--out", str(tmp_path / "x.csv")])
    assert rc == 2 and "fitted to other data" in capsys.readouterr().err
    with pytest.raises(ComparisonError, match="not 'per_condition'"):
        load_runs([str(tmp_path / "a")], model="per_condition")


def test_exact_and_reml_cli(run1_path, tmp_path, capsys):
    out = tmp_path / "exact.csv"
    assert main(["exact", "--model", "per_condition", "--data", str(run1_path), "--out", str(out)]) == 0
    t = pd.read_csv(out)
    assert list(t.columns) == ["param", "mean", "sd", "q2.5", "median", "q97.5", "note"]
    assert "s2e_treated" in set(t.param)
    assert main(["reml", "--data", str(run1_path)]) == 0
    assert "likelihood-ratio test" in capsys.readouterr().out


def test_few_seeds_use_student_t():
    """Three seeds estimate their SE with 2 df: the threshold is far wider than the normal one."""
    ref = _ref([{"param": "a", "statistic": "mean", "value": 1.0, "se": 0.0}])
    fit = _fit_rows("a", "mean", 1.5, 0.1, n=3)  # z = 5
    out = compare(fit, ref).iloc[0]
    assert out["z"] == pytest.approx(5.0)
    assert out["z_crit"] == pytest.approx(4.3027, abs=1e-3)  # t(2) two-sided 5 %
    assert out["verdict"] == REAL
    fit = _fit_rows("a", "mean", 1.4, 0.1, n=3)  # z = 4: real under N(0,1), not under t(2)
    assert compare(fit, ref).iloc[0]["verdict"] == CONSISTENT


@pytest.mark.parametrize("residual", ["single", "per_condition"])
def test_synthetic_sas_output_consistent_and_shifted(run1_design, tmp_path, residual):
    """SAS-layout fixtures from i.i.d. exact draws: unchanged → consistent; s2u + 0.1 → flagged."""
    from helpers_sas import make_fixture

    from partclust.references import sas_reference

    fit = fit_table([_exact_fit(run1_design, residual, seed=31)])
    draws = exact_draws(run1_design, residual, n=4000, seed=32, chains=1)
    same = make_fixture(tmp_path / "a", draws, run1_design, residual, name="synthetic_consistent")
    shifted = make_fixture(tmp_path / "b", draws, run1_design, residual, shift_s2u=0.1, name="synthetic_shifted")
    ok = compare(fit, sas_reference(run1_design, residual, list(same.outpost)))
    assert (ok["verdict"] == CONSISTENT).all(), ok[ok.verdict != CONSISTENT]
    bad = compare(fit, sas_reference(run1_design, residual, list(shifted.outpost)))
    flagged = bad[bad.verdict == REAL]
    assert set(flagged["param"]) == {"s2u"} and "mean" in set(flagged["statistic"])
    assert (flagged["difference"] < 0).all()  # the fit is below the shifted "SAS" value


# ---- few seeds: a comparison that can fail; the same run never counted twice -----------------------
@pytest.mark.parametrize("n_seeds", [1, 2, 3, pytest.param(20, marks=pytest.mark.slow)])
def test_a_shift_is_flagged_and_no_shift_is_not_for_any_number_of_seeds(run1_design, n_seeds):
    """σ²_u's draws moved by 0.2 (≈ 0.7 posterior SD): flagged with 1, 2, 3 and 20 seeds; unmoved: nothing."""
    from partclust.evaluation import MIN_SEEDS_FOR_SPREAD, SE_FROM_MCSE, SE_FROM_SPREAD

    from partclust.references.exact import exact_posterior

    posterior = exact_posterior(run1_design, "single")  # the quadrature once; independent draws per seed
    ref = exact_reference(run1_design, "single", posterior)

    def summaries(shift):
        out = []
        for k in range(n_seeds):
            draws = posterior.draws(1000, 200 + k, chains=4)
            draws["s2u"] = draws["s2u"] + shift
            out.append(summarize(draws, "single"))
        return out

    shifted = compare(fit_table(summaries(0.2)), ref)
    row = shifted[(shifted.param == "s2u") & (shifted.statistic == "mean")].iloc[0]
    assert row["verdict"] == REAL, row.to_dict()
    assert row["fit_se_source"] == (SE_FROM_SPREAD if n_seeds >= MIN_SEEDS_FOR_SPREAD else SE_FROM_MCSE)
    if 1 < n_seeds < MIN_SEEDS_FOR_SPREAD:
        assert row["z_crit"] < 4.0  # normal quantile after Bonferroni, not t with 1 df (hundreds of SEs)
        assert "runs' own MCSEs" in row["reason"]
    clean = compare(fit_table(summaries(0.0)), ref)
    assert (clean["verdict"] != REAL).all(), clean[clean.verdict == REAL]


def test_two_seeds_pool_their_mcses():
    s = [pd.DataFrame({"param": ["a"], **{st: [v] for st in ("mean", "sd", "q2.5", "median", "q97.5")},
                       **{f"mcse_{st}": [m] for st in ("mean", "sd", "q2.5", "median", "q97.5")}})
         for v, m in ((1.0, 0.03), (1.1, 0.04))]
    row = fit_table(s).set_index("statistic").loc["mean"]
    assert row["fit_value"] == pytest.approx(1.05)
    assert row["fit_se"] == pytest.approx(np.sqrt(0.03**2 + 0.04**2) / 2)  # SE of a mean of two runs


def test_the_same_run_twice_is_refused(run1_design, tmp_path):
    import shutil

    from helpers import write_exact_run

    write_exact_run(tmp_path / "r", run1_design, seed=5, n=500)
    with pytest.raises(ComparisonError, match="is given twice"):
        load_runs([str(tmp_path / "r"), str(tmp_path / "r" / ".." / "r")])
    shutil.copytree(tmp_path / "r", tmp_path / "copy")
    with pytest.raises(ComparisonError, match="are the same fit.*seed 5"):
        load_runs([str(tmp_path / "r"), str(tmp_path / "copy")], design=run1_design)
    write_exact_run(tmp_path / "other", run1_design, seed=6, n=500)
    assert len(load_runs([str(tmp_path / "r"), str(tmp_path / "other")], design=run1_design).included) == 2


def test_cli_compare_two_seeds_flags_a_shift_and_refuses_repeats(run1_design, run1_path, tmp_path, capsys):
    """End to end: two runs 0.2 off in σ²_u are flagged (the 891-SE threshold is gone); R R is refused."""
    from helpers import write_exact_run

    for seed in (1, 2):
        write_exact_run(tmp_path / f"s{seed}", run1_design, seed=seed, shift_s2u=0.2)
    out = tmp_path / "cmp.csv"
    assert main(["compare", "--model", "single", "--runs", str(tmp_path / "s1"), str(tmp_path / "s2"),
                 "--data", str(run1_path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "real difference: exact s2u mean" in printed
    cmp = pd.read_csv(out)
    row = cmp[(cmp.reference == "exact") & (cmp.param == "s2u") & (cmp.statistic == "mean")].iloc[0]
    assert row["verdict"] == REAL and row["fit_se_source"] == "runs' MCSEs" and row["z"] > row["z_crit"]
    rc = main(["compare", "--model", "single", "--runs", str(tmp_path / "s1"), str(tmp_path / "s1"),
               "--data", str(run1_path), "--out", str(tmp_path / "x.csv")])
    err = capsys.readouterr().err
    assert rc == 2 and "given twice" in err and err.count("\n") == 1
    assert not (tmp_path / "x.csv").exists()


def test_cli_compare_refuses_a_truncated_run(run1_design, run1_path, tmp_path, capsys):
    from helpers import write_exact_run

    write_exact_run(tmp_path / "r", run1_design, seed=1)
    summary = tmp_path / "r" / "summary.csv"
    summary.write_bytes(summary.read_bytes()[:-200])
    rc = main(["compare", "--model", "single", "--runs", str(tmp_path / "r"), "--data", str(run1_path),
               "--out", str(tmp_path / "x.csv")])
    err = capsys.readouterr().err
    assert rc == 2 and "not a complete run: summary.csv" in err and err.count("\n") == 1


def test_real_differences_are_counted_per_judged_reference_by_name():
    from partclust.evaluation import CONSISTENT, NOT_COMPARABLE, REAL, real_differences_text

    rows = ([("exact", CONSISTENT)] * 3 + [("exact", REAL)] + [("reml", NOT_COMPARABLE)] * 4
            + [("pymc2_2011", CONSISTENT), ("pymc2_2011", NOT_COMPARABLE)] + [("sas", NOT_COMPARABLE)] * 2)
    frame = pd.DataFrame(rows, columns=["reference", "verdict"])
    assert real_differences_text(frame) == "1 of 4 against the exact posterior, 0 of 1 against PyMC 2 (2011)"
    assert real_differences_text(frame[frame["reference"] == "reml"]) == "no comparable statistic"
    assert real_differences_text(frame.iloc[:0]) == "no comparable statistic"


def test_the_flagged_rows_a_page_shows_are_narrow_and_print_an_interval_reference_as_one():
    from partclust.evaluation import COMPARISON_COLUMNS, REAL, FlagSummary

    rows = pd.DataFrame([dict.fromkeys(COMPARISON_COLUMNS, np.nan) for _ in range(2)])
    rows[["reference", "param", "statistic", "verdict"]] = [["pymc2_2011", "u[3]", "mean", REAL],
                                                             ["exact", "s2u", "sd", REAL]]
    rows[["reference_value", "reference_lo", "reference_hi", "fit_value", "se", "z", "z_crit"]] = [
        [0.3, 0.3, 0.31, 0.26771, 0.010412, -3.10493, 2.91384], [0.28141, np.nan, np.nan, 0.3, 0.001, 18.59, 3.1]]
    view = FlagSummary("exact", 70, 3.5, 0.05, rows).flagged_view()
    assert list(view.columns) == ["reference", "param", "statistic", "reference_value", "fit_value", "se", "z",
                                  "z_crit"]
    assert view["reference_value"].tolist() == ["[0.3000, 0.3100)", "0.2814"]
    assert view["reference"].tolist() == ["PyMC 2 (2011)", "exact posterior"]  # not the CSV's keys
    assert view.loc[0, ["fit_value", "se", "z", "z_crit"]].tolist() == [0.2677, 0.0104, -3.1049, 2.9138]
    assert FlagSummary("exact", 70, 3.5, 0.05, rows.iloc[:0]).flagged_view().empty
