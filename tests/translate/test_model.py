"""Translated programs build PyMC models whose log density is the one written by hand with scipy.

The programs (``helpers_translate.py``) are written for these tests in varied styles: statement order, both comment styles, prefix
wildcards, ``prec=`` and ``sd=`` forms, ``iscale=``/``scale=``, PARMS blocks, IF/ELSE DO blocks,
``general()`` priors, macro variables and a derived monitored quantity. Each scipy density below is
written from the program's text, independently of the translator.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers_translate import (PROGRAM_A, PROGRAM_B, PROGRAM_C, PROGRAM_D, intercept_table, logp_function,
                               program_data, random_point, transformed_point, trial_table, two_groups)
from scipy import stats

from partclust.config import PARAMETERIZATIONS
from partclust.errors import DataError
from partclust.layout import REPO_ROOT
from partclust.models import build_model, builtin_data
from partclust.translate.program_data import read_program_data
from partclust.translate.model import translate
from partclust.translate.program import RefusedError, parse_program_text, read_program

SAS_PROGRAM = REPO_ROOT / "sas_reference" / "partially_clustered.sas"

def col(df: pd.DataFrame, name: str) -> np.ndarray:
    return df[name].astype(float).to_numpy()


def effect_values(tm, name: str, v: dict, mean: float, sd: float) -> tuple[float, dict[str, float]]:
    """The effects' log prior density and their values by subject label, from the model's own labels."""
    m = tm.model
    if tm.parameterization == "noncentered":
        z = v[f"{name}_z"]
        labels = list(m.coords[m.named_vars_to_dims[f"{name}_z"][0]])
        return stats.norm.logpdf(z).sum(), dict(zip(labels, mean + sd * z))
    labels = list(m.coords[m.named_vars_to_dims[name][0]])
    return stats.norm.logpdf(v[name], mean, sd).sum(), dict(zip(labels, v[name]))


def density_a(v: dict, df: pd.DataFrame, tm) -> float:
    tx, pre, y = col(df, "tx"), col(df, "pre"), col(df, "y")
    lp = stats.norm.logpdf([v["b0"], v["b1"], v["bpre"]], 0, np.sqrt(1e4)).sum()
    lp += stats.invgamma.logpdf(v["s2u"], 2, scale=1 / 3)
    lp += stats.gamma.logpdf([v["s2c"], v["s2t"]], 2, scale=0.5).sum()
    lu, u = effect_values(tm, "u", v, 0.0, np.sqrt(v["s2u"]))
    u_row = np.array([u.get(c, np.nan) if t == 1 else 0.0 for c, t in zip(df["coach"], tx)])
    mu = v["b0"] + v["bpre"] * pre + tx * (v["b1"] + u_row)
    s2 = np.where(tx == 1, v["s2t"], v["s2c"])
    return lp + lu + stats.norm.logpdf(y, mu, np.sqrt(s2)).sum()


def density_b(v: dict, df: pd.DataFrame, tm) -> float:
    male = (df["sex"] == "M").to_numpy(float)
    y = col(df, "Ht")
    lp = stats.expon.logpdf(v["s2f"], scale=4) + stats.uniform.logpdf(v["s2"], 0, 50)
    lf, f = effect_values(tm, "f", v, 0.0, np.sqrt(v["s2f"]))
    mu = v["b0"] + v["bm"] * male + np.array([f[c] for c in df["Fam"]])
    return lp + lf + stats.norm.logpdf(y, mu, np.sqrt(v["s2"])).sum()


def density_c(v: dict, df: pd.DataFrame, tm) -> float:
    g, y = col(df, "grp"), col(df, "y")
    lp = -np.log(v["sig21"]) - np.log(v["sig22"])
    mu = np.where(g == 1, v["mu1"], v["mu2"])
    s2 = np.where(g == 1, v["sig21"], v["sig22"])
    return lp + stats.norm.logpdf(y, mu, np.sqrt(s2)).sum()


def density_d(v: dict, df: pd.DataFrame, tm) -> float:
    pre, y = col(df, "pre"), col(df, "y")
    lp = stats.norm.logpdf(v["b0"], 0, 10) + stats.norm.logpdf(v["b1"], 0, 2)
    lp += stats.invgamma.logpdf(v["s2"], 3, scale=2)
    return lp + stats.norm.logpdf(y, v["b0"] * np.exp(v["b1"] * pre), np.sqrt(v["s2"])).sum()


CASES = {
    "A_bugs_style_precisions": (PROGRAM_A, trial_table, density_a),
    "A_controls_own_ids": (PROGRAM_A, lambda: trial_table(placeholder=None), density_a),
    "B_shuffled_flat_text": (PROGRAM_B, intercept_table, density_b),
    "C_two_groups_reciprocal": (PROGRAM_C, two_groups, density_c),
    "D_nonlinear": (PROGRAM_D, trial_table, density_d),
}


@pytest.mark.parametrize("parameterization", PARAMETERIZATIONS)
@pytest.mark.parametrize("case", list(CASES))
def test_log_density_equals_scipy(case, parameterization):
    text, table, density = CASES[case]
    df = table()
    program = parse_program_text(text, path=f"{case}.sas")
    tm = translate(program, program_data(df), parameterization)
    rng = np.random.default_rng(20)
    model_logp = logp_function(tm.model)
    for _ in range(3):
        values = random_point(tm.model, program.priors, rng)
        assert model_logp(values) == pytest.approx(density(values, df, tm), rel=1e-9, abs=1e-9)


def test_names_effects_and_derived_quantities():
    df = trial_table()
    tm = translate(parse_program_text(PROGRAM_A), program_data(df), "sas_singletons")
    m = tm.model
    assert [v.name for v in m.free_RVs] == ["b0", "b1", "bpre", "s2u", "s2c", "s2t", "u"]
    assert list(m.coords["coach_sas"]) == ["c1", "c2", "c3", "c4", "0"]  # 149-style placeholder: one SAS subject
    assert [d.name for d in m.deterministics] == ["effect"]
    rng = np.random.default_rng(1)
    values = random_point(m, parse_program_text(PROGRAM_A).priors, rng)
    (graph,) = m.replace_rvs_by_values([m["effect"]])
    point = transformed_point(m, values)
    inputs = {v: point[v.name] for v in m.value_vars if v.name in ("b1", "s2t_log__")}
    assert float(graph.eval(inputs, mode="FAST_COMPILE")) == pytest.approx(values["b1"] / np.sqrt(values["s2t"]))
    reported = [r.name for r in tm.reported()]
    assert reported == ["b0", "b1", "bpre", "s2u", "s2c", "s2t", "effect", "u[c1]", "u[c2]", "u[c3]", "u[c4]"]
    nc = translate(parse_program_text(PROGRAM_A), program_data(df), "noncentered").model
    assert [v.name for v in nc.free_RVs][-1] == "u_z" and list(nc.coords["coach"]) == ["c1", "c2", "c3", "c4"]


@pytest.mark.parametrize("step,residual", [(1, "single"), (2, "per_condition")])
@pytest.mark.parametrize("parameterization", PARAMETERIZATIONS)
def test_the_project_program_is_the_builtin_model(run1_path, run1_design, step, residual, parameterization):
    """sas_reference/partially_clustered.sas, both steps, translated: the built-in models' log density."""
    tm = translate(read_program(SAS_PROGRAM, step), read_program_data(str(run1_path)), parameterization)
    ref = build_model(run1_design, residual, parameterization)
    mine = {"noncentered": "u_z", "centered": "u", "sas_singletons": "u"}[parameterization]
    theirs = {"noncentered": "z", "centered": "u", "sas_singletons": "u_sas"}[parameterization]
    assert sorted(v.name for v in tm.model.free_RVs) == sorted(
        mine if v.name == theirs else v.name for v in ref.free_RVs)
    rng = np.random.default_rng(step)
    priors = builtin_data(run1_design, residual).priors
    fns = {(which, jac): logp_function(model, jac) for which, model in (("mine", tm.model), ("ref", ref))
           for jac in (False, True)}
    for _ in range(3):
        v = random_point(ref, priors, rng)
        ref_labels = list(ref.coords[ref.named_vars_to_dims[theirs][0]])
        my_labels = list(tm.model.coords[tm.model.named_vars_to_dims[mine][0]])
        assert sorted(ref_labels) == sorted(my_labels)
        by_label = dict(zip(ref_labels, v[theirs]))
        mv = {k: x for k, x in v.items() if k != theirs}
        mv[mine] = np.array([by_label[lab] for lab in my_labels])
        for jac in (False, True):
            assert fns["mine", jac](mv) == pytest.approx(fns["ref", jac](v), rel=1e-12)


def test_data_problems_are_reported():
    df = trial_table()
    with pytest.raises(DataError, match="line 20: the MODEL's outcome y is not a column"):
        translate(parse_program_text(PROGRAM_A), program_data(df.drop(columns="y")))
    with pytest.raises(DataError, match="line 10: RANDOM u … SUBJECT=coach: .*missing cluster id"):
        bad = df.copy()
        bad.loc[bad["tx"] == "1", "coach"] = bad.loc[bad["tx"] == "1", "coach"].where(
            bad.index[bad["tx"] == "1"] != bad.index[bad["tx"] == "1"][0], "")
        translate(parse_program_text(PROGRAM_A), program_data(bad))
    with pytest.raises(DataError, match="column y .*missing, non-numeric"):
        bad = df.copy()
        bad.loc[3, "y"] = "."
        translate(parse_program_text(PROGRAM_A), program_data(bad))


UNSET = """\
proc mcmc data=d;
  parms b0 0 s2 1;
  prior b0 ~ normal(0, var=100);
  prior s2 ~ igamma(2, scale=2);
  if tx = 1 then mu = b0;
  %s
  model y ~ normal(mu, var=s2);
run;
"""


def test_variables_the_data_leave_unset_are_refused():
    df = trial_table()
    with pytest.raises(RefusedError, match=r"line 7: the MODEL's mean \(mu\) is not set for every observation"):
        translate(parse_program_text(UNSET % ""), program_data(df))
    with pytest.raises(RefusedError, match="line 6: zz is neither a parameter, a random effect, a variable"):
        translate(parse_program_text(UNSET % "q = zz;"), program_data(df))
    with pytest.raises(RefusedError, match="line 5: w is used before it is assigned"):
        translate(parse_program_text((UNSET % "w = 1;").replace("mu = b0;", "mu = b0 * w;")), program_data(df))
    text = (UNSET % "else mu = b0 + 1;").replace("run;", "").replace("proc mcmc data=d;", "proc mcmc data=d monitor=(mu);")
    with pytest.raises(RefusedError, match="MONITOR=mu: mu differs between observations"):
        translate(parse_program_text(text + "run;\n"), program_data(df))
    ok = translate(parse_program_text(UNSET % "else mu = b0 + 1;"), program_data(df))
    assert [v.name for v in ok.model.free_RVs] == ["b0", "s2"]
