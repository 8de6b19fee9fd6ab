"""PROC MCMC distributions and PRIOR statements → prior families (:mod:`partclust.models.priors`).

Forms read (case-insensitive, positional or keyword, arithmetic allowed in numbers such as ``3/10``
or ``10**4``):

- ``normal(mu, var=|sd=|prec=)`` — also ``mu=``/``mean=`` for the mean
- ``gamma(shape, scale=|iscale=)`` and ``igamma(shape, scale=|iscale=)`` — also ``shape=``
- ``uniform(left, right)`` — also ``left=``/``right=`` or ``lower=``/``upper=``
- ``expon(scale=|iscale=)``
- ``general(0)`` (flat), ``general(0, lower=0)`` (flat on v > 0), ``general(-log(v), lower=0)`` (∝ 1/v)

A prior statement is ``[prior] NAME [NAME …] ~ distribution[;]``. Every reading goes back to text
with :meth:`Prior.sas <partclust.models.priors.Prior.sas>`, and reading that text again gives the
same prior.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from partclust.errors import SpecError
from partclust.models.priors import (Exponential, Flat, Gamma, InverseGamma, Normal, Prior, Reciprocal,
                                     Uniform)
from partclust.translate.grammar import parse

__all__ = ["parse_distribution", "parse_prior", "evaluate", "DISTRIBUTIONS"]

_FUNCTIONS: dict[str, Callable[..., float]] = {"sqrt": math.sqrt, "exp": math.exp, "log": math.log,
                                               "abs": abs}


class _Symbolic(Exception):
    """An expression that refers to a variable (only ``general(-log(v))`` may)."""


def evaluate(tree: Any) -> float:
    """Compute the value of a constant arithmetic expression tree.

    Raises
    ------
    SpecError
        For a name, an unknown function or arithmetic that fails (e.g. division by zero).
    """
    import lark

    if isinstance(tree, lark.Token):
        return float(tree)
    op = tree.data
    kids = tree.children
    if op == "number":
        return float(kids[0])
    if op == "variable":
        raise _Symbolic(str(kids[0]))
    vals = [evaluate(k) for k in kids if k is not None and not (op == "call" and k is kids[0])]
    try:
        if op == "neg":
            return -vals[0]
        if op == "unary":
            return vals[0]
        if op in ("add", "sub", "mul", "div", "pow"):
            a, b = vals
            return {"add": a + b, "sub": a - b, "mul": a * b, "div": a / b, "pow": a**b}[op]
        if op == "call":
            fname = str(kids[0]).lower()
            if fname not in _FUNCTIONS:
                raise SpecError(f"unknown function {kids[0]}() in a number; known: {', '.join(_FUNCTIONS)}")
            return float(_FUNCTIONS[fname](*vals))
    except (ZeroDivisionError, ValueError, OverflowError, TypeError) as exc:
        raise SpecError(f"cannot compute a number in the prior ({exc})") from None
    if len(vals) == 1:
        return vals[0]
    raise SpecError(f"cannot compute {op} in a number")


def _args(tree: Any, family: str) -> tuple[list[Any], dict[str, Any]]:
    positional, keyword = [], {}
    for arg in tree.children[1:]:
        if arg is None:
            continue
        if arg.data == "keyword_argument":
            key = str(arg.children[0]).lower()
            if key in keyword:
                raise SpecError(f"{family}(): {key}= given twice")
            keyword[key] = arg.children[1]
        else:
            if keyword:
                raise SpecError(f"{family}(): a positional argument follows a keyword argument")
            positional.append(arg.children[0])
    return positional, keyword


def _take(family: str, positional: list, keyword: dict, names: list[tuple[str, ...]],
          n_positional: int | None = None) -> list[float | None]:
    """Assign positional then keyword arguments to slots; each slot accepts several keywords.

    Only the first ``n_positional`` slots may be positional (as in PROC MCMC, a spread must be named:
    ``normal(0, 100)`` could be a variance or an SD, ``gamma(1, 2)`` a scale or a rate).
    """
    out: list[Any] = [None] * len(names)
    limit = len(names) if n_positional is None else n_positional
    if len(positional) > limit:
        spread = " | ".join("=".join((k, "…")) for k in names[limit]) if limit < len(names) else ""
        raise SpecError(f"{family}() takes at most {limit} positional argument(s); got {len(positional)}"
                        + (f": name the next one ({spread})" if spread else ""))
    for k, tree in enumerate(positional):
        out[k] = (names[k][0], tree)
    known = {key for slot in names for key in slot}
    unknown = sorted(set(keyword) - known)
    if unknown:
        raise SpecError(f"{family}() has no option {', '.join(u + '=' for u in unknown)}; it takes "
                        + ", ".join("|".join(k + "=" for k in slot) for slot in names))
    for k, slot in enumerate(names):
        given = [key for key in slot if key in keyword]
        if len(given) + (out[k] is not None) > 1:
            raise SpecError(f"{family}(): give only one of {', '.join(s + '=' for s in slot)}")
        if given:
            out[k] = (given[0], keyword[given[0]])
    return [None if v is None else (v[0], evaluate(v[1])) for v in out]


def _need(family: str, value: Any, what: str) -> tuple[str, float]:
    if value is None:
        raise SpecError(f"{family}() needs {what}")
    return value


def _normal(pos: list, kw: dict) -> Prior:
    mean, spread = _take("normal", pos, kw, [("mu", "mean"), ("var", "sd", "prec")], n_positional=1)
    key, v = _need("normal", spread, "var=, sd= or prec= (e.g. normal(0, var=10000))")
    m = 0.0 if mean is None else mean[1]
    if not v > 0:
        raise SpecError(f"normal(): {key}= must be positive; got {v:g}")
    var = {"var": v, "sd": v * v, "prec": 1.0 / v}[key]
    return Normal(m, var)


def _gamma_like(cls: type, family: str) -> Callable[[list, dict], Prior]:
    def build(pos: list, kw: dict) -> Prior:
        shape, spread = _take(family, pos, kw, [("shape",), ("scale", "iscale")], n_positional=1)
        _, a = _need(family, shape, "a shape (e.g. " + family + "(0.01, scale=0.01))")
        key, v = _need(family, spread, "scale= or iscale=")
        if not v > 0:
            raise SpecError(f"{family}(): {key}= must be positive; got {v:g}")
        if cls is Gamma:  # Gamma's scale is 1/rate; iscale= is the rate
            return Gamma(a, v if key == "iscale" else 1.0 / v)
        return InverseGamma(a, v if key == "scale" else 1.0 / v)  # igamma's iscale= is 1/scale

    return build


def _uniform(pos: list, kw: dict) -> Prior:
    lo, hi = _take("uniform", pos, kw, [("left", "lower"), ("right", "upper")])
    _, a = _need("uniform", lo, "a lower end")
    _, b = _need("uniform", hi, "an upper end")
    return Uniform(a, b)


def _expon(pos: list, kw: dict) -> Prior:
    (spread,) = _take("expon", pos, kw, [("scale", "iscale")], n_positional=0)
    key, v = _need("expon", spread, "scale= or iscale=")
    if not v > 0:
        raise SpecError(f"expon(): {key}= must be positive; got {v:g}")
    return Exponential(v if key == "scale" else 1.0 / v)


def _general(tree: Any, pos: list, kw: dict, name: str | None) -> Prior:
    unknown = sorted(set(kw) - {"lower", "upper"})
    if unknown or len(pos) != 1:
        raise SpecError("general() takes a log density and optional lower=/upper=: general(0) or "
                        "general(-log(v), lower=0)")
    if "upper" in kw:
        raise SpecError("general(..., upper=) is not supported; use uniform(a, b) for a bounded flat prior")
    lower = evaluate(kw["lower"]) if "lower" in kw else -math.inf
    try:
        evaluate(pos[0])
        symbolic = None
    except _Symbolic as exc:
        symbolic = str(exc)
    if symbolic is None:
        if lower not in (-math.inf, 0.0):
            raise SpecError(f"general(0, lower={lower:g}): a flat prior needs no lower bound or lower=0")
        return Flat(lower)
    expr = pos[0]
    is_minus_log = (expr.data == "neg" and getattr(expr.children[0], "data", None) == "call"
                    and str(expr.children[0].children[0]).lower() == "log"
                    and getattr(expr.children[0].children[1], "data", None) == "variable")
    if not is_minus_log:
        raise SpecError("general() supports a constant (flat, general(0)) or -log(v) (∝ 1/v, "
                        "general(-log(v), lower=0)); other log densities are not")
    var = str(expr.children[0].children[1].children[0])
    if name is not None and var != name:
        raise SpecError(f"general(-log({var})) on {name}: the log density must be -log({name})")
    if lower != 0.0:
        raise SpecError(f"general(-log({var})) needs lower=0: the density ∝ 1/v exists only for v > 0")
    return Reciprocal()


DISTRIBUTIONS: dict[str, Callable[[list, dict], Prior]] = {
    "normal": _normal, "gamma": _gamma_like(Gamma, "gamma"), "igamma": _gamma_like(InverseGamma, "igamma"),
    "uniform": _uniform, "expon": _expon,
}
"""PROC MCMC distribution name → builder (``general`` is handled apart: its argument is a log density)."""


def _distribution(tree: Any, name: str | None = None) -> Prior:
    family = str(tree.children[0]).lower()
    pos, kw = _args(tree, family)
    if family == "general":
        return _general(tree, pos, kw, name)
    if family not in DISTRIBUTIONS:
        raise SpecError(f"unknown distribution {tree.children[0]}(); known: "
                        f"{', '.join(list(DISTRIBUTIONS) + ['general'])}")
    return DISTRIBUTIONS[family](pos, kw)


def parse_distribution(text: str, name: str | None = None) -> Prior:
    """Read one PROC MCMC distribution, e.g. ``"gamma(shape=1, iscale=1)"``.

    Parameters
    ----------
    text : str
    name : str, optional
        The parameter it is for (checked against ``general(-log(name))``).

    Returns
    -------
    Prior

    Raises
    ------
    SpecError
        For text that is not a distribution, an unknown family or option, or impossible values, naming them.
    """
    tree = parse(text, what="the distribution")
    if tree.data != "distribution":
        raise SpecError(f"{text.strip()!r} is a prior statement; give only the distribution, e.g. normal(0, var=1)")
    try:
        return _distribution(tree, name)
    except SpecError as exc:
        raise SpecError(f"prior {text.strip()!r}: {exc}") from None


def parse_prior(text: str) -> tuple[tuple[str, ...], Prior]:
    """Read a prior statement ``[prior] NAME [NAME …] ~ distribution[;]``.

    Returns
    -------
    (names, prior)

    Raises
    ------
    SpecError
        For malformed text, naming it.
    """
    tree = parse(text, what="the prior")
    if tree.data != "prior_statement":
        raise SpecError(f"prior {text.strip()!r} names no parameter; write e.g. \"s2u ~ gamma(shape=1, iscale=1)\"")
    names_tree, dist = [c for c in tree.children if hasattr(c, "data")]
    names = tuple(str(t) for t in names_tree.children)
    if len(set(names)) != len(names):
        raise SpecError(f"prior {text.strip()!r} names a parameter twice")
    try:
        prior = _distribution(dist, names[0] if len(names) == 1 else None)
    except SpecError as exc:
        raise SpecError(f"prior {text.strip()!r}: {exc}") from None
    if isinstance(prior, Reciprocal) and len(names) > 1:
        raise SpecError(f"prior {text.strip()!r}: general(-log(v)) is for one parameter at a time")
    return names, prior
