"""Formulas → :class:`~partclust.models.ModelSpec`, read with ``formulae`` (the formula library bambi builds on).

Supported: a plain outcome column; any fixed part ``formulae`` can build (numeric covariates,
categorical columns as indicator columns, interactions, ``0 +`` to drop the intercept); and at most one
random part with one term:

- ``(0 + treat | coach)`` — an effect per coach multiplying ``treat`` (a partially nested trial),
- ``(1 | Family)`` — a random intercept,
- ``(0 + x | g)`` — a random slope without intercept.

Anything else is refused with one line naming it: two grouping factors, a random part with two terms
such as ``(1 + x | g)`` (correlated effects are outside the model family), a nested factor ``g:h``, a
transformed outcome, a column the data do not have.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from partclust.errors import DataError, SpecError
from partclust.models.priors import Prior
from partclust.models.model_data import MISSING_LABELS, ModelData, build_model_data, normalise_labels
from partclust.models.spec import ModelSpec, RandomEffect

__all__ = ["parse_formula", "formula_data"]


def _variables(term: Any) -> list[str]:
    return [str(c.name) for c in getattr(term, "components", [])]


def parse_formula(formula: str, residual_by: str | None = None, priors: Sequence[tuple[str, Prior]] = (),
                  name: str = "formula") -> ModelSpec:
    """Read a formula into a :class:`ModelSpec` (columns are checked when the data are read).

    Parameters
    ----------
    formula : str
        E.g. ``"y ~ treat + pretest + (0 + treat | coach)"``.
    residual_by : str, optional
        One residual variance per level of this column.
    priors : sequence of (name, Prior)
        Priors by parameter or group name (``b``, ``b[pretest]``, ``s2u``, ``s2e``, ``s2e[1]``).
    name : str
        The model's name (the results folder of its runs).

    Returns
    -------
    ModelSpec

    Raises
    ------
    SpecError
        For a formula ``formulae`` cannot read or one outside the model family, naming the part at fault.
    """
    import formulae as fm

    text = " ".join(str(formula).split())
    if "~" not in text:
        raise SpecError(f"formula {text!r} has no '~': write it as outcome ~ terms, e.g. y ~ treat + (0 + treat | coach)")
    try:
        desc = fm.model_description(text)
    except Exception as exc:  # formulae raises its own parse and scan errors
        raise SpecError(f"cannot read formula {text!r}: {exc}") from None
    if desc.response is None:
        raise SpecError(f"formula {text!r} has no outcome left of '~'")
    resp = desc.response.term.components
    if len(resp) != 1 or type(resp[0]).__name__ != "Variable":
        raise SpecError(f"formula {text!r}: the outcome must be a column name, not {desc.response.term.name!r} "
                        "(transform it in the data file)")
    outcome = str(resp[0].name)
    groups = list(desc.group_terms)
    factors = sorted({"|".join(_variables(g.factor)) for g in groups})
    if len(factors) > 1:
        raise SpecError(f"formula {text!r} has {len(factors)} grouping factors ({', '.join(factors)}); the model family "
                        "has one")
    random = None
    if groups:
        if len(groups) > 1:
            parts = " + ".join("1" if type(g.expr).__name__ == "Intercept" else g.expr.name for g in groups)
            raise SpecError(f"formula {text!r}: the random part ({parts} | {factors[0]}) has {len(groups)} terms; the "
                            f"model family has one: (1 | {factors[0]}) or (0 + column | {factors[0]})")
        g = groups[0]
        fvars = _variables(g.factor)
        if len(fvars) != 1:
            raise SpecError(f"formula {text!r}: the grouping factor {':'.join(fvars)} must be one column")
        if type(g.expr).__name__ == "Intercept":
            random = RandomEffect(fvars[0], None)
        else:
            evars = g.expr.components
            if len(evars) != 1 or type(evars[0]).__name__ != "Variable":
                raise SpecError(f"formula {text!r}: the random effect must multiply one column; got {g.expr.name!r}")
            random = RandomEffect(fvars[0], str(evars[0].name))
    fixed = tuple("Intercept" if type(t).__name__ == "Intercept" else str(t.name) for t in desc.common_terms)
    if not fixed:
        raise SpecError(f"formula {text!r} has no fixed effect; keep the intercept or name a column")
    return ModelSpec(outcome, fixed, random, residual_by or None, tuple(priors), text, name)


def _kind(values: pd.Series) -> str:
    """``numeric`` (every cell a number), ``text`` (no cell a number) or ``mixed``."""
    text = values.astype(str).str.strip()
    num = pd.to_numeric(text, errors="coerce")
    if num.notna().all():
        return "numeric"
    return "text" if num.isna().all() else "mixed"


def formula_data(table: pd.DataFrame, spec: ModelSpec, source: str = "<table>", sha256: str = "") -> ModelData:
    """Read a table through a formula specification: the fixed-effect design built by ``formulae``.

    Raises
    ------
    DataError
        For a column the table lacks, missing or non-numeric cells where numbers are needed, a covariate
        mixing numbers and text.
    SpecError
        For collinear fixed effects or priors on parameters the design does not have.
    """
    import formulae as fm

    missing = [c for c in spec.columns if c not in table.columns]
    if missing:
        role = {spec.residual_by: "the residual-by column"} if spec.residual_by else {}
        named = ", ".join(f"{c} ({role[c]})" if c in role else c for c in missing)
        raise DataError(f"{source}: the model names column(s) {named} that the data do not have; "
                        f"columns are {', '.join(map(str, table.columns))}")
    import formulae.terms  # noqa: F401  (formulae's own names for the fixed part)

    desc = fm.model_description(spec.formula)
    used = sorted({v for t in desc.common_terms for v in _variables(t)})
    frame = pd.DataFrame(index=range(len(table)))
    frame[spec.outcome] = np.zeros(len(table))  # the outcome is read apart (clear errors); formulae needs a column
    for col in used:
        cells = table[col].astype(str).str.strip()
        blank = cells.str.lower().isin(MISSING_LABELS).to_numpy()
        if blank.any():
            lines = ", ".join(str(i + 2) for i in np.flatnonzero(blank)[:8])
            raise DataError(f"{source}: column {col} (a fixed effect) is missing at line(s) {lines}; fill in or remove "
                            "those rows")
        kind = _kind(cells)
        if kind == "mixed":
            bad = pd.to_numeric(cells, errors="coerce").isna().to_numpy()
            lines = ", ".join(str(i + 2) for i in np.flatnonzero(bad)[:8])
            raise DataError(f"{source}: column {col} mixes numbers and text (text at line(s) {lines}); fix the cells or "
                            "code the column as categories throughout")
        frame[col] = pd.to_numeric(cells).to_numpy(float) if kind == "numeric" else normalise_labels(cells).to_numpy()
    common = " + ".join(("1" if t == "Intercept" else t) for t in spec.fixed_terms)
    rhs = common if "Intercept" in spec.fixed_terms else "0 + " + common
    try:
        dm = fm.design_matrices(f"{spec.outcome} ~ {rhs}", frame, na_action="error")
    except Exception as exc:
        raise SpecError(f"formulae could not build the fixed effects of {spec.formula!r}: {exc}") from None
    x = np.asarray(dm.common.design_matrix, dtype=float)
    names = [label for term in dm.common.terms.values() for label in term.labels]
    return build_model_data(spec, table, x, names, source=source, sha256=sha256)
