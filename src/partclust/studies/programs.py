"""A PROC MCMC program's model for the question studies (notebooks 08, 09 and 10), and its other residual structure.

:func:`program_models` translates step ``K`` of a ``.sas`` file against its data and, when the program is a
member of the model family (:func:`partclust.translate.family.recognise`), returns its specification and data
(its priors included) with the program's parameter names, plus the *other* residual structure the studies
compare it with:

- a program with one residual variance per level of a column (e.g. ``if treat = 1 then s2 = s2e_treated; else
  s2 = s2e_control;``) is compared with one residual variance for all rows, named ``s2e`` (or ``s2e_`` … when the
  program uses that name), with the prior the program gives its residual variances (the first one's when
  they differ; :attr:`ProgramModels.note` says so);
- a program with one residual variance is compared with one per level of the column its random effect
  multiplies when that column takes exactly two values (the arm indicator of a partially nested trial:
  clustered against unclustered), named ``<name>[<level>]``, each with the program's residual prior;
- otherwise (a random intercept, a slope on a covariate with many values, no random effect) there is no
  column the translator can point to as the obvious grouping: the program's model is studied alone and
  :attr:`ProgramModels.note` says why.

Keys are the built-in residual structures' names (:data:`~partclust.config.RESIDUALS`): ``single`` for one
residual variance, ``per_condition`` for one per level, whichever of them is the program's own
(:attr:`ProgramModels.own`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from partclust.config import RESIDUALS
from partclust.errors import SpecError

__all__ = ["Naming", "ProgramModels", "program_models", "program_models_of", "program_questions"]


@dataclass(frozen=True)
class Naming:
    """Specification names → the names a table shows (the program's; identity for run1's built-in models).

    Attributes
    ----------
    names : dict of str to str
        ``s2u`` → the program's effect variance, ``u`` → its effect (:attr:`Family.names`).
    """

    names: dict[str, str] = field(default_factory=dict)

    def name(self, param: str) -> str:
        """Name one parameter (``s2u``, ``u[3]``, ``b0``) as shown (:meth:`Family.program_name`'s rule)."""
        from partclust.translate.family import Family

        return Family(names=self.names).program_name(param)

    def rename(self, table: pd.DataFrame, column: str = "param", effect: str | None = None) -> pd.DataFrame:
        """Return a copy of ``table`` with ``column`` renamed; ``effect`` also renames the tables' ``b1``.

        The sensitivity tables call the treatment effect ``b1`` whatever the model names it; ``effect`` is
        that name (:func:`~partclust.studies.sensitivity.effect_param`).
        """
        out = table.copy()
        extra = {"b1": effect} if effect else {}
        out[column] = [extra.get(str(p)) or self.name(str(p)) for p in out[column]]
        return out


@dataclass(frozen=True, eq=False)
class ProgramModels:
    """The program's model and, when there is one, its other residual structure, read through the family.

    Attributes
    ----------
    translation : Translation
        The translated program (title, family, checksum).
    data : dict of str to ModelData
        ``single`` and/or ``per_condition`` (in that order) → the data read through that model; the
        program's own is always present, the other only when the program suggests one (module docstring).
    own : str
        Which key is the program's own model.
    note : str
        How the other structure was built, or why there is none (one sentence, for the notebooks' prose).
    """

    translation: Any
    data: dict[str, Any]
    own: str
    note: str

    @property
    def naming(self) -> Naming:
        """The program's names for the specification's ``s2u`` and ``u``."""
        return Naming(dict(self.translation.family.names))

    @property
    def residuals(self) -> list[str]:
        """The residual structures there are, ``single`` before ``per_condition``."""
        return list(self.data)

    @property
    def alternative(self) -> str | None:
        """The key of the other residual structure, or None when the program is studied alone."""
        other = [m for m in self.data if m != self.own]
        return other[0] if other else None

    @property
    def effect_variance(self) -> str:
        """The program's name for σ²_u (``s2u`` without a RANDOM statement, which the family then lacks)."""
        return self.naming.name("s2u")

    def describe(self) -> str:
        """Say in Markdown which model is the program's and what it is compared with (the notebooks' prose)."""
        t = self.translation
        own = self.data[self.own]
        text = (f"**{t.program.title}** ({t.program.path}), as the model family reads it: `{own.spec.text()}`, "
                f"residual variance {' / '.join(f'`{n}`' for n in own.residual_names)}, σ²_u = "
                f"`{self.effect_variance}`; its priors are the program's. It is the `{self.own}` model below.")
        return text + " " + self.note


def _variance_prior(md: Any, names: tuple[str, ...]) -> tuple[Any, str]:
    priors = [md.priors[n] for n in names]
    if all(p == priors[0] for p in priors):
        return priors[0], ""
    return priors[0], (f" The program's residual variances have different priors; the single variance takes "
                       f"`{names[0]}`'s, {priors[0].sas(names[0])}.")


def _with_residual(md: Any, residual_by: str | None, resid: np.ndarray, levels: tuple[str, ...],
                   names: tuple[str, ...], prior: Any, name: str) -> Any:
    """Return the same data and priors with another residual structure (every residual variance with ``prior``)."""
    from partclust.models.model_data import content_hash

    spec = md.spec
    keep = [(k, p) for k, p in md.priors.items() if k not in md.residual_names]
    priors = tuple(keep) + tuple((n, prior) for n in names)
    new_spec = replace(spec, residual_by=residual_by, residual_names=names, priors=priors, name=name)
    ordered = {k: p for k, p in md.priors.items() if k not in md.residual_names}
    ordered.update({n: prior for n in names})
    resid = np.asarray(resid, dtype=np.int64)
    resid.setflags(write=False)
    return replace(md, spec=new_spec, resid=resid, resid_levels=levels, residual_names=names, priors=ordered,
                   content_sha256=content_hash(md.y, md.X, md.x_columns, md.z, md.group, md.groups, resid, levels))


def _alternative(md: Any, taken: set[str]) -> tuple[Any | None, str]:
    """Return the other residual structure of ``md`` and a sentence on it (None and why not, when there is none)."""
    from partclust.models.model_data import normalise_labels

    if md.spec.residual_by is not None:
        name = "s2e"
        while name in taken:
            name += "_"
        prior, why = _variance_prior(md, md.residual_names)
        alt = _with_residual(md, None, np.zeros(md.n), ("all",), (name,), prior, f"{md.spec.name}-single")
        return alt, (f"It is compared with the `single` model: the same model with one residual variance `{name}` "
                     f"for every row (prior {prior.sas(name)}).{why}")
    random = md.spec.random
    if random is None:
        return None, ("The program has one residual variance and no random effect, so no column stands out as "
                      "the grouping for per-level residual variances: its model is studied alone.")
    if random.multiplies is None:
        return None, (f"The program has one residual variance and a random intercept per {random.group}; no column "
                      "stands out as the grouping for per-level residual variances (a partially nested trial's "
                      "arm is the column its effect multiplies): its model is studied alone.")
    labels = normalise_labels(pd.Series(md.z))
    levels = tuple(sorted(pd.unique(labels).tolist(), key=lambda s: (float(s), s)))
    if len(levels) != 2:
        return None, (f"The program has one residual variance; the column its effect multiplies, "
                      f"{random.multiplies}, takes {len(levels)} values, not two arms, so no column stands out as "
                      "the grouping for per-level residual variances: its model is studied alone.")
    resid = np.array([levels.index(v) for v in labels])
    for k in range(len(md.groups)):
        if len(set(resid[md.group == k])) > 1:
            return None, (f"The program has one residual variance; {random.multiplies} varies within cluster "
                          f"{md.groups[k]} of {random.group}, so per-level residual variances are outside the model "
                          "family: its model is studied alone.")
    own = md.residual_names[0]
    names = tuple(f"{own}[{lv}]" for lv in levels)
    prior = md.priors[own]
    alt = _with_residual(md, random.multiplies, resid, levels, names, prior, f"{md.spec.name}-by-{random.multiplies}")
    return alt, (f"It is compared with the `per_condition` model: one residual variance per value of "
                 f"{random.multiplies}, the column the cluster effect multiplies (the arms), "
                 + ", ".join(f"`{n}` for {random.multiplies} = {lv}" for n, lv in zip(names, levels))
                 + f", each with the program's prior on `{own}` ({prior.sas(own)}).")


def program_models_of(translation: Any) -> ProgramModels:
    """:func:`program_models` for a program already translated.

    Raises
    ------
    SpecError
        When the program is not a member of the model family (the one-line reason of the family).
    """
    family = translation.family
    if not family.member:
        raise SpecError(f"{translation.program.title} is not in the model family, so the question studies (exact "
                        f"posterior, REML) do not apply: {family.reason}")
    md = family.data
    own = RESIDUALS[1] if md.spec.residual_by is not None else RESIDUALS[0]
    taken = set(md.scalar_names) | set(translation.program.parameters) | set(family.names.values())
    alt, note = _alternative(md, taken)
    data = {own: md} if alt is None else {m: (md if m == own else alt) for m in RESIDUALS}
    return ProgramModels(translation, data, own, note)


def program_models(sas_program: str, step: int | None = None, data_path: str | None = None) -> ProgramModels:
    """Translate step ``step`` of ``sas_program`` against its data and read it (and its other residual structure).

    Parameters
    ----------
    sas_program : str
        Path of the ``.sas`` file.
    step : int, optional
        Which PROC MCMC step (0 or None: the file's only one).
    data_path : str, optional
        The data ("" or None: ``$RUN1_CSV``, then ``data/run1.csv``, then the pinned download).

    Returns
    -------
    ProgramModels

    Raises
    ------
    SpecError
        For a file with several steps and no ``step``, or a program outside the model family (its reason).
    RefusedError
        For a construct the translator does not support (naming the line).
    DataError
        When the data lack a column the program needs.
    """
    from partclust.data import resolve_data_path
    from partclust.translate.translation import translate_file

    return program_models_of(translate_file(sas_program, resolve_data_path(data_path or None), int(step or 0) or None))


@functools.lru_cache(maxsize=8)
def _questions(sas_program: str, step: int, data_path: str, program_sha256: str) -> tuple[str, ...]:
    try:
        models = program_models(sas_program, step, data_path)
    except SpecError:
        return ()
    return ("efficiency", "sensitivity") + (("model_choice",) if models.alternative else ())


def program_questions(sas_program: str, step: int, data_path: str) -> tuple[str, ...]:
    """Which of notebooks 08–10 apply to a program: none outside the family, 09 only with another residual structure.

    Returns
    -------
    tuple of str
        Keys of :data:`~partclust.config.NOTEBOOK_FILES`: ``efficiency``, ``sensitivity`` and, when the program
        has another residual structure to compare with, ``model_choice``.
    """
    from partclust.data import sha256_of

    return _questions(str(sas_program), int(step or 0), str(data_path), sha256_of(sas_program))

