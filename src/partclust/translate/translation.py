"""A PROC MCMC program and its data, translated: the program, the PyMC model, the family, the table.

:func:`translate_file` is what the command line and the notebooks call: read step ``K`` of a ``.sas``
file, read the data, bind them, recognise the model family, and build the PyMC model on demand in any
parameterization.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from partclust.translate.program_data import ProgramData, read_program_data
from partclust.translate.family import Family, recognise
from partclust.translate.model import (BoundProgram, Reported, TranslatedModel, bind, build_translated_model,
                                      reported)
from partclust.translate.program import Program, read_program
from partclust.translate.table import format_table, translation_table

__all__ = ["Translation", "translate_file", "program_sha256"]


def program_sha256(path: str | Path) -> str:
    """SHA-256 of a program file (a changed program is another model)."""
    from partclust.data import sha256_of

    return sha256_of(path)


@dataclass(frozen=True, eq=False)
class Translation:
    """A program read against its data.

    Attributes
    ----------
    program : Program
    data : ProgramData
    bound : BoundProgram
    family : Family
        The model family's specification, or why the program is not in it.
    program_sha256 : str
        Of the program file ("" for text).

    A translation reads like the project's other model data where fits and run records need it:
    ``source``, ``sha256`` (of the data), ``n``, ``groups``, ``scalar_names``, ``describe()``,
    ``prior_table()``.
    """

    program: Program
    data: ProgramData
    bound: BoundProgram
    family: Family
    program_sha256: str = ""

    @property
    def source(self) -> str:
        """The data file."""
        return self.data.source

    @property
    def sha256(self) -> str:
        """SHA-256 of the data file."""
        return self.data.sha256

    @property
    def content_sha256(self) -> str:
        """The identity a study and its run records use for the data: the file's SHA-256.

        A program's data are identified by their bytes (the columns a program reads are its own, so
        no canonical table is defined for them).
        """
        return self.data.sha256

    @property
    def encoding(self) -> str:
        """The data file's text encoding, as run records store it ("": read by the program's reader)."""
        return getattr(self.data, "encoding", "")

    @property
    def n(self) -> int:
        """Number of observations."""
        return self.data.n

    @property
    def groups(self) -> tuple[str, ...]:
        """Subject values the data touch, of every RANDOM statement in turn."""
        return tuple(lab for e in self.bound.effects.values() for lab in e.labels)

    @property
    def scalar_names(self) -> tuple[str, ...]:
        """The parameters (PARMS order) and the MONITOR= derived quantities: the scalar variables of a fit."""
        return tuple(self.program.parameters) + tuple(self.program.derived)

    @property
    def summary_items(self) -> list[Reported]:
        """What a summary reports, for any parameterization (:meth:`reported`)."""
        return self.reported_names()

    @property
    def has_random(self) -> bool:
        """Whether the program has a RANDOM statement."""
        return bool(self.program.randoms)

    @property
    def effect_variance(self) -> str | None:
        """The family's σ²_u as the program names it (``None`` outside the family or without random effect)."""
        return self.family.names.get("s2u") if self.family.member else None

    def describe(self) -> str:
        """Describe the program and the data as the model reads them."""
        lines = [self.program.title, f"data: {self.data.source} ({self.data.n} rows)", f"sha256: {self.sha256}",
                 "parameters: " + ", ".join(self.program.parameters)]
        if self.program.derived:
            lines.append("derived (MONITOR=): " + ", ".join(self.program.derived))
        for name, e in self.bound.effects.items():
            lines.append(f"RANDOM {name}: {len(e.sas_labels)} values of {e.subject}, {len(e.labels)} touched by the data")
            lines += list(e.notes)
        lines.append(f"model family: {self.family.description}" if self.family.member else
                     f"model family: not a member ({self.family.reason})")
        return "\n".join(lines)

    def prior_table(self, parameterization: str = "noncentered") -> pd.DataFrame:
        """Return the SAS ↔ PyMC table (where a built-in model shows its priors)."""
        return self.table(parameterization)

    def pymc_model(self, parameterization: str = "noncentered") -> Any:
        """Return the PyMC model (a ``pymc.Model``)."""
        return self.model(parameterization).model

    def spec_record(self) -> dict[str, Any]:
        """Identify the model a run fitted: the program (checksum, step) and its family specification."""
        return {"name": self.name, "formula": self.family.spec.text() if self.family.member else "",
                "sas_program": Path(self.program.path).name, "program_sha256": self.program_sha256,
                "step": self.program.step,
                "priors": {p: self.program.priors[p].sas(p) for p in self.program.parameters},
                "family": self.family.spec.record() if self.family.member else None}

    @property
    def name(self) -> str:
        """A name for results folders: the file's stem, with the step when the file has several."""
        stem = Path(self.program.path).stem or "program"
        return f"{stem}-step{self.program.step}" if self.program.n_steps > 1 else stem

    @functools.cache
    def model(self, parameterization: str = "noncentered") -> TranslatedModel:
        """Build the PyMC model (once per parameterization)."""
        return build_translated_model(self.bound, parameterization)

    def reported(self, parameterization: str = "noncentered") -> list[Reported]:
        """List what a summary reports, in order, with where the draws are in a posterior of ``parameterization``."""
        return reported(self.bound, parameterization)

    def reported_names(self) -> list[Reported]:
        """:meth:`reported` for a posterior whose effects are over the touched values only (as OUTPOST is read)."""
        return reported(self.bound, "centered")

    def table(self, parameterization: str = "noncentered") -> pd.DataFrame:
        """Return the SAS ↔ PyMC table (:func:`~partclust.translate.table.translation_table`)."""
        return translation_table(self.program, self.bound, parameterization)

    def text(self, parameterization: str = "noncentered") -> str:
        """Write the table and the recognised family as the command line prints them."""
        head = f"{self.program.title}; data {self.data.source} ({self.data.n} rows)"
        fam = (f"model family: {self.family.description}" if self.family.member else
               f"model family: not a member ({self.family.reason}); exact and REML do not apply")
        notes = [f"note: {n}" for n in self.program.notes]
        return "\n".join([head, "", format_table(self.table(parameterization)), "", fam] + notes)

    def listing(self) -> str:
        """List the step as read: each statement on its line, indented by its IF/DO depth (macros expanded)."""
        return "\n".join(f"{r.line:>5}  {'  ' * r.depth}{r.sas}" for r in self.program.rows)

    def record(self) -> dict[str, Any]:
        """Record what a run record stores about the program (path, checksum, step, SAS's settings, the family)."""
        return {**self.program.sas_settings(), "sha256": self.program_sha256,
                "family": self.family.description if self.family.member else "",
                "not_in_family": "" if self.family.member else self.family.reason,
                "names": dict(self.family.names)}


def translate_file(path: str | Path, data: str | Path | ProgramData, step: int | None = None) -> Translation:
    """Read step ``step`` of the SAS program at ``path`` and bind it to ``data`` (a CSV path or a table).

    Raises
    ------
    RefusedError
        For a construct outside the supported subset (naming the line and statement), before any sampling.
    SpecError
        For a file that cannot be read, has no PROC MCMC step, or several and no ``step``.
    DataError
        When the data lack a column the program needs.
    """
    program = read_program(path, step)
    table = data if isinstance(data, ProgramData) else read_program_data(str(data))
    bound = bind(program, table)
    return Translation(program, table, bound, recognise(bound), program_sha256(path))


def translation_of(program: Program, data: ProgramData) -> Translation:
    """:func:`translate_file` for a program already read (e.g. from text)."""
    bound = bind(program, data)
    return Translation(program, data, bound, recognise(bound), "")
