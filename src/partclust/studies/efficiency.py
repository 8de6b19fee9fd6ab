"""The most efficient set-up: parameterization × sampler, per residual model, against the exact i.i.d. sampler.

Reuses notebook 05's mixing study (:mod:`partclust.studies.s2u.mixing`: the configurations, the grid of
fits and the per-configuration summary) and adds what an efficiency question needs: σ²_u's bulk and tail
ESS per second of sampling and per second end to end, the exact i.i.d. sampler as the ideal (draws from
the quadrature posterior: ESS ≈ draws), every set-up's σ²_u mean judged against the exact posterior by
the comparison engine, and a recommendation generated from the table.
"""

from __future__ import annotations

import math
import time
from typing import Any, Mapping, Sequence

import pandas as pd

from partclust.config import PARAMETERIZATIONS, SAMPLERS
from partclust.data import Design
from partclust.evaluation.compare import CONSISTENT, compare, fit_table
from partclust.evaluation.mc_error import TARGET_MCSE, draws_needed
from partclust.references.base import Reference, reference_table
from partclust.studies.grid import RUN_COLUMNS
from partclust.studies.s2u.mixing import SAMPLER_LABELS, MixingConfig, mixing_study, mixing_summary

__all__ = ["EXACT_SAMPLER", "EXACT_LABEL", "EFFICIENCY_RUN_COLUMNS", "EFFICIENCY_COLUMNS", "efficiency_configs",
           "exact_runs", "efficiency_runs", "efficiency_table", "untried_setups", "recommendation", "headline"]

EXACT_SAMPLER = "exact"
EXACT_LABEL = "exact i.i.d. (quadrature)"
EFFICIENCY_RUN_COLUMNS: tuple[str, ...] = ("residual",) + RUN_COLUMNS
"""One row per run: the residual model, then the grid's columns (σ²_u's statistics; seconds)."""


def efficiency_configs(samplers: Sequence[str], parameterizations: Sequence[str],
                       sizes: Mapping[str, Sequence[int]]) -> list[MixingConfig]:
    """Every sampler × parameterization, with each sampler's (draws per chain, tune, chains).

    Raises
    ------
    SpecError
        When a sampler has no sizes.
    """
    from partclust.errors import SpecError

    missing = [s for s in samplers if s not in sizes]
    if missing:
        raise SpecError(f"no (draws, tune, chains) given for sampler(s) {', '.join(missing)}")
    return [MixingConfig(s, p, *(int(v) for v in sizes[s])) for s in samplers for p in parameterizations]


def exact_runs(design: Design, residual: str, seeds: Sequence[int], draws: int, chains: int) -> pd.DataFrame:
    """Draw σ²_u i.i.d. from the exact posterior (the ideal sampler), timed and summarized like a fit.

    ``compile_s`` is the quadrature (the set-up), ``sample_s`` the drawing; ESS and MCSE are ArviZ's on
    the draws shaped (chains, draws), so the bulk ESS should be the number of draws within its sampling
    error.

    Returns
    -------
    pandas.DataFrame
        One row per seed, columns :data:`EFFICIENCY_RUN_COLUMNS`.
    """
    from partclust.inference.summary import summarize_params
    from partclust.references.exact import exact_posterior

    rows = []
    for seed in seeds:
        t0 = time.perf_counter()
        post = exact_posterior(design, residual)
        t1 = time.perf_counter()
        ds = post.draws(int(draws), int(seed), chains=int(chains))
        t2 = time.perf_counter()
        s = summarize_params({"s2u": ds["s2u"]}).iloc[0]
        rows.append({
            "residual": residual, "config": EXACT_LABEL, "sampler": EXACT_SAMPLER, "parameterization": "none",
            "n_effects": 0, "seed": int(seed), "chains": int(chains), "draws": int(draws), "tune": 0,
            "total_draws": int(draws) * int(chains),
            **{k: float(s[k]) for k in ("mean", "sd", "mcse_mean", "ess_bulk", "ess_tail", "r_hat")},
            "divergences": 0, "gate_passed": True, "gate_reason": "", "compile_s": t1 - t0, "sample_s": t2 - t1,
            "wall_s": t2 - t0,
        })
    return pd.DataFrame(rows, columns=list(EFFICIENCY_RUN_COLUMNS))


def efficiency_runs(design: Design | Mapping[str, Any], residuals: Sequence[str], configs: Sequence[MixingConfig],
                    seeds: Sequence[int], exact_draws: int = 1000, exact_chains: int = 4, cores: int | None = None
                    ) -> pd.DataFrame:
    """Fit every residual model × configuration × seed (notebook 05's mixing study) and add the exact sampler.

    Parameters
    ----------
    design : Design or mapping
        A run1 design (each residual model is then the built-in one), or, per residual model name, the
        data read through that model's specification (any trial of the family).

    Returns
    -------
    pandas.DataFrame
        One row per run, columns :data:`EFFICIENCY_RUN_COLUMNS`, the exact sampler's rows first per model.
    """
    frames = []
    for residual in residuals:
        data = design[residual] if isinstance(design, Mapping) else design
        frames.append(exact_runs(data, residual, seeds, exact_draws, exact_chains))
        runs = mixing_study(data, configs, seeds, residual=residual, cores=cores).runs
        frames.append(runs.assign(residual=residual).reindex(columns=list(EFFICIENCY_RUN_COLUMNS)))
    return pd.concat(frames, ignore_index=True)


EFFICIENCY_COLUMNS: tuple[str, ...] = (
    "residual", "config", "sampler", "parameterization", "n_effects", "seeds", "chains", "draws", "total_draws",
    "mean_of_means", "exact_mean", "z", "z_crit", "verdict", "ess_bulk", "ess_tail", "ess_bulk_per_draw",
    "ess_bulk_per_s", "ess_tail_per_s", "ess_bulk_per_s_end_to_end", "ess_tail_per_s_end_to_end", "divergences",
    "gate_passed", "draws_needed", "draws_needed_ess", "sd_of_means", "rms_mcse", "sample_s_per_run",
    "end_to_end_s", "seconds_to_target",
)


def _verdicts(summary: pd.DataFrame, runs: pd.DataFrame, residual: str, exact_mean: float) -> pd.DataFrame:
    """Judge each configuration's σ²_u mean against the exact mean with the comparison engine."""
    fits = []
    for label in summary["config"]:
        g = runs[runs["config"] == label]
        per_seed = [pd.DataFrame([{"param": "s2u", "mean": r["mean"], "mcse_mean": r["mcse_mean"],
                                   "sd": math.nan, "mcse_sd": math.nan, "q2.5": math.nan, "median": math.nan,
                                   "q97.5": math.nan, "mcse_q2.5": math.nan, "mcse_median": math.nan,
                                   "mcse_q97.5": math.nan}]) for _, r in g.iterrows()]
        ft = fit_table(per_seed)
        fits.append(ft[ft["statistic"] == "mean"])
    ft = pd.concat(fits, ignore_index=True)
    ref = Reference("exact", residual, reference_table([{"param": "s2u", "statistic": "mean", "value": exact_mean,
                                                         "se": 0.0}]), {"method": "quadrature"})
    return compare(ft, ref)


def efficiency_table(runs: pd.DataFrame, exact_means: Mapping[str, float], target: float = TARGET_MCSE) -> pd.DataFrame:
    """One row per residual model × set-up: σ²_u's ESS per second, divergences, draws needed, the verdict.

    Parameters
    ----------
    runs : pandas.DataFrame
        From :func:`efficiency_runs` (columns :data:`EFFICIENCY_RUN_COLUMNS`).
    exact_means : mapping
        Residual model → σ²_u's exact posterior mean (outcome units²).
    target : float
        The MCSE of σ²_u's posterior mean wanted (outcome units²).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`EFFICIENCY_COLUMNS`. Per configuration (means over seeds): ``ess_bulk``,
        ``ess_tail`` (all chains), ``ess_bulk_per_draw``; ``ess_*_per_s`` = ESS / seconds of sampling;
        ``ess_*_per_s_end_to_end`` = ESS / ``end_to_end_s``, the time one run costs a fresh process beyond
        its imports (model build, one compile — the slowest seed's, since later seeds reuse the compiled
        model — and sampling; the quadrature for the exact sampler); ``draws_needed`` = total draws for
        MCSE ≤ ``target`` from the reported MCSE (``draws_needed_ess`` via the ESS); ``z``, ``z_crit``,
        ``verdict``: the comparison engine's judgement of the seeds' pooled mean against the exact mean
        (Bonferroni over the configurations of the model); ``seconds_to_target``: the set-up's fixed cost
        (``end_to_end_s`` − sampling) plus sampling ``draws_needed`` at this run's rate (tuning scaled
        with the draws: an upper bound); the rest as in notebook 05's mixing table.
    """
    out = []
    for residual, r_runs in runs.groupby("residual", sort=False):
        exact_mean = float(exact_means[residual])
        summary = mixing_summary(r_runs, target=target, exact_mean=exact_mean)
        verdicts = _verdicts(summary, r_runs, residual, exact_mean)
        for k, row in summary.iterrows():
            g = r_runs[r_runs["config"] == row["config"]]
            setup = g["wall_s"] - g["compile_s"]
            end_to_end = float(setup.mean() + g["compile_s"].max())
            v = verdicts.iloc[k]
            out.append({
                "residual": residual, "config": row["config"], "sampler": row["sampler"],
                "parameterization": row["parameterization"], "n_effects": int(row["n_effects"]),
                "seeds": int(row["seeds"]), "chains": int(row["chains"]), "draws": int(row["draws"]),
                "total_draws": int(row["total_draws"]), "mean_of_means": float(row["mean_of_means"]),
                "exact_mean": exact_mean, "z": float(v["z"]), "z_crit": float(v["z_crit"]), "verdict": v["verdict"],
                "ess_bulk": float(g["ess_bulk"].mean()), "ess_tail": float(g["ess_tail"].mean()),
                "ess_bulk_per_draw": float((g["ess_bulk"] / g["total_draws"]).mean()),
                "ess_bulk_per_s": float((g["ess_bulk"] / g["sample_s"]).mean()),
                "ess_tail_per_s": float((g["ess_tail"] / g["sample_s"]).mean()),
                "ess_bulk_per_s_end_to_end": float(g["ess_bulk"].mean() / end_to_end),
                "ess_tail_per_s_end_to_end": float(g["ess_tail"].mean() / end_to_end),
                "divergences": int(row["divergences"]), "gate_passed": row["gate_passed"],
                "draws_needed": float(row["draws_needed_mcse"]), "draws_needed_ess": float(row["draws_needed_ess"]),
                "sd_of_means": float(row["sd_of_means"]), "rms_mcse": float(row["rms_mcse"]),
                "sample_s_per_run": float(row["sample_s_per_run"]), "end_to_end_s": end_to_end,
                "seconds_to_target": (end_to_end - float(row["sample_s_per_run"])
                                      + float(row["sample_s_per_run"]) * max(float(row["draws_needed_mcse"]),
                                                                             float(row["total_draws"]))
                                      / float(row["total_draws"])),
            })
    return pd.DataFrame(out, columns=list(EFFICIENCY_COLUMNS))


def _passed_all(gate: str) -> bool:
    done, _, total = str(gate).partition("/")
    return done == total


def untried_setups(table: pd.DataFrame) -> list[tuple[str, str]]:
    """List the sampler × parameterization combinations (of every one the project offers) the table has no row of.

    Returns
    -------
    list of (str, str)
        (sampler, parameterization) in the order of :data:`~partclust.config.SAMPLERS` ×
        :data:`~partclust.config.PARAMETERIZATIONS`; empty when every combination was tried.
    """
    tried = set(zip(table["sampler"], table["parameterization"]))
    return [(s, p) for s in SAMPLERS for p in PARAMETERIZATIONS if (s, p) not in tried]


def _untried_sentence(table: pd.DataFrame) -> str:
    missing = untried_setups(table)
    if not missing:
        return ""
    n = len(SAMPLERS) * len(PARAMETERIZATIONS)
    return (f"**Among the set-ups tried only**: {n - len(missing)} of the {n} sampler × parameterization combinations "
            "ran; not tried here: " + "; ".join(f"{SAMPLER_LABELS.get(s, s)} · {p}" for s, p in missing)
            + ". One of those may be faster; run the full grid (without --quick) to know.")


def recommendation(table: pd.DataFrame, target: float = TARGET_MCSE) -> list[str]:
    """Sentences, generated from the table, naming the best set-up per residual model and the draws it needs.

    A set-up qualifies when it had no divergence and its σ²_u mean is consistent with the exact
    posterior; among those the shortest ``seconds_to_target`` (fixed cost plus sampling the draws that
    MCSE ≤ ``target`` needs) wins. The exact sampler is the ideal, not a candidate: it exists only inside
    the model family. Seeds that failed the convergence gate at these sizes are said, since more draws
    are then needed anyway.

    Returns
    -------
    list of str
        Markdown sentences, one per residual model, then one naming the sampler × parameterization
        combinations the table does not have (:func:`untried_setups`; absent when it has them all: the
        recommendation is then among those tried only), then one on the slowest set-up.
    """
    lines = []
    for residual, g in table.groupby("residual", sort=False):
        samplers = g[g["sampler"] != EXACT_SAMPLER]
        ok = samplers[(samplers["divergences"] == 0) & (samplers["verdict"] == CONSISTENT)]
        exact = g[g["sampler"] == EXACT_SAMPLER]
        if ok.empty:
            lines.append(f"**{residual}**: no set-up ran without divergences and matched the exact mean; "
                         "increase the draws or the target acceptance.")
            continue
        best = ok.sort_values("seconds_to_target").iloc[0]
        need = draws_needed(best["total_draws"], best["rms_mcse"], target)
        passed = _passed_all(best["gate_passed"])
        gate = "" if passed else (
            f" (only {best['gate_passed']} seeds passed the convergence gate at these sizes: fit it with the draws "
            "below and check the gate again)")
        verb = "use" if passed else "the quickest to the target among those tried was"
        line = (f"**{residual}**: {verb} **{SAMPLER_LABELS.get(best['sampler'], best['sampler'])}, "
                f"{best['parameterization']}**{gate} — {best['ess_bulk_per_draw']:.2f} effective draws of σ²_u per "
                f"draw, {best['ess_bulk_per_s']:,.0f} per second of sampling; for MCSE ≤ {target:g} on σ²_u's mean "
                f"it needs about **{math.ceil(need):,} draws** in all (e.g. {math.ceil(need / best['chains']):,} per "
                f"chain × {best['chains']} chains), about {best['seconds_to_target']:.0f} s here with its set-up.")
        if not exact.empty:
            e = exact.iloc[0]
            line += (f" The exact i.i.d. sampler, the ideal, gives {e['ess_bulk_per_draw']:.2f} effective draws per "
                     f"draw and needs {math.ceil(draws_needed(e['total_draws'], e['rms_mcse'], target)):,}.")
        lines.append(line)
    fits = table[table["sampler"] != EXACT_SAMPLER]
    untried = _untried_sentence(fits)
    if untried:
        lines.append(untried)
    if len(fits):
        worst = fits.sort_values("ess_bulk_per_draw").iloc[0]
        lines.append(f"Slowest mixing: {worst['config']} ({worst['residual']}), {worst['ess_bulk_per_draw']:.3f} "
                     f"effective draws of σ²_u per draw: MCSE ≤ {target:g} would take about "
                     f"{math.ceil(worst['draws_needed']):,} draws.")
    return lines


def headline(table: pd.DataFrame, target: float = TARGET_MCSE) -> str:
    """One line for the landing page: the recommended set-up per residual model and the draws it needs.

    When the table lacks some sampler × parameterization combinations (:func:`untried_setups`, e.g. under
    ``--quick``) the line says the choice is among those tried.
    """
    parts = []
    for residual, g in table.groupby("residual", sort=False):
        ok = g[(g["sampler"] != EXACT_SAMPLER) & (g["divergences"] == 0) & (g["verdict"] == CONSISTENT)]
        if ok.empty:
            parts.append(f"{residual}: no set-up qualified")
            continue
        best = ok.sort_values("seconds_to_target").iloc[0]
        need = draws_needed(best["total_draws"], best["rms_mcse"], target)
        parts.append(f"{residual}: {SAMPLER_LABELS.get(best['sampler'], best['sampler'])}, {best['parameterization']} "
                     f"({best['ess_bulk_per_draw']:.2f} ESS/draw; ≈{math.ceil(need):,} draws for MCSE ≤ {target:g})")
    worst = table[table["sampler"] != EXACT_SAMPLER].sort_values("ess_bulk_per_draw")
    tail = (f"; slowest {worst.iloc[0]['config']} at {worst.iloc[0]['ess_bulk_per_draw']:.3f} ESS/draw"
            if len(worst) else "")
    fits = table[table["sampler"] != EXACT_SAMPLER]
    missing = untried_setups(fits)
    n = len(SAMPLERS) * len(PARAMETERIZATIONS)
    among = f" (among the {n - len(missing)} of {n} set-ups tried)" if missing else ""
    return f"Most efficient for σ²_u{among} — " + "; ".join(parts) + tail + "."
