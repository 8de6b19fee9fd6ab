"""Running a program's programming statements over the data, with an exchangeable arithmetic.

PROC MCMC executes the programming statements once per observation. Here they run once over all rows
at a time: a value is a scalar or one number per row, and ``IF … THEN … ELSE`` becomes a per-row
selection. The arithmetic is a *backend*:

- :class:`TensorBackend` builds PyTensor expressions (the PyMC model, :mod:`partclust.translate.model`);
- :class:`PolyBackend` keeps every value as a polynomial in the parameters and random effects whose
  coefficients are per-row numbers (:class:`Poly`): it shows which columns multiply which parameter,
  which rows a random effect touches and which variance each row's residual has, so the model
  family can be recognised (:mod:`partclust.translate.family`). It raises :class:`NotPolynomial` for
  anything else (``exp(b0)``, a condition on a parameter), with the reason.

The interpreter also checks what SAS would leave missing: a variable assigned in only one branch of
an IF and then used for rows where it is unset is refused, naming the line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, override

import numpy as np
import pandas as pd

from partclust.errors import DataError, SpecError
from partclust.translate.program import Assign, If, ModelMark, Program, RefusedError

__all__ = ["Backend", "Interpreter", "NotPolynomial", "Poly", "PolyBackend", "ProgramData", "TensorBackend", "Text", "Val",
           "read_program_data"]


# ---- the data ----------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ProgramData:
    """The data table a program runs on (cells as text), with SAS's case-insensitive column names.

    Attributes
    ----------
    table : pandas.DataFrame
        Every cell as text, as read.
    source, sha256 : str
        The file and its SHA-256.
    """

    table: pd.DataFrame
    source: str = "<table>"
    sha256: str = ""

    @property
    def n(self) -> int:
        """Number of rows (observations)."""
        return len(self.table)

    def column_name(self, name: str) -> str | None:
        """The table's spelling of column ``name`` (SAS names ignore case), or ``None``."""
        low = name.lower()
        for c in self.table.columns:
            if str(c).lower() == low:
                return str(c)
        return None

    def is_numeric(self, name: str) -> bool:
        """Whether every cell of the column is a finite number."""
        col = self.table[self.column_name(name)]
        vals = pd.to_numeric(col.astype(str).str.strip(), errors="coerce")
        return bool(np.isfinite(np.asarray(vals, dtype=float)).all())

    def numeric(self, name: str, role: str) -> np.ndarray:
        """The column as floats.

        Raises
        ------
        DataError
            For a missing or non-numeric cell, naming the lines.
        """
        from partclust.models.spec import numeric_column

        return numeric_column(self.table, self.column_name(name) or name, self.source, role)

    def text(self, name: str) -> np.ndarray:
        """The column as stripped text."""
        return self.table[self.column_name(name)].astype(str).str.strip().to_numpy(dtype=object)

    @property
    def rows(self) -> tuple[str, ...]:
        """A label per row: its line in the file (the header is line 1)."""
        return tuple(str(k + 2) for k in range(self.n))


def read_program_data(path: str) -> ProgramData:
    """Read a CSV file for a program (any line ending; every cell as text).

    Raises
    ------
    DataError
        When the file is missing, unreadable or has no rows.
    """
    from pathlib import Path

    from partclust.data import sha256_of
    from partclust.data.tables import decode_text, read_text_table

    p = Path(path)
    if not p.is_file():
        raise DataError(f"no data file {p}")
    try:
        table = read_text_table(decode_text(p.read_bytes()))
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"cannot read {p} as CSV: {exc}") from None
    if len(table) == 0:
        raise DataError(f"{p} has a header but no rows")
    return ProgramData(table, str(p), sha256_of(p))


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
        """A constant."""
        raise NotImplementedError

    def parameter(self, name: str) -> Any:
        """A PARMS parameter."""
        raise NotImplementedError

    def effect(self, name: str) -> Any:
        """A random effect's value for each observation."""
        raise NotImplementedError

    def column(self, name: str) -> Any:
        """A data column (numbers, or :class:`Text`)."""
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
        """A comparison (SAS's operator ``op``), true or false per observation."""
        raise NotImplementedError

    def logical(self, op: str, a: Any, b: Any) -> Any:
        """``and_``, ``or_`` or ``not_`` (``b`` unused) of truth values."""
        raise NotImplementedError

    def mask(self, cond: Any) -> np.ndarray | None:
        """Per-observation truth of a condition on data only (``None`` when it depends on a parameter)."""
        raise NotImplementedError

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        """``a`` where ``cond`` holds, else ``b`` (IF … THEN … ELSE)."""
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
        """The MODEL statement's mean and spread, read after all programming statements (call :meth:`run` first)."""
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
        """A RANDOM statement's mean and spread (constants and parameters only)."""
        self.line = r.line
        return self.eval(r.dist.mean, {}, scalar_only=True), self.eval(r.dist.value, {}, scalar_only=True)


def _all_defined(vals: list[Val]) -> Any:
    out = None
    for v in vals:
        out = _and_defined(out, v.defined)
    return out


_COMPARE = {"=": "eq", "eq": "eq", "^=": "ne", "~=": "ne", "ne": "ne", "<": "lt", "lt": "lt", ">": "gt", "gt": "gt",
            "<=": "le", "le": "le", ">=": "ge", "ge": "ge"}
_NUMPY_COMPARE = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "gt": np.greater, "le": np.less_equal,
                  "ge": np.greater_equal}


def _compare_text(op: str, a: Text, b: Any) -> np.ndarray:
    if not isinstance(b, Text):
        raise SpecError(f"{a.what} is text and cannot be compared with a number")
    x = np.asarray(a.values, dtype=object) if not isinstance(a.values, str) else a.values
    y = np.asarray(b.values, dtype=object) if not isinstance(b.values, str) else b.values
    return np.asarray(_NUMPY_COMPARE[_COMPARE[op]](x, y), dtype=bool)


# ---- PyTensor -------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Column:
    """A numeric data column: its values, and the model's data tensor once arithmetic with a parameter needs it."""

    name: str
    values: np.ndarray


class TensorBackend(Backend):
    """PyTensor arithmetic; data-only values stay NumPy (so conditions on data give row masks).

    Parameters
    ----------
    data : ProgramData
    parameters : dict of str to tensor
    effects : dict of str to tensor
        Each random effect's value per row.
    data_tensor : callable
        ``(column name, values) → tensor``: the model's ``pm.Data`` for a column.
    """

    def __init__(self, data: ProgramData, parameters: dict[str, Any], effects: dict[str, Any],
                 data_tensor: Callable[[str, np.ndarray], Any]):
        self.data = data
        self.parameters = parameters
        self.effects = effects
        self.data_tensor = data_tensor

    @override
    def number(self, x: float) -> float:
        return x

    @override
    def parameter(self, name: str) -> Any:
        return self.parameters[name]

    @override
    def effect(self, name: str) -> Any:
        return self.effects[name]

    @override
    def column(self, name: str) -> Any:
        if self.data.is_numeric(name):
            return Column(name, self.data.numeric(name, "data column"))
        return Text(self.data.text(name), f"column {name}")

    @staticmethod
    def is_data(v: Any) -> bool:
        """Whether ``v`` involves no parameter or effect (NumPy, a column, text)."""
        return isinstance(v, (float, int, np.ndarray, np.floating, np.bool_, Column, Text))

    def num(self, v: Any) -> Any:
        """NumPy for data-only values."""
        if isinstance(v, Column):
            return v.values
        if isinstance(v, Text):
            raise SpecError(f"{v.what} is text; arithmetic needs numbers")
        if isinstance(v, np.ndarray) and v.dtype == bool:
            return v.astype(float)
        return v

    def tensor(self, v: Any) -> Any:
        """A tensor operand: a column becomes the model's data tensor."""
        import pytensor.tensor as pt

        if isinstance(v, Column):
            return self.data_tensor(v.name, v.values)
        if isinstance(v, Text):
            raise SpecError(f"{v.what} is text; arithmetic needs numbers")
        if isinstance(v, np.ndarray) and v.dtype == bool:
            return v.astype(float)
        if hasattr(v, "dtype") and str(getattr(v, "dtype", "")) == "bool" and not isinstance(v, np.ndarray):
            return pt.cast(v, "float64")
        return v

    @override
    def binary(self, op: str, a: Any, b: Any) -> Any:
        if self.is_data(a) and self.is_data(b):
            x, y = self.num(a), self.num(b)
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                out = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
                       "pow": np.power}[op](x, y)
            if not np.all(np.isfinite(out)):
                raise SpecError(f"the data give a value that is not finite in {op}")
            return out
        x, y = self.tensor(a), self.tensor(b)
        return {"add": lambda: x + y, "sub": lambda: x - y, "mul": lambda: x * y, "div": lambda: x / y,
                "pow": lambda: x ** y}[op]()

    @override
    def negate(self, a: Any) -> Any:
        return -self.num(a) if self.is_data(a) else -self.tensor(a)

    @override
    def call(self, fname: str, args: list[Any]) -> Any:
        import pytensor.tensor as pt

        (a,) = args
        if self.is_data(a):
            x = self.num(a)
            with np.errstate(divide="ignore", invalid="ignore"):
                out = {"log": np.log, "exp": np.exp, "sqrt": np.sqrt}[fname](x)
            if not np.all(np.isfinite(out)):
                raise SpecError(f"{fname}() of the data is not finite for some rows")
            return out
        return {"log": pt.log, "exp": pt.exp, "sqrt": pt.sqrt}[fname](self.tensor(a))

    @override
    def compare(self, op: str, a: Any, b: Any) -> Any:
        import pytensor.tensor as pt

        if isinstance(a, Text) or isinstance(b, Text):
            if isinstance(a, Text):
                return _compare_text(op, a, b)
            return _compare_text(op, b, a) if _COMPARE[op] in ("eq", "ne") else _compare_text(
                {"lt": "gt", "gt": "lt", "le": "ge", "ge": "le"}[_COMPARE[op]], b, a)
        kind = _COMPARE[op]
        if self.is_data(a) and self.is_data(b):
            return np.asarray(_NUMPY_COMPARE[kind](self.num(a), self.num(b)), dtype=bool)
        x, y = self.tensor(a), self.tensor(b)
        return {"eq": pt.eq, "ne": pt.neq, "lt": pt.lt, "gt": pt.gt, "le": pt.le, "ge": pt.ge}[kind](x, y)

    @override
    def logical(self, op: str, a: Any, b: Any) -> Any:
        import pytensor.tensor as pt

        def as_bool(v: Any) -> Any:
            if self.is_data(v):
                return np.asarray(self.num(v)) != 0
            return pt.neq(self.tensor(v), 0)

        if op == "not_":
            x = as_bool(a)
            return ~x if isinstance(x, np.ndarray) else pt.invert(x)
        x, y = as_bool(a), as_bool(b)
        if isinstance(x, np.ndarray) and isinstance(y, np.ndarray):
            return (x & y) if op == "and_" else (x | y)
        return pt.and_(x, y) if op == "and_" else pt.or_(x, y)

    @override
    def mask(self, cond: Any) -> np.ndarray | None:
        """Per-row truth of a condition on data only (``None`` when it depends on a parameter)."""
        if self.is_data(cond):
            m = np.asarray(self.num(cond)) != 0
            return np.broadcast_to(m, (self.data.n,)).copy()
        return None

    @override
    def where(self, cond: Any, a: Any, b: Any) -> Any:
        import pytensor.tensor as pt

        if self.is_data(cond):
            c = np.asarray(self.num(cond)) != 0
            if self.is_data(a) and self.is_data(b):
                return np.where(c, self.num(a), self.num(b))
            return pt.switch(c, self.tensor(a), self.tensor(b))
        return pt.switch(cond, self.tensor(a), self.tensor(b))


# ---- polynomials ------------------------------------------------------------------------------------------
Monomial = tuple[tuple[str, float], ...]


@dataclass(frozen=True, eq=False)
class Poly:
    """Σ coefficient(row) × Π symbol^power; symbols are parameter and random-effect names.

    Attributes
    ----------
    terms : dict
        Monomial (sorted ``(symbol, power)`` pairs; ``()`` for the constant) → coefficients, shape (n,).
    """

    terms: dict[Monomial, np.ndarray]

    @property
    def is_data(self) -> bool:
        """Whether no parameter or effect appears."""
        return all(k == () for k in self.terms)

    def constant(self, n: int) -> np.ndarray:
        """The term without symbols (zeros if none)."""
        return self.terms.get((), np.zeros(n))

    def symbols(self) -> set[str]:
        """Every symbol that appears."""
        return {s for key in self.terms for s, _ in key}


def _clean(terms: dict[Monomial, np.ndarray]) -> dict[Monomial, np.ndarray]:
    return {k: v for k, v in terms.items() if np.any(v != 0) or k == ()}


class PolyBackend(Backend):
    """The polynomial arithmetic of the module docstring.

    Parameters
    ----------
    data : ProgramData
    """

    def __init__(self, data: ProgramData):
        self.data = data
        self.n = data.n

    def const(self, x: Any) -> Poly:
        """A per-row constant (broadcast)."""
        return Poly({(): np.broadcast_to(np.asarray(x, dtype=float), (self.n,)).copy()})

    @override
    def number(self, x: float) -> Poly:
        return self.const(x)

    @override
    def parameter(self, name: str) -> Poly:
        return Poly({((name, 1.0),): np.ones(self.n)})

    @override
    def effect(self, name: str) -> Poly:
        return Poly({((name, 1.0),): np.ones(self.n)})

    @override
    def column(self, name: str) -> Any:
        if self.data.is_numeric(name):
            return self.const(self.data.numeric(name, "data column"))
        return Text(self.data.text(name), f"column {name}")

    def _poly(self, v: Any) -> Poly:
        if isinstance(v, Text):
            raise SpecError(f"{v.what} is text; arithmetic needs numbers")
        if isinstance(v, np.ndarray):
            return self.const(v.astype(float))
        return v

    @override
    def binary(self, op: str, a: Any, b: Any) -> Poly:
        x, y = self._poly(a), self._poly(b)
        if op in ("add", "sub"):
            out = {k: v.copy() for k, v in x.terms.items()}
            for k, v in y.terms.items():
                out[k] = out.get(k, np.zeros(self.n)) + (v if op == "add" else -v)
            return Poly(_clean(out))
        if op == "mul":
            return self._mul(x, y)
        if op == "div":
            return self._mul(x, self._power(y, -1.0, "a division"))
        if not y.is_data:
            raise NotPolynomial("a power whose exponent depends on a parameter")
        k = y.constant(self.n)
        if np.ptp(k) != 0:
            raise NotPolynomial("a power whose exponent differs between observations")
        return self._power(x, float(k[0]), "a power")

    def _mul(self, x: Poly, y: Poly) -> Poly:
        out: dict[Monomial, np.ndarray] = {}
        for kx, vx in x.terms.items():
            for ky, vy in y.terms.items():
                powers: dict[str, float] = dict(kx)
                for s, p in ky:
                    powers[s] = powers.get(s, 0.0) + p
                key = tuple(sorted((s, p) for s, p in powers.items() if p != 0))
                out[key] = out.get(key, np.zeros(self.n)) + vx * vy
        return Poly(_clean(out))

    @staticmethod
    def _term_power(key: Monomial, coef: np.ndarray, k: float, what: str) -> tuple[Monomial, np.ndarray]:
        """(key, coef)^k on the rows where coef ≠ 0 (0 elsewhere)."""
        if k != int(k) and np.any(coef < 0):
            raise NotPolynomial(f"{what} of a negative number")
        with np.errstate(divide="ignore", invalid="ignore"):
            new = np.where(coef == 0, 0.0, np.power(np.where(coef == 0, 1.0, coef), k))
        return tuple((s, p * k) for s, p in key), new

    def _power(self, x: Poly, k: float, what: str) -> Poly:
        nonzero = {key: v for key, v in x.terms.items() if np.any(v != 0)}
        if not nonzero:
            if k <= 0:
                raise NotPolynomial(f"{what} of zero")
            return self.const(0.0)
        if k == int(k) and 0 <= k <= 4 and len(nonzero) > 1:
            out = self.const(1.0)
            for _ in range(int(k)):
                out = self._mul(out, x)
            return out
        support = np.stack([v != 0 for v in nonzero.values()])
        if support.sum(axis=0).max() > 1:
            raise NotPolynomial(f"{what} of a sum of parameter terms")
        if k <= 0 and support.sum(axis=0).min() == 0:
            raise NotPolynomial(f"{what} of zero on some observations")
        # one term per row (a single term, or an IF chose one per row): the power acts on each row's term
        terms: dict[Monomial, np.ndarray] = {}
        for key, coef in nonzero.items():
            pk, pv = self._term_power(key, coef, k, what)
            terms[pk] = terms.get(pk, np.zeros(self.n)) + pv
        return Poly(_clean(terms))

    @override
    def negate(self, a: Any) -> Poly:
        x = self._poly(a)
        return Poly({k: -v for k, v in x.terms.items()})

    @override
    def call(self, fname: str, args: list[Any]) -> Poly:
        (a,) = args
        x = self._poly(a)
        if fname == "sqrt":
            return self._power(x, 0.5, "sqrt()")
        if not x.is_data:
            raise NotPolynomial(f"{fname}() of a parameter")
        c = x.constant(self.n)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.log(c) if fname == "log" else np.exp(c)
        if not np.all(np.isfinite(out)):
            raise SpecError(f"{fname}() of the data is not finite for some rows")
        return self.const(out)

    @override
    def compare(self, op: str, a: Any, b: Any) -> Poly:
        if isinstance(a, Text) or isinstance(b, Text):
            if isinstance(a, Text):
                return self.const(_compare_text(op, a, b))
            flip = {"lt": "gt", "gt": "lt", "le": "ge", "ge": "le"}
            return self.const(_compare_text(flip.get(_COMPARE[op], _COMPARE[op]), b, a))
        x, y = self._poly(a), self._poly(b)
        if not (x.is_data and y.is_data):
            raise NotPolynomial("a condition on a parameter")
        return self.const(_NUMPY_COMPARE[_COMPARE[op]](x.constant(self.n), y.constant(self.n)))

    @override
    def logical(self, op: str, a: Any, b: Any) -> Poly:
        x = self._poly(a)
        if not x.is_data:
            raise NotPolynomial("a condition on a parameter")
        bx = x.constant(self.n) != 0
        if op == "not_":
            return self.const(~bx)
        y = self._poly(b)
        if not y.is_data:
            raise NotPolynomial("a condition on a parameter")
        by = y.constant(self.n) != 0
        return self.const((bx & by) if op == "and_" else (bx | by))

    @override
    def mask(self, cond: Any) -> np.ndarray:
        x = self._poly(cond)
        if not x.is_data:
            raise NotPolynomial("a condition on a parameter")
        return x.constant(self.n) != 0

    @override
    def where(self, cond: Any, a: Any, b: Any) -> Poly:
        m = self.mask(cond).astype(float)
        x, y = self._poly(a), self._poly(b)
        out: dict[Monomial, np.ndarray] = {}
        for k, v in x.terms.items():
            out[k] = out.get(k, np.zeros(self.n)) + m * v
        for k, v in y.terms.items():
            out[k] = out.get(k, np.zeros(self.n)) + (1 - m) * v
        return Poly(_clean(out))
