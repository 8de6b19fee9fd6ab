"""What an OUTPOST file holds for one model: scalar columns and one ``<effect>_<subject value>`` per random effect.

:meth:`OutpostLayout.for_design` is the built-in models' (``b0 b1 s2u`` and the residual variance(s), ``u_<j>``
for every value of j); :meth:`OutpostLayout.for_translation` a translated PROC MCMC program's (its parameters,
its MONITOR= quantities, each RANDOM statement's effects by subject value).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from partclust.data import Design
from partclust.models.names import residual_names, scalar_names

__all__ = ["RANDOM_EFFECT", "EffectLayout", "OutpostLayout"]

RANDOM_EFFECT = "u"
"""The built-in models' random effect (OUTPOST columns ``u_<j>``)."""


@dataclass(frozen=True, eq=False)
class EffectLayout:
    """One RANDOM statement's OUTPOST columns ``<name>_<subject value>``.

    Attributes
    ----------
    name, subject : str
        The effect and its SUBJECT= column.
    touched, untouched : tuple of str
        Subject values whose effects the data touch (reported) and the others (e.g. controls' singletons).
    dim : str
        The posterior dim of the touched effects.
    """

    name: str
    subject: str
    touched: tuple[str, ...]
    untouched: tuple[str, ...]
    dim: str = "cluster"


@dataclass(frozen=True, eq=False)
class OutpostLayout:
    """What an OUTPOST file holds for one model: scalar columns and, per random effect, one column per value.

    Attributes
    ----------
    model : str
        The model's name (``single``, ``per_condition``, or a translated program's).
    scalars : tuple of str
        Required scalar columns (parameters), in report order.
    optional : tuple of str
        Scalar columns read when present (derived quantities a MONITOR= may have listed).
    effects : tuple of EffectLayout
    data_source : str
        The data file, for messages.
    missing_hint : callable
        ``(missing names, lower-case columns) → str``: advice when scalar columns are missing.
    variances : tuple of str
        Scalar columns that hold variances: a draw ≤ 0 in one of them is refused naming its line.
    """

    model: str
    scalars: tuple[str, ...]
    effects: tuple[EffectLayout, ...]
    data_source: str
    optional: tuple[str, ...] = ()
    missing_hint: Any = None
    variances: tuple[str, ...] = ()

    @classmethod
    def for_design(cls, design: Design, residual: str) -> "OutpostLayout":
        """Lay out a built-in model's OUTPOST: ``b0 b1 s2u`` and residual variance(s), ``u_<j>`` for every value of j."""
        other = "per_condition" if residual == "single" else "single"

        def hint(missing: list[str], columns: dict[str, str]) -> str:
            if all(n.lower() in columns for n in residual_names(other)):
                return (f" The file has the {other} model's residual variance(s): read it with "
                        f"residual={other!r} or point to output/{residual}/.")
            return ""

        effect = EffectLayout(RANDOM_EFFECT, "j", tuple(design.clusters), tuple(design.control_clusters), "cluster")
        return cls(residual, scalar_names(residual), (effect,), design.source, (), hint,
                   ("s2u", *residual_names(residual)))

    @classmethod
    def for_translation(cls, translation: Any) -> "OutpostLayout":
        """Lay out a translated program's OUTPOST.

        Its parameters, its MONITOR= derived quantities (when present) and ``<effect>_<value>`` for every value
        of each RANDOM statement's SUBJECT= column.
        """
        program = translation.program
        effects = []
        for name, e in translation.bound.effects.items():
            touched = tuple(e.labels)
            effects.append(EffectLayout(name, e.subject, touched, tuple(x for x in e.sas_labels if x not in touched),
                                        e.dim))
        return cls(translation.name, tuple(program.parameters), tuple(effects), translation.data.source,
                   tuple(program.derived))
