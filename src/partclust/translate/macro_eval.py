"""SAS macro expressions: ``%EVAL`` (and ``%SYSEVALF``) as %IF conditions use them, read with ``sasmacro.lark``.

Operands are text; two integers compare as numbers, anything else as text (as %EVAL does); arithmetic
needs integers (numbers with ``%SYSEVALF``); comparisons and logical operators give ``1`` or ``0``.
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from typing import Any

from partclust.errors import SpecError

__all__ = ["evaluate_condition", "truth"]


@functools.cache
def _condition_parser() -> Any:
    import lark

    text = resources.files("partclust.translate").joinpath("sasmacro.lark").read_text(encoding="utf-8")
    return lark.Lark(text, parser="earley", lexer="dynamic")


def _int(text: str) -> int | None:
    t = text.strip()
    return int(t) if re.fullmatch(r"[+-]?\d+", t) else None


def evaluate_condition(text: str, *, floating: bool = False) -> str:
    """Evaluate a macro expression as ``%EVAL`` (or ``%SYSEVALF`` with ``floating``) does; returns its text.

    Comparisons and logical operators give ``1`` or ``0``; arithmetic needs integers (numbers with ``floating``).

    Raises
    ------
    SpecError
        For text that is not an expression, or arithmetic on text (``%EVAL``'s "character operand" error).
    """
    import lark

    try:
        tree = _condition_parser().parse(text)
    except lark.exceptions.LarkError:
        raise SpecError(f"cannot evaluate the macro expression {text.strip()!r}") from None

    def num(v: str) -> float | int:
        if floating:
            try:
                return float(v)
            except ValueError:
                pass
        i = _int(v)
        if i is None:
            raise SpecError(f"the macro expression {text.strip()!r} does arithmetic or logic on the text {v!r}")
        return i

    def fmt(x: float) -> str:
        return str(int(x)) if float(x) == int(x) else repr(float(x))

    def ev(t: Any) -> str:
        if isinstance(t, lark.Token):
            return str(t)
        kind = t.data
        if kind == "operand":
            return " ".join(str(w) for w in t.children)
        if kind == "compare":
            a, op, b = ev(t.children[0]).strip(), str(t.children[1]).lower(), ev(t.children[2]).strip()
            x, y = (num(a), num(b)) if _is_number(a, floating) and _is_number(b, floating) else (a, b)
            res = {"=": x == y, "eq": x == y, "^=": x != y, "~=": x != y, "ne": x != y, "<": x < y, "lt": x < y,
                   ">": x > y, "gt": x > y, "<=": x <= y, "le": x <= y, ">=": x >= y, "ge": x >= y}[op]
            return "1" if res else "0"
        if kind == "and_":
            return "1" if num(ev(t.children[0])) and num(ev(t.children[1])) else "0"
        if kind == "or_":
            return "1" if num(ev(t.children[0])) or num(ev(t.children[1])) else "0"
        if kind == "not_":
            return "0" if num(ev(t.children[0])) else "1"
        if kind == "negate":
            return fmt(-num(ev(t.children[0])))
        if kind == "arith":
            a, op, b = num(ev(t.children[0])), str(t.children[1]), num(ev(t.children[2]))
            if op == "/" and b == 0:
                raise SpecError(f"division by zero in the macro expression {text.strip()!r}")
            r = {"+": a + b, "-": a - b, "*": a * b, "/": (a / b if floating else int(a / b))}[op]
            return fmt(r)
        if len(t.children) == 1:
            return ev(t.children[0])
        raise SpecError(f"cannot evaluate the macro expression {text.strip()!r}")

    return ev(tree)


def _is_number(text: str, floating: bool) -> bool:
    if _int(text) is not None:
        return True
    if floating:
        try:
            float(text)
            return True
        except ValueError:
            return False
    return False


def truth(value: str, where: str) -> bool:
    """Read an evaluated %IF condition as SAS does: a nonzero number is true.

    Raises
    ------
    SpecError
        When the value is text, not a number (``where`` names the place).
    """
    i = _int(value)
    if i is None:
        try:
            return float(value) != 0.0
        except ValueError:
            raise SpecError(f"{where}: the %IF condition gives the text {value!r}, not a number") from None
    return i != 0
