"""Recognising the model family in translated programs: the ModelSpec and ModelData, or why not (one line)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers_translate import (PROGRAM_A, PROGRAM_B, PROGRAM_C, PROGRAM_D, intercept_table, program_data, trial_table,
                               two_groups)

from partclust.layout import REPO_ROOT
from partclust.models import Exponential, Flat, Gamma, InverseGamma, Normal, RandomEffect, Reciprocal, builtin_data
from partclust.translate.program_data import read_program_data
from partclust.translate.family import recognise
from partclust.translate.model import bind
from partclust.translate.program import parse_program_text, read_program

SAS_PROGRAM = REPO_ROOT / "sas_reference" / "partially_clustered.sas"


def family(text: str, df):
    return recognise(bind(parse_program_text(text), program_data(df)))


@pytest.mark.parametrize("step,residual", [(1, "single"), (2, "per_condition")])
def test_the_project_program_is_the_builtin_specification(run1_path, run1_design, step, residual):
    f = recognise(bind(read_program(SAS_PROGRAM, step), read_program_data(str(run1_path))))
    assert f.member, f.reason
    ref = builtin_data(run1_design, residual)
    md = f.data
    assert md.scalar_names == ref.scalar_names and md.priors == ref.priors
    assert md.groups == ref.groups and md.spec.random == RandomEffect("j", "treat")
    np.testing.assert_array_equal(md.X, ref.X)
    np.testing.assert_array_equal(md.y, ref.y)
    np.testing.assert_array_equal(md.resid, ref.resid)
    assert [md.groups[k] if k >= 0 else None for k in md.group] == \
        [ref.groups[k] if k >= 0 else None for k in ref.group]
    assert f.names == {"s2u": "s2u", "u": "u"}


def test_a_bugs_style_program_is_a_member_with_its_own_names():
    df = trial_table()
    f = family(PROGRAM_A, df)
    assert f.member, f.reason
    md = f.data
    assert md.fixed_names == ("b0", "b1", "bpre") and md.x_columns == ("Intercept", "tx", "pre")
    assert md.spec.random == RandomEffect("coach", "tx") and md.spec.residual_by == "tx"
    assert md.residual_names == ("s2c", "s2t") and md.resid_levels == ("0", "1")
    assert md.priors == {"b0": Normal(0, 1e4), "b1": Normal(0, 1e4), "bpre": Normal(0, 1e4),
                         "s2u": InverseGamma(2, 1 / 3), "s2c": Gamma(2, 2), "s2t": Gamma(2, 2)}
    assert md.groups == ("c1", "c2", "c3", "c4")
    assert f.program_name("u[c2]") == "u[c2]" and "residual variance by tx: 0→s2c, 1→s2t" in f.description


def test_random_intercept_with_computed_column_and_renamed_variance():
    df = intercept_table()
    f = family(PROGRAM_B, df)
    assert f.member, f.reason
    md = f.data
    assert md.spec.random == RandomEffect("Fam", None)
    assert md.x_columns[0] == "Intercept" and md.x_columns[1] == "x_bm"
    np.testing.assert_array_equal(md.X[:, 1], (df["sex"] == "M").to_numpy(float))
    assert md.priors["s2u"] == Exponential(4) and md.priors["b0"] == Flat()
    assert f.names == {"s2u": "s2f", "u": "f"}
    assert f.program_name("s2u") == "s2f" and f.program_name("u[fam3]") == "f[fam3]"
    import pandas as pd

    table = f.rename(pd.DataFrame({"param": ["b0", "s2u", "u[fam0]", "s2"]}))
    assert list(table["param"]) == ["b0", "s2f", "f[fam0]", "s2"]


def test_an_effect_on_part_of_a_cluster_is_a_member():
    """u multiplied by an indicator of pre > 0, the residual variance chosen by it too: still the family."""
    f = family(PROGRAM_A.replace("IF tx = 1 THEN DO;", "IF pre > 0 THEN DO;"), trial_table())
    assert f.member, f.reason
    assert f.data.spec.random.multiplies == "z_u" and f.data.spec.residual_by == "residual_group"


def test_two_groups_without_random_effect():
    f = family(PROGRAM_C, two_groups())
    assert f.member, f.reason
    md = f.data
    assert not md.has_random and md.spec.residual_by == "grp" and md.residual_names == ("sig21", "sig22")
    assert md.priors == {"mu1": Flat(), "mu2": Flat(), "sig21": Reciprocal(), "sig22": Reciprocal()}


NOT_MEMBERS = [
    (PROGRAM_D, trial_table, "not linear in the parameters: exp() of a parameter (line 7)"),
    (PROGRAM_A.replace("PREC=tau", "SD=tau"), trial_table, "does not amount to a variance parameter"),
    (PROGRAM_A.replace("SD=SQRT(s2u)", "SD=s2u"), trial_table, "RANDOM u (line 10): its sd= does not amount to"),
    (PROGRAM_A.replace("NORMAL(0, SD", "NORMAL(b0, SD"), trial_table, "RANDOM u (line 10) has a mean other than 0"),
    (PROGRAM_A.replace("tau = 1 / s2t;", "tau = 2 / s2t;"), trial_table, "times a number other than 1"),
    (PROGRAM_A.replace("mu = b0 + bpre*pre;", "mu = b0 + bpre*pre + 1;"), trial_table, "an offset"),
    (PROGRAM_A.replace("mu = b0 + b1 + bpre*pre + u;", "mu = b0 + b1*bpre + u;"), trial_table,
     "not linear: it has the term b1·bpre"),
    (PROGRAM_A.replace("PRIOR b: ~ NORMAL(0, PREC=1e-4);",
                       "PRIOR b0 b1 ~ NORMAL(0, PREC=1e-4); PRIOR bpre ~ uniform(-5, 5);"), trial_table,
     "the fixed effect bpre has the prior uniform(-5, 5)"),
    (PROGRAM_A.replace("tau = 1 / s2t;", "tau = 1 / s2t; IF pre > 0 THEN tau = 1 / s2c;"), trial_table,
     "the residual variance differs within cluster c2 of coach (s2c, s2t)"),
    (PROGRAM_A.replace("mu = b0 + bpre*pre;", "mu = b0 + bpre*pre + s2c;"), trial_table,
     "the parameter s2c is both a fixed effect and a residual variance"),
    (PROGRAM_B.replace("mu = b0 + bm*male + f;", "mu = b0 + bm*male + f + g;").replace(
        "run;", "random g ~ normal(0, var=s2f) subject=sex;\nrun;"), intercept_table, "2 RANDOM statements"),
]


@pytest.mark.parametrize("text,table,reason", NOT_MEMBERS, ids=[r[2][:28] for r in NOT_MEMBERS])
def test_non_members_say_why_in_one_line(text, table, reason):
    f = family(text, table())
    assert not f.member and f.spec is None
    assert reason in f.reason and "\n" not in f.reason
