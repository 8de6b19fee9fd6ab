"""The PyMC models equal a hand-written scipy log density, for both models and all parameterizations."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import unbalanced_frame
from scipy import stats

from partclust.config import PARAMETERIZATIONS
from partclust.data import validate
from partclust.models import Priors, build_model, residual_names


def scipy_logp(design, residual, parameterization, point):
    """Log density on the natural (constrained) scale, written from STUDY.md's table only."""
    lp = stats.norm.logpdf(point["b0"], 0, 100) + stats.norm.logpdf(point["b1"], 0, 100)
    lp += stats.gamma.logpdf(point["s2u"], a=1.0, scale=1.0)
    sd_u = np.sqrt(point["s2u"])
    if parameterization == "noncentered":
        lp += stats.norm.logpdf(point["z"], 0, 1).sum()
        u_row = sd_u * point["z"][np.maximum(design.cluster_of_row, 0)]
    elif parameterization == "centered":
        lp += stats.norm.logpdf(point["u"], 0, sd_u).sum()
        u_row = point["u"][np.maximum(design.cluster_of_row, 0)]
    else:
        lp += stats.norm.logpdf(point["u_sas"], 0, sd_u).sum()
        u_row = point["u_sas"][design.sas_cluster_of_row]
    if residual == "single":
        lp += stats.uniform.logpdf(point["s2e"], 0, 100)
        var = np.full(design.n, point["s2e"])
    else:
        lp += stats.uniform.logpdf(point["s2e_control"], 0, 100)
        lp += stats.uniform.logpdf(point["s2e_treated"], 0, 100)
        var = np.where(design.treat == 1, point["s2e_treated"], point["s2e_control"])
    mu = point["b0"] + point["b1"] * design.treat + u_row * design.treat
    lp += stats.norm.logpdf(design.y, mu, np.sqrt(var)).sum()
    return lp


def _point(design, residual, parameterization, rng):
    pt = {"b0": rng.normal(0, 0.5), "b1": rng.normal(0, 0.5), "s2u": rng.uniform(0.1, 2.0)}
    if parameterization == "noncentered":
        pt["z"] = rng.normal(size=design.n_clusters)
    elif parameterization == "centered":
        pt["u"] = rng.normal(size=design.n_clusters)
    else:
        pt["u_sas"] = rng.normal(size=len(design.sas_clusters))
    for name in residual_names(residual):
        pt[name] = rng.uniform(0.3, 3.0)
    return pt


def model_logp(model, point):
    """PyMC's log density without Jacobian, at ``point`` given on the natural scale."""
    values = {}
    for rv in model.free_RVs:
        value_var = model.rvs_to_values[rv]
        transform = model.rvs_to_transforms.get(rv)
        x = np.asarray(point[rv.name], dtype=float)
        if transform is not None:
            x = transform.forward(x, *rv.owner.inputs).eval()
        values[value_var.name] = x
    return float(model.compile_logp(jacobian=False)(values))


@pytest.mark.parametrize("residual", ["single", "per_condition"])
@pytest.mark.parametrize("parameterization", PARAMETERIZATIONS)
@pytest.mark.parametrize("which", ["run1", "unbalanced"])
def test_logp_matches_scipy(run1_design, residual, parameterization, which):
    design = run1_design if which == "run1" else validate(unbalanced_frame(), "generated")
    rng = np.random.default_rng(11)
    model = build_model(design, residual, parameterization)
    for _ in range(3):
        point = _point(design, residual, parameterization, rng)
        assert model_logp(model, point) == pytest.approx(
            scipy_logp(design, residual, parameterization, point), rel=1e-8  # the transform round trip costs ~1e-9 relative
        )


def test_names_dims_and_labels(run1_design):
    m = build_model(run1_design, "per_condition", "sas_singletons")
    names = {v.name for v in m.free_RVs}
    assert names == {"b0", "b1", "s2u", "s2e_control", "s2e_treated", "u_sas"}
    assert list(m.coords["cluster"]) == [str(k) for k in range(1, 11)]
    assert len(m.coords["sas_cluster"]) == 110
    assert m.named_vars_to_dims["u"] == ("cluster",)
    single = build_model(run1_design, "single", "noncentered")
    assert {v.name for v in single.free_RVs} == {"b0", "b1", "s2u", "s2e", "z"}


def test_uniform_bound_is_honoured(run1_design):
    """s2e above the Uniform(0, 100) upper bound has zero prior density, as in SAS."""
    import pymc as pm

    m = build_model(run1_design, "single", "centered")
    assert np.isfinite(pm.logp(m["s2e"], 99.0).eval())
    assert pm.logp(m["s2e"], 100.5).eval() == -np.inf


def test_bad_choices_are_refused(run1_design):
    with pytest.raises(ValueError, match="residual must be one of"):
        build_model(run1_design, "double")
    with pytest.raises(ValueError, match="parameterization must be one of"):
        build_model(run1_design, "single", "weird")
    with pytest.raises(ValueError, match="s2u_prior"):
        Priors(s2u_prior="lognormal")


@pytest.mark.parametrize("prior", ["gamma_on_sd", "gamma_on_precision", "inverse_gamma"])
def test_mistranslated_priors_still_name_s2u(run1_design, prior):
    m = build_model(run1_design, "single", "noncentered", Priors(s2u_prior=prior))
    assert "s2u" in m.named_vars


# ---- any model of the family ---------------------------------------------------------------------
def _family_data(residual_levels: int, random: str | None):
    from partclust.models import (Exponential, InverseGamma, ModelSpec, RandomEffect, Reciprocal,
                                  build_model_data)

    rng = np.random.default_rng(8)
    n = 40
    import pandas as pd

    df = pd.DataFrame({"g": rng.choice(["a", "b", "c", "d"], n), "tx": rng.integers(0, 2, n),
                       "x": rng.normal(size=n), "lev": rng.integers(0, residual_levels, n), "y": rng.normal(size=n)})
    df.loc[df.tx == 0, "g"] = "0"  # placeholder-coded rows the effect does not touch
    rand = None if random is None else RandomEffect("g", "tx" if random == "slope" else None)
    priors = (("s2e", InverseGamma(2.0, 1.0)), ("b[x]", Exponential(2.0)), ("s2u", Reciprocal()))
    spec = ModelSpec("y", ("Intercept", "tx", "x"), rand, "lev" if residual_levels > 1 else None,
                     priors if random else priors[:2])
    if random == "intercept":
        df["g"] = rng.choice(["a", "b", "c", "d"], n)
    x = np.column_stack([np.ones(n), df.tx, df.x]).astype(float)
    return build_model_data(spec, df.astype(str), x, ["Intercept", "tx", "x"], source="generated")


@pytest.mark.parametrize("levels,random", [(2, "slope"), (3, "intercept"), (1, None)])
def test_family_model_logp_matches_scipy(levels, random):
    md = _family_data(levels, random)
    model = build_model(md, parameterization="centered")
    rng = np.random.default_rng(2)
    point = {"b[Intercept]": 0.3, "b[tx]": -0.2, "b[x]": 0.7}
    for name in md.residual_names:
        point[name] = rng.uniform(0.5, 2.0)
    mu = 0.3 - 0.2 * md.X[:, 1] + 0.7 * md.X[:, 2]
    lp = stats.norm.logpdf([0.3, -0.2], 0, 100).sum() + stats.expon(scale=2.0).logpdf(0.7)
    lp += sum(stats.invgamma(2.0, scale=1.0).logpdf(point[n]) for n in md.residual_names)
    if random:
        point["s2u"] = 0.8
        point["u"] = rng.normal(size=md.n_groups)
        lp += -np.log(0.8) + stats.norm.logpdf(point["u"], 0, np.sqrt(0.8)).sum()
        mu = mu + point["u"][np.maximum(md.group, 0)] * md.effect_multiplier * (md.group >= 0)
    var = np.array([point[n] for n in md.residual_names])[md.resid]
    lp += stats.norm.logpdf(md.y, mu, np.sqrt(var)).sum()
    assert set(v.name for v in model.free_RVs) == set(point)
    assert model_logp_with_potentials(model, point) == pytest.approx(lp, rel=1e-7)


def model_logp_with_potentials(model, point):
    """The model's whole log density (free variables, likelihood and Potentials), no Jacobian."""
    values = {}
    for rv in model.free_RVs:
        transform = model.rvs_to_transforms.get(rv)
        x = np.asarray(point[rv.name], dtype=float)
        if transform is not None:
            x = transform.forward(x, *rv.owner.inputs).eval()
        values[model.rvs_to_values[rv].name] = x
    return float(model.compile_logp(jacobian=False)(values))
