"""The SAS ↔ PyMC table of a translated program: one row per statement, what it means, the PyMC code.

The PyMC column is the code :mod:`partclust.translate.model` runs, written out: priors through
:meth:`~partclust.models.Prior.pymc_text`, expressions with PyTensor's names (``pt.log``, ``pt.switch``),
random effects indexed per observation (``u[j_index]``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from partclust.models.priors import fmt_number
from partclust.translate.program import Assign, If, Program, Row

__all__ = ["expression_text", "format_table", "translation_table"]

_PREC = {"or_": 1, "and_": 2, "not_": 3, "compare": 4, "add": 5, "sub": 5, "mul": 6, "div": 6, "neg": 7, "pow": 8}
_PY_COMPARE = {"=": "==", "eq": "==", "^=": "!=", "~=": "!=", "ne": "!=", "<": "<", "lt": "<", ">": ">", "gt": ">",
               "<=": "<=", "le": "<=", ">=": ">=", "ge": ">="}
_SAS_COMPARE = {"==": "=", "!=": "^="}


def expression_text(tree: Any, program: Program | None = None, *, sas: bool = False) -> str:
    """Write an expression tree as PyTensor code (or, with ``sas``, as SAS text).

    Random effects are written ``u[j_index]`` (the effect of each observation's subject).
    """
    import lark

    effects = {} if program is None else {r.name.lower(): r for r in program.randoms}

    def go(t: Any, parent: int = 0) -> str:
        if isinstance(t, lark.Token):
            return str(t)
        op, kids = t.data, t.children
        if op == "number":
            return fmt_number(float(kids[0]))
        if op == "string":
            return str(kids[0])
        if op == "variable":
            name = str(kids[0])
            r = effects.get(name.lower())
            return name if (r is None or sas) else f"{r.name}[{r.subject}_index]"
        if op == "call":
            args = ", ".join(go(k) for k in kids[1:] if k is not None)
            fname = str(kids[0])
            return f"{fname}({args})" if sas else f"pt.{fname.lower()}({args})"
        if op == "unary":
            return go(kids[0], parent)
        prec = _PREC.get(op, 9)
        if op in ("add", "sub", "mul", "div", "pow"):
            sym = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**"}[op]
            left = go(kids[0], prec + (1 if op == "pow" else 0))
            right = go(kids[1], prec + (0 if op in ("add", "mul", "pow") else 1))
            text = f"{left} {sym} {right}"
        elif op == "neg":
            text = f"-{go(kids[0], prec)}"
        elif op == "compare":
            cmp = _PY_COMPARE[str(kids[1]).lower()]
            if sas:
                cmp = _SAS_COMPARE.get(cmp, cmp)
            text = f"{go(kids[0], prec + 1)} {cmp} {go(kids[2], prec + 1)}"
        elif op in ("and_", "or_"):
            sym = ("and" if op == "and_" else "or") if sas else ("&" if op == "and_" else "|")
            text = f"{go(kids[0], prec)} {sym} {go(kids[1], prec + 1)}"
        elif op == "not_":
            text = f"{'not ' if sas else '~'}{go(kids[0], prec)}"
        else:
            return " ".join(go(k) for k in kids if k is not None)
        return f"({text})" if prec < parent else text

    return go(tree)


def _find_if(nodes: tuple, line: int) -> If | None:
    for n in nodes:
        if isinstance(n, If):
            if n.line == line:
                return n
            found = _find_if(n.then, line) or _find_if(n.orelse, line)
            if found:
                return found
    return None


def _last_values(nodes: tuple, program: Program) -> dict[str, str]:
    out: dict[str, str] = {}
    for n in nodes:
        if isinstance(n, Assign):
            out[n.target] = expression_text(n.expr, program)
        elif isinstance(n, If):
            inner_t, inner_e = _last_values(n.then, program), _last_values(n.orelse, program)
            cond = expression_text(n.cond, program)
            for var in dict.fromkeys(list(inner_t) + list(inner_e)):
                out[var] = f"pt.switch({cond}, {inner_t.get(var, var)}, {inner_e.get(var, var)})"
    return out


def _sigma_text(key: str, value: str) -> str:
    return {"var": f"pt.sqrt({value})", "sd": value, "prec": f"1 / pt.sqrt({value})"}[key]


def _spread_words(key: str) -> str:
    return {"var": "variance", "sd": "standard deviation", "prec": "precision"}[key]


def translation_table(program: Program, bound: Any = None, parameterization: str = "noncentered") -> pd.DataFrame:
    """One row per statement of the step: ``line``, ``sas`` (as written), ``meaning``, ``pymc``.

    Parameters
    ----------
    program : Program
    bound : BoundProgram, optional
        With it, RANDOM rows count the subjects and those the data touch.
    parameterization : {"noncentered", "centered", "sas_singletons"}

    Returns
    -------
    pandas.DataFrame
    """
    rows = []
    prior_by_line = {p.line: p for p in program.prior_statements}
    random_by_line = {r.line: r for r in program.randoms}
    block_no = {b.line: k + 1 for k, b in enumerate(program.blocks)}
    derived = {d.lower() for d in program.derived}
    for row in program.rows:
        meaning, code = _row(row, program, bound, parameterization, prior_by_line, random_by_line, block_no, derived)
        rows.append({"line": row.line, "sas": "  " * row.depth + row.sas, "meaning": meaning, "pymc": code})
    return pd.DataFrame(rows, columns=["line", "sas", "meaning", "pymc"])


def _row(row: Row, program: Program, bound: Any, parameterization: str, prior_by_line: dict, random_by_line: dict,
         block_no: dict, derived: set) -> tuple[str, str]:
    kind = row.kind
    if kind == "proc":
        o = program.options
        parts = []
        for key, label in (("nbi", "burn-in"), ("nmc", "iterations kept"), ("thin", "thinning"), ("seed", "seed"),
                           ("ntu", "tuning iterations")):
            if key in o:
                parts.append(f"{key.upper()}={o[key]} ({label})")
        kept = ""
        if isinstance(o.get("nmc"), (int, float)):
            kept = f" → {int(o['nmc']) // int(o.get('thin', 1) or 1):,} stored draws"
        data = o.get("data", "the last data set")
        return (f"sample the posterior given data={data}; SAS settings recorded: " + (", ".join(parts) or "defaults")
                + kept + ". PyMC samples with NUTS and the project's draws, tune and seed",
                "with model: pm.sample(...) / nutpie.sample(...)  # settings of partclust fit")
    if kind == "parms":
        b = next(b for b in program.blocks if b.line == row.line)
        init = ", ".join(f"{n} (initial {fmt_number(v) if v is not None else 'generated'})"
                         for n, v in zip(b.names, b.initial))
        opts = f"; options {' '.join(b.options)} recorded" if b.options else ""
        return (f"sampling block {block_no[row.line]}: {init}{opts}",
                "free random variables " + ", ".join(b.names) + " (NUTS updates all parameters jointly)")
    if kind == "prior":
        p = prior_by_line[row.line]
        shown = ", ".join(p.names)
        wild = [t for t in p.targets if t.endswith(":")]
        note = f" ({' '.join(wild)} matches {shown})" if wild else ""
        return (f"{shown} ~ {p.prior.describe()}{note}", "; ".join(p.prior.pymc_text(n) for n in p.names))
    if kind == "random":
        r = random_by_line[row.line]
        mean = expression_text(r.dist.mean, program)
        value = expression_text(r.dist.value, program)
        sigma = _sigma_text(r.dist.key, value)
        count = ""
        e = None if bound is None else bound.effects.get(r.name)
        if e is not None:
            count = f": {len(e.sas_labels)} values, {len(e.labels)} touched by the data"
        meaning = (f"one effect {r.name}[<{r.subject}>] per value of {r.subject}{count}; each ~ Normal(mean {mean}, "
                   f"{_spread_words(r.dist.key)} {value})")
        if parameterization == "sas_singletons":
            code = (f"{r.name} = pm.Normal({r.name!r}, mu={mean}, sigma={sigma}, dims={r.subject + '_sas'!r})"
                    "  # every value, as PROC MCMC")
        elif parameterization == "centered":
            code = f"{r.name} = pm.Normal({r.name!r}, mu={mean}, sigma={sigma}, dims={r.subject!r})  # touched values"
        else:
            code = (f"{r.name}_z = pm.Normal({r.name + '_z'!r}, 0, 1, dims={r.subject!r}); "
                    f"{r.name} = pm.Deterministic({r.name!r}, {'' if mean == '0' else mean + ' + '}{sigma} * "
                    f"{r.name}_z)  # touched values, non-centered")
        return meaning, code
    if kind == "assign":
        target, expr = str(row.tree.children[0]), row.tree.children[1]
        text = expression_text(expr, program)
        if target.lower() in derived:
            return (f"{target}: a derived quantity, reported (MONITOR=)", f"pm.Deterministic({target!r}, {text})")
        return f"{target} per observation", f"{target} = {text}"
    if kind in ("if", "else"):
        node = _find_if(program.body, row.line) if kind == "if" else None
        inner = row.tree.children[-1]
        if kind == "if":
            cond_sas = expression_text(row.tree.children[0], program, sas=True)
            if node is None:
                return f"for observations where {cond_sas}", ""
            values = _last_values((node,), program)
            code = "; ".join(f"{v} = {t}" for v, t in values.items())
            where = f"for observations where {cond_sas}"
            return (where + (" (DO group follows)" if inner.data == "do_statement" else ""), code)
        return ("for the other observations" + (" (DO group follows)" if inner.data == "do_statement" else ""),
                "(the third argument of pt.switch above)")
    if kind == "do":
        return "start of a DO group", ""
    if kind == "end":
        return "end of the DO group", ""
    if kind == "model":
        m = program.model
        mean = expression_text(m.dist.mean, program)
        value = expression_text(m.dist.value, program)
        name = m.outcome if bound is None else bound.outcome
        return (f"likelihood: each {name} ~ Normal(mean {mean}, {_spread_words(m.dist.key)} {value})",
                f"pm.Normal({name!r}, mu={mean}, sigma={_sigma_text(m.dist.key, value)}, observed={name}, dims='obs')")
    if kind == "run":
        return "end of the step", ""
    return "output or session setting: no effect on the model", ""


def format_table(table: pd.DataFrame, width: int = 60) -> str:
    """Format the table as plain text, one block per statement (for the command line)."""
    lines = []
    for _, r in table.iterrows():
        lines.append(f"line {r['line']:>4}  SAS   {r['sas']}")
        lines.append(f"            means {r['meaning']}")
        if r["pymc"]:
            lines.append(f"            PyMC  {r['pymc']}")
    return "\n".join(lines)
