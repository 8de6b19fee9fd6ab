"""Whether a translated program is a member of the model family, and which :class:`~partclust.models.ModelSpec` it is.

The family (STUDY.md): y = X·b + z ⊙ u[g] + e, u_k ~ N(0, σ²_u), e_i ~ N(0, σ²_e[r_i]), with normal or flat
priors on b and priors on v ≥ 0 for the variances. A program is a member when, read as polynomials over
its data (:class:`~partclust.translate.evaluate.PolyBackend`):

- the MODEL's mean is a sum of (parameter × per-row number) terms and at most one random effect × per-row
  number, with no term free of parameters;
- its variance (``var=``, or the square of ``sd=``, or the inverse of ``prec=``) is, on every row, exactly
  one parameter;
- there is at most one RANDOM statement, ``normal(0, var=σ²_u)`` with σ²_u a parameter (or ``sd=``/``prec=``
  expressions that amount to it);
- every parameter is a fixed effect, a residual variance or the effect variance, and the priors suit the
  role (normal or ``general(0)`` for fixed effects; support v ≥ 0 for variances);
- the residual variance is the same within each cluster the effect touches.

Then :func:`recognise` returns the specification and its :class:`~partclust.models.ModelData` (X built from the
program's own coefficients, so any column arithmetic is allowed), with the program's names: fixed effects
and residual variances keep them; the specification's ``s2u`` and ``u`` map to the program's names
(:attr:`Family.names`). Otherwise it says why not, in one line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from partclust.errors import DataError, SpecError
from partclust.models.priors import Flat, Normal
from partclust.translate.backends import Poly, PolyBackend
from partclust.translate.model import BoundProgram, _column_equal_to

__all__ = ["Family", "recognise"]


@dataclass(frozen=True, eq=False)
class Family:
    """The answer of :func:`recognise`.

    Attributes
    ----------
    spec : ModelSpec or None
    data : ModelData or None
        ``None`` when the program is not a member; ``reason`` then says why.
    reason : str
        One line ("" for a member).
    names : dict of str to str
        Specification name → program name: ``s2u`` → the RANDOM statement's variance parameter, ``u`` → the
        effect's name; fixed effects and residual variances already carry the program's names.
    description : str
        The model in one line: formula, residual structure, effect variance.
    """

    spec: Any = None
    data: Any = None
    reason: str = ""
    names: dict[str, str] = field(default_factory=dict)
    description: str = ""

    @property
    def member(self) -> bool:
        """Whether the program is in the family (so ``exact`` and ``reml`` apply)."""
        return self.spec is not None

    def program_name(self, name: str) -> str:
        """Name a specification's parameter (``s2u``, ``u[3]``, ``b0``) as the program does."""
        if "[" in name:
            head, rest = name.split("[", 1)
            return f"{self.names.get(head, head)}[{rest}"
        return self.names.get(name, name)

    def rename(self, table: pd.DataFrame, column: str = "param") -> pd.DataFrame:
        """Return a copy of ``table`` with ``column`` in the program's names."""
        out = table.copy()
        out[column] = [self.program_name(str(p)) for p in out[column]]
        return out


class _No(Exception):
    pass


def _key_text(key: tuple) -> str:
    return "·".join(s if p == 1 else f"{s}^{p:g}" for s, p in key) or "a constant"


def _variance(poly: Poly, key: str, backend: PolyBackend, what: str) -> Poly:
    if key == "var":
        return poly
    if key == "sd":
        return backend.binary("mul", poly, poly)
    return backend.binary("div", backend.const(1.0), poly)


def recognise(bound: BoundProgram) -> Family:
    """Recognise the model family in a bound program (module docstring).

    Returns
    -------
    Family
        With ``spec`` and ``data`` for a member; else ``reason``.
    """
    try:
        return _recognise(bound)
    except _No as exc:
        return Family(reason=str(exc))


def _recognise(bound: BoundProgram) -> Family:
    from partclust.models.model_data import _label_sort_key, build_model_data, normalise_labels
    from partclust.models.spec import ModelSpec, RandomEffect

    prog, data = bound.program, bound.data
    n = data.n
    if bound.mean is None:
        raise _No(f"the MODEL's mean or variance is not linear in the parameters: {bound.not_polynomial}")
    if len(prog.randoms) > 1:
        raise _No(f"{len(prog.randoms)} RANDOM statements ({', '.join(prog.random_names)}); the family has one "
                  "grouping factor")
    backend = PolyBackend(data)
    params = list(prog.parameters)
    effect = prog.randoms[0] if prog.randoms else None
    # -- the mean: fixed effects and the random effect, each times a per-row number
    coef: dict[str, np.ndarray] = {}
    for key, c in bound.mean.terms.items():
        if key == ():
            if np.any(c != 0):
                raise _No(f"the MODEL's mean (line {prog.model.line}) has a term without a parameter (an offset)")
            continue
        if len(key) != 1 or key[0][1] != 1.0:
            raise _No(f"the MODEL's mean (line {prog.model.line}) is not linear: it has the term {_key_text(key)}")
        coef[key[0][0]] = c
    fixed = [p for p in params if p in coef]
    # -- the residual variance: one parameter per row
    resid = _variance(bound.spread, prog.model.dist.key, backend, "residual")
    per_row = np.full(n, "", dtype=object)
    for key, c in resid.terms.items():
        if key == ():
            if np.any(c != 0):
                raise _No(f"the MODEL's variance (line {prog.model.line}) has a term without a parameter")
            continue
        if len(key) != 1 or key[0][1] != 1.0 or key[0][0] not in params:
            raise _No(f"the MODEL's {prog.model.dist.key}= (line {prog.model.line}) does not amount to a variance "
                      f"parameter: its variance has the term {_key_text(key)}"
                      + (" (the prior is then on the SD or the precision, not on the variance)"
                         if len(key) == 1 and key[0][0] in params else ""))
        if not np.all((c == 0) | (c == 1)):
            raise _No(f"the MODEL's variance (line {prog.model.line}) is {key[0][0]} times a number other than 1 "
                      "on some rows (weights)")
        hit = c == 1
        if np.any((per_row != "") & hit):
            raise _No(f"the MODEL's variance (line {prog.model.line}) is a sum of parameters on some rows")
        per_row[hit] = key[0][0]
    if np.any(per_row == ""):
        raise _No(f"the MODEL's variance (line {prog.model.line}) is not a parameter on some rows")
    residual_params = [p for p in params if p in set(per_row)]
    # -- the random effect
    s2u_name = None
    z = None
    if effect is not None:
        m, s = bound.randoms[effect.name]
        if not m.is_data or np.any(m.constant(n) != 0):
            raise _No(f"RANDOM {effect.name} (line {effect.line}) has a mean other than 0")
        v = _variance(s, effect.dist.key, backend, "effect")
        keys = [k for k, c in v.terms.items() if np.any(c != 0)]
        if len(keys) != 1 or len(keys[0]) != 1 or keys[0][0][1] != 1.0 or keys[0][0][0] not in params \
                or not np.all(v.terms[keys[0]] == 1):
            raise _No(f"RANDOM {effect.name} (line {effect.line}): its {effect.dist.key}= does not amount to a "
                      "variance parameter (the family's σ²_u)")
        s2u_name = keys[0][0][0]
        if effect.name not in coef:
            raise _No(f"the random effect {effect.name} does not enter the MODEL's mean linearly")
        if any(s == effect.name for k in resid.terms for s, _ in k):
            raise _No(f"the random effect {effect.name} enters the MODEL's variance")
        z = coef[effect.name]
    # -- every parameter has one role
    roles: dict[str, list[str]] = {p: [] for p in params}
    for p in fixed:
        roles[p].append("a fixed effect")
    for p in residual_params:
        roles[p].append("a residual variance")
    if s2u_name:
        roles[s2u_name].append("the random effect's variance")
    for p, r in roles.items():
        if not r:
            raise _No(f"the parameter {p} does not enter the likelihood in a role of the family")
        if len(r) > 1:
            raise _No(f"the parameter {p} is both {' and '.join(r)}")
    for p in fixed:
        prior = prog.priors[p]
        if not (isinstance(prior, Normal) or (isinstance(prior, Flat) and prior.lower == -np.inf)):
            raise _No(f"the fixed effect {p} has the prior {prior.sas(p)}; the family's fixed effects have normal "
                      "or flat (general(0)) priors")
    for p in residual_params + ([s2u_name] if s2u_name else []):
        if not prog.priors[p].for_variance:
            raise _No(f"the variance {p} has the prior {prog.priors[p].sas(p)}, whose support is not v ≥ 0")
    # -- the table the specification reads: the program's columns, plus any it computes
    table = data.table.copy()
    taken = {str(c).lower() for c in table.columns}

    def new_column(base: str, values: np.ndarray) -> str:
        name = base
        while name.lower() in taken:
            name += "_"
        taken.add(name.lower())
        table[name] = [repr(float(v)) for v in values]
        return name

    x_columns = []
    for p in fixed:
        col = _column_equal_to(data, coef[p])
        x_columns.append("Intercept" if col == "1" else col if col else new_column(f"x_{p}", coef[p]))
    X = np.column_stack([coef[p] for p in fixed]) if fixed else np.zeros((n, 0))
    random = None
    if effect is not None:
        subject = bound.effects[effect.name].subject
        zc = _column_equal_to(data, z)
        multiplies = None if zc == "1" else (zc if zc else new_column(f"z_{effect.name}", z))
        random = RandomEffect(subject, multiplies)
    residual_by = None
    residual_names: tuple[str, ...] = (residual_params[0],)
    if len(residual_params) > 1:
        residual_by = None
        for c in _candidate_columns(prog, data):
            levels = normalise_labels(data.table[c]).to_numpy(dtype=object)
            pairs = set(zip(levels, per_row))
            lv = {a for a, _ in pairs}
            if len(pairs) == len(lv) == len({b for _, b in pairs}):
                residual_by = c
                order = _label_sort_key(list(lv))
                mapping = dict(pairs)
                residual_names = tuple(mapping[level] for level in order)
                break
        if residual_by is None:
            residual_by = new_column("residual_group", np.zeros(n))
            table[residual_by] = list(per_row)
            residual_names = tuple(_label_sort_key(list(set(per_row))))
        if effect is not None:
            eg = bound.effects[effect.name]
            for k, label in enumerate(eg.labels):
                rows = eg.group == k
                if len(set(per_row[rows])) > 1:
                    raise _No(f"the residual variance differs within cluster {label} of {eg.subject} "
                              f"({', '.join(sorted(set(per_row[rows])))}); the family's is constant within a cluster")
    priors = [(p, prog.priors[p]) for p in fixed + residual_params]
    if s2u_name:
        priors.append(("s2u", prog.priors[s2u_name]))
    try:
        spec = ModelSpec(outcome=bound.outcome, fixed_terms=tuple(x_columns), random=random, residual_by=residual_by,
                         priors=tuple(priors), name=_spec_name(prog), fixed_names=tuple(fixed),
                         residual_names=residual_names)
        md = build_model_data(spec, table, X, x_columns, source=data.source, sha256=data.sha256, rows=data.rows)
    except (SpecError, DataError) as exc:
        raise _No(str(exc)) from None
    names = {}
    if effect is not None:
        names = {"s2u": s2u_name, "u": effect.name}
    desc = spec.text() + (f"; residual variance by {residual_by}: " + ", ".join(
        f"{lv}→{nm}" for lv, nm in zip(md.resid_levels, md.residual_names)) if residual_by else
        f"; residual variance {residual_names[0]}") + (f"; σ²_u = {s2u_name}, effects {effect.name}[<{random.group}>]"
                                                       if effect is not None else "; no random effect")
    return Family(spec, md, "", names, desc)


def _candidate_columns(prog: Any, data: Any) -> list[str]:
    """Columns to try as the residual-by column: those the IF conditions use first, then every other."""
    used: list[str] = []

    def walk(nodes: tuple) -> None:
        from partclust.translate.program import If

        for node in nodes:
            if isinstance(node, If):
                for t in node.cond.iter_subtrees() if hasattr(node.cond, "iter_subtrees") else []:
                    if t.data == "variable":
                        col = data.column_name(str(t.children[0]))
                        if col and col not in used:
                            used.append(col)
                walk(node.then)
                walk(node.orelse)

    walk(prog.body)
    return used + [str(c) for c in data.table.columns if str(c) not in used]


def _spec_name(prog: Any) -> str:
    from pathlib import Path

    stem = Path(prog.path).stem or "program"
    return f"{stem}-step{prog.step}" if prog.n_steps > 1 else stem
