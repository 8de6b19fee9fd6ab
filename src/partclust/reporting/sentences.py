"""The landing page's answer in words: three sentences built from the numbers of :mod:`partclust.reporting.summary`.

:func:`verdict_sentence` (does PyMC's σ²_u differ from the exact posterior by more than Monte Carlo error, with the
threshold used), :func:`calibration_sentence` (is the MCSE each fit reports the spread seen across seeds) and
:func:`why_sentence` (notebook 05's judgement of why a SAS table could still differ). Each says when too few seeds
make its check weak. Numbers are those of the CSVs, printed to four decimals (ratios to two).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Mapping, Sequence

if TYPE_CHECKING:
    from partclust.reporting.summary import ModelAnswer, WhyAnswer

__all__ = ["MODEL_LABELS", "model_label", "verdict_sentence", "calibration_sentence", "why_sentence"]

MODEL_LABELS: dict[str, str] = {"single": "single residual", "per_condition": "per-condition residual"}
"""How each model is named in sentences."""


def model_label(model: str) -> str:
    """Return a model's name as sentences say it (:data:`MODEL_LABELS`, else the name itself)."""
    return MODEL_LABELS.get(model, model)


def _exact_part(n: dict[str, Any]) -> str:
    return f"exact mean {n['exact_mean']:.4f} (median {n['exact_median']:.4f}, mode {n['exact_mode']:.4f})"


def verdict_sentence(models: Mapping[str, ModelAnswer]) -> str:
    """Say whether PyMC's pooled σ²_u differs from the exact posterior mean by more than Monte Carlo error.

    Leads with the answer in bold, then per model the estimate ± SE, the exact mean, median and mode, z with its
    threshold and the verdict (``comparison/<model>.csv``); ends with :func:`_few_seeds_caveat`.
    """
    from partclust.evaluation.compare import REAL

    fitted = [a for a in models.values() if a.fitted]
    if not fitted:
        parts = "; ".join(f"{model_label(a.model)}, {_exact_part(a.numbers)}" for a in models.values())
        return f"**Not answered yet: no converged PyMC run was compared.** The exact posterior of σ²_u: {parts}."
    parts = []
    for a in fitted:
        n = a.numbers
        threshold = f" (threshold ±{n['z_crit']:.2f})" if math.isfinite(n["z_crit"]) else ""
        parts.append(f"{model_label(a.model)}: PyMC {n['fit_value']:.4f} ± {n['fit_se']:.4f} (SE, {n['n_seeds']} "
                     f"seeds) against the {_exact_part(n)}, z = {n['z']:+.2f}{threshold}, {n['verdict']}")
    for a in models.values():
        if not a.fitted:
            parts.append(f"{model_label(a.model)}: no converged run")
    real = [model_label(a.model) for a in fitted if a.numbers["verdict"] == REAL]
    lead = ("**No: PyMC's σ²_u agrees with the exact posterior within Monte Carlo error**" if not real else
            f"**Yes, for the {' and '.join(real)} model: PyMC's σ²_u differs from the exact posterior by more "
            "than Monte Carlo error**")
    return f"{lead} — " + "; ".join(parts) + "." + _few_seeds_caveat(fitted)


WIDE = 1.5
"""A threshold this many times the one a known SE would have is called wide on the landing page."""


def _few_seeds_caveat(fitted: Sequence[ModelAnswer]) -> str:
    """Say so when few seeds leave the verdict's threshold wide (the SE's own uncertainty: Student t, S − 1 df)."""
    from partclust.evaluation.compare import z_critical
    from partclust.studies.seeds import StudySettings

    wide = [a for a in fitted if a.numbers["z_crit"] > WIDE * z_critical(a.numbers["m_exact"])]  # NaN: not wide
    if not wide:
        return ""
    n = wide[0].numbers
    target = len(StudySettings.seeds)
    return (f" With {n['n_seeds']} seeds the SE is itself uncertain, so the threshold is wide (Bonferroni over "
            f"{n['m_exact']} statistics, Student t with {n['n_seeds'] - 1} degrees of freedom) and only a large "
            f"difference could show: this is a weak check. With {target} seeds the threshold would be "
            f"±{z_critical(n['m_exact'], df=target - 1):.2f}, for a z whose SE is the spread of {target} seeds; the z "
            f"above, whose SE is the spread of only {n['n_seeds']}, is not to be read against it.")


def calibration_sentence(models: Mapping[str, ModelAnswer]) -> str:
    """Say whether the MCSE each fit reports is the spread seen across seeds; "" with fewer than two seeds.

    σ²_u's calibration ratio and its 95 % interval per model, how many parameters' intervals contain 1, and, with up
    to 8 seeds, that the check is weak (:data:`WIDE_RATIO`).
    """
    rated = [a for a in models.values() if a.fitted and a.numbers["n_seeds"] >= 2
             and math.isfinite(a.numbers["ratio"])]
    if not rated:
        return ""
    from scipy.stats import binom

    parts, counts, off, by_chance = [], [], [], True
    for a in rated:
        n = a.numbers
        m, k = int(n["n_params"]), int(n["n_ratio_consistent"])
        # if the MCSE is right, each parameter's 95 % interval misses 1 with probability 0.05, independently enough
        # for a binomial count: up to `most` misses happen in 95 % of studies
        most = int(binom.ppf(0.95, m, 0.05))
        if not n["ratio_lo"] <= 1.0 <= n["ratio_hi"]:
            off.append(model_label(a.model))
            by_chance = by_chance and m - k <= most
        parts.append(f"{n['ratio']:.2f} (95 % interval {n['ratio_lo']:.2f}–{n['ratio_hi']:.2f}) for the "
                     f"{model_label(a.model)}")
        counts.append(f"{k} of {m} parameters' intervals contain 1" + (f" for the {model_label(a.model)}"
                                                                         if len(rated) > 1 else "")
                      + f" (if the MCSE is right, about {0.05 * m:.1f} of {m} miss 1 by chance, and up to {most} "
                      "in 95 % of studies)")
    for_whom = f" for the {' and the '.join(off)}" if len(rated) > 1 and off else ""
    if not off:
        verb = "is the spread actually seen across seeds"
    elif by_chance:
        verb = "shows no clear sign of being wrong"
    else:
        verb = "is not the spread seen across seeds" + for_whom
    chance = (f" σ²_u's interval misses 1{for_whom}, but no more intervals miss it than chance explains."
              if off and by_chance else "")
    wide = [a for a in rated if _weak_calibration(a.numbers["n_seeds"])]
    caveat = (f" With {wide[0].numbers['n_seeds']} seeds these intervals are wide, so this is a weak check."
              if wide else "")
    return (f"The Monte Carlo standard error each fit reports {verb}: σ²_u's calibration ratio (SD of the seeds' "
            f"means / RMS MCSE, 1 when the MCSE is right) is " + " and ".join(parts)
            + f"; {'; '.join(counts)}." + chance + caveat)


WIDE_RATIO = 3.0
"""With a calibration ratio's 95 % interval (given the seeds) whose upper end is this many times its lower end, the
check is called weak: up to 8 seeds (:func:`~partclust.evaluation.mc_error.ratio_interval` gives a factor of 3.08 at
8 seeds, 1.92 at 20)."""


def _weak_calibration(seeds: int) -> bool:
    """Whether ``seeds`` seeds leave a calibration ratio's 95 % interval wider than :data:`WIDE_RATIO`."""
    from partclust.evaluation.mc_error import ratio_interval

    lo, hi = ratio_interval(1.0, seeds)
    return hi > WIDE_RATIO * lo


def why_sentence(why: WhyAnswer) -> str:
    """Say why a SAS table could still differ (notebook 05's findings), or that notebook 05 is not available."""
    from partclust.studies.s2u import brief

    if not why.findings:
        return (f"Why a SAS table could still differ — skewness, mixing with PROC MCMC's 110 effects, prior "
                f"translation traps — is measured by notebook 05, not available here ({why.missing}).")
    parts = [brief(f) for f in why.findings if f.explanation != "overall"]
    return (f"A SAS table could still differ ({model_label(why.model)} model, notebook 05): " + "; ".join(parts) + ".")
