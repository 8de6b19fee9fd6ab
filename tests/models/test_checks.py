"""Data a model cannot be fitted to are refused before anything is computed, with one sentence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from partclust.data import DataError, load_design, validate
from partclust.models import MIN_RESIDUAL_DF, check_data, data_problems
from partclust.models.checks import residual_evidence
from partclust.runner.cli import main


def _design(sizes, n_control, scale=1.0, shift=0.0, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for k, size in enumerate(sizes):
        u = rng.normal(0, 0.6)
        rows += [(i + 1, k + 1, 1, shift + scale * (0.3 + u + rng.normal())) for i in range(size)]
    rows += [(1, 1000 + c, 0, shift + scale * rng.normal()) for c in range(n_control)]
    return validate(pd.DataFrame(rows, columns=["i", "j", "treat", "y"]), source="gen.csv")


def test_residual_degrees_of_freedom():
    d = _design((2, 3, 4), 5)
    single, = residual_evidence(d, "single")
    control, treated = residual_evidence(d, "per_condition")
    assert (control.df, treated.df, single.df) == (4, 9 - 3, 4 + 6)
    y, t = np.asarray(d.y), np.asarray(d.treat) == 1
    assert control.ss == pytest.approx(np.var(y[~t]) * 5)
    # the scale bound is the chi-square lower confidence bound of a variance
    assert control.lower == pytest.approx(control.ss / stats.chi2.ppf(0.999, 4))


def test_five_rows_is_too_few_for_either_model(case):
    d = load_design(case("five_rows.csv"))
    with pytest.raises(DataError, match=r"too few data for the per_condition residual model: s2e_control gets 1 degree"):
        check_data(d, "per_condition")
    with pytest.raises(DataError, match=r"too few data for the single residual model: s2e gets 2 degree"):
        check_data(d, "single")
    assert data_problems(d, "per_condition", priors=None) == []  # REML needs one degree of freedom


@pytest.mark.parametrize("sizes, n_control, single_ok, per_condition_ok", [
    ((2, 3), 4, True, True),       # exactly 3 df each
    ((1, 2), 4, True, False),      # 1 df within clusters
    ((2, 2), 3, True, False),      # 2 df among controls
    ((1, 1), 3, False, False),     # 0 within + 2 = 2 pooled
])
def test_the_threshold_is_three_degrees_of_freedom(sizes, n_control, single_ok, per_condition_ok):
    assert MIN_RESIDUAL_DF == 3
    d = _design(sizes, n_control)
    assert (data_problems(d, "single") == []) is single_ok
    assert (data_problems(d, "per_condition") == []) is per_condition_ok


def test_accepted_small_designs_have_an_exact_posterior():
    from partclust.references.exact import exact_posterior

    d = _design((2, 3), 4)
    for model in ("single", "per_condition"):
        check_data(d, model)
        table = exact_posterior(d, model).table
        assert np.isfinite(table[["mean", "sd"]].to_numpy()).all()


def test_scale_the_priors_exclude(case):
    d = load_design(case("y_times_1e12.csv"))
    for model in ("single", "per_condition"):
        with pytest.raises(DataError, match=r"outside what the priors allow.*Uniform\(0, 100\) on the variance"):
            check_data(d, model)
    assert data_problems(d, "single", priors=None) == []  # REML has no prior


@pytest.mark.parametrize("scale, refused", [(1.0, False), (5.0, False), (30.0, True), (1e6, True)])
def test_scale_threshold(scale, refused):
    """Residual SD 30 → variance ≈ 900, far above Uniform(0, 100); SD 5 → 25, inside."""
    d = _design((10,) * 8, 60, scale=scale)
    assert bool(data_problems(d, "single")) is refused


def test_a_mean_the_fixed_effect_prior_excludes():
    d = _design((10,) * 8, 60, shift=1e5)
    with pytest.raises(DataError, match=r"b0 \(the control mean\) is about 1e\+05.*Normal\(0, 100²\)"):
        check_data(d, "single")


def test_no_variation_among_the_controls_for_the_per_condition_model():
    d = _design((4, 4, 4), 6)
    df = pd.DataFrame({"i": [s.split(":")[1] for s in d.subject], "j": [s.split(":")[0] for s in d.subject],
                       "treat": d.treat, "y": np.where(d.treat == 1, d.y, 0.25)})
    flat = validate(df, source="flat_controls.csv")
    with pytest.raises(DataError, match="s2e_control cannot be estimated.*does not vary among the controls"):
        check_data(flat, "per_condition")
    check_data(flat, "single")  # pooled with the treated subjects' variation


@pytest.mark.parametrize("command", [
    ["exact", "--model", "per_condition"], ["exact", "--model", "single"], ["fit", "--model", "per_condition",
                                                                              "--seed", "1"],
    ["compare", "--model", "per_condition", "--runs", "RUN"], ["study", "--models", "per_condition"],
])
def test_cli_too_few_data_exit_2_before_any_work(case, tmp_path, capsys, command):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run.json").write_text("{}")  # a run folder (never read: the data are refused first)
    command = [str(tmp_path / "run") if c == "RUN" else c for c in command]
    rc = main([*command, "--data", str(case("five_rows.csv")), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "too few data" in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name, fragment", [("y_constant.csv", "no variation"),
                                            ("y_times_1e12.csv", "outside what the priors allow")])
@pytest.mark.parametrize("command", [["validate"], ["exact", "--model", "single"], ["fit", "--model", "single",
                                                                                      "--seed", "1"], ["reml"]])
def test_cli_constant_and_scaled_outcomes(case, tmp_path, capsys, name, fragment, command):
    out = ["--out", str(tmp_path / "out")] if command[0] in ("exact", "fit") else []
    rc = main([*command, "--data", str(case(name)), *out])
    captured = capsys.readouterr()
    if name == "y_times_1e12.csv" and command[0] in ("validate", "reml"):
        assert rc == 0  # valid data; REML has no prior; validate reports which models can be fitted
        if command[0] == "validate":
            assert "single residual model: cannot be fitted: the outcome's scale" in captured.out
        return
    assert rc == 2 and fragment in captured.err and captured.err.count("\n") == 1


@pytest.mark.parametrize("name, model, fragment", [("five_rows.csv", "per_condition", "too few data"),
                                                   ("y_times_1e12.csv", "single", "outside what the priors allow")])
def test_validate_with_a_model_says_whether_that_model_can_be_fitted(case, capsys, run1_path, name, model, fragment):
    """``validate --model X`` prints the design, then refuses (exit 2, one line) data X cannot be fitted to."""
    rc = main(["validate", "--model", model, "--data", str(case(name))])
    captured = capsys.readouterr()
    assert rc == 2 and fragment in captured.err and captured.err.count("\n") == 1
    assert "rows:" in captured.out and "fixed effects:" in captured.out  # the design was shown first
    assert main(["validate", "--model", model, "--data", str(run1_path)]) == 0
    assert f"{model} residual model: can be fitted" in capsys.readouterr().out
