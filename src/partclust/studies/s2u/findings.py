"""(d) Which explanations of the σ²_u discrepancy survive: a judgement from the numbers, then words.

:func:`judge` returns one :class:`Finding` per explanation (skewness, slow mixing, prior
mistranslation) and an overall one, each with the numbers it rests on; :func:`render` states a
finding in Markdown as a paragraph, :func:`brief` as one clause (for the landing page's answer);
:func:`conclusions` judges and renders. The judgement never depends on the wording.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from partclust.evaluation.compare import z_critical
from partclust.evaluation.mc_error import TARGET_MCSE
from partclust.studies.s2u.prior_traps import MOVES, NO_MOVE

__all__ = ["Finding", "judge", "render", "brief", "conclusions"]


@dataclass(frozen=True)
class Finding:
    """One explanation and whether it survives, with the evidence the judgement used.

    Attributes
    ----------
    explanation : {"skewness", "mixing", "prior traps", "overall"}
    survives : bool or None
        None when the explanation could not be judged (e.g. no converged runs).
    label : str
        How the overall finding names it when it survives.
    evidence : dict
        Every number the judgement and its wording use.
    """

    explanation: str
    survives: bool | None
    label: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)


def _spread(row: pd.Series | dict | None) -> float:
    """Return the observed Monte Carlo error of a configuration: across-seed SD, else RMSE vs exact, else MCSE."""
    if row is None:
        return math.nan
    for col in ("sd_of_means", "rmse_vs_exact", "rms_mcse"):
        v = row.get(col, math.nan)
        if v is not None and np.isfinite(v):
            return float(v)
    return math.nan


def _best(mixing: pd.DataFrame, sampler: str, params: Sequence[str]) -> dict | None:
    g = mixing[(mixing["sampler"] == sampler) & mixing["parameterization"].isin(params)]
    if g.empty:
        return None
    return g.loc[g.apply(_spread, axis=1).idxmin()].to_dict()


def _get(mixing: pd.DataFrame, sampler: str, param: str) -> dict | None:
    g = mixing[(mixing["sampler"] == sampler) & (mixing["parameterization"] == param)]
    return None if g.empty else g.iloc[0].to_dict()


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _fmt_draws(n: float) -> str:
    if not np.isfinite(n):
        return "an unknown number of"
    return f"{n:,.0f}" if n < 1e6 else f"{n / 1e6:,.1f} million"


# ---- judgements ----------------------------------------------------------------------------------
def _judge_skewness(skew: pd.DataFrame, mixing: pd.DataFrame, target: float, factor: float) -> Finding:
    pts = skew.set_index("statistic")["value"]
    mean, median, mode, reml_v = (float(pts.get(k, math.nan)) for k in
                                  ("posterior mean", "posterior median", "posterior mode", "REML estimate"))
    nuts = _best(mixing, "nutpie", ("centered", "noncentered"))
    mc_nuts = _spread(nuts)
    if not np.isfinite(mc_nuts):
        mc_nuts = target
    gap = mean - median
    ev = {"mean": mean, "median": median, "mode": mode, "reml": reml_v, "gap": gap, "mc_nuts": mc_nuts,
          "nuts_name": nuts["config"] if nuts is not None else f"a run with MCSE {target:g}", "factor": factor}
    return Finding("skewness", bool(abs(gap) > factor * mc_nuts),
                   "skewness (if different summaries were compared)", ev)


def _judge_mixing(mixing: pd.DataFrame, target: float, factor: float) -> Finding | None:
    m110 = _get(mixing, "metropolis", "sas_singletons")
    nuts = _best(mixing, "nutpie", ("centered", "noncentered"))
    if m110 is None or nuts is None:
        return None
    s110, s_nuts = _spread(m110), _spread(nuts)
    ratio = s110 / s_nuts if s_nuts > 0 else math.inf
    ev = {"m110": m110, "nuts": nuts, "m10": _best(mixing, "metropolis", ("centered", "noncentered")),
          "n110": _get(mixing, "nutpie", "sas_singletons"), "s110": s110, "s_nuts": s_nuts, "ratio": ratio,
          "need_110": max(m110["draws_needed_spread"], m110["draws_needed_mcse"]),
          "need_nuts": max(nuts["draws_needed_spread"], nuts["draws_needed_mcse"]),
          "target": target, "factor": factor}
    return Finding("mixing", bool(ratio > factor), "slow mixing of the 110-effect parameterization under Metropolis",
                   ev)


def _judge_traps(traps: pd.DataFrame) -> Finding | None:
    t = traps[traps["verdict"] != "reference"]
    if not len(t):
        return None
    moved = t[t["verdict"] == MOVES]
    within = t[t["verdict"] == NO_MOVE]
    untested = t[~t["verdict"].isin([MOVES, NO_MOVE])]
    ref = traps[traps["verdict"] == "reference"]
    ref_mean = math.nan
    if len(ref):
        ref_mean = float(ref["exact_mean"].iloc[0]) if np.isfinite(ref["exact_mean"].iloc[0]) \
            else float(ref["fit_mean"].iloc[0])
    survives = True if len(moved) else (False if len(within) else None)
    ev = {"n": len(t), "moved": moved, "within": within, "untested": untested, "ref_mean": ref_mean}
    return Finding("prior traps", survives, "a mistranslated prior (" + ", ".join(moved["trap"]) + ")", ev)


def _judge_overall(parts: list[Finding], mean: float, published: tuple[float, float] | None,
                   published_se: float) -> Finding:
    survivors = [f.label for f in parts if f.survives]
    ev: dict[str, Any] = {"survivors": survivors, "mean": mean}
    if published is not None and np.isfinite(mean):
        lo, hi = published
        margin = z_critical(1) * float(published_se)
        ev["published"] = {"lo": lo, "hi": hi, "margin": margin,
                           "agrees": "inside" if lo <= mean < hi else
                           ("within error" if lo - margin <= mean < hi + margin else "outside")}
        traps = next((f for f in parts if f.explanation == "prior traps"), None)
        moved = traps.evidence["moved"] if traps is not None else pd.DataFrame(columns=["exact_mean", "trap"])
        exact_moved = moved[np.isfinite(moved["exact_mean"].astype(float))]
        if len(exact_moved):
            m2 = z_critical(len(exact_moved)) * float(published_se)
            fits = (exact_moved["exact_mean"] >= lo - m2) & (exact_moved["exact_mean"] < hi + m2)
            ev["traps_vs_published"] = {"margin": m2, "ruled_out": list(exact_moved.loc[~fits, "trap"]),
                                        "compatible": list(exact_moved.loc[fits, "trap"])}
    return Finding("overall", bool(survivors), "", ev)


def judge(
    skew: pd.DataFrame,
    mixing: pd.DataFrame,
    traps: pd.DataFrame,
    target: float = TARGET_MCSE,
    factor: float = 2.0,
    published: tuple[float, float] | None = None,
    published_se: float = 0.0,
) -> list[Finding]:
    """Judge each explanation from the measured tables.

    - skewness survives when the posterior mean and median of σ²_u differ by more than ``factor``
      × the Monte Carlo error of the best 10-effect NUTS configuration (so two programs printing
      different summaries would look like a real difference);
    - slow mixing survives when the 110-effect Metropolis configuration's Monte Carlo error (SD of
      the seeds' means; RMSE against exact with one seed) is more than ``factor`` times the best
      10-effect NUTS configuration's;
    - a prior trap survives when its z against the correct translation passes the Bonferroni threshold.

    Parameters
    ----------
    skew, mixing, traps : pandas.DataFrame
        From :func:`~partclust.studies.s2u.skew.skew_table`, :func:`~partclust.studies.s2u.mixing.mixing_summary`
        and :func:`~partclust.studies.s2u.prior_traps.trap_summary`.
    published : (float, float), optional
        The interval [lo, hi) a truncated published σ²_u mean (PyMC 2, 2011) stands for, with
        ``published_se`` its own Monte Carlo error; the overall finding then says whether it agrees
        with the exact mean and which surviving prior traps it rules out.

    Returns
    -------
    list of Finding
        Skewness, mixing (when both samplers ran), prior traps (when any was compared), then overall.
    """
    parts = [f for f in (_judge_skewness(skew, mixing, target, factor), _judge_mixing(mixing, target, factor),
                         _judge_traps(traps)) if f is not None]
    return parts + [_judge_overall(parts, parts[0].evidence["mean"], published, published_se)]


# ---- wording ---------------------------------------------------------------------------------------
def _text_skewness(f: Finding) -> str:
    e = f.evidence
    if f.survives:
        return (
            f"**Skewness — survives, as an explanation of different *printed* numbers.** The exact posterior "
            f"of σ²_u has mean {e['mean']:.3f}, median {e['median']:.3f} and mode {e['mode']:.3f} (REML "
            f"{e['reml']:.3f}). Mean and median differ by {abs(e['gap']):.3f}, {abs(e['gap']) / e['mc_nuts']:.0f}× "
            f"the Monte Carlo error of {e['nuts_name']} ({e['mc_nuts']:.4f}): a SAS median (PostSummaries P50), a "
            f"mode or a REML estimate set beside a PyMC mean would look like a real difference. Both programs' "
            f"default tables print the *mean*, so this explains the discrepancy only if different summaries "
            f"were compared."
        )
    return (
        f"**Skewness — does not explain it.** Mean {e['mean']:.3f} and median {e['median']:.3f} of σ²_u differ by "
        f"{abs(e['gap']):.3f}, within {e['factor']:g}× the Monte Carlo error of {e['nuts_name']} ({e['mc_nuts']:.4f})."
    )


def _text_mixing(f: Finding) -> str:
    e = f.evidence
    m110, nuts, m10, n110 = e["m110"], e["nuts"], e["m10"], e["n110"]
    s110, s_nuts, factor = e["s110"], e["s_nuts"], e["factor"]
    parts = [
        f"Over {_plural(int(m110['seeds']), 'seed')} of {int(m110['total_draws']):,} draws, the "
        f"{int(m110['n_effects'])}-effect Metropolis posterior mean of σ²_u varies with SD {s110:.4f} "
        f"(ESS {m110['ess_per_1000']:.1f} per 1,000 draws), "
        f"{e['ratio']:.1f}× the {s_nuts:.4f} of {nuts['config']} ({_plural(int(nuts['seeds']), 'seed')} of "
        f"{int(nuts['total_draws']):,} draws; ESS {nuts['ess_per_1000']:.0f} per 1,000)."
    ]
    if all(np.isfinite([m110["sd_lo"], nuts["sd_hi"]])):
        parts.append("Their 95 % intervals do not overlap." if m110["sd_lo"] > nuts["sd_hi"]
                     else "Their 95 % intervals overlap: more seeds would sharpen this.")
    if m10 is not None and _spread(m10) > 0:
        parts.append(f"Under the same Metropolis sampler the {int(m10['n_effects'])}-effect "
                     f"{m10['parameterization']} model's SD is {_spread(m10):.4f}, so the "
                     f"{int(m110['n_effects'] - m10['n_effects'])} singleton effects alone multiply it by "
                     f"{s110 / _spread(m10):.1f}.")
    if np.isfinite(m110["spread_to_mcse"]) and m110["spread_to_mcse"] > factor:
        parts.append(f"Its reported MCSE ({m110['rms_mcse']:.4f}) is {m110['spread_to_mcse']:.1f}× smaller than "
                     f"the spread actually seen, so a user trusting it would call Monte Carlo noise a real "
                     f"difference.")
    if n110 is not None and n110["ess_per_1000"] < nuts["ess_per_1000"] / factor:
        parts.append(f"Even NUTS is slowed by the {int(n110['n_effects'])} effects (ESS "
                     f"{n110['ess_per_1000']:.0f} vs {nuts['ess_per_1000']:.0f} per 1,000 draws).")
    parts.append(f"For MCSE ≤ {e['target']:g} it needs about {_fmt_draws(e['need_110'])} draws, against "
                 f"{_fmt_draws(e['need_nuts'])} for {nuts['config']}.")
    head = ("**Slow mixing with 110 effects under Metropolis — survives.**" if f.survives else
            "**Slow mixing with 110 effects under Metropolis — not supported by these runs.**")
    return " ".join([head] + parts)


def _shifts(rows: pd.DataFrame) -> str:
    return ", ".join(f"{r.trap}" + (f" (exact shift {r.exact_difference:+.4f})"
                                    if np.isfinite(r.exact_difference) else "") for r in rows.itertuples())


def _text_traps(f: Finding) -> str:
    e = f.evidence
    moved, within, untested = e["moved"], e["within"], e["untested"]
    not_run = (f" No converged NUTS runs, so not judged by sampling (raise the draws): {_shifts(untested)}."
               if len(untested) else "")
    if f.survives:
        items = "; ".join(
            f"{r.trap}: {(r.exact_mean if np.isfinite(r.exact_mean) else r.fit_mean):.3f} (z = {r.z:.1f})"
            for r in moved.itertuples()
        )
        return (
            f"**Prior mistranslation — survives for {len(moved)} of {e['n']} traps.** Against the correct "
            f"translation's posterior mean {e['ref_mean']:.3f}, σ²_u's posterior mean becomes {items} (Bonferroni "
            f"threshold |z| > {float(moved['z_crit'].iloc[0]):.2f}). Within Monte Carlo error: "
            f"{_shifts(within) or 'none'}.{not_run}"
        )
    if f.survives is False:
        return (
            f"**Prior mistranslation — does not explain it.** None of the {len(within)} traps judged by sampling "
            f"moves σ²_u's posterior mean ({e['ref_mean']:.3f}) beyond Monte Carlo error: {_shifts(within)}.{not_run}"
        )
    return f"**Prior mistranslation — not judged by sampling.**{not_run}"


def _text_overall(f: Finding) -> str:
    e = f.evidence
    text = ("**Overall:** the explanations that survive are " + "; ".join(e["survivors"]) + "."
            if e["survivors"] else "**Overall:** none of the three explanations survives these runs.")
    pub = e.get("published")
    if pub:
        lo, hi, margin, mean = pub["lo"], pub["hi"], pub["margin"], e["mean"]
        text += f" The published PyMC 2 (2011) σ²_u was printed as {lo:.2f}, i.e. a mean in [{lo:.2f}, {hi:.2f}), "
        if pub["agrees"] == "inside":
            text += (f"which contains the exact posterior mean {mean:.4f}: the 2011 PyMC fit agrees with the exact "
                     f"answer, so the discrepancy most plausibly arose on the SAS side.")
        elif pub["agrees"] == "within error":
            text += (f"which misses the exact posterior mean {mean:.4f} by less than its own Monte Carlo error "
                     f"(±{margin:.3f}): the 2011 PyMC fit agrees with the exact answer, so the discrepancy most "
                     f"plausibly arose on the SAS side.")
        else:
            text += (f"which misses the exact posterior mean {mean:.4f} by more than its own Monte Carlo error "
                     f"(±{margin:.3f}).")
        tv = e.get("traps_vs_published")
        if tv:
            text += (f" Of the traps that move σ²_u, the published number (allowing ±{tv['margin']:.3f} for its own "
                     f"Monte Carlo error) rules out for the 2011 PyMC program: {', '.join(tv['ruled_out']) or 'none'}; "
                     f"still compatible: {', '.join(tv['compatible']) or 'none'}.")
    return text


_TEXT = {"skewness": _text_skewness, "mixing": _text_mixing, "prior traps": _text_traps, "overall": _text_overall}


def render(finding: Finding) -> str:
    """One finding as a Markdown sentence or paragraph, quoting its evidence."""
    return _TEXT[finding.explanation](finding)


def _brief_skewness(f: Finding) -> str:
    e = f.evidence
    times = abs(e["gap"]) / e["mc_nuts"] if e["mc_nuts"] > 0 else math.inf
    if f.survives:
        return (f"**skewness**: σ²_u's posterior mean, median and mode are {e['mean']:.3f}, {e['median']:.3f} and "
                f"{e['mode']:.3f} (REML {e['reml']:.3f}), so a table printing the median beside one printing the "
                f"mean already differs by {abs(e['gap']):.3f}, {times:.0f}× a NUTS run's Monte Carlo error")
    return (f"skewness does not explain it (mean {e['mean']:.3f} and median {e['median']:.3f} differ by "
            f"{abs(e['gap']):.3f}, {times:.1f}× a NUTS run's Monte Carlo error)")


def _brief_mixing(f: Finding) -> str:
    e = f.evidence
    n = int(e["m110"]["n_effects"])
    if f.survives:
        return (f"**mixing**: with PROC MCMC's {n} effects, Metropolis-within-Gibbs' estimate of σ²_u's mean "
                f"varies {e['ratio']:.1f}× as much across seeds as NUTS' (SD {e['s110']:.4f} against "
                f"{e['s_nuts']:.4f})")
    return (f"mixing with {n} effects does not explain it in these runs (Metropolis' spread across seeds is "
            f"{e['ratio']:.1f}× NUTS')")


def _brief_traps(f: Finding) -> str:
    e = f.evidence
    moved = e["moved"]
    if f.survives:
        items = ", ".join(f"{r.trap} {(r.exact_mean if np.isfinite(r.exact_mean) else r.fit_mean):.3f}"
                          for r in moved.itertuples())
        return (f"**prior traps**: {len(moved)} of {e['n']} plausible mistranslations of the SAS priors move "
                f"σ²_u's mean beyond Monte Carlo error from {e['ref_mean']:.3f} ({items})")
    if f.survives is False:
        return f"none of {e['n']} plausible mistranslations of the SAS priors moves σ²_u beyond Monte Carlo error"
    return f"the {e['n']} prior mistranslations could not be judged by sampling (no converged runs)"


def _brief_overall(f: Finding) -> str:
    e = f.evidence
    text = ("Explanations that survive: " + "; ".join(e["survivors"]) + "."
            if e["survivors"] else "None of skewness, slow mixing or a prior mistranslation survives these runs.")
    pub = e.get("published")
    if pub:
        agrees = pub["agrees"] in ("inside", "within error")
        text += (f" The published PyMC 2 (2011) σ²_u ({pub['lo']:.2f}, truncated) "
                 + ("agrees with the exact mean, so the discrepancy most plausibly arose on the SAS side."
                    if agrees else "misses the exact mean by more than its own Monte Carlo error."))
    return text


_BRIEF = {"skewness": _brief_skewness, "mixing": _brief_mixing, "prior traps": _brief_traps,
          "overall": _brief_overall}


def brief(finding: Finding) -> str:
    """One finding as one Markdown clause (the overall one as a sentence), quoting its key numbers."""
    return _BRIEF[finding.explanation](finding)


def conclusions(*args: Any, **kwargs: Any) -> list[str]:
    """State which explanations survive, in Markdown, with the measured numbers: :func:`render` over :func:`judge`.

    Parameters
    ----------
    *args, **kwargs
        Passed to :func:`judge` unchanged (``skew``, ``mixing``, ``traps``, ``target``, ``factor``,
        ``published``, ``published_se``).

    Returns
    -------
    list of str
        One Markdown paragraph per finding, in :func:`judge`'s order (the overall one last).
    """
    return [render(f) for f in judge(*args, **kwargs)]
