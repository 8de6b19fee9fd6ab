"""Every prior family: its log density and its PyMC model's log density equal scipy's at random points."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from partclust.errors import SpecError
from partclust.models import (PRIOR_FAMILIES, SAS_PRIORS, Exponential, Flat, Gamma, GammaOnPrecision, GammaOnSD,
                              HalfCauchyOnSD, HalfNormalOnSD, InverseGamma, UniformOnSD, Normal, Priors, Reciprocal, Uniform, log_prior_s2u)

# (family instance, scipy log density on the parameter's own scale or None for improper, point sampler)
CASES = {
    "normal": (Normal(1.5, 4.0), stats.norm(1.5, 2.0).logpdf, lambda r: r.normal(1.5, 3.0, 7)),
    "gamma": (Gamma(2.5, 0.4), stats.gamma(2.5, scale=1 / 0.4).logpdf, lambda r: r.gamma(2.0, 3.0, 7)),
    "igamma": (InverseGamma(0.01, 0.01), stats.invgamma(0.01, scale=0.01).logpdf, lambda r: r.uniform(0.05, 40, 7)),
    "uniform": (Uniform(-1.0, 3.0), stats.uniform(-1.0, 4.0).logpdf, lambda r: r.uniform(-0.9, 2.9, 7)),
    "expon": (Exponential(2.0), stats.expon(scale=2.0).logpdf, lambda r: r.uniform(0.01, 9.0, 7)),
    "flat": (Flat(), None, lambda r: r.normal(0, 50, 7)),
    "flat_positive": (Flat(0.0), None, lambda r: r.uniform(0.01, 50, 7)),
    "reciprocal": (Reciprocal(), None, lambda r: r.uniform(0.01, 50, 7)),
    "gamma_on_sd": (GammaOnSD(2.0, 1.5), lambda v: stats.gamma(2.0, scale=1 / 1.5).logpdf(np.sqrt(v))
                    - np.log(2 * np.sqrt(v)), lambda r: r.uniform(0.05, 5, 7)),
    "gamma_on_precision": (GammaOnPrecision(2.0, 1.5), lambda v: stats.gamma(2.0, scale=1 / 1.5).logpdf(1 / v)
                           - 2 * np.log(v), lambda r: r.uniform(0.05, 5, 7)),
    "halfcauchy_on_sd": (HalfCauchyOnSD(2.5), lambda v: stats.halfcauchy(scale=2.5).logpdf(np.sqrt(v))
                         - np.log(2 * np.sqrt(v)), lambda r: r.uniform(0.05, 30, 7)),
    "halfnormal_on_sd": (HalfNormalOnSD(0.7), lambda v: stats.halfnorm(scale=0.7).logpdf(np.sqrt(v))
                         - np.log(2 * np.sqrt(v)), lambda r: r.uniform(0.05, 3, 7)),
    "uniform_on_sd": (UniformOnSD(3.0), lambda v: stats.uniform(0, 3.0).logpdf(np.sqrt(v)) - np.log(2 * np.sqrt(v)),
                      lambda r: r.uniform(0.05, 8.9, 7)),
}
ON_SD = {"halfcauchy_on_sd": stats.halfcauchy(scale=2.5), "halfnormal_on_sd": stats.halfnorm(scale=0.7),
         "uniform_on_sd": stats.uniform(0, 3.0)}
"""The families put on the SD: PyMC's free variable is the SD, with scipy's density there."""
IMPROPER = {"flat": lambda x: np.zeros_like(x), "flat_positive": lambda x: np.zeros_like(x),
            "reciprocal": lambda x: -np.log(x)}


def test_every_family_has_a_case():
    assert {type(c[0]) for c in CASES.values()} == set(PRIOR_FAMILIES)


@pytest.mark.parametrize("case", list(CASES))
def test_log_density_equals_scipy(case):
    prior, scipy_logpdf, sample = CASES[case]
    x = sample(np.random.default_rng(3))
    want = scipy_logpdf(x) if scipy_logpdf is not None else IMPROPER[case](x)
    np.testing.assert_allclose(prior.log_density(x), want, rtol=1e-12, atol=1e-12)
    lo, hi = prior.support
    outside = [v for v in (lo - 1.0, hi + 1.0) if math.isfinite(v)]
    assert np.all(prior.log_density(np.array(outside)) == -np.inf)


def _pymc_logp(prior, name: str, x: float) -> float:
    """The PyMC model holding only ``prior`` (and its Potential), log density without Jacobian at x."""
    import pymc as pm

    with pm.Model() as model:
        prior.pymc(name)
    rv = model.free_RVs[0]
    value = float(x)
    if rv.name != name:  # a trap family: the free variable is the SD or the precision
        value = math.sqrt(x) if rv.name.startswith("sd_") else 1.0 / x
    transform = model.rvs_to_transforms.get(rv)
    v = np.asarray(value)
    if transform is not None:
        v = transform.forward(v, *rv.owner.inputs).eval()
    return float(model.compile_logp(jacobian=False)({model.rvs_to_values[rv].name: v})), rv.name


@pytest.mark.parametrize("case", list(CASES))
def test_pymc_log_density_equals_scipy(case):
    prior, scipy_logpdf, sample = CASES[case]
    for x in sample(np.random.default_rng(5))[:3]:
        got, free = _pymc_logp(prior, "s2u" if prior.for_variance else "b", x)
        if case in ON_SD:
            want = float(ON_SD[case].logpdf(math.sqrt(x)))
            assert free == "sd_u"
        elif case == "gamma_on_sd":  # PyMC's density is on the SD: Gamma(√v)
            want = stats.gamma(2.0, scale=1 / 1.5).logpdf(math.sqrt(x))
            assert free == "sd_u"
        elif case == "gamma_on_precision":
            want = stats.gamma(2.0, scale=1 / 1.5).logpdf(1 / x)
            assert free == "tau_u"
        elif scipy_logpdf is None:
            want = float(IMPROPER[case](np.array(x)))
        else:
            want = float(scipy_logpdf(x))
        # PyTensor's own gammaln and constants differ from scipy by up to ~1e-7 relative; a wrong
        # parameterization (scale for rate, SD for variance) is off by O(1).
        assert got == pytest.approx(want, rel=1e-7, abs=1e-7), case


def test_priors_convenience_is_the_sas_program():
    fam = SAS_PRIORS.families()
    assert fam["b"] == Normal(0.0, 10000.0) and fam["b"].sd == 100.0
    assert fam["s2u"] == Gamma(1.0, 1.0) and fam["s2e"] == Uniform(0.0, 100.0)
    assert [f.sas() for f in fam.values()] == ["normal(0, var=10000)", "gamma(shape=1, iscale=1)", "uniform(0, 100)"]
    ig = Priors(s2u_prior="inverse_gamma", s2u_alpha=0.5, s2u_beta=2.0)
    x = np.array([0.1, 1.0, 7.0])
    np.testing.assert_allclose(log_prior_s2u(ig, x), stats.invgamma(0.5, scale=2.0).logpdf(x), rtol=1e-12)


def test_bad_parameters_are_refused():
    for make in (lambda: Normal(0, -1), lambda: Gamma(0, 1), lambda: Uniform(2, 1), lambda: Exponential(0),
                 lambda: InverseGamma(1, float("nan")), lambda: Flat(3.0)):
        with pytest.raises(SpecError):
            make()


@pytest.mark.parametrize("case", list(ON_SD))
def test_priors_on_the_sd_integrate_to_one_on_the_variance(case):
    from scipy import integrate

    prior = CASES[case][0]
    hi = prior.support[1]
    # v = σ²: substitute σ to integrate the v^(-1/2) singularity at 0 smoothly
    total, _ = integrate.quad(lambda sd: float(np.exp(prior.log_density(sd**2))) * 2 * sd, 0, math.sqrt(hi))
    assert total == pytest.approx(1.0, abs=1e-8)
    assert prior.log_density(np.array([-1.0, 0.0]))[0] == -np.inf
