"""The PyMC model of a translated PROC MCMC program, named as the program names things.

:func:`bind` reads the program against its data (the outcome and SUBJECT= columns, which rows each
random effect touches); :func:`build_translated_model` writes the PyMC model:

- every PARMS parameter is a free variable with its PRIOR (:mod:`partclust.models.priors`), in PARMS order;
- a RANDOM statement makes one effect per distinct value of its SUBJECT= column, exactly as PROC MCMC
  does, in the ``sas_singletons`` parameterization (``u`` over dim ``<subject>_sas``, every value). The
  ``centered`` and ``noncentered`` parameterizations sample only the effects some observation touches
  (a nonzero multiplier in the MODEL's mean or variance), over dim ``<subject>``: ``u ~ Normal(m, s)``, or
  ``u_z ~ Normal(0, 1)`` with ``u = m + s·u_z``. An untouched effect is a draw from its prior that no data
  see, so every other parameter's marginal posterior is the same in the three;
- the programming statements become PyTensor expressions over the rows (``IF`` → ``pt.switch``), data
  columns ``pm.Data`` over dim ``obs``;
- ``MODEL y ~ normal(mu, var=|sd=|prec=)`` is ``pm.Normal("y", mu, sigma, observed=…)`` with
  sigma = √var, sd or 1/√prec;
- variables listed in ``MONITOR=`` are ``pm.Deterministic`` (they must not depend on the row).

:meth:`TranslatedModel.reported` lists what a summary reports: the parameters, the monitored derived
quantities, then ``<effect>[<subject value>]`` for the touched effects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from partclust.errors import DataError
from partclust.translate.backends import Poly, PolyBackend, TensorBackend
from partclust.translate.evaluate import Interpreter, NotPolynomial, Text
from partclust.translate.program_data import ProgramData
from partclust.translate.program import Program, RefusedError
from partclust.validate import check_parameterization

__all__ = ["BoundProgram", "EffectIndex", "Reported", "TranslatedModel", "bind", "build_translated_model", "sigma_of",
           "translate"]


@dataclass(frozen=True, eq=False)
class EffectIndex:
    """A random effect's subjects: every distinct value (PROC MCMC's) and those the data touch.

    Attributes
    ----------
    name, subject : str
        The effect and its SUBJECT= column (as spelled in the data).
    labels : tuple of str
        Touched subject values (sampled in ``centered``/``noncentered``), sorted.
    group : numpy.ndarray
        Per row, index into ``labels`` (−1: the row touches no sampled effect).
    sas_labels : tuple of str
        Every distinct value: the touched first, then the others.
    sas_group : numpy.ndarray
        Per row, index into ``sas_labels`` (−1: missing value).
    dim, sas_dim : str
        PyMC dims of the touched and of all effects.
    multiplier : numpy.ndarray or None
        The effect's coefficient per row in the MODEL's mean, when the mean is linear in it.
    notes : tuple of str
    """

    name: str
    subject: str
    labels: tuple[str, ...]
    group: np.ndarray
    sas_labels: tuple[str, ...]
    sas_group: np.ndarray
    dim: str
    sas_dim: str
    multiplier: np.ndarray | None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class BoundProgram:
    """A program read against its data.

    Attributes
    ----------
    program : Program
    data : ProgramData
    outcome : str
        The MODEL's column as spelled in the data.
    y : numpy.ndarray
    effects : dict of str to EffectIndex
    mean, spread : Poly or None
        The MODEL's mean and spread as polynomials (``None`` when the program leaves the polynomial family).
    randoms : dict of str to (Poly, Poly)
        Each RANDOM statement's mean and spread as polynomials (when available).
    not_polynomial : str
        Why the polynomials are absent ("" when present).
    """

    program: Program
    data: ProgramData
    outcome: str
    y: np.ndarray
    effects: dict[str, EffectIndex]
    mean: Poly | None
    spread: Poly | None
    randoms: dict[str, tuple[Poly, Poly]] = field(default_factory=dict)
    derived: dict[str, Poly] = field(default_factory=dict)
    not_polynomial: str = ""


def bind(program: Program, data: ProgramData) -> BoundProgram:
    """Read ``program`` against ``data``.

    Raises
    ------
    DataError
        When the outcome or a SUBJECT= column is missing, the outcome is not numeric, or a touched row has
        no subject value.
    RefusedError
        For names that are neither parameters, effects, variables nor columns, and variables used where unset.
    """
    outcome = data.column_name(program.model.outcome)
    if outcome is None:
        raise DataError(f"{program.path}, line {program.model.line}: the MODEL's outcome {program.model.outcome} is "
                        f"not a column of {data.source} (columns: {', '.join(map(str, data.table.columns))})")
    y = data.numeric(outcome, "MODEL outcome; PROC MCMC would impute missing values, the translator does not")
    subjects = {}
    for r in program.randoms:
        col = data.column_name(r.subject)
        if col is None:
            raise DataError(f"{program.path}, line {r.line}: SUBJECT={r.subject} is not a column of {data.source} "
                            f"(columns: {', '.join(map(str, data.table.columns))})")
        subjects[r.name] = col
    mean = spread = None
    randoms: dict[str, tuple[Poly, Poly]] = {}
    derived: dict[str, Poly] = {}
    reason = ""
    try:
        interp = Interpreter(program, data, PolyBackend(data))
        env = interp.run()
        m, s = interp.model_arguments()
        mean, spread = m.value, s.value
        for r in program.randoms:
            rm, rs = interp.random_arguments(r)
            randoms[r.name] = (rm.value, rs.value)
        for d in program.derived:
            v = env.get(d.lower())
            if v is not None and not isinstance(v.value, Text):
                derived[d] = v.value
    except NotPolynomial as exc:
        reason = f"{exc} (line {interp.line})"
        mean = spread = None
    effects = {}
    for r in program.randoms:
        effects[r.name] = _effect_index(program, data, r, subjects[r.name], mean, spread, effects)
    return BoundProgram(program, data, outcome, y, effects, mean, spread, randoms, derived, reason)


def _effect_index(program: Program, data: ProgramData, r: Any, subject: str, mean: Poly | None,
                  spread: Poly | None, done: dict) -> EffectIndex:
    from partclust.models.model_data import group_index

    n = data.n
    multiplier = None
    if mean is None:
        touched = np.ones(n)
        z_name = "1"
    else:
        touched = np.zeros(n)
        for poly in (mean, spread):
            for key, coef in poly.terms.items():
                if any(s == r.name for s, _ in key):
                    touched = touched + np.abs(coef)
        lin = [(key, coef) for key, coef in mean.terms.items() if any(s == r.name for s, _ in key)]
        if len(lin) == 1 and lin[0][0] == ((r.name, 1.0),):
            multiplier = lin[0][1]
        z_name = _column_equal_to(data, multiplier) if multiplier is not None else "its multiplier"
        if z_name is None:
            z_name = "its multiplier"
    try:
        gi = group_index(data.table[subject], touched, data.source, subject, z_name)
    except DataError as exc:
        raise DataError(f"{program.path}, line {r.line}: RANDOM {r.name} … SUBJECT={r.subject}: {exc}") from None
    used = {e.dim for e in done.values()} | {e.sas_dim for e in done.values()}
    dim = subject if subject not in used else f"{subject}_{r.name}"
    sas_dim = f"{subject}_sas" if f"{subject}_sas" not in used else f"{subject}_{r.name}_sas"
    return EffectIndex(r.name, subject, gi.labels, gi.group, gi.sas_labels, gi.sas_group, dim, sas_dim, multiplier,
                       gi.notes)


def _column_equal_to(data: ProgramData, values: np.ndarray | None) -> str | None:
    """Find the name of a numeric column equal to ``values`` ("1" for ones), or ``None``."""
    if values is None:
        return None
    if np.all(values == 1.0):
        return "1"
    for c in data.table.columns:
        if data.is_numeric(c) and np.array_equal(data.numeric(c, "column"), values):
            return str(c)
    return None


def sigma_of(key: str, value: Any) -> Any:
    """Return the normal's standard deviation from PROC MCMC's ``var=``, ``sd=`` or ``prec=`` value (tensor or number)."""
    import pytensor.tensor as pt

    if key == "var":
        return pt.sqrt(value) if not isinstance(value, (float, int, np.ndarray)) else np.sqrt(value)
    if key == "sd":
        return value
    return 1.0 / (pt.sqrt(value) if not isinstance(value, (float, int, np.ndarray)) else np.sqrt(value))


@dataclass(frozen=True)
class Reported:
    """One reported quantity: its name in the summary and where its draws are in the posterior."""

    name: str
    var: str
    dim: str | None = None
    label: str | None = None
    kind: str = "parameter"  # parameter, derived, effect


@dataclass(frozen=True, eq=False)
class TranslatedModel:
    """A translated program's PyMC model and how its names map.

    Attributes
    ----------
    model : pymc.Model
    bound : BoundProgram
    parameterization : str
    """

    model: Any
    bound: BoundProgram
    parameterization: str

    @property
    def program(self) -> Program:
        """The program."""
        return self.bound.program

    def reported(self) -> list[Reported]:
        """List what a summary reports, in order (:func:`reported`)."""
        return reported(self.bound, self.parameterization)


def reported(bound: BoundProgram, parameterization: str = "noncentered") -> list[Reported]:
    """List what a summary reports, with where each quantity's draws are in a posterior of ``parameterization``.

    The parameters (PARMS order), the derived quantities of MONITOR=, then ``<effect>[<value>]`` for the
    effects the data touch.
    """
    program = bound.program
    out = [Reported(p, p) for p in program.parameters]
    out += [Reported(d, d, kind="derived") for d in program.derived]
    for name, e in bound.effects.items():
        dim = e.sas_dim if parameterization == "sas_singletons" else e.dim
        out += [Reported(f"{name}[{lab}]", name, dim, lab, "effect") for lab in e.labels]
    return out


def build_translated_model(bound: BoundProgram, parameterization: str = "noncentered") -> TranslatedModel:
    """Write the PyMC model of a bound program (module docstring).

    Parameters
    ----------
    bound : BoundProgram
    parameterization : {"noncentered", "centered", "sas_singletons"}

    Returns
    -------
    TranslatedModel

    Raises
    ------
    RefusedError
        For a statement whose value cannot be computed (e.g. a monitored quantity that depends on the row).
    SpecError
        For an unknown parameterization.
    """
    import pymc as pm
    import pytensor.tensor as pt

    check_parameterization(parameterization)
    program, data = bound.program, bound.data
    coords: dict[str, list] = {"obs": list(data.rows)}
    for e in bound.effects.values():
        if parameterization == "sas_singletons":
            coords[e.sas_dim] = list(e.sas_labels)
        else:
            coords[e.dim] = list(e.labels)
    names = {n.lower() for n in program.parameters + program.random_names + program.derived}
    names.add(bound.outcome.lower())
    with pm.Model(coords=coords) as model:
        data_tensors: dict[str, Any] = {}

        def data_tensor(col: str, values: np.ndarray) -> Any:
            if col not in data_tensors:
                safe = col if col.lower() not in names else f"data_{col}"
                data_tensors[col] = pm.Data(safe, np.asarray(values, dtype=float), dims="obs")
            return data_tensors[col]

        params = {p: program.priors[p].pymc(p) for p in program.parameters}
        effects_rows: dict[str, Any] = {}
        backend = TensorBackend(data, params, effects_rows, data_tensor)
        interp = Interpreter(program, data, backend)
        for r in program.randoms:
            e = bound.effects[r.name]
            m, s = interp.random_arguments(r)
            sd = sigma_of(r.dist.key, s.value)
            if parameterization == "sas_singletons":
                u = pm.Normal(r.name, mu=m.value, sigma=sd, dims=e.sas_dim)
                idx = e.sas_group
            elif parameterization == "centered":
                u = pm.Normal(r.name, mu=m.value, sigma=sd, dims=e.dim)
                idx = e.group
            else:
                zname = _free_name(f"{r.name}_z", names)
                z = pm.Normal(zname, 0.0, 1.0, dims=e.dim)
                u = pm.Deterministic(r.name, m.value + sd * z, dims=e.dim)
                idx = e.group
            effects_rows[r.name] = pt.concatenate([u, pt.zeros(1)])[np.asarray(idx, dtype=np.int64)]
        env = interp.run()
        mean, spread = interp.model_arguments()
        mu = backend.tensor(mean.value) if not isinstance(mean.value, (float, int)) else mean.value
        sigma = sigma_of(program.model.dist.key, backend.tensor(spread.value)
                         if not isinstance(spread.value, (float, int)) else spread.value)
        pm.Normal(bound.outcome, mu=mu, sigma=sigma, observed=bound.y, dims="obs")
        for d in program.derived:
            v = env.get(d.lower())
            line = _assignment_line(program, d)
            if v is None or v.defined is not None:
                raise RefusedError(f"{program.path}, line {line}: MONITOR={d}: {d} is not set for every observation")
            value = v.value
            if isinstance(value, Text) or (getattr(value, "ndim", 0) or 0) > 0:
                raise RefusedError(f"{program.path}, line {line}: MONITOR={d}: {d} differs between observations "
                                   "(SAS would report its value at the last observation); monitor quantities that "
                                   "depend on parameters only")
            pm.Deterministic(d, pt.as_tensor_variable(value))
    return TranslatedModel(model, bound, parameterization)


def _free_name(name: str, taken: set[str]) -> str:
    out = name
    while out.lower() in taken:
        out += "_"
    return out


def _assignment_line(program: Program, name: str) -> int:
    from partclust.translate.program import first_assignment_line

    return first_assignment_line(program.body, name) or program.line


def translate(program: Program, data: ProgramData, parameterization: str = "noncentered") -> TranslatedModel:
    """:func:`bind` then :func:`build_translated_model`."""
    return build_translated_model(bind(program, data), parameterization)

