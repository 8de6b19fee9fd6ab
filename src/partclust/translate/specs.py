"""A model specification from the options a user gives (CLI, notebook parameters), and back from a run record.

``--model single|per_condition`` names a built-in run1 model; ``--formula "…"`` with ``--residual-by COLUMN``
any model of the family; ``--prior "NAME ~ DIST"`` (PROC MCMC syntax, repeatable) sets priors for either.
"""

from __future__ import annotations

import json
import os
from typing import Any, Sequence

from partclust.config import RESIDUALS
from partclust.errors import SpecError
from partclust.validate import check_model_choice
from partclust.models.priors import Prior
from partclust.models.model_data import ModelData, builtin_data
from partclust.models.spec import ModelSpec, builtin_spec
from partclust.translate.distributions import parse_prior
from partclust.translate.formula import formula_data, parse_formula

__all__ = ["parse_priors", "model_spec", "spec_key", "spec_from_record", "load_model_data", "as_prior_list"]


def as_prior_list(priors: Any) -> list[str]:
    """Prior statements as a list: a list, one string, or text holding several separated by ``;`` or new lines."""
    if priors is None or priors == "":
        return []
    if isinstance(priors, str):
        return [p.strip() for p in priors.replace("\n", ";").split(";") if p.strip()]
    return [str(p).strip() for p in priors if str(p).strip()]


def parse_priors(statements: Sequence[str]) -> tuple[tuple[str, Prior], ...]:
    """``["s2u ~ igamma(0.01, scale=0.01)", "b0 b1 ~ normal(0, var=100)"]`` → ((name, Prior), …).

    Raises
    ------
    SpecError
        For a malformed statement or a parameter given two priors.
    """
    out: dict[str, Prior] = {}
    for text in statements:
        names, prior = parse_prior(text)
        for name in names:
            if name in out:
                raise SpecError(f"two priors for {name} (the second in {text!r})")
            out[name] = prior
    return tuple(out.items())


def model_spec(model: str | None = None, formula: str | None = None, residual_by: str | None = None,
               priors: Sequence[str] | str | None = (), name: str | None = None) -> ModelSpec:
    """Build the specification the options describe.

    Parameters
    ----------
    model : {"single", "per_condition"}, optional
        A built-in run1 model.
    formula : str, optional
        Any model of the family (exclusive with ``model``).
    residual_by : str, optional
        With ``formula``: one residual variance per level of this column.
    priors : sequence of str or str
        Prior statements in PROC MCMC syntax.
    name : str, optional
        The formula model's name (default ``formula``).

    Raises
    ------
    SpecError
        When neither or both of ``model`` and ``formula`` are given, ``residual_by`` comes with a built-in
        model, or anything in the formula or priors is malformed.
    """
    check_model_choice(model, formula)
    parsed = parse_priors(as_prior_list(priors))
    if formula:
        nm = name or "formula"
        if not nm.replace("_", "").replace("-", "").isalnum():
            raise SpecError(f"the model name {nm!r} must be letters, digits, - and _ (it names a results folder)")
        return parse_formula(formula, residual_by or None, parsed, nm)
    if model not in RESIDUALS:
        raise SpecError(f"model must be one of {', '.join(RESIDUALS)} (or give --formula); got {model!r}")
    if residual_by:
        raise SpecError("--residual-by goes with --formula; the built-in per_condition model is by treat already")
    spec = builtin_spec(model)
    return spec.with_priors(parsed) if parsed else spec


def spec_key(spec: ModelSpec) -> str:
    """"" for a built-in model with the SAS program's priors, else the spec's record as canonical JSON.

    Stored in :class:`~partclust.inference.FitSettings`, so that runs of different models or priors are
    never taken for one another.
    """
    if spec.is_builtin and spec == builtin_spec(spec.name):
        return ""
    return json.dumps(spec.record(), sort_keys=True, separators=(",", ":"))


def spec_from_record(record: dict[str, Any] | str) -> ModelSpec:
    """Rebuild the specification a run record (``run.json``'s ``model_spec``, or :func:`spec_key`'s JSON) describes.

    Raises
    ------
    SpecError
        For a record that is not a specification.
    """
    if isinstance(record, str):
        record = json.loads(record)
    try:
        name, priors = record["name"], record.get("priors", {})
        statements = [f"{k} ~ {v}" for k, v in priors.items()]
        if name in RESIDUALS and record.get("fixed_terms") == ["Intercept", "treat"] and record.get("outcome") == "y":
            spec = builtin_spec(name)
            parsed = dict(parse_priors(statements))
            return spec.with_priors(parsed) if parsed != dict(spec.priors) else spec
        return parse_formula(record["formula"], record.get("residual_by"), parse_priors(statements), name)
    except (KeyError, TypeError) as exc:
        raise SpecError(f"not a model specification record ({exc})") from None


def load_model_data(path: str | os.PathLike | None, spec: ModelSpec, *, allow_download: bool = True) -> ModelData:
    """Resolve, read and validate the data for ``spec``.

    A built-in model reads a run1-style file into a :class:`~partclust.data.Design` first (every check of
    the data layer), then through its specification; a formula model reads any CSV through its formula.

    Raises
    ------
    DataError
        For data that cannot be read or do not fit the specification.
    """
    from partclust.data import load_design, read_table, resolve_data_path, sha256_of

    if spec.is_builtin:
        from partclust.models.checks import check_data
        from partclust.models.priors import SAS_PRIORS

        design = load_design(path, allow_download=allow_download)
        check_data(design, spec.name, SAS_PRIORS if spec_key(spec) == "" else None)
        return builtin_data(design, spec=spec)
    p = resolve_data_path(path or None, allow_download=allow_download)
    return formula_data(read_table(p), spec, source=str(p), sha256=sha256_of(p))

