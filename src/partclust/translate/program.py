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

This module holds what a step is read into and the entry points; :mod:`~partclust.translate.steps` finds the
steps of a file, :mod:`~partclust.translate.declarations` and :mod:`~partclust.translate.reader` read one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from partclust.errors import SpecError
from partclust.models.priors import Prior
from partclust.translate.source import SourceText, read_source

__all__ = ["RefusedError", "Program", "ParmsBlock", "PriorStatement", "Spread", "RandomStatement", "ModelStatement",
           "ModelMark", "Assign", "If", "Row", "read_program", "parse_program_text", "parse_source", "assigned_names",
           "first_assignment_line", "FUNCTIONS", "NORMAL_NAMES"]

FUNCTIONS: tuple[str, ...] = ("log", "exp", "sqrt")
"""Functions allowed in programming statements."""
NORMAL_NAMES: tuple[str, ...] = ("normal", "n", "norm", "gaussian")
"""PROC MCMC's names of the normal distribution."""


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
        """Record what SAS was asked to do (for the run record): the sampler options and the PARMS blocks."""
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
        """Spell a parameter, random-effect or assigned-variable name as declared, for any spelling (SAS ignores case)."""
        low = name.lower()
        for n in self.parameters + self.random_names + self.assigned:
            if n.lower() == low:
                return n
        return None


# ---- the programming statements' variables --------------------------------------------------------
def assigned_names(body: tuple) -> list[str]:
    """List the variables the programming statements assign, in order of first assignment."""
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


def first_assignment_line(body: tuple, name: str) -> int:
    """Return the line of the first assignment to ``name`` (0 if none)."""
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


# ---- reading a program ----------------------------------------------------------------------------
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
    from partclust.translate.reader import StepReader
    from partclust.translate.steps import choose_step, find_steps

    steps, macro = find_steps(source)
    chosen = choose_step(steps, source.path, step)
    return StepReader(source.path, chosen, len(steps), macro).read()
