"""The landing page's content: the study's answer in numbers and sentences, its two figures, and every analysis.

The executed summary notebook (``notebooks/00_summary.ipynb``, rendered as ``results/reports/index.html``)
calls these functions; they read what the study wrote and sample nothing:

- :func:`study_answer` — per model, σ²_u's exact mean, median and mode, REML, the pooled PyMC estimate
  with its standard error and verdict (``comparison/<model>.csv``), the calibration ratio
  (``study/<model>/mc_error.csv``) and the pooled σ²_u draws of the converged runs; and notebook 05's
  judgement of why a SAS table could differ (``why/*.csv``). :meth:`StudyAnswer.markdown` says it in
  three sentences (:mod:`partclust.reporting.sentences`).
- :func:`s2u_density_figure`, :func:`calibration_figure` — the two pictures.
- :func:`folded_tables` — the last section: every table of the study, folded
  (:mod:`partclust.reporting.tables`, :mod:`partclust.reporting.records`).

The list of analyses between the figures and the tables is :mod:`partclust.reporting.analyses`.

Numbers in the sentences are those of the CSVs, printed to four decimals (ratios to two).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from partclust.config import RESIDUALS
from partclust.errors import ReportError
from partclust.layout import ResultsLayout
from partclust.reporting import records
from partclust.reporting.sentences import MODEL_LABELS, calibration_sentence, model_label, verdict_sentence, why_sentence
from partclust.reporting.tables import fold, headline_html, read_study_record

__all__ = ["own_model_markdown", "MODEL_LABELS", "WHY_TABLES", "WHY_SETTINGS", "ModelAnswer", "WhyAnswer", "StudyAnswer", "study_models",
           "study_seeds", "study_answer", "s2u_density_figure", "calibration_figure", "folded_tables"]

WHY_TABLES: tuple[str, ...] = ("skew", "mixing", "prior_traps")
"""The tables of notebook 05 (under ``why/``) the answer's third sentence is judged from."""
WHY_SETTINGS = "settings.json"
"""Notebook 05's record of its model, dataset and sizes (under ``why/``)."""


@dataclass
class ModelAnswer:
    """σ²_u for one model.

    The numbers (:func:`~partclust.studies.seeds.s2u_numbers`), the exact posterior, REML, the pooled
    draws of the converged runs and the Monte Carlo error table.
    """

    model: str
    numbers: dict[str, Any]
    exact: Any
    reml_s2u: float
    draws: np.ndarray
    mc: pd.DataFrame | None = None

    @property
    def fitted(self) -> bool:
        """Whether converged runs were compared with the exact posterior."""
        return "verdict" in self.numbers


@dataclass
class WhyAnswer:
    """Notebook 05's judgement (:func:`~partclust.studies.s2u.judge`), or why there is none."""

    model: str = ""
    findings: list = field(default_factory=list)
    missing: str = ""


@dataclass
class StudyAnswer:
    """Everything the first screen of the landing page says."""

    models: dict[str, ModelAnswer]
    why: WhyAnswer

    def sentences(self) -> list[str]:
        """State the answer: σ²_u against the exact posterior, the calibration of the MCSE, why SAS could differ."""
        return [s for s in (verdict_sentence(self.models), calibration_sentence(self.models),
                            why_sentence(self.why)) if s]

    def markdown(self) -> str:
        """Join the sentences into one Markdown paragraph."""
        return " ".join(self.sentences())


# ---- reading ---------------------------------------------------------------------------------------
def _read_csv(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    try:
        return pd.read_csv(path)
    except Exception as exc:  # pandas raises several types for a bad file
        raise ReportError(f"cannot read {path}: {exc}. Rerun the study stage that writes it.") from None


def _recorded_setting(results: str | Path, key: str) -> list | None:
    """Return a non-empty list the study record (``study/study.json``) holds under ``settings[key]``, else None."""
    try:
        listed = json.loads(ResultsLayout(Path(results)).study_record.read_text())["settings"][key]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return listed if isinstance(listed, list) and listed else None


def study_models(results: str | Path) -> list[str]:
    """Return the models of the study: those ``study/study.json`` lists, else those with tables, else both."""
    layout = ResultsLayout(Path(results))
    listed = _recorded_setting(results, "models")
    if listed is not None:
        return [str(m) for m in listed]
    found = [m for m in RESIDUALS if layout.mc_error_csv(m).is_file()]
    return found or list(RESIDUALS)


def study_seeds(results: str | Path) -> list[int]:
    """Return the seeds of the study ``study/study.json`` records; empty (every seed folder) without a record."""
    try:
        return [int(s) for s in _recorded_setting(results, "seeds") or []]
    except (TypeError, ValueError):
        return []


def _pooled_draws(layout: ResultsLayout, model: str, design: Any, seeds: Sequence[int] = ()) -> np.ndarray:
    from partclust.errors import ComparisonError
    from partclust.evaluation.compare import load_runs
    from partclust.inference.runs import read_posterior

    dirs = [str(d) for d in layout.seed_runs(model, seeds)]
    if not dirs:
        return np.empty(0)
    try:
        runs = load_runs(dirs, model=model, design=design)
    except ComparisonError:
        return np.empty(0)
    parts = [np.asarray(read_posterior(d)["s2u"]).ravel() for d, _, _ in runs.included]
    return np.concatenate(parts) if parts else np.empty(0)


def _why_answer(layout: ResultsLayout, design: Any) -> WhyAnswer:
    from partclust.references import pymc2_reference
    from partclust.studies.s2u import judge

    folder = layout.why
    missing = [f"{name}.csv" for name in WHY_TABLES if not (folder / f"{name}.csv").is_file()]
    if missing:
        from partclust.reporting.analyses import ran_without_why

        if ran_without_why(layout.root):
            return WhyAnswer(missing="this study ran with --no-why, which leaves notebook 05 out; `partclust why "
                                     f"--out {layout.root}` runs it on these results")
        return WhyAnswer(missing=f"notebook 05 has not written {', '.join(missing)} under {folder}")
    settings: dict[str, Any] = {}
    if (folder / WHY_SETTINGS).is_file():
        try:
            settings = json.loads((folder / WHY_SETTINGS).read_text())
        except ValueError as exc:
            raise ReportError(f"cannot read {folder / WHY_SETTINGS}: {exc}. Rerun notebook 05.") from None
    if settings.get("data_sha256") not in (None, design.sha256):
        return WhyAnswer(missing=f"the tables under {folder} were computed from another dataset")
    model = str(settings.get("model", "single"))
    skew, mixing, traps = (_read_csv(folder / f"{name}.csv") for name in WHY_TABLES)
    from partclust.references.exact import exact_posterior

    sd = float(exact_posterior(design, model).table.set_index("param").loc["s2u", "sd"])
    published, published_se = None, 0.0
    pymc2 = pymc2_reference(design, model, exact_sd={"s2u": sd})
    if pymc2.available:
        row = pymc2.table.set_index("param").loc["s2u"]
        published, published_se = (float(row["lo"]), float(row["hi"])), float(row["se"])
    kwargs = {"target": float(settings["target_mcse"])} if "target_mcse" in settings else {}
    return WhyAnswer(model, judge(skew, mixing, traps, published=published, published_se=published_se, **kwargs))


def study_answer(results: str | Path, design: Any, models: Sequence[str] | None = None,
                 seeds: Sequence[int] | None = None) -> StudyAnswer:
    """Read the study's tables and runs under ``results`` and state its answer.

    Parameters
    ----------
    results : path
        The study's results folder.
    design : Design
        The dataset the study ran on (the exact posterior and REML are computed from it, in about a
        second; runs of other data are not pooled).
    models : sequence of str, optional
        Default: :func:`study_models`.
    seeds : sequence of int, optional
        The seeds whose runs' draws are pooled (seed folders left by an earlier study are not);
        default: :func:`study_seeds`.

    Returns
    -------
    StudyAnswer

    Raises
    ------
    ReportError
        When a table that is present cannot be read.
    """
    from partclust.references.exact import exact_posterior
    from partclust.references.reml import reml
    from partclust.studies.seeds import s2u_numbers

    layout = ResultsLayout(Path(results))
    seeds = list(seeds) if seeds else study_seeds(results)
    out: dict[str, ModelAnswer] = {}
    for model in (list(models) if models else study_models(results)):
        mc = _read_csv(layout.mc_error_csv(model))
        comparison = _read_csv(layout.comparison_csv(model))
        exact = exact_posterior(design, model)
        numbers = s2u_numbers(model, exact, mc, comparison)
        out[model] = ModelAnswer(model, numbers, exact, float(reml(design, model).estimates["s2u"]),
                                 _pooled_draws(layout, model, design, seeds), mc)
    return StudyAnswer(out, _why_answer(layout, design))


# ---- figures ---------------------------------------------------------------------------------------
def s2u_density_figure(answer: StudyAnswer):
    """One panel per model: the pooled PyMC draws of σ²_u, the exact density, mean/median/mode/REML marked."""
    import matplotlib.pyplot as plt

    from partclust.reporting.plots import s2u_density

    models = list(answer.models.values())
    fig, axes = plt.subplots(1, len(models), figsize=(6.2 * len(models), 4.0), squeeze=False)
    for ax, a in zip(axes[0], models):
        seeds = a.numbers.get("n_seeds", 0)
        title = (f"{model_label(a.model)}: {a.draws.size:,} PyMC draws ({seeds} seeds) vs exact" if a.draws.size
                 else f"{model_label(a.model)}: exact posterior (no converged run)")
        s2u_density(a.draws, a.exact, a.reml_s2u, title, ax=ax)
    fig.suptitle("σ²_u: pooled PyMC draws against the exact posterior density" if any(a.draws.size for a in models)
                 else "σ²_u: the exact posterior density")
    fig.tight_layout()
    return fig


def calibration_figure(answer: StudyAnswer):
    """One panel per model with at least two converged seeds: SD across seeds / RMS MCSE per parameter.

    Returns None when no model has two converged seeds.
    """
    import matplotlib.pyplot as plt

    from partclust.evaluation.mc_error import ratio_band
    from partclust.reporting.plots import calibration_plot

    models = [a for a in answer.models.values() if a.mc is not None and a.numbers.get("n_seeds", 0) >= 2]
    if not models:
        return None
    rows = max(len(a.mc) for a in models)
    fig, axes = plt.subplots(1, len(models), figsize=(6.2 * len(models), 0.3 * rows + 1.8), squeeze=False)
    for ax, a in zip(axes[0], models):
        n = a.numbers["n_seeds"]
        calibration_plot(a.mc, ratio_band(n), f"{model_label(a.model)}: {n} seeds", ax=ax)
    fig.suptitle("Is the reported MCSE the spread across seeds? (1 = yes; grey: 95 % range if it is)")
    fig.tight_layout()
    return fig


# ---- the folded tables -----------------------------------------------------------------------------
def own_model_markdown(results: str | Path) -> str | None:
    """Answer a study of the researcher's own model (a formula or a PROC MCMC program), as Markdown.

    The σ²_u question of run1's built-in models does not apply to such a study; the answer names what
    was fitted and gives, per model, the finding its Monte Carlo error notebook (04) recorded.

    Returns
    -------
    str or None
        None when the study (``study/study.json``) ran run1's built-in models, or there is no record.

    Raises
    ------
    ReportError
        When the study record cannot be read.
    """
    from partclust.reporting.findings import notebook_findings

    layout = ResultsLayout(Path(results))
    record = read_study_record(layout.root)
    settings = (record or {}).get("settings", {})
    if not (settings.get("formula") or settings.get("sas_program")):
        return None
    what = (f"the formula `{settings['formula']}`" + (f" with one residual variance per level of "
                                                      f"`{settings['residual_by']}`" if settings.get("residual_by") else "")
            if settings.get("formula") else f"the PROC MCMC program `{settings['sas_program']}`")
    data = (record or {}).get("data", {}).get("path", "")
    lines = [f"This study fitted **{what}** to `{data}` with {len(settings.get('seeds', []))} seed(s) per model. "
             "Per model, what the Monte Carlo error notebook found (against the exact posterior where the model "
             "is in the family it covers):", ""]
    for model in settings.get("models", []):
        nb = layout.study_notebook(f"04_monte_carlo_{model}.ipynb")
        found = notebook_findings(nb) if nb.is_file() else []
        lines.append(f"- **{model}**: " + (" ".join(found) if found else "no finding recorded (see its notebook)."))
    return "\n".join(lines)


def folded_tables(results: str | Path, models: Sequence[str] | None = None) -> str:
    """Build the landing page's last section: every table of the study, each folded under a title (HTML).

    Raises
    ------
    ReportError
        When a file that is present cannot be read (the message names it).
    """
    results = Path(results)
    return "\n".join([
        fold("Monte Carlo error and verdicts, per model", headline_html(results, models)),
        fold(f"Runs ({records.count_runs(results)}) and their convergence gate", records.runs_html(results)),
        fold(f"Failed runs ({records.count_failed(results)})", records.failed_html(results)),
        fold("Study settings, versions, data and timings", records.study_record_html(results)),
        fold("Every table and record (CSV, JSON)", records.files_html(results)),
    ])
