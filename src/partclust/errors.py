"""One family of exceptions: every error the package raises on purpose is a :class:`PartclustError`.

Each message names the file, column, rows or setting at fault and says what to do; the command line
prints it as one line and exits with the class's :attr:`PartclustError.exit_code` (2 for bad input or
options, 1 for a computation that failed), so callers can catch the whole family with one clause.
"""

from __future__ import annotations

from pathlib import Path

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1

__all__ = [
    "EXIT_BAD_INPUT", "EXIT_FAILED", "PartclustError", "DataError", "SpecError", "FitError",
    "SasOutputError", "ComparisonError", "StudyError", "NotebookError", "ReportError",
]


class PartclustError(Exception):
    """Base class of the package's errors; ``exit_code`` is what the command line exits with."""

    exit_code: int = EXIT_BAD_INPUT


class DataError(PartclustError, ValueError):
    """The dataset cannot be used; the message says where (file, column, lines) and how to fix it."""


class SpecError(PartclustError, ValueError):
    """A model specification, prior or option is invalid; the message names it and the choices."""


class FitError(PartclustError, RuntimeError):
    """A fit could not be run or recorded; the message says which setting or file is at fault."""


class SasOutputError(PartclustError, ValueError):
    """SAS output cannot be used; the message names the file and column and says what to do."""


class ComparisonError(PartclustError, ValueError):
    """Inputs that cannot be compared (mismatched data, no usable runs); the message says why."""


class StudyError(PartclustError, RuntimeError):
    """A study cannot start (bad settings, unreachable scheduler); the message says what to fix."""


class ReportError(PartclustError, RuntimeError):
    """A report could not be written; the message names the file at fault and what to do."""

    exit_code = EXIT_FAILED


class NotebookError(PartclustError, RuntimeError):
    """A notebook failed; the message names the executed copy to open and the error inside.

    Parameters
    ----------
    message : str
        The one-line explanation shown to the user.
    notebook : str, optional
        The notebook that was executed (its name in ``notebooks/`` or a path).
    executed : pathlib.Path, optional
        The partly or fully executed copy, with the traceback inside.
    cell : int, optional
        Execution count of the failing cell.
    ename, evalue : str, optional
        Exception name and value raised inside the notebook (``"DeadKernelError"`` when the kernel
        died, ``"CellTimeoutError"`` when a cell ran out of time).
    """

    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, notebook: str = "", executed: Path | None = None,
                 cell: int | None = None, ename: str = "", evalue: str = ""):
        super().__init__(message)
        self.notebook = notebook
        self.executed = executed
        self.cell = cell
        self.ename = ename
        self.evalue = evalue
