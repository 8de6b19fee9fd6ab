"""PROC MCMC distributions and prior statements are read by the lark grammar into prior families."""

from __future__ import annotations

import dataclasses
import math

import pytest

from partclust.errors import SpecError
from partclust.models import (PRIOR_FAMILIES, Exponential, Flat, Gamma, GammaOnPrecision, GammaOnSD, HalfCauchyOnSD,
                              HalfNormalOnSD, InverseGamma, UniformOnSD,
                              Normal, Reciprocal, Uniform)
from partclust.translate import parse_distribution, parse_prior

READS = [
    ("normal(0, var=10000)", Normal(0, 10000)),
    ("normal(0, sd=100)", Normal(0, 10000)),
    ("normal(0, prec=1e-4)", Normal(0, 1e4)),
    ("NORMAL(MU=2, Var=3)", Normal(2, 3)),
    ("normal(mean=-1, sd=0.5)", Normal(-1, 0.25)),
    ("normal(0, var=10**4)", Normal(0, 10000)),
    ("gamma(shape=1, iscale=1)", Gamma(1, 1)),
    ("gamma(2, scale=4)", Gamma(2, 0.25)),
    ("igamma(0.01, scale=0.01)", InverseGamma(0.01, 0.01)),
    ("igamma(shape=3/10, scale=10/3)", InverseGamma(0.3, 10 / 3)),
    ("igamma(2, iscale=4)", InverseGamma(2, 0.25)),
    ("uniform(0, 100)", Uniform(0, 100)),
    ("uniform(left=-1, right=2*3)", Uniform(-1, 6)),
    ("expon(scale=2)", Exponential(2)),
    ("expon(iscale=2)", Exponential(0.5)),
    ("general(0)", Flat()),
    ("general(0, lower=0)", Flat(0.0)),
    ("general(-log(v), lower=0)", Reciprocal()),
]


@pytest.mark.parametrize("text,expected", READS)
def test_reads(text, expected):
    got = parse_distribution(text)
    assert type(got) is type(expected)
    for f in dataclasses.fields(got):
        assert math.isclose(getattr(got, f.name), getattr(expected, f.name), rel_tol=1e-15), f.name


@pytest.mark.parametrize("text,expected", READS)
def test_text_round_trip(text, expected):
    again = parse_distribution(expected.sas())
    assert again == expected


def test_every_parseable_family_is_read():
    read = {type(e) for _, e in READS}
    # the traps and the priors on the SD are not PROC MCMC one-liners (an SD parameter and an assignment)
    assert read == set(PRIOR_FAMILIES) - {GammaOnSD, GammaOnPrecision, HalfCauchyOnSD, HalfNormalOnSD, UniformOnSD}


def test_prior_statements():
    assert parse_prior("prior b0 b1 ~ normal(0, var=10000);") == (("b0", "b1"), Normal(0, 10000))
    assert parse_prior("PRIOR s2u ~ igamma(0.01, scale=0.01)") == (("s2u",), InverseGamma(0.01, 0.01))
    assert parse_prior("b[Intercept] ~ normal(0, sd=10)") == (("b[Intercept]",), Normal(0, 100))
    assert parse_prior("s2e[1] ~ uniform(0, 50)") == (("s2e[1]",), Uniform(0, 50))
    assert parse_prior("s2e ~ general(-log(s2e), lower=0)") == (("s2e",), Reciprocal())


@pytest.mark.parametrize("text,words", [
    ("normal(0)", "needs var=, sd= or prec="),
    ("normal(0, var=-1)", "must be positive"),
    ("normal(0, var=1, sd=2)", "only one of"),
    ("normal(0, var=1", "cannot read"),
    ("gamma(1, rate=2)", "no option rate="),
    ("foo(1, 2)", "unknown distribution foo"),
    ("uniform(2, 1)", "lower < upper"),
    ("normal(0, var=1/0)", "cannot compute"),
    ("general(x**2)", "supports a constant"),
    ("general(-log(v))", "needs lower=0"),
    ("normal(0, var=sqrt2(4))", "unknown function"),
])
def test_malformed_distributions_name_the_text(text, words):
    with pytest.raises(SpecError, match=words) as info:
        parse_distribution(text)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text,words", [
    ("s2u ~", "cannot read"),
    ("normal(0, var=1)", "names no parameter"),
    ("s2e ~ general(-log(s2u), lower=0)", "must be -log\\(s2e\\)"),
    ("b0 b0 ~ normal(0, var=1)", "twice"),
])
def test_malformed_prior_statements(text, words):
    with pytest.raises(SpecError, match=words):
        parse_prior(text)
