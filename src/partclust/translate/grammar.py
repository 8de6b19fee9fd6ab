"""The PROC MCMC grammar (``procmcmc.lark``) and its parser, built once per process.

The grammar holds the expression and distribution rules every PROC MCMC translation needs; the
statement translator extends it with PARMS/PRIOR/RANDOM/MODEL statements, IF/ELSE and DO blocks.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

from partclust.errors import SpecError

__all__ = ["GRAMMAR_FILE", "grammar_text", "parser", "parse"]

GRAMMAR_FILE = "procmcmc.lark"


def grammar_text() -> str:
    """Return the grammar's text (lark EBNF)."""
    return resources.files("partclust.translate").joinpath(GRAMMAR_FILE).read_text(encoding="utf-8")


@functools.cache
def parser(start: str = "start") -> Any:
    """Return a LALR parser of the grammar from rule ``start`` (cached)."""
    import lark

    return lark.Lark(grammar_text(), start=start, parser="lalr", maybe_placeholders=False)


def parse(text: str, start: str = "start", what: str = "PROC MCMC text") -> Any:
    """Parse ``text`` into a lark tree.

    Raises
    ------
    SpecError
        Naming the text and the column where it stops making sense.
    """
    import lark

    try:
        return parser(start).parse(text)
    except lark.exceptions.UnexpectedInput as exc:
        col = getattr(exc, "column", None)
        where = f" at column {col}" if isinstance(col, int) and col > 0 else ""
        raise SpecError(f"cannot read {what} {text.strip()!r}{where}: "
                        "expected e.g. normal(0, var=10000) or s2u ~ igamma(0.01, scale=0.01)") from None
