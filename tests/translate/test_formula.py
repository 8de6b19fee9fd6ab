"""Formulas read with formulae into specifications; bad input exits 2 with one line naming it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from partclust.errors import ComparisonError, SpecError
from partclust.evaluation import load_runs
from partclust.models import InverseGamma, Normal, RandomEffect, builtin_spec
from partclust.runner.cli import main
from partclust.translate import formula_data, model_spec, parse_formula, spec_from_record, spec_key


def _trial_csv(tmp_path, n_coach=5, n_control=20, seed=0):
    """A partially nested trial whose controls all carry the placeholder coach id 0, with a covariate."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(1, n_coach + 1):
        for _ in range(rng.integers(3, 9)):
            rows.append((1, c, rng.normal(), rng.choice(["F", "M"])))
    rows += [(0, 0, rng.normal(), rng.choice(["F", "M"])) for _ in range(n_control)]
    df = pd.DataFrame(rows, columns=["arm", "coach", "pre", "sex"])
    df["post"] = 1 + 0.3 * df["arm"] + 0.5 * df["pre"] + rng.normal(0, 1, len(df))
    path = tmp_path / "trial.csv"
    df.to_csv(path, index=False)
    return path


def test_the_three_shapes_of_the_family():
    pn = parse_formula("y ~ treat + pretest + (0 + treat | coach)", residual_by="treat")
    assert pn.outcome == "y" and pn.fixed_terms == ("Intercept", "treat", "pretest")
    assert pn.random == RandomEffect("coach", "treat") and pn.residual_by == "treat"
    ri = parse_formula("Height ~ gf + (1 | Family)")
    assert ri.random == RandomEffect("Family", None) and ri.fixed_terms == ("Intercept", "gf")
    fe = parse_formula("y ~ x")
    assert fe.random is None and fe.columns == ("y", "x")
    assert parse_formula("y ~ 0 + x + (0 + x | g)").fixed_terms == ("x",)


@pytest.mark.parametrize("formula,words", [
    ("y ~ x + (1 | a) + (1 | b)", "2 grouping factors"),
    ("y ~ x + (1 + x | g)", "random part \\(1 \\+ x \\| g\\) has 2 terms"),
    ("y ~ x + (x | g)", "has 2 terms"),
    ("y ~ x + (1 | g:h)", "must be one column"),
    ("log(y) ~ x", "outcome must be a column name"),
    ("y ~ x +", "cannot read formula"),
    ("y x", "has no '~'"),
])
def test_formulas_outside_the_family_are_refused(formula, words):
    with pytest.raises(SpecError, match=words):
        parse_formula(formula)


def test_categorical_covariates_and_placeholder_controls(tmp_path):
    path = _trial_csv(tmp_path)
    table = pd.read_csv(path, dtype=str)
    md = formula_data(table, parse_formula("post ~ arm + pre + sex + (0 + arm | coach)", "arm"), source=str(path))
    assert md.fixed_names == ("b[Intercept]", "b[arm]", "b[pre]", "b[sex[M]]")
    assert md.groups == ("1", "2", "3", "4", "5") and md.residual_names == ("s2e[0]", "s2e[1]")
    assert "20 controls share placeholder 0 in column coach — treated as unclustered" in md.notes


def test_spec_records_round_trip_and_keys():
    spec = model_spec(formula="y ~ treat + (0 + treat | coach)", residual_by="treat",
                      priors=["s2u ~ igamma(0.01, scale=0.01)", "b[treat] ~ normal(0, sd=10)"])
    again = spec_from_record(spec.record())
    assert again == spec and spec_key(again) == spec_key(spec) != ""
    assert dict(spec.priors)["b[treat]"] == Normal(0, 100) and dict(spec.priors)["s2u"] == InverseGamma(0.01, 0.01)
    assert spec_key(model_spec("single")) == ""  # the built-in runs keep their settings
    custom = model_spec("per_condition", priors=["s2u ~ igamma(1, scale=1)"])
    assert custom.is_builtin and spec_key(custom) != "" and spec_from_record(custom.record()) == custom
    assert spec_from_record(builtin_spec("single").record()) == builtin_spec("single")
    with pytest.raises(SpecError, match="not both"):
        model_spec("single", "y ~ x")
    with pytest.raises(SpecError, match="give --model"):
        model_spec()


@pytest.mark.parametrize("extra,words", [
    (["--formula", "post ~ arm + age + (0 + arm | coach)"], "column\\(s\\) age that the data do not have"),
    (["--formula", "post ~ arm + (1 | coach) + (1 | sex)"], "2 grouping factors"),
    (["--formula", "post ~ arm + (1 + pre | coach)"], "has 2 terms"),
    (["--formula", "post ~ arm + (0 + arm | coach)", "--prior", "sigma2 ~ igamma(1, scale=1)"],
     "prior on unknown parameter sigma2"),
    (["--formula", "post ~ arm + (0 + arm | coach)", "--prior", "b[age] ~ normal(0, var=1)"],
     "prior on unknown parameter b\\[age\\]"),
    (["--formula", "post ~ arm + (0 + arm | coach)", "--prior", "s2u ~ igamma(0.01, scale="], "cannot read the prior"),
    (["--formula", "post ~ arm + (0 + arm | coach)", "--prior", "s2u ~ normal(0, 100)"], "name the next one"),
    (["--formula", "post ~ arm + (0 + arm | coach)", "--residual-by", "arms"], "arms \\(the residual-by column\\)"),
    (["--model", "single", "--formula", "post ~ arm"], "not both"),
])
@pytest.mark.parametrize("command", ["validate", "exact", "reml"])
def test_bad_specifications_exit_2_with_one_line(tmp_path, capsys, extra, words, command):
    import re

    path = _trial_csv(tmp_path)
    args = [command, "--data", str(path), *extra] + (["--out", str(tmp_path / "x.csv")] if command == "exact" else [])
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"partclust {command}: error:")
    assert re.search(words, err), err


def test_validate_reports_placeholder_and_exact_and_reml_run(tmp_path, capsys):
    path = _trial_csv(tmp_path)
    spec = ["--formula", "post ~ arm + pre + (0 + arm | coach)", "--residual-by", "arm",
            "--prior", "s2u ~ igamma(1, scale=1)"]
    assert main(["validate", "--data", str(path), *spec]) == 0
    assert "20 controls share placeholder 0 in column coach — treated as unclustered" in capsys.readouterr().out
    assert main(["exact", "--data", str(path), *spec, "--out", str(tmp_path / "e.csv")]) == 0
    table = pd.read_csv(tmp_path / "e.csv")
    assert list(table["param"][:6]) == ["b[Intercept]", "b[arm]", "b[pre]", "s2u", "s2e[0]", "s2e[1]"]
    assert main(["reml", "--data", str(path), *spec]) == 0
    assert "b[pre]" in capsys.readouterr().out


def _fake_run(d, spec, sha="abc"):
    d.mkdir(parents=True)
    (d / "run.json").write_text(json.dumps({
        "settings": {"model": spec.name, "seed": d.name}, "data": {"sha256": sha, "path": "x"},
        "model_spec": spec.record(), "convergence": {"passed": True, "reason": ""}}))
    pd.DataFrame({"param": ["s2u"], "mean": [1.0]}).to_csv(d / "summary.csv", index=False)


def test_compare_refuses_runs_of_another_specification(tmp_path, monkeypatch):
    import importlib

    compare_module = importlib.import_module("partclust.evaluation.compare")

    def read_run(d):  # the records alone: the file checks of a run folder are tested with real runs
        return json.loads((tmp_path / d / "run.json").read_text()), pd.read_csv(tmp_path / d / "summary.csv")

    monkeypatch.setattr(compare_module, "read_run", read_run)
    a = model_spec(formula="y ~ x + (1 | g)")
    b = model_spec(formula="y ~ x + (1 | g)", priors=["s2u ~ igamma(1, scale=1)"])
    _fake_run(tmp_path / "a", a)
    _fake_run(tmp_path / "b", b)
    assert len(load_runs([str(tmp_path / "a")], spec_record=a.record()).included) == 1
    with pytest.raises(ComparisonError, match="another model specification \\(priors differ"):
        load_runs([str(tmp_path / "a"), str(tmp_path / "b")])
    with pytest.raises(ComparisonError, match="another model specification"):
        load_runs([str(tmp_path / "b")], spec_record=a.record())
