"""ModelSpec validation and reading a table through a specification (real-data conventions)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from partclust.errors import DataError, SpecError
from partclust.models import (SAS_PRIORS, Gamma, InverseGamma, ModelSpec, Normal, Priors, RandomEffect,
                              build_model_data, builtin_data, builtin_spec)


def _trial(control_ids, n_control=6, seed=0) -> pd.DataFrame:
    """A small partially nested trial: 3 treated clusters; controls coded with ``control_ids``."""
    rng = np.random.default_rng(seed)
    rows = [(f"c{k}", 1, str(c), rng.normal()) for k, c in enumerate([7, 7, 7, 8, 8, 9, 9, 9])]
    ids = list(control_ids) if not isinstance(control_ids, str) else [control_ids] * n_control
    rows += [(f"k{k}", 0, ids[k], rng.normal()) for k in range(len(ids))]
    return pd.DataFrame(rows, columns=["id", "tx", "coach", "y"]).astype(str)


def _pn_spec(**kw) -> ModelSpec:
    return ModelSpec("y", ("Intercept", "tx"), RandomEffect("coach", "tx"), **kw)


def _read(df: pd.DataFrame, spec: ModelSpec):
    x = np.column_stack([np.ones(len(df)), df["tx"].astype(float)])
    return build_model_data(spec, df, x, ["Intercept", "tx"], source="trial.csv")


def test_builtin_specs_read_the_design_as_before(run1_design):
    for residual in ("single", "per_condition"):
        md = builtin_data(run1_design, residual)
        assert md.spec == builtin_spec(residual) and md.spec.is_builtin
        assert md.scalar_names == (("b0", "b1", "s2u", "s2e") if residual == "single" else
                                   ("b0", "b1", "s2u", "s2e_control", "s2e_treated"))
        assert md.groups == run1_design.clusters and md.sas_groups == run1_design.sas_clusters
        np.testing.assert_array_equal(md.group, run1_design.cluster_of_row)
        np.testing.assert_array_equal(md.X[:, 1], run1_design.treat)
        assert md.priors["b0"] == Normal(0, 10000) and md.priors["s2u"] == Gamma(1, 1)
    rec = builtin_spec("single").record()
    assert rec["formula"] == "y ~ treat + (0 + treat | j)"
    assert rec["priors"] == {"b": "normal(0, var=10000)", "s2u": "gamma(shape=1, iscale=1)", "s2e": "uniform(0, 100)"}
    other = builtin_spec("single", Priors(s2u_prior="inverse_gamma")).record()
    assert other != rec and other["priors"]["s2u"] == "igamma(shape=1, scale=1)"


@pytest.mark.parametrize("ids,placeholder", [("0", "0"), ("", None), ("NA", None), ("999", "999")])
def test_controls_sharing_a_placeholder_are_unclustered(ids, placeholder):
    md = _read(_trial(ids), _pn_spec())
    assert md.groups == ("7", "8", "9")  # never a fourth cluster of controls
    assert (md.group[md.X[:, 1] == 0] == -1).all()
    note = " ".join(md.notes)
    if placeholder is None:
        assert "6 controls have no id in column coach" in note
    else:
        assert f"6 controls share placeholder {placeholder} in column coach — treated as unclustered" in note
        assert md.sas_groups == ("7", "8", "9", placeholder)


def test_sas_singleton_coding_and_numeric_labels():
    md = _read(_trial([f"{k}" for k in range(100, 106)]), _pn_spec())
    assert md.groups == ("7", "8", "9") and len(md.sas_groups) == 9
    assert "6 controls have their own id" in " ".join(md.notes)
    df = _trial("0")
    df.loc[0, "coach"] = "7.0"  # the same cluster written as a float
    assert _read(df, _pn_spec()).groups == ("7", "8", "9")


def test_treated_subject_without_cluster_id_is_an_error():
    df = _trial("0")
    df.loc[2, "coach"] = ""
    with pytest.raises(DataError, match="missing cluster id in column coach at line\\(s\\) 4"):
        _read(df, _pn_spec())


def test_residual_levels_and_priors_by_level():
    spec = _pn_spec(residual_by="tx", priors=(("s2e[1]", InverseGamma(0.5, 1.0)),))
    md = _read(_trial("0"), spec)
    assert md.residual_names == ("s2e[0]", "s2e[1]") and md.resid_levels == ("0", "1")
    assert md.priors["s2e[1]"] == InverseGamma(0.5, 1.0) and md.priors["s2e[0]"] == SAS_PRIORS.s2e
    assert md.scalar_names == ("b[Intercept]", "b[tx]", "s2u", "s2e[0]", "s2e[1]")
    with pytest.raises(SpecError, match="prior on unknown parameter s2e\\[2\\]"):
        _read(_trial("0"), _pn_spec(residual_by="tx", priors=(("s2e[2]", Gamma(1, 1)),)))
    with pytest.raises(SpecError, match="prior on unknown parameter b\\[age\\]"):
        _read(_trial("0"), _pn_spec(priors=(("b[age]", Normal(0, 1)),)))


def test_spec_refuses_what_cannot_be_fitted():
    with pytest.raises(SpecError, match="prior on unknown parameter s2u \\(the model has no random effect\\)"):
        ModelSpec("y", priors=(("s2u", Gamma(1, 1)),))
    with pytest.raises(SpecError, match="prior on unknown parameter sigma"):
        _pn_spec(priors=(("sigma", Gamma(1, 1)),))
    with pytest.raises(SpecError, match="s2u is a variance"):
        _pn_spec(priors=(("s2u", Normal(0, 1)),))
    with pytest.raises(SpecError, match="more than one prior for s2u"):
        _pn_spec(priors=(("s2u", Gamma(1, 1)), ("s2u", Gamma(2, 1))))
    df = _trial("0")
    df["tx2"] = df["tx"]
    x = np.column_stack([np.ones(len(df)), df["tx"].astype(float), df["tx2"].astype(float)])
    with pytest.raises(SpecError, match="collinear"):
        build_model_data(ModelSpec("y", ("Intercept", "tx", "tx2")), df, x, ["Intercept", "tx", "tx2"])
    with pytest.raises(DataError, match="no column 'coach2'"):
        _read(_trial("0"), ModelSpec("y", ("Intercept", "tx"), RandomEffect("coach2", "tx")))
