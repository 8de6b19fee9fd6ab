"""The two arithmetics a program's statements run with (:class:`~partclust.translate.evaluate.Backend`).

- :class:`TensorBackend` builds PyTensor expressions (the PyMC model, :mod:`partclust.translate.model`);
  values on data only stay NumPy, so conditions on data give row masks, and a column becomes the model's
  ``pm.Data`` once arithmetic with a parameter needs it;
- :class:`PolyBackend` keeps every value as a polynomial in the parameters and random effects whose
  coefficients are per-row numbers (:class:`Poly`), for :mod:`partclust.translate.family`; it raises
  :class:`~partclust.translate.evaluate.NotPolynomial` for anything else (``exp(b0)``, a condition on a
  parameter), with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, override

import numpy as np

from partclust.errors import SpecError
from partclust.translate.evaluate import Backend, NotPolynomial, Text
from partclust.translate.program_data import ProgramData

__all__ = ["TensorBackend", "PolyBackend", "Poly", "Column"]


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
        """Make a tensor operand: a column becomes the model's data tensor."""
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
        """Return the term without symbols (zeros if none)."""
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
        """Make a per-row constant (broadcast)."""
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
