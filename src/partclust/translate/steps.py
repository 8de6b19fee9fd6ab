"""The PROC MCMC steps of a SAS program, in the order SAS would run them (after macro expansion).

The file is read as SAS reads it: ``/* */`` comments removed, the macro language executed
(:mod:`partclust.translate.macros`), then split into statements; every ``PROC MCMC … RUN;`` is a step. A
file with several steps needs a step number; without one, the steps are listed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from partclust.errors import SpecError
from partclust.translate.macros import MacroResult, expand_macros
from partclust.translate.source import SourceText, Statement, split_statements, strip_comments

__all__ = ["Step", "find_steps", "choose_step"]


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
    """Choose the step to translate: the only one, or number ``step``.

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
