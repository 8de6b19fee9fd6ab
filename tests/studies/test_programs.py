"""A PROC MCMC program's model for notebooks 08–10: its data and priors, its other residual structure, its names."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers_translate import PROGRAM_B, PROGRAM_D, intercept_table, trial_table

from partclust.errors import SpecError
from partclust.layout import REPO_ROOT
from partclust.models.priors import Gamma, InverseGamma, Uniform
from partclust.references.exact import exact_posterior
from partclust.studies import sensitivity as sens
from partclust.studies.programs import Naming, program_models, program_questions

SAS_PROGRAM = REPO_ROOT / "sas_reference" / "partially_clustered.sas"

PROGRAM_SINGLE = """\
/* A partially nested trial with one residual variance, written for the tests in names of its own. */
proc mcmc data=trial nmc=1000 seed=3;
   parms a0 0 delta 0 bpre 0;
   parms s2cl 1 sig2 1;
   prior a0 delta bpre ~ normal(0, var=100);
   prior s2cl ~ igamma(2, scale=1);
   prior sig2 ~ uniform(0, 50);
   random w ~ normal(0, var=s2cl) subject=coach;
   mu = a0 + delta*tx + bpre*pre + w*tx;
   model y ~ normal(mu, var=sig2);
run;
"""


def _files(tmp_path, program: str, table: pd.DataFrame, name: str = "p") -> tuple[str, str]:
    sas, csv = tmp_path / f"{name}.sas", tmp_path / f"{name}.csv"
    sas.write_text(program)
    table.to_csv(csv, index=False)
    return str(sas), str(csv)


def test_each_step_of_the_project_program_is_the_other_ones_alternative(run1_path):
    """Step 1 (one s2e) gets per-arm variances by treat; step 2 (s2e_control, s2e_treated) gets one: each alternative
    reads the data exactly as the translator reads the other step (an independent recognition of that program)."""
    one = program_models(str(SAS_PROGRAM), 1, str(run1_path))
    two = program_models(str(SAS_PROGRAM), 2, str(run1_path))
    assert (one.own, one.alternative, two.own, two.alternative) == ("single", "per_condition", "per_condition", "single")
    for derived, recognised in ((one.data["per_condition"], two.data["per_condition"]),
                                (two.data["single"], one.data["single"])):
        assert derived.content_sha256 == recognised.content_sha256
        assert np.array_equal(derived.resid, recognised.resid) and derived.resid_levels == recognised.resid_levels
        assert [type(p) for p in derived.priors.values()] == [type(p) for p in recognised.priors.values()]
    assert one.data["per_condition"].residual_names == ("s2e[0]", "s2e[1]")
    assert two.data["single"].residual_names == ("s2e",)
    assert one.data["per_condition"].priors["s2e[1]"] == Uniform(0.0, 100.0)
    assert one.data["single"].priors["s2u"] == Gamma(1.0, 1.0)  # the program's priors, not a default
    assert "s2e[0]` for treat = 0" in one.note and "one residual variance `s2e`" in two.note
    assert program_questions(str(SAS_PROGRAM), 2, str(run1_path)) == ("efficiency", "sensitivity", "model_choice")


def test_a_program_in_its_own_names_and_its_per_arm_alternative_matches_the_formula_model(tmp_path):
    """The per-arm alternative of a one-variance program is the formula model with residual_by=tx and the
    program's priors: their exact posteriors agree (the formula reader is independent of the translator)."""
    from partclust.translate import load_model_data, model_spec

    sas, csv = _files(tmp_path, PROGRAM_SINGLE, trial_table())
    models = program_models(sas, 0, csv)
    assert models.own == "single" and models.alternative == "per_condition"
    assert models.effect_variance == "s2cl" and models.naming.name("u[c2]") == "w[c2]"
    alt = models.data["per_condition"]
    assert alt.residual_names == ("sig2[0]", "sig2[1]") and alt.spec.residual_by == "tx"
    assert alt.priors["s2u"] == InverseGamma(2.0, 1.0) and alt.priors["sig2[0]"] == Uniform(0.0, 50.0)
    formula = load_model_data(csv, model_spec(formula="y ~ tx + pre + (0 + tx | coach)", residual_by="tx", priors=[
        "b ~ normal(0, var=100)", "s2u ~ igamma(2, scale=1)", "s2e ~ uniform(0, 50)"]))
    ours = exact_posterior(alt).table.set_index("param")
    theirs = exact_posterior(formula).table.set_index("param")
    pairs = {"delta": "b[tx]", "bpre": "b[pre]", "s2u": "s2u", "sig2[0]": "s2e[0]", "sig2[1]": "s2e[1]"}
    for mine, other in pairs.items():
        for stat in ("mean", "sd", "q2.5", "q97.5"):
            assert ours.loc[mine, stat] == pytest.approx(theirs.loc[other, stat], rel=1e-6, abs=1e-9), (mine, stat)


def test_tables_show_the_program_names():
    naming = Naming({"s2u": "s2cl", "u": "w"})
    table = pd.DataFrame({"param": ["s2u", "b1", "u[3]", "sig2"], "mean": [1.0, 2.0, 3.0, 4.0]})
    shown = naming.rename(table, effect="delta")
    assert list(shown["param"]) == ["s2cl", "delta", "w[3]", "sig2"] and table["param"].iloc[0] == "s2u"
    assert list(Naming().rename(table)["param"]) == ["s2u", "b1", "u[3]", "sig2"]


def test_a_random_intercept_program_is_studied_alone_and_says_why(tmp_path):
    sas, csv = _files(tmp_path, PROGRAM_B, intercept_table())
    models = program_models(sas, 0, csv)
    assert models.residuals == ["single"] and models.alternative is None
    assert "random intercept per Fam" in models.note and "studied alone" in models.note
    assert models.effect_variance == "s2f"
    assert program_questions(sas, 0, csv) == ("efficiency", "sensitivity")  # 09 has nothing to compare


def test_the_prior_sensitivity_starts_from_the_program_prior_in_its_names():
    own = InverseGamma(0.01, 0.01)
    alts = sens.default_alternatives(own=("s2g", own))
    assert alts[0].prior == own and alts[0].name.startswith("program: ") and "s2g" in alts[0].name
    assert [a.name for a in alts[1:]] == ["half-Cauchy(1) on √s2g", "half-normal(1) on √s2g",
                                          "inverse-gamma(0.001, 0.001) on s2g", "uniform(0, 10) on √s2g"]
    assert len(sens.default_alternatives()) == 6 and sens.default_alternatives()[0].name == sens.SAS_NAME


def test_a_program_outside_the_family_is_refused_with_its_reason(tmp_path):
    rng = np.random.default_rng(1)
    table = pd.DataFrame({"pre": rng.normal(size=12), "y": rng.normal(size=12)})
    sas, csv = _files(tmp_path, PROGRAM_D, table)
    with pytest.raises(SpecError, match="not in the model family.*not linear"):
        program_models(sas, 0, csv)
    assert program_questions(sas, 0, csv) == ()


def test_the_project_program_needs_its_step(run1_path):
    with pytest.raises(SpecError, match="has 2 PROC MCMC steps"):
        program_models(str(SAS_PROGRAM), 0, str(run1_path))


def test_reml_likelihood_ratio_of_a_program_and_its_alternative_is_run1s(run1_path, run1_design):
    """Step 1 and its per-arm alternative give the built-in models' REML test (an independent reading of run1)."""
    from partclust.references.reml import lrt, reml

    one = program_models(str(SAS_PROGRAM), 1, str(run1_path))
    ours = lrt(reml(one.data["single"]), reml(one.data["per_condition"]))
    builtin = lrt(reml(run1_design, "single"), reml(run1_design, "per_condition"))
    assert ours.df == 1 and ours.statistic == pytest.approx(builtin.statistic, rel=1e-6)
    with pytest.raises(SpecError):
        lrt(reml(one.data["per_condition"]), reml(one.data["single"]))
