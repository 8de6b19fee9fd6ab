"""Running a program's programming statements over the data, with an exchangeable arithmetic.

PROC MCMC executes the programming statements once per observation. Here they run once over all rows
at a time: a value is a scalar or one number per row, and ``IF … THEN … ELSE`` becomes a per-row
selection. The arithmetic is a *backend*:

- :class:`~partclust.translate.backends.TensorBackend` builds PyTensor expressions (the PyMC model,
  :mod:`partclust.translate.model`);
- :class:`~partclust.translate.backends.PolyBackend` keeps every value as a polynomial in the parameters and
  random effects whose coefficients are per-row numbers: it shows which columns multiply which parameter,
  which rows a random effect touches and which variance each row's residual has, so the model family can
  be recognised (:mod:`partclust.translate.family`). It raises :class:`NotPolynomial` for anything else
  (``exp(b0)``, a condition on a parameter), with the reason.

The interpreter also checks what SAS would leave missing: a variable assigned in only one branch of
an IF and then used for rows where it is unset is refused, naming the line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from partclust.errors import DataError, SpecError
from partclust.translate.program import Assign, If, ModelMark, Program, RefusedError
from partclust.translate.program_data import ProgramData

__all__ = ["Backend", "Interpreter", "NotPolynomial", "Text", "Val"]


# ---- values -------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Text:
    """Text: a string constant or a text column (only compared, never computed with)."""

    values: Any  # str or object array
    what: str


@dataclass(frozen=True, eq=False)
class Val:
    """A value and the rows where it is defined (``None``: all; an array of bools; ``False``: unknown rows)."""

    value: Any
    defined: Any = None
    origin: str = ""  # the variable it was assigned to, for messages


def _and_defined(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    if a is False or b is False:
        return False
    return a & b


class NotPolynomial(Exception):
    """The program leaves the polynomial family (e.g. ``exp(b0)``); the message says where."""


# ---- the interpreter --------------------------------------------------------------------------------
class Backend:
    """The arithmetic an :class:`Interpreter` runs a program with; values are whatever a backend makes."""

    def number(self, x: float) -> Any:
        """Make a constant."""
        raise NotImplementedError

    def parameter(self, name: str) -> Any:
        """Return a PARMS parameter."""
        raise NotImplementedError

    def effect(self, name: str) -> Any:
        """Return a random effect's value for each observation."""
        raise NotImplementedError

    def column(self, name: str) -> Any:
        """Return a data column (numbers, or :class:`Text`)."""
        raise NotImplementedError

    def binary(self, op: str, a: Any, b: Any) -> Any:
        """``add``, ``sub``, ``mul``, ``div`` or ``pow`` of two values."""
        raise NotImplementedError

    def negate(self, a: Any) -> Any:
        """Minus a value."""
        raise NotImplementedError

    def call(self, fname: str, args: list[Any]) -> Any:
        """``log``, ``exp`` or ``sqrt`` of a value."""
        raise NotImplementedError

    def compare(self, op: str, a: Any, b: Any) -> Any:
        """Compare with SAS's operator ``op``: true or false per observation."""
        raise NotImplementedError

    def logical(self, op: str, a: Any, b: Any) -> Any:
        """``and_``, ``or_`` or ``not_`` (``b`` unused) of truth values."""
        raise NotImplementedError

    def mask(self, cond: Any) -> np.ndarray | None:
        """Per-observation truth of a condition on data only (``None`` when it depends on a parameter)."""
        raise NotImplementedError

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        """Choose ``a`` where ``cond`` holds, else ``b`` (IF … THEN … ELSE)."""
        raise NotImplementedError


class Interpreter:
    """Run a program's statements with a backend.

    Parameters
    ----------
    program : Program
    data : ProgramData
    backend : TensorBackend or PolyBackend
    """

    def __init__(self, program: Program, data: ProgramData, backend: Any):
        self.program = program
        self.data = data
        self.backend = backend
        self.params = {p.lower(): p for p in program.parameters}
        self.effects = {r.lower(): r for r in program.random_names}
        self.assigned = {a.lower(): a for a in program.assigned}
        self.final_env: dict[str, Val] | None = None
        self.line = program.line

    def _refuse(self, what: str, line: int | None = None) -> RefusedError:
        row = next((r for r in self.program.rows if r.line == (line or self.line)), None)
        text = f": {row.sas}" if row is not None else ""
        return RefusedError(f"{self.program.path}, line {line or self.line}: {what}{text}")

    # ---- statements -----------------------------------------------------------------------------
    def run(self) -> dict[str, Val]:
        """Execute the body; returns the variables at the end."""
        env: dict[str, Val] = {}
        self._block(self.program.body, env)
        self.final_env = env
        return env

    def _block(self, nodes: tuple, env: dict[str, Val]) -> None:
        for node in nodes:
            if isinstance(node, ModelMark):
                continue
            if isinstance(node, Assign):
                self.line = node.line
                v = self.eval(node.expr, env)
                env[node.target.lower()] = Val(v.value, v.defined, node.target)
            elif isinstance(node, If):
                self._if_node(node, env)

    def _if_node(self, node: If, env: dict[str, Val]) -> None:
        self.line = node.line
        cond = self.eval(node.cond, env)
        if cond.defined is not None and not (cond.defined is not False and cond.defined.all()):
            raise self._refuse("the condition uses a variable that is not set for every observation", node.line)
        mask = self.backend.mask(cond.value)
        env_t, env_e = dict(env), dict(env)
        self._block(node.then, env_t)
        self._block(node.orelse, env_e)
        for key in dict.fromkeys(list(env_t) + list(env_e)):
            vt, ve = env_t.get(key), env_e.get(key)
            if vt is ve:
                continue
            origin = (vt or ve).origin
            if vt is not None and ve is not None:
                value = self.backend.where(cond.value, vt.value, ve.value)
                if vt.defined is None and ve.defined is None:
                    defined = None
                elif mask is None:
                    defined = False
                else:
                    dt = np.ones(self.data.n, bool) if vt.defined is None else vt.defined
                    de = np.ones(self.data.n, bool) if ve.defined is None else ve.defined
                    defined = False if (dt is False or de is False) else np.where(mask, dt, de)
            else:
                one = vt if vt is not None else ve
                value = one.value
                if mask is None:
                    defined = False
                else:
                    rows = mask if vt is not None else ~mask
                    d = np.ones(self.data.n, bool) if one.defined is None else one.defined
                    defined = False if d is False else (rows & d)
            env[key] = Val(value, defined, origin)

    # ---- expressions ----------------------------------------------------------------------------
    def eval(self, tree: Any, env: dict[str, Val], *, scalar_only: bool = False) -> Val:
        """Evaluate an expression tree; ``scalar_only`` forbids data columns, effects and program variables."""
        import lark

        b = self.backend
        if isinstance(tree, lark.Token):
            return Val(b.number(float(tree)))
        op = tree.data
        kids = tree.children
        if op == "number":
            return Val(b.number(float(kids[0])))
        if op == "string":
            s = str(kids[0])
            return Val(Text(s[1:-1].replace(s[0] * 2, s[0]).rstrip(), f"'{s[1:-1]}'"))
        if op == "variable":
            return self._name(str(kids[0]), env, scalar_only)
        if op == "call":
            args = [self.eval(k, env, scalar_only=scalar_only) for k in kids[1:] if k is not None]
            return Val(self._guard(lambda: b.call(str(kids[0]).lower(), [a.value for a in args])),
                       _all_defined(args))
        if op in ("add", "sub", "mul", "div", "pow"):
            x, y = (self.eval(k, env, scalar_only=scalar_only) for k in kids)
            return Val(self._guard(lambda: b.binary(op, x.value, y.value)), _and_defined(x.defined, y.defined))
        if op == "neg":
            x = self.eval(kids[0], env, scalar_only=scalar_only)
            return Val(self._guard(lambda: b.negate(x.value)), x.defined)
        if op == "unary":
            return self.eval(kids[0], env, scalar_only=scalar_only)
        if op == "compare":
            x = self.eval(kids[0], env, scalar_only=scalar_only)
            y = self.eval(kids[2], env, scalar_only=scalar_only)
            return Val(self._guard(lambda: b.compare(str(kids[1]).lower(), x.value, y.value)),
                       _and_defined(x.defined, y.defined))
        if op in ("and_", "or_"):
            x, y = (self.eval(k, env, scalar_only=scalar_only) for k in kids)
            return Val(self._guard(lambda: b.logical(op, x.value, y.value)), _and_defined(x.defined, y.defined))
        if op == "not_":
            x = self.eval(kids[0], env, scalar_only=scalar_only)
            return Val(self._guard(lambda: b.logical("not_", x.value, None)), x.defined)
        if len(kids) == 1:
            return self.eval(kids[0], env, scalar_only=scalar_only)
        raise self._refuse(f"cannot evaluate {op}")

    def _guard(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except (NotPolynomial, RefusedError, DataError):
            raise
        except SpecError as exc:
            raise self._refuse(str(exc)) from None

    def _name(self, name: str, env: dict[str, Val], scalar_only: bool) -> Val:
        low = name.lower()
        if not scalar_only and low in env:
            return env[low]
        if low in self.params:
            return Val(self.backend.parameter(self.params[low]))
        if scalar_only:
            if low in self.effects or self.data.column_name(name) or low in self.assigned:
                raise self._refuse(f"{name} here must be a constant or a parameter (a random effect's mean and "
                                  "variance cannot depend on data, effects or program variables)")
            raise self._refuse(f"{name} is not a parameter")
        if low in self.effects:
            return Val(self.backend.effect(self.effects[low]))
        col = self.data.column_name(name)
        if col is not None:
            return Val(self.backend.column(col))
        if low in self.assigned:
            raise self._refuse(f"{name} is used before it is assigned")
        raise self._refuse(f"{name} is neither a parameter, a random effect, a variable assigned before, nor a column "
                          f"of the data ({self.data.source}: {', '.join(map(str, self.data.table.columns))})")

    # ---- what the model needs --------------------------------------------------------------------
    def model_arguments(self) -> tuple[Val, Val]:
        """Evaluate the MODEL statement's mean and spread after all programming statements (call :meth:`run` first)."""
        env = self.final_env if self.final_env is not None else {}
        m = self.program.model
        self.line = m.line
        mean = self.eval(m.dist.mean, env)
        spread = self.eval(m.dist.value, env)
        for what, v in (("mean", mean), (f"{m.dist.key}=", spread)):
            if v.defined is not None and (v.defined is False or not v.defined.all()):
                who = f" ({v.origin})" if v.origin else ""
                rows = "" if v.defined is False else f" (e.g. line {int(np.flatnonzero(~v.defined)[0]) + 2} of the data)"
                raise self._refuse(f"the MODEL's {what}{who} is not set for every observation{rows}: an IF assigns "
                                  "it without an ELSE", m.line)
            if isinstance(v.value, Text):
                raise self._refuse(f"the MODEL's {what} is text", m.line)
        return mean, spread

    def random_arguments(self, r: Any) -> tuple[Val, Val]:
        """Evaluate a RANDOM statement's mean and spread (constants and parameters only)."""
        self.line = r.line
        return self.eval(r.dist.mean, {}, scalar_only=True), self.eval(r.dist.value, {}, scalar_only=True)


def _all_defined(vals: list[Val]) -> Any:
    out = None
    for v in vals:
        out = _and_defined(out, v.defined)
    return out
