"""A PROC MCMC step read into a :class:`Program`: options, PARMS blocks, priors, RANDOM, programming statements, MODEL.

The file is read as SAS reads it: ``/* */`` comments removed, the macro language executed
(:mod:`partclust.translate.macros`), then split into statements; every ``PROC MCMC … RUN;`` is a step.
Each statement of the chosen step is parsed with the lark grammar (``procmcmc.lark``, start
``statement``), and the IF/ELSE and DO/END structure is assembled from them. What the translator does
not support is refused here, before any model is built, with one line naming the file, the line the
statement is written on and the statement itself (:class:`RefusedError`).

Supported (case-insensitive, SAS comments anywhere):

- ``PROC MCMC`` options — ``DATA= OUTPOST= NMC= NBI= THIN= SEED= NTU= MONITOR=(…) STATISTICS…``
  and the other sampler, output and diagnostics options of PROC MCMC are recorded (they say how SAS
  sampled; PyMC uses the project's draws and tuning);
- ``PARMS`` (alias ``PARM``): names, optional ``=``, initial values, ``(a b) 0`` lists; each statement is
  one block; options after ``/`` are recorded;
- ``PRIOR`` / ``HYPERPRIOR``: name lists and prefix wildcards (``prior b: ~ …``) with the distributions of
  :mod:`partclust.translate.distributions` (constant arguments);
- ``RANDOM name ~ normal(mean, var=|sd=|prec=) SUBJECT=column [MONITOR=(…)] [INITIAL=…] [NOOUTPOST]``;
- assignments with ``+ - * / **``, ``log exp sqrt``, comparisons (``= eq ^= ne < lt …``, ``and or not``,
  quoted text), data columns, parameters, random effects and earlier variables;
  ``IF … THEN statement; [ELSE statement;]`` and ``DO; … END;`` groups, also after THEN/ELSE;
- ``MODEL column ~ normal(mu, var=|sd=|prec=)``, anywhere in the step: its arguments are read after all
  programming statements (a variable it uses may not be assigned both before and after it); ``RUN;`` (or ``QUIT;``);
- global statements inside the step (``ODS``, ``TITLE``, ``OPTIONS``, …) are recorded and have no effect.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from partclust.errors import SpecError
from partclust.models.priors import Prior, Reciprocal
from partclust.translate.macros import MacroResult, expand_macros
from partclust.translate.source import SourceText, Statement, read_source, split_statements, strip_comments

__all__ = ["FUNCTIONS", "NORMAL_NAMES", "PROC_OPTIONS", "Assign", "If", "ModelMark", "ModelStatement", "ParmsBlock",
           "PriorStatement", "Program", "RandomStatement", "RefusedError", "Row", "Step", "find_steps",
           "parse_program_text", "read_program"]

FUNCTIONS: tuple[str, ...] = ("log", "exp", "sqrt")
"""Functions allowed in programming statements."""
NORMAL_NAMES: tuple[str, ...] = ("normal", "n", "norm", "gaussian")
"""PROC MCMC's names of the normal distribution."""
_KEYWORD_ALIASES = {"m": "mean", "v": "var", "sp": "shape", "s": "scale", "is": "iscale"}
PROC_OPTIONS: dict[str, str] = {
    "data": "input data set", "outpost": "output data set of the posterior draws", "nmc": "MCMC iterations kept",
    "nbi": "burn-in iterations", "thin": "thinning", "seed": "random seed", "ntu": "tuning iterations per loop",
    "monitor": "quantities reported", "statistics": "summary statistics", "stats": "summary statistics",
    "diagnostics": "convergence diagnostics", "diag": "convergence diagnostics", "plots": "plots", "plot": "plots",
    "dic": "DIC", "propcov": "initial proposal covariance", "mintune": "minimum tuning loops",
    "maxtune": "maximum tuning loops", "nthreads": "threads", "accepttol": "acceptance tolerance",
    "targaccept": "target acceptance rate", "targaccepti": "target acceptance (independence sampler)",
    "tunewt": "tuning weight", "scale": "initial proposal scale", "init": "initial values",
    "autocorlag": "autocorrelation lags", "aclag": "autocorrelation lags", "mchistory": "sampling history",
    "simreport": "simulation report", "list": "program listing", "listcode": "compiled code listing",
    "trace": "execution trace", "maxindexprint": "printing", "maxsubvalueprint": "printing",
    "reobsinfo": "random-effect details", "alg": "sampling algorithm", "propdist": "sampling algorithm",
    "discrete": "discrete sampler", "nologdist": "log-density output", "postpred": "posterior predictive",
}
"""PROC MCMC options that say how SAS samples or reports; recorded, with no effect on the model."""
_REFUSED_OPTIONS = {"jointmodel": "JOINTMODEL changes how the likelihood is formed",
                    "missing": "MISSING= changes how missing values are handled",
                    "preddist": "posterior predictive output is not translated"}
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


class RefusedError(SpecError):
    """A construct the translator does not support; the message names the file, line and statement."""


# ---- the program -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    """One statement of the step, for the SAS ↔ PyMC table.

    Attributes
    ----------
    line : int
        The line it is written on.
    kind : str
        ``proc``, ``parms``, ``prior``, ``random``, ``assign``, ``if``, ``else``, ``do``, ``end``, ``model``,
        ``run`` or ``global``.
    sas : str
        The statement on one line, with its semicolon.
    tree : lark.Tree or None
        Its parse tree (``None`` for global statements).
    depth : int
        Nesting depth in IF/DO blocks.
    """

    line: int
    kind: str
    sas: str
    tree: Any = None
    depth: int = 0


@dataclass(frozen=True)
class ParmsBlock:
    """One PARMS statement: a sampling block in PROC MCMC."""

    names: tuple[str, ...]
    initial: tuple[float | None, ...]
    options: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class PriorStatement:
    """One PRIOR statement: the parameters it covers (wildcards expanded) and their prior."""

    targets: tuple[str, ...]
    names: tuple[str, ...]
    prior: Prior
    line: int


@dataclass(frozen=True)
class Spread:
    """A normal distribution's mean and spread as expression trees, with the spread's keyword."""

    mean: Any
    key: str  # "var", "sd" or "prec"
    value: Any


@dataclass(frozen=True)
class RandomStatement:
    """``RANDOM name ~ normal(mean, var=|sd=|prec=) SUBJECT=column``."""

    name: str
    dist: Spread
    subject: str
    options: dict[str, Any]
    line: int


@dataclass(frozen=True)
class ModelStatement:
    """``MODEL column ~ normal(mu, var=|sd=|prec=)``."""

    outcome: str
    dist: Spread
    line: int


@dataclass(frozen=True)
class ModelMark:
    """Where the MODEL statement stands among the programming statements.

    Its arguments are read after all of them; a variable it uses may not be assigned both before and after it.
    """

    line: int


@dataclass(frozen=True)
class Assign:
    """``target = expression;``."""

    target: str
    expr: Any
    line: int


@dataclass(frozen=True)
class If:
    """``IF condition THEN …; [ELSE …;]`` with each branch a sequence of statements."""

    cond: Any
    then: tuple
    orelse: tuple
    line: int
    else_line: int = 0


@dataclass(frozen=True)
class Step:
    """One PROC MCMC step found in a file.

    Attributes
    ----------
    index : int
        1-based, in the order SAS would run them.
    statements : tuple of Statement
        From ``PROC MCMC`` to ``RUN;`` (inclusive).
    """

    index: int
    statements: tuple[Statement, ...]

    @property
    def line(self) -> int:
        """The line of the PROC MCMC statement."""
        return self.statements[0].line

    @property
    def call(self) -> str:
        """The macro call that produced the step ("" in open code)."""
        return self.statements[0].call

    def describe(self) -> str:
        """One line: where the step is, what data it reads and which parameters it declares."""
        head = self.statements[0].display
        data = re.search(r"\bdata\s*=\s*([\w.]+)", head, re.IGNORECASE)
        parms = []
        for st in self.statements[1:]:
            if st.first_word in ("parms", "parm"):
                parms += [w for w in re.findall(r"[A-Za-z_]\w*", st.text.split("/")[0])[1:]]
        where = f"line {self.line}" + (f", in {self.call}" if self.call else "")
        return (f"step {self.index} ({where}): data={data.group(1) if data else '(last data set)'}"
                + (f", parameters {' '.join(parms)}" if parms else ""))


@dataclass(frozen=True)
class Program:
    """One PROC MCMC step, read and checked.

    Attributes
    ----------
    path : str
        The file.
    step, n_steps : int
        Which step of how many in the file.
    call : str
        The macro call that produced the step ("" in open code).
    options : dict
        The PROC MCMC options as written (lower-case names → numbers, names, lists or ``True``).
    blocks : tuple of ParmsBlock
    priors : dict of str to Prior
        Every parameter's prior, by name as declared in PARMS.
    prior_statements : tuple of PriorStatement
    randoms : tuple of RandomStatement
    model : ModelStatement
    body : tuple
        The programming statements (:class:`Assign`, :class:`If`) in order, with a :class:`ModelMark` where the
        MODEL statement stands.
    rows : tuple of Row
        Every statement of the step, for the translation table.
    derived : tuple of str
        Program variables listed in ``MONITOR=``: reported as derived quantities.
    notes : tuple of str
        What was recorded but has no effect (macro notes, ignored statements).
    """

    path: str
    step: int
    n_steps: int
    call: str
    line: int
    options: dict[str, Any]
    blocks: tuple[ParmsBlock, ...]
    priors: dict[str, Prior]
    prior_statements: tuple[PriorStatement, ...]
    randoms: tuple[RandomStatement, ...]
    model: ModelStatement
    body: tuple
    rows: tuple[Row, ...]
    derived: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    assigned: tuple[str, ...] = field(default=())

    @property
    def parameters(self) -> tuple[str, ...]:
        """Parameter names in PARMS order."""
        return tuple(n for b in self.blocks for n in b.names)

    @property
    def random_names(self) -> tuple[str, ...]:
        """Random-effect names in RANDOM order."""
        return tuple(r.name for r in self.randoms)

    @property
    def title(self) -> str:
        """``file, step K of N`` (with the macro call)."""
        return (f"{Path(self.path).name}, step {self.step} of {self.n_steps} (line {self.line}"
                + (f", {self.call}" if self.call else "") + ")")

    def sas_settings(self) -> dict[str, Any]:
        """What SAS was asked to do (for the run record): the sampler options and the PARMS blocks."""
        keep = ("data", "outpost", "nmc", "nbi", "thin", "seed", "ntu", "monitor", "statistics", "stats",
                "diagnostics", "propcov", "alg", "propdist")
        return {
            "program": str(self.path), "step": self.step, "steps_in_file": self.n_steps, "line": self.line,
            "macro_call": self.call,
            "options": {k: v for k, v in self.options.items() if k in keep},
            "other_options": sorted(k for k in self.options if k not in keep),
            "parms_blocks": [{"names": list(b.names), "initial": list(b.initial), "options": list(b.options),
                              "line": b.line} for b in self.blocks],
            "random": [{"name": r.name, "subject": r.subject, "options": r.options, "line": r.line}
                       for r in self.randoms],
        }

    def canonical(self, name: str) -> str | None:
        """A parameter, random-effect or assigned-variable name as declared, for any spelling (SAS ignores case)."""
        low = name.lower()
        for n in self.parameters + self.random_names + self.assigned:
            if n.lower() == low:
                return n
        return None


# ---- finding the steps -----------------------------------------------------------------------------
def _expanded(source: SourceText) -> MacroResult:
    return expand_macros(strip_comments(source))


def find_steps(source: SourceText) -> tuple[list[Step], MacroResult]:
    """Every PROC MCMC step of a program, in run order (after macro expansion).

    A step runs from ``PROC MCMC`` to ``RUN;``/``QUIT;``, or to the next ``PROC``/``DATA`` statement.

    Raises
    ------
    SpecError
        For malformed macro code (naming the line).
    """
    expanded = _expanded(source)
    steps: list[Step] = []
    current: list[Statement] | None = None
    for st in split_statements(expanded.source):
        words = st.text.split(None, 2)
        first = st.first_word
        starts_proc_mcmc = first == "proc" and len(words) > 1 and words[1].lower().startswith("mcmc") and \
            re.match(r"mcmc\b", words[1], re.IGNORECASE) is not None
        if current is not None and (first in ("proc", "data") or starts_proc_mcmc):
            steps.append(Step(len(steps) + 1, tuple(current)))
            current = None
        if starts_proc_mcmc:
            current = [st]
            continue
        if current is not None:
            current.append(st)
            if first in ("run", "quit") and st.text.lower().strip() in ("run", "quit", "run cancel"):
                steps.append(Step(len(steps) + 1, tuple(current)))
                current = None
    if current is not None:
        steps.append(Step(len(steps) + 1, tuple(current)))
    return steps, expanded


def choose_step(steps: list[Step], path: str, step: int | None) -> Step:
    """The step to translate: the only one, or number ``step``.

    Raises
    ------
    SpecError
        When the file has no PROC MCMC step, when it has several and ``step`` is not given (the message
        lists them), or when ``step`` is out of range.
    """
    if not steps:
        raise SpecError(f"{path} has no PROC MCMC step")
    listing = "\n".join("  " + s.describe() for s in steps)
    if step is None:
        if len(steps) == 1:
            return steps[0]
        raise SpecError(f"{path} has {len(steps)} PROC MCMC steps; choose one with --step K:\n{listing}")
    if not 1 <= int(step) <= len(steps):
        raise SpecError(f"--step {step}: {path} has {len(steps)} PROC MCMC step(s):\n{listing}")
    return steps[int(step) - 1]


# ---- reading one step ----------------------------------------------------------------------------
class _Reader:
    def __init__(self, path: str, step: Step, n_steps: int, macro: MacroResult):
        self.path = path
        self.step = step
        self.n_steps = n_steps
        self.macro = macro
        self.rows: list[Row] = []
        self.notes: list[str] = []

    def refuse(self, st: Statement | Row | int, what: str) -> RefusedError:
        if isinstance(st, Statement):
            line, text = st.line, st.display
        elif isinstance(st, Row):
            line, text = st.line, st.sas
        else:
            line, text = st, ""
        shown = text if len(text) <= 100 else text[:97] + "…"
        return RefusedError(f"{self.path}, line {line}: {what}" + (f": {shown}" if shown else ""))

    def parse(self, st: Statement) -> Any:
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
        assigned = _assigned(body)
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
                line = _first_assignment_line(body, a)
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

    # ---- PROC MCMC options -----------------------------------------------------------------------
    def proc_options(self, st: Statement, tree: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for opt in tree.children:
            name = str(opt.children[0]).lower()
            if name in _REFUSED_OPTIONS:
                raise self.refuse(st, f"the PROC MCMC option {name.upper()} is not supported ({_REFUSED_OPTIONS[name]})")
            if name not in PROC_OPTIONS:
                raise self.refuse(st, f"the PROC MCMC option {name.upper()} is not known to the translator")
            args = [c for c in opt.children[1:] if getattr(c, "data", None) == "option_args"]
            values = [c for c in opt.children[1:] if getattr(c, "data", None) != "option_args"]
            value: Any = _option_value(values[0]) if values else True
            if args:
                value = {"options": _option_items(args[0].children), "value": value}
            out[name] = value
        return out

    # ---- PARMS -----------------------------------------------------------------------------------
    def parms(self, st: Statement, tree: Any) -> ParmsBlock:
        names: list[str] = []
        initial: list[float | None] = []
        options: list[str] = []
        for item in tree.children:
            if item.data == "parm_option":
                options.append(" ".join(str(t) for t in item.children))
                continue
            group = [str(t) for t in item.children[0].children]
            init = None
            for c in item.children[1:]:
                init = float(c.children[0]) * (-1 if c.data == "negative_initial" else 1)
            for n in group:
                if "[" in n:
                    raise self.refuse(st, f"array element {n} in PARMS (arrays are not supported)")
                names.append(n)
                initial.append(init)
        return ParmsBlock(tuple(names), tuple(initial), tuple(options), st.line)

    # ---- PRIOR -----------------------------------------------------------------------------------
    def priors(self, prior_sts: list[tuple[Statement, Any]], params: list[str]) -> tuple[dict[str, Prior], tuple]:
        from partclust.translate.distributions import _distribution, _Symbolic

        by_lower = {p.lower(): p for p in params}
        given: dict[str, tuple[Prior, int]] = {}
        statements = []
        for st, tree in prior_sts:
            targets = tree.children[:-1]
            dist = _normalise_distribution(tree.children[-1])
            names: list[str] = []
            written: list[str] = []
            for t in targets:
                if getattr(t, "data", None) == "prefix":
                    pre = str(t.children[0])[:-1].lower()
                    written.append(pre + ":")
                    hit = [p for p in params if p.lower().startswith(pre)]
                    if not hit:
                        raise self.refuse(st, f"the wildcard {pre}: matches no parameter declared in PARMS")
                    names += hit
                else:
                    n = str(t)
                    written.append(n)
                    if n.lower() not in by_lower:
                        raise self.refuse(st, f"PRIOR names {n}, which no PARMS statement declares")
                    names.append(by_lower[n.lower()])
            family = str(dist.children[0]).lower()
            try:
                prior = _distribution(dist, names[0] if len(names) == 1 else None)
            except _Symbolic as exc:
                raise self.refuse(st, f"the prior's arguments use {exc}; priors whose arguments are parameters "
                                  "(hierarchical priors) are not supported") from None
            except SpecError as exc:
                raise self.refuse(st, f"{family}(): {_strip_prefix(str(exc))}") from None
            if isinstance(prior, Reciprocal) and len(names) > 1:
                raise self.refuse(st, "general(-log(v), lower=0) covers one parameter per PRIOR statement")
            for n in names:
                if n in given:
                    raise self.refuse(st, f"{n} already has a prior (line {given[n][1]})")
                given[n] = (prior, st.line)
            statements.append(PriorStatement(tuple(written), tuple(names), prior, st.line))
        missing = [p for p in params if p not in given]
        if missing:
            blk_line = prior_sts[0][0].line if prior_sts else self.step.line
            raise self.refuse(blk_line, f"parameter{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                              "ha" + ("ve" if len(missing) > 1 else "s") + " no PRIOR statement")
        return {p: given[p][0] for p in params}, tuple(statements)

    # ---- RANDOM and MODEL ------------------------------------------------------------------------
    def spread(self, st: Statement, dist: Any, what: str) -> Spread:
        dist = _normalise_distribution(dist)
        family = str(dist.children[0]).lower()
        if family != "normal":
            raise self.refuse(st, f"the distribution {family}() in {what} is not supported (supported: normal)")
        pos, kw = [], {}
        for arg in dist.children[1:]:
            if arg is None:
                continue
            if arg.data == "keyword_argument":
                key = str(arg.children[0]).lower()
                if key in kw:
                    raise self.refuse(st, f"normal(): {key}= given twice")
                kw[key] = arg.children[1]
            else:
                if kw:
                    raise self.refuse(st, "normal(): a positional argument after a keyword argument")
                pos.append(arg.children[0])
        unknown = sorted(set(kw) - {"mean", "mu", "var", "sd", "prec"})
        if unknown:
            raise self.refuse(st, f"normal() has no option {unknown[0]}=; it takes mean=, var=, sd= or prec=")
        means = pos[:1] + [kw[k] for k in ("mean", "mu") if k in kw]
        spreads = [k for k in ("var", "sd", "prec") if k in kw]
        if len(pos) > 1:
            raise self.refuse(st, "normal(mean, var=|sd=|prec=): the spread must be named (var=, sd= or prec=)")
        if len(means) != 1:
            raise self.refuse(st, "normal() needs exactly one mean")
        if len(spreads) != 1:
            raise self.refuse(st, "normal() needs exactly one of var=, sd= and prec=")
        return Spread(means[0], spreads[0], kw[spreads[0]])

    def random(self, st: Statement, tree: Any, params: list[str]) -> RandomStatement:
        name = str(tree.children[0])
        if "[" in name:
            raise self.refuse(st, f"array random effect {name} (arrays and mvn are not supported)")
        dist = self.spread(st, tree.children[1], "RANDOM")
        options: dict[str, Any] = {}
        for opt in tree.children[2:]:
            key = str(opt.children[0]).lower()
            value = _option_value(opt.children[1]) if len(opt.children) > 1 else True
            options[key] = value
        subject = options.pop("subject", None)
        if not isinstance(subject, str) or not subject:
            raise self.refuse(st, "RANDOM needs SUBJECT=column")
        if subject.lower() == "_obs_":
            raise self.refuse(st, "SUBJECT=_OBS_ (one effect per observation) is not supported")
        allowed = {"monitor", "initial", "init", "nooutpost", "namelen"}
        bad = sorted(set(options) - allowed)
        if bad:
            raise self.refuse(st, f"the RANDOM option {bad[0].upper()} is not supported (supported: SUBJECT=, "
                              "MONITOR=, INITIAL=, NOOUTPOST, NAMELEN=)")
        return RandomStatement(name, dist, subject, options, st.line)

    def model_statement(self, st: Statement, tree: Any) -> ModelStatement:
        outcome = str(tree.children[0])
        dist = self.spread(st, tree.children[1], "MODEL")
        if len(tree.children) > 2:
            raise self.refuse(st, f"the MODEL option {str(tree.children[2].children[0]).upper()} is not supported")
        return ModelStatement(outcome, dist, st.line)

    # ---- programming statements ----------------------------------------------------------------
    def programming(self, st: Statement, tree: Any, stack: list) -> None:
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
        target = str(tree.children[0])
        if "[" in target:
            raise self.refuse(st, f"array element {target} (arrays are not supported)")
        for node in tree.children[1].iter_subtrees() if hasattr(tree.children[1], "iter_subtrees") else []:
            if node.data == "variable" and "[" in str(node.children[0]):
                raise self.refuse(st, f"array element {node.children[0]} (arrays are not supported)")
        return Assign(target, tree.children[1], st.line)

    def check_calls(self, body: tuple, model: ModelStatement, randoms: tuple[RandomStatement, ...]) -> None:
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
            for name in _assigned((node,)):
                if seen_mark:
                    after.setdefault(name.lower(), _first_assignment_line((node,), name))
                else:
                    before.add(name.lower())
        for name in sorted(used & before & set(after)):
            raise self.refuse(after[name], f"{name} is assigned both before and after the MODEL statement (line "
                              f"{model.line}) that uses it; assign it in one place")

    # ---- MONITOR= ------------------------------------------------------------------------------------
    def derived(self, options: dict, params: list[str], rnames: list[str], assigned: list[str],
                st: Statement) -> tuple[str, ...]:
        mon = options.get("monitor")
        if mon is None or mon is True:
            return ()
        items = mon if isinstance(mon, list) else [mon]
        out = []
        lowered_params = {p.lower() for p in params}
        assigned_by_lower = {a.lower(): a for a in assigned}
        for item in items:
            name = str(item)
            low = name.lower()
            if low in ("_parms_", "_all_") or low in lowered_params or low in rnames:
                continue
            if low in assigned_by_lower:
                out.append(assigned_by_lower[low])
                continue
            raise self.refuse(st, f"MONITOR= lists {name}, which is neither a parameter, a random effect nor a "
                              "variable the program assigns")
        return tuple(out)


def _assigned(body: tuple) -> list[str]:
    seen: dict[str, str] = {}

    def walk(nodes: tuple) -> None:
        for n in nodes:
            if isinstance(n, Assign):
                seen.setdefault(n.target.lower(), n.target)
            elif isinstance(n, If):
                walk(n.then)
                walk(n.orelse)

    walk(body)
    return list(seen.values())


def _first_assignment_line(body: tuple, name: str) -> int:
    def walk(nodes: tuple) -> int:
        for n in nodes:
            if isinstance(n, Assign) and n.target.lower() == name.lower():
                return n.line
            if isinstance(n, If):
                k = walk(n.then) or walk(n.orelse)
                if k:
                    return k
        return 0

    return walk(body)


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


def _option_value(tree: Any) -> Any:
    kind = getattr(tree, "data", None)
    if kind == "option_number":
        return _number(str(tree.children[0]))
    if kind == "option_negative":
        return -_number(str(tree.children[0]))
    if kind == "option_name":
        return ".".join(str(t) for t in tree.children)
    if kind == "option_string":
        return str(tree.children[0])[1:-1]
    if kind == "option_list":
        return _option_items(tree.children)
    return str(tree)


def _option_items(items: list) -> list:
    out: list = []
    for it in items:
        kids = it.children
        if len(kids) == 1:
            tok = kids[0]
            out.append(_number(str(tok)) if getattr(tok, "type", "") == "NUMBER" else str(tok))
        else:
            out.append({str(kids[0]): _option_value(kids[1])})
    return out


def _number(text: str) -> float | int:
    x = float(text)
    return int(x) if x == int(x) and "." not in text and "e" not in text.lower() else x


def _normalise_distribution(dist: Any) -> Any:
    """SAS's aliases (``n``/``norm``/``gaussian``; ``m= v= sp= s= is=``) as the canonical names."""
    import lark

    name = str(dist.children[0])
    low = name.lower()
    new_name = lark.Token("NAME", "normal") if low in NORMAL_NAMES else dist.children[0]
    args = []
    for arg in dist.children[1:]:
        if arg is not None and arg.data == "keyword_argument":
            key = str(arg.children[0]).lower()
            if key in _KEYWORD_ALIASES:
                arg = lark.Tree("keyword_argument", [lark.Token("NAME", _KEYWORD_ALIASES[key]), arg.children[1]])
        args.append(arg)
    return lark.Tree(dist.data, [new_name] + args)


def _strip_prefix(msg: str) -> str:
    return re.sub(r"^\w+\(\): ", "", msg)


def _explain(text: str, exc: Any) -> str:
    """A reason for a statement the grammar does not read."""
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


def read_program(path: str | Path, step: int | None = None) -> Program:
    """Read and check PROC MCMC step ``step`` of a SAS program file.

    Parameters
    ----------
    path : path
        The ``.sas`` file (macros, comments and other steps allowed).
    step : int, optional
        Which PROC MCMC step (1-based); needed when the file has several.

    Returns
    -------
    Program

    Raises
    ------
    RefusedError
        For a construct outside the supported subset, naming the line and statement.
    SpecError
        When the file cannot be read, has no PROC MCMC step, or has several and ``step`` is not given.
    """
    return parse_source(read_source(path), step)


def parse_program_text(text: str, step: int | None = None, path: str = "<program>") -> Program:
    """:func:`read_program` for program text (tests, notebooks)."""
    return parse_source(SourceText.from_text(text, path), step)


def parse_source(source: SourceText, step: int | None = None) -> Program:
    """:func:`read_program` for a :class:`SourceText`."""
    steps, macro = find_steps(source)
    chosen = choose_step(steps, source.path, step)
    return _Reader(source.path, chosen, len(steps), macro).read()
