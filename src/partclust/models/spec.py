"""A model specification: the model family of STUDY.md, and what is fitted, in one frozen object.

    y = X·b + z ⊙ u[g] + e,   u_k ~ N(0, σ²_u),   e_i ~ N(0, σ²_e[r_i]),   a prior on every parameter

:class:`ModelSpec` says *what* is fitted (outcome, fixed effects, one grouping factor and the column its
effect multiplies, the residual structure, the priors); :mod:`partclust.models.model_data` reads a table
through it. The built-in run1 models are two specifications (:func:`builtin_spec`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from partclust.config import RESIDUALS
from partclust.errors import SpecError
from partclust.models.priors import DEFAULT_PRIORS, SAS_PRIORS, Prior, Priors
from partclust.validate import check_residual

__all__ = ["RandomEffect", "ModelSpec", "builtin_spec", "PRIOR_GROUPS"]

PRIOR_GROUPS: tuple[str, ...] = ("b", "s2u", "s2e")
"""Names a prior may be given for as a group: every fixed effect, the effect variance, every residual variance."""
_LEVEL = re.compile(r"^(b|s2e)\[(.+)\]$")


@dataclass(frozen=True)
class RandomEffect:
    """One grouping factor whose effect u_g multiplies a column (``None``: 1, a random intercept).

    Attributes
    ----------
    group : str
        The grouping column (cluster ids).
    multiplies : str or None
        The column z the effect multiplies: the treatment indicator for a partially nested trial,
        ``None`` for a random intercept, any numeric column for a slope without intercept.
    """

    group: str
    multiplies: str | None = None

    @property
    def text(self) -> str:
        """The random part in formula syntax, e.g. ``(0 + treat | coach)``."""
        return f"(1 | {self.group})" if self.multiplies is None else f"(0 + {self.multiplies} | {self.group})"


@dataclass(frozen=True)
class ModelSpec:
    """A frozen, validated model specification.

    Parameters
    ----------
    outcome : str
        The outcome column.
    fixed_terms : tuple of str
        The fixed-effect terms in order: ``"Intercept"`` and column names (a categorical column
        expands into indicator columns when the data are read).
    random : RandomEffect or None
        The grouping factor, or ``None`` for a model without random effect.
    residual_by : str or None
        One residual variance per level of this column (constant within a cluster), or one for all.
    priors : tuple of (str, Prior)
        Priors by parameter name (``b[treat]``, ``s2e[1]``, ``b0``) or group (``b``, ``s2u``, ``s2e``);
        a parameter without one gets its group's, else :data:`~partclust.models.priors.DEFAULT_PRIORS`.
    formula : str
        The formula the specification was read from ("" for the built-in models).
    name : str
        ``single`` or ``per_condition`` for the built-in models, else a name for the results folder.
    fixed_names : tuple of str
        Explicit parameter names of the fixed effects (the built-ins: ``b0 b1``); empty: ``b[<column>]``.
    residual_names : tuple of str
        Explicit names of the residual variances per level in sorted level order (the built-ins:
        ``s2e`` or ``s2e_control s2e_treated``); empty: ``s2e``, or ``s2e[<level>]`` per level.

    Raises
    ------
    SpecError
        For a missing outcome, a column used twice in roles that exclude each other, a prior on an
        unknown parameter or a variance prior whose support is not v ≥ 0.
    """

    outcome: str
    fixed_terms: tuple[str, ...] = ("Intercept",)
    random: RandomEffect | None = None
    residual_by: str | None = None
    priors: tuple[tuple[str, Prior], ...] = ()
    formula: str = ""
    name: str = "formula"
    fixed_names: tuple[str, ...] = ()
    residual_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Check the roles of the columns and every prior (see Raises)."""
        if not self.outcome:
            raise SpecError("the model needs an outcome column")
        object.__setattr__(self, "fixed_terms", tuple(self.fixed_terms))
        object.__setattr__(self, "priors", tuple((str(k), p) for k, p in self.priors))
        if self.fixed_names and len(self.fixed_names) != len(self.fixed_terms):
            raise SpecError(f"{len(self.fixed_names)} fixed-effect names for {len(self.fixed_terms)} terms")
        if self.random is not None and self.random.group == self.outcome:
            raise SpecError(f"the outcome {self.outcome} cannot also be the grouping factor")
        if self.outcome in self.fixed_terms:
            raise SpecError(f"the outcome {self.outcome} cannot also be a fixed effect")
        keys = [k for k, _ in self.priors]
        dup = sorted({k for k in keys if keys.count(k) > 1})
        if dup:
            raise SpecError(f"more than one prior for {', '.join(dup)}")
        for key, prior in self.priors:
            if not isinstance(prior, Prior):
                raise SpecError(f"the prior for {key} is not a prior family: {prior!r}")
            self._check_prior_key(key)
            if self._is_variance(key) and not prior.for_variance:
                raise SpecError(f"{key} is a variance: its prior needs support on v ≥ 0, but {prior.sas(key)} "
                                f"has support {prior.support}")
        # canonical form: a group's default prior is implied, keys in order (equal models compare equal)
        canon = sorted(((k, p) for k, p in self.priors if not (k in PRIOR_GROUPS and p == DEFAULT_PRIORS[k])), key=lambda kp: kp[0])
        object.__setattr__(self, "priors", tuple(canon))

    # ---- names ---------------------------------------------------------------------------------
    def _is_variance(self, key: str) -> bool:
        return key in ("s2u", "s2e") or key.startswith("s2e[") or key in self.residual_names

    def _check_prior_key(self, key: str) -> None:
        known = set(PRIOR_GROUPS) | set(self.fixed_names) | set(self.residual_names)
        if self.random is None:
            known.discard("s2u")
        m = _LEVEL.match(key)
        if key in known:
            return
        if m and m.group(1) == "b" and not self.fixed_names:
            return  # checked against the design's columns when the data are read
        if m and m.group(1) == "s2e" and self.residual_by is not None and not self.residual_names:
            return  # checked against the column's levels when the data are read
        hint = "" if self.random is not None or key != "s2u" else " (the model has no random effect)"
        raise SpecError(f"prior on unknown parameter {key}{hint}; priors can be given for "
                        f"{', '.join(sorted(known))}"
                        + ("" if self.fixed_names else ", b[<column>]")
                        + ("" if self.residual_by is None or self.residual_names else ", s2e[<level>]"))

    @property
    def is_builtin(self) -> bool:
        """Whether this is one of the built-in run1 models."""
        return self.name in RESIDUALS and not self.formula

    @property
    def columns(self) -> tuple[str, ...]:
        """Every table column the specification reads (the intercept is none)."""
        cols = [self.outcome] + [t for t in self.fixed_terms if t != "Intercept"]
        if self.random is not None:
            cols.append(self.random.group)
            if self.random.multiplies is not None:
                cols.append(self.random.multiplies)
        if self.residual_by is not None:
            cols.append(self.residual_by)
        return tuple(dict.fromkeys(cols))

    def prior(self, param: str, group: str) -> Prior:
        """Return the prior of ``param`` (group ``b``, ``s2u`` or ``s2e``): its own, its group's, or the default."""
        given = dict(self.priors)
        return given.get(param) or given.get(group) or DEFAULT_PRIORS[group]

    def with_priors(self, priors: Mapping[str, Prior] | Sequence[tuple[str, Prior]]) -> "ModelSpec":
        """Return a copy with ``priors`` added (replacing those of the same names)."""
        items = list(priors.items()) if isinstance(priors, Mapping) else list(priors)
        merged = dict(self.priors)
        merged.update(items)
        return ModelSpec(self.outcome, self.fixed_terms, self.random, self.residual_by, tuple(merged.items()),
                         self.formula, self.name, self.fixed_names, self.residual_names)

    def text(self) -> str:
        """Write the model as a formula (the one it was read from, else an equivalent one)."""
        if self.formula:
            return self.formula
        terms = ["1" if t == "Intercept" else t for t in self.fixed_terms]
        if "1" not in terms:
            terms.insert(0, "0")
        else:
            terms.remove("1")
            terms = terms or ["1"]
        rhs = " + ".join(terms + ([self.random.text] if self.random else []))
        return f"{self.outcome} ~ {rhs}"

    def record(self) -> dict[str, Any]:
        """JSON-ready record: the formula, the roles of the columns, and every prior as PROC MCMC text.

        Two runs fitted the same model exactly when their records are equal.
        """
        return {
            "name": self.name,
            "formula": self.text(),
            "outcome": self.outcome,
            "fixed_terms": list(self.fixed_terms),
            "random": None if self.random is None else {"group": self.random.group,
                                                        "multiplies": self.random.multiplies},
            "residual_by": self.residual_by,
            "priors": {**{g: DEFAULT_PRIORS[g].sas(g) for g in PRIOR_GROUPS
                          if g != "s2u" or self.random is not None},
                       **{k: p.sas(k) for k, p in self.priors}},
        }



def builtin_spec(residual: str = "single", priors: Priors = SAS_PRIORS) -> ModelSpec:
    """Return the built-in run1 model ``single`` or ``per_condition`` as a :class:`ModelSpec`.

    ``y ~ treat + (0 + treat | j)``, fixed effects named ``b0 b1``, residual variance ``s2e`` or
    ``s2e_control s2e_treated`` (by ``treat``), priors from ``priors``.

    Raises
    ------
    SpecError
        For an unknown residual structure.
    """
    check_residual(residual)
    per = residual == "per_condition"
    return ModelSpec(
        outcome="y", fixed_terms=("Intercept", "treat"), random=RandomEffect("j", "treat"),
        residual_by="treat" if per else None, priors=tuple(priors.families().items()), name=residual,
        fixed_names=("b0", "b1"), residual_names=("s2e_control", "s2e_treated") if per else ("s2e",),
    )
