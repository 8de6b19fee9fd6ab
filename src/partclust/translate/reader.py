"""Reading one PROC MCMC step: each statement parsed by the lark grammar, the IF/ELSE and DO/END structure.

:class:`StepReader` parses every statement of a :class:`~partclust.translate.steps.Step` (grammar start
``statement``), records global statements (``ODS``, ``TITLE`` …), refuses what the translator does not
support with the statement's line, assembles the programming statements into :class:`~partclust.translate.
program.Assign` and :class:`~partclust.translate.program.If` nodes, reads the declarations
(:class:`~partclust.translate.declarations.DeclarationReader`) and checks names, functions and where the MODEL
statement stands. The result is a :class:`~partclust.translate.program.Program`.
"""

from __future__ import annotations

import re
from typing import Any

from partclust.translate.declarations import DeclarationReader
from partclust.translate.macros import MacroResult
from partclust.translate.program import (FUNCTIONS, Assign, If, ModelMark, ModelStatement, ParmsBlock, Program,
                                         RandomStatement, Row, assigned_names, first_assignment_line)
from partclust.translate.source import Statement
from partclust.translate.steps import Step

__all__ = ["StepReader"]

_GLOBAL = {"ods", "title", "footnote", "options", "option", "libname", "filename", "goptions", "ods_graphics"}
_GLOBAL_RE = re.compile(r"(title|footnote)\d*$")
_REFUSED_STATEMENTS = {
    "array": "ARRAY statements (arrays of parameters or constants)",
    "begincnst": "BEGINCNST/ENDCNST blocks", "endcnst": "BEGINCNST/ENDCNST blocks",
    "beginnodata": "BEGINNODATA/ENDNODATA blocks", "endnodata": "BEGINNODATA/ENDNODATA blocks",
    "beginprior": "BEGINPRIOR/ENDPRIOR blocks", "endprior": "BEGINPRIOR/ENDPRIOR blocks",
    "preddist": "PREDDIST statements", "ucode": "UCODE statements", "udf": "UDF statements",
    "by": "BY statements", "id": "ID statements", "where": "WHERE statements", "format": "FORMAT statements",
    "label": "LABEL statements", "length": "LENGTH statements", "retain": "RETAIN statements",
    "call": "CALL routines", "put": "PUT statements", "output": "OUTPUT statements", "delete": "DELETE statements",
    "return": "RETURN statements", "select": "SELECT groups", "when": "SELECT groups", "otherwise": "SELECT groups",
    "goto": "GOTO statements", "link": "LINK statements", "stop": "STOP statements", "abort": "ABORT statements",
    "lag": "LAG functions", "input": "INPUT statements", "set": "SET statements", "merge": "MERGE statements",
    "datalines": "DATALINES", "cards": "DATALINES",
}


class StepReader(DeclarationReader):
    """Read one step of a program into a :class:`~partclust.translate.program.Program` (:meth:`read`)."""

    def __init__(self, path: str, step: Step, n_steps: int, macro: MacroResult):
        self.path = path
        self.step = step
        self.n_steps = n_steps
        self.macro = macro
        self.rows: list[Row] = []
        self.notes: list[str] = []

    def parse(self, st: Statement) -> Any:
        """Parse one statement with the grammar; refuse it, naming its line, when the grammar does not read it."""
        import lark

        from partclust.translate.grammar import parser

        text = st.text
        ref = re.search(r"&(\w+)", text)
        if ref and ref.group(1) in self.macro.undefined:
            raise self.refuse(st, f"the macro variable &{ref.group(1)} is not defined (no %LET sets it)")
        mac = re.search(r"%(\w+)", text)
        if mac:
            raise self.refuse(st, f"the macro %{mac.group(1)} could not be expanded here")
        try:
            return parser("statement").parse(text)
        except lark.exceptions.UnexpectedInput as exc:
            raise self.refuse(st, _explain(text, exc)) from None

    def read(self) -> Program:
        """Read the step into a :class:`~partclust.translate.program.Program` (module docstring), or refuse."""
        sts = list(self.step.statements)
        proc = self.parse(sts[0])
        options = self.proc_options(sts[0], proc)
        blocks: list[ParmsBlock] = []
        prior_sts: list[tuple[Statement, Any]] = []
        randoms: list[tuple[Statement, Any]] = []
        model: tuple[Statement, Any, int] | None = None
        self.rows.append(Row(sts[0].line, "proc", sts[0].display, proc))
        stack: list[tuple[str, list, Any]] = [("top", [], None)]  # (kind, nodes, if-node-builder)
        ended = False
        for st in sts[1:]:
            first = st.first_word
            depth = len(stack) - 1
            if ended:
                raise self.refuse(st, "a statement after RUN")
            if first in _GLOBAL or _GLOBAL_RE.match(first):
                self.rows.append(Row(st.line, "global", st.display, None, depth))
                self.notes.append(f"line {st.line}: {first.upper()} statement recorded (no effect on the model)")
                continue
            if first in _REFUSED_STATEMENTS:
                raise self.refuse(st, f"{_REFUSED_STATEMENTS[first]} are not supported by the translator")
            tree = self.parse(st)
            kind = tree.data if isinstance(tree.data, str) else str(tree.data)
            if kind == "run_statement":
                self.rows.append(Row(st.line, "run", st.display, tree, 0))
                if len(stack) > 1:
                    raise self.refuse(st, f"RUN before the END of the DO group opened at line {stack[-1][2]['line']}")
                ended = True
                continue
            if kind in ("parms_statement", "program_prior", "random_statement", "model_statement",
                        "proc_statement"):
                if len(stack) > 1:
                    raise self.refuse(st, f"a {kind.split('_')[0].upper().replace('PROGRAM', 'PRIOR')} statement "
                                      "inside IF/DO is not supported (declarations must be unconditional)")
                short = {"parms_statement": "parms", "program_prior": "prior", "random_statement": "random",
                         "model_statement": "model", "proc_statement": "proc"}[kind]
                self.rows.append(Row(st.line, short, st.display, tree, 0))
                if kind == "proc_statement":
                    raise self.refuse(st, "a second PROC MCMC statement before RUN")
                if kind == "parms_statement":
                    blocks.append(self.parms(st, tree))
                elif kind == "program_prior":
                    prior_sts.append((st, tree))
                elif kind == "random_statement":
                    randoms.append((st, tree))
                else:
                    if model is not None:
                        raise self.refuse(st, f"a second MODEL statement (the first is at line {model[0].line}); "
                                          "one likelihood per program is supported")
                    model = (st, tree)
                    stack[0][1].append(ModelMark(st.line))
                continue
            self.programming(st, tree, stack)
        if len(stack) > 1:
            raise self.refuse(stack[-1][2]["line"], "a DO group is never closed with END")
        if not ended:
            self.notes.append(f"the step has no RUN statement; it ends at line {sts[-1].line}")
        if model is None:
            raise self.refuse(sts[0].line, "the step has no MODEL statement (a likelihood is needed)")
        if not blocks:
            raise self.refuse(sts[0].line, "the step has no PARMS statement")
        params = [n for b in blocks for n in b.names]
        lowered = [p.lower() for p in params]
        seen: dict[str, int] = {}
        for b in blocks:
            for name in b.names:
                if name.lower() in seen:
                    st_dup = next(s for s in sts if s.line == b.line)
                    raise self.refuse(st_dup, f"parameter {name} is declared twice (first at line {seen[name.lower()]})")
                seen[name.lower()] = b.line
        priors, prior_objs = self.priors(prior_sts, params)
        body = _freeze(stack[0][1])
        assigned = assigned_names(body)
        rnd = tuple(self.random(st, tree, params) for st, tree in randoms)
        rnames = [r.name.lower() for r in rnd]
        if len(set(rnames)) < len(rnames):
            raise self.refuse(randoms[-1][0], "two RANDOM statements name the same effect")
        for st, tree in randoms:
            name = str(tree.children[0])
            if name.lower() in lowered:
                raise self.refuse(st, f"{name} is both a parameter (PARMS) and a random effect")
        for a in assigned:
            if a.lower() in lowered or a.lower() in rnames:
                line = first_assignment_line(body, a)
                raise self.refuse(line, f"the programming statements assign to {a}, which is a "
                                  f"{'parameter' if a.lower() in lowered else 'random effect'}")
        mst, mtree = model
        mdl = self.model_statement(mst, mtree)
        self.check_model_position(body, mdl, mst)
        derived = self.derived(options, params, rnames, assigned, sts[0])
        self.check_calls(body, mdl, rnd)
        return Program(self.path, self.step.index, self.n_steps, self.step.call, self.step.line, options,
                       tuple(blocks), priors, prior_objs, rnd, mdl, body, tuple(self.rows), derived,
                       tuple(dict.fromkeys(self.macro.notes + self.notes)), tuple(assigned))

    # ---- programming statements ----------------------------------------------------------------

    def programming(self, st: Statement, tree: Any, stack: list) -> None:
        """Add a programming statement to the IF/ELSE and DO/END structure being built."""
        kind = tree.data
        depth = len(stack) - 1
        nodes = stack[-1][1]
        if kind == "assignment":
            self.rows.append(Row(st.line, "assign", st.display, tree, depth))
            nodes.append(self.assign(st, tree))
        elif kind == "if_statement":
            self.rows.append(Row(st.line, "if", st.display, tree, depth))
            cond, inner = tree.children
            node = {"cond": cond, "then": [], "orelse": [], "line": st.line, "else_line": 0, "closed": False}
            nodes.append(node)
            if inner.data == "do_statement":
                stack.append(("then", node["then"], node))
            else:
                node["then"].append(self.inner(st, inner))
                node["closed"] = True
        elif kind == "else_statement":
            self.rows.append(Row(st.line, "else", st.display, tree, depth))
            prev = nodes[-1] if nodes else None
            if not isinstance(prev, dict) or not prev["closed"] or prev["else_line"]:
                raise self.refuse(st, "ELSE without an IF … THEN just before it")
            prev["else_line"] = st.line
            inner = tree.children[0]
            if inner.data == "do_statement":
                stack.append(("else", prev["orelse"], prev))
            else:
                prev["orelse"].append(self.inner(st, inner))
        elif kind == "do_statement":
            self.rows.append(Row(st.line, "do", st.display, tree, depth))
            group: list = []
            holder = {"line": st.line, "group": group}
            nodes.append(holder)
            stack.append(("do", group, holder))
        elif kind == "end_statement":
            if len(stack) == 1:
                raise self.refuse(st, "END without DO")
            self.rows.append(Row(st.line, "end", st.display, tree, depth - 1))
            frame_kind, _, owner = stack.pop()
            if frame_kind in ("then", "else"):
                owner["closed"] = True
        else:
            raise self.refuse(st, f"{kind.replace('_', ' ')} is not supported here")
        # finalize nodes lazily in _freeze

    def inner(self, st: Statement, inner: Any) -> Any:
        """Read the statement after THEN or ELSE (an assignment, or IF … THEN assignment)."""
        if inner.data == "assignment":
            return self.assign(st, inner)
        if inner.data == "if_statement":
            cond, deeper = inner.children
            if deeper.data != "assignment":
                raise self.refuse(st, "IF … THEN IF … THEN DO is not supported; use a DO group")
            return {"cond": cond, "then": [self.assign(st, deeper)], "orelse": [], "line": st.line, "else_line": 0,
                    "closed": True}
        what = {"model_statement": "MODEL", "program_prior": "PRIOR", "random_statement": "RANDOM",
                "parms_statement": "PARMS", "run_statement": "RUN", "else_statement": "ELSE",
                "end_statement": "END"}.get(inner.data, inner.data)
        raise self.refuse(st, f"{what} after THEN/ELSE is not supported (only assignments and DO groups)")

    def assign(self, st: Statement, tree: Any) -> Assign:
        """Read an assignment (arrays refused)."""
        target = str(tree.children[0])
        if "[" in target:
            raise self.refuse(st, f"array element {target} (arrays are not supported)")
        for node in tree.children[1].iter_subtrees() if hasattr(tree.children[1], "iter_subtrees") else []:
            if node.data == "variable" and "[" in str(node.children[0]):
                raise self.refuse(st, f"array element {node.children[0]} (arrays are not supported)")
        return Assign(target, tree.children[1], st.line)

    def check_calls(self, body: tuple, model: ModelStatement, randoms: tuple[RandomStatement, ...]) -> None:
        """Refuse functions other than log, exp and sqrt, and array elements, naming the line."""
        trees: list[tuple[int, Any]] = []
        _collect_trees(body, trees)
        trees += [(model.line, model.dist.mean), (model.line, model.dist.value)]
        for r in randoms:
            trees += [(r.line, r.dist.mean), (r.line, r.dist.value)]
        for line, tree in trees:
            if not hasattr(tree, "iter_subtrees"):
                continue
            for node in tree.iter_subtrees():
                if node.data == "call":
                    fname = str(node.children[0]).lower()
                    if fname not in FUNCTIONS:
                        row = next((r for r in self.rows if r.line == line), None)
                        raise self.refuse(row if row is not None else line,
                                          f"the function {node.children[0]}() is not supported (supported: "
                                          f"{', '.join(FUNCTIONS)})")
                    nargs = len([c for c in node.children[1:] if c is not None])
                    if nargs != 1:
                        row = next((r for r in self.rows if r.line == line), None)
                        raise self.refuse(row if row is not None else line, f"{fname}() takes one argument")
                if node.data == "variable" and "[" in str(node.children[0]):
                    raise self.refuse(line, f"array element {node.children[0]} (arrays are not supported)")

    def check_model_position(self, body: tuple, model: ModelStatement, st: Statement) -> None:
        """Refuse a variable the MODEL uses that is assigned both before and after the MODEL statement.

        The MODEL statement's arguments are read after all programming statements; such a variable would be
        ambiguous.
        """
        used = {str(t.children[0]).lower() for tree in (model.dist.mean, model.dist.value)
                if hasattr(tree, "iter_subtrees") for t in tree.iter_subtrees() if t.data == "variable"}
        before: set[str] = set()
        after: dict[str, int] = {}
        seen_mark = False
        for node in body:
            if isinstance(node, ModelMark):
                seen_mark = True
                continue
            for name in assigned_names((node,)):
                if seen_mark:
                    after.setdefault(name.lower(), first_assignment_line((node,), name))
                else:
                    before.add(name.lower())
        for name in sorted(used & before & set(after)):
            raise self.refuse(after[name], f"{name} is assigned both before and after the MODEL statement (line "
                              f"{model.line}) that uses it; assign it in one place")


def _collect_trees(nodes: tuple, out: list) -> None:
    for n in nodes:
        if isinstance(n, Assign):
            out.append((n.line, n.expr))
        elif isinstance(n, If):
            out.append((n.line, n.cond))
            _collect_trees(n.then, out)
            _collect_trees(n.orelse, out)


def _freeze(nodes: list) -> tuple:
    """Builder dicts → frozen :class:`If` nodes; plain DO groups are spliced into their parent."""
    out: list = []
    for n in nodes:
        if isinstance(n, dict) and "group" in n:
            out.extend(_freeze(n["group"]))
        elif isinstance(n, dict):
            out.append(If(n["cond"], _freeze(n["then"]), _freeze(n["orelse"]), n["line"], n["else_line"]))
        else:
            out.append(n)
    return tuple(out)


def _explain(text: str, exc: Any) -> str:
    """Explain why the grammar does not read a statement."""
    low = text.strip().lower()
    if re.match(r"do\b", low) and not re.fullmatch(r"do", low):
        return "iterative DO loops (DO i = … TO …, DO WHILE, DO UNTIL) are not supported"
    if re.match(r"if\b", low) and not re.search(r"\bthen\b", low):
        return "subsetting IF (IF without THEN) is not supported"
    if re.match(r"(model|random|prior|hyperprior|hyper)\b", low) and "~" not in low:
        return "the statement needs NAME ~ distribution"
    col = getattr(exc, "column", None)
    at = f" (at column {col})" if isinstance(col, int) and col > 0 else ""
    return f"cannot read this statement{at}; it is not in the PROC MCMC subset the translator supports"
