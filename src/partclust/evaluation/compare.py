"""The comparison engine: whether a difference is Monte Carlo error or real.

For every parameter and statistic (mean, sd, q2.5, median, q97.5) the engine puts a fit (one run or
seeds pooled) beside a reference and computes

    difference = fit − reference,   se = sqrt(se_fit² + se_ref²),   z = difference / se

where ``se_fit`` is the run's MCSE (ArviZ; for quantiles ArviZ's quantile MCSE) or, for S ≥ 2 pooled
seeds, SD(seed values)/√S, and ``se_ref`` is the reference's own MCSE (zero for the exact posterior).
For a reference printed truncated to two decimals (PyMC 2, 2011) the reference is the interval
[v, v + 0.01): a fit inside it differs by zero, outside it by the distance to the nearest end.

Many parameters are tested at once, so the verdict uses a Bonferroni threshold per reference:
``|z| > Φ⁻¹(1 − α / 2m)`` with m comparable rows and family-wise α = 0.05 (Student-t quantiles when
the SE comes from the spread of a few seeds; see :func:`effective_df`). Without the correction,
about α·m rows would be called "real" by chance alone (see :func:`expected_false_alarms`).

References
----------
Dunn, O. J. (1961). Multiple comparisons among means. *JASA* 56(293), 52–64.
doi:10.1080/01621459.1961.10482090 (the Bonferroni threshold for simultaneous tests)

Satterthwaite, F. E. (1946). An approximate distribution of estimates of variance components.
*Biometrics Bulletin* 2(6), 110–114. doi:10.2307/3002019

Welch, B. L. (1947). The generalization of "Student's" problem when several different population
variances are involved. *Biometrika* 34(1–2), 28–35. doi:10.1093/biomet/34.1-2.28

Length: over 400 lines only because half of them are the numpydoc docstrings that say what each column
means; the code (about 200 lines) is the one verdict engine and the run set it judges.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from partclust.errors import ComparisonError, FitError
from partclust.inference.runs import read_run
from partclust.inference.summary import MCSE_COLUMN, STATISTICS
from partclust.references.base import Reference

__all__ = ["CONSISTENT", "REAL", "NOT_COMPARABLE", "FAMILY_ALPHA", "COMPARISON_COLUMNS", "fit_table", "z_critical",
           "effective_df", "expected_false_alarms", "compare", "compare_all", "per_seed_z", "verdict_counts",
           "flag_summary", "FlagSummary", "RunSet", "load_runs"]

CONSISTENT = "consistent with Monte Carlo error"
REAL = "real difference"
NOT_COMPARABLE = "not comparable"
FAMILY_ALPHA = 0.05
COMPARISON_COLUMNS: tuple[str, ...] = (
    "reference", "param", "statistic", "reference_value", "reference_lo", "reference_hi",
    "reference_se", "fit_value", "fit_se", "n_seeds", "difference", "se", "z", "z_crit", "verdict",
    "reason",
)


def fit_table(summaries: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Tabulate a fit, one run or several seeds pooled, in the long form :func:`compare` takes.

    One run: its statistic and ArviZ MCSE. Several seeds: the mean over seeds and SD/√S, the spread
    that was actually observed (which does not rely on the MCSEs being right).

    Parameters
    ----------
    summaries : sequence of pandas.DataFrame
        Run summaries (columns :data:`~partclust.inference.SUMMARY_COLUMNS`), one per seed; the first
        fixes the order of the parameters.

    Returns
    -------
    pandas.DataFrame
        Columns ``param``; ``statistic`` (one of :data:`~partclust.inference.STATISTICS`); ``fit_value``,
        the statistic (mean over seeds), in the parameter's units; ``fit_se``, its standard error (the
        run's MCSE for one run, SD over seeds/√S for S ≥ 2); ``n_seeds``, S. Rows by parameter, then by
        statistic.

    Raises
    ------
    ComparisonError
        When ``summaries`` is empty (no converged run to compare).
    """
    if not summaries:
        raise ComparisonError("no converged runs to compare")
    long = []
    for k, s in enumerate(summaries):
        for stat in STATISTICS:
            part = s[["param", stat, MCSE_COLUMN[stat]]].rename(columns={stat: "value", MCSE_COLUMN[stat]: "mcse"})
            part = part.assign(statistic=stat, seed_index=k)
            long.append(part)
    df = pd.concat(long, ignore_index=True)
    order = {p: i for i, p in enumerate(summaries[0]["param"])}
    g = df.groupby(["param", "statistic"], sort=False)
    out = g.agg(fit_value=("value", "mean"), sd_values=("value", "std"), mcse=("mcse", "mean"),
                n_seeds=("value", "size")).reset_index()
    single = out["n_seeds"] == 1
    out["fit_se"] = np.where(single, out["mcse"], out["sd_values"] / np.sqrt(out["n_seeds"]))
    out["_o"] = out["param"].map(order).fillna(len(order)) * 10 + out["statistic"].map(STATISTICS.index)
    return out.sort_values("_o")[["param", "statistic", "fit_value", "fit_se", "n_seeds"]].reset_index(drop=True)


def z_critical(m: int, alpha: float = FAMILY_ALPHA, df: float = np.inf) -> float:
    """Two-sided Bonferroni threshold for ``m`` simultaneous comparisons (Student-t with ``df``).

    Returns
    -------
    float
        Φ⁻¹(1 − α/2m), or the t quantile with ``df`` degrees of freedom when ``df`` is finite (Dunn 1961).
    """
    q = alpha / (2 * max(m, 1))
    return float(stats.norm.isf(q) if not np.isfinite(df) else stats.t.isf(q, df))


def effective_df(fit_se: np.ndarray, ref_se: np.ndarray, n_seeds: np.ndarray) -> np.ndarray:
    """Degrees of freedom of the combined standard error (Welch–Satterthwaite).

    A pooled SE estimated from S seeds has S − 1 degrees of freedom; a single run's MCSE and a
    reference's MCSE are treated as known (infinite df). With few seeds this keeps a by-chance small
    spread from turning ordinary Monte Carlo error into "real differences".

    Returns
    -------
    numpy.ndarray
        Per row, (se_fit² + se_ref²)² / (se_fit⁴ / (S − 1)) (Satterthwaite 1946; Welch 1947), or inf
        for a single run.
    """
    fit_df = np.where(n_seeds > 1, n_seeds - 1.0, np.inf)
    total = (fit_se**2 + ref_se**2) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        df = total / (fit_se**4 / fit_df)
    return np.where(np.isfinite(fit_df), df, np.inf)


def expected_false_alarms(m: int, alpha: float = FAMILY_ALPHA) -> dict[str, float]:
    """How many of ``m`` true nulls a per-row test at level α flags by chance, and with Bonferroni."""
    return {"uncorrected_expected": alpha * m, "bonferroni_familywise_max": alpha}


def compare(fit: pd.DataFrame, reference: Reference, alpha: float = FAMILY_ALPHA) -> pd.DataFrame:
    """Judge every (param, statistic) of a fit against one reference: Monte Carlo error, or real.

    Parameters
    ----------
    fit : pandas.DataFrame
        From :func:`fit_table`: columns ``param``, ``statistic``, ``fit_value``, ``fit_se``, ``n_seeds``.
    reference : Reference
        Its ``table`` (columns :data:`~partclust.references.REFERENCE_COLUMNS`) gives the reference
        value, its own Monte Carlo standard error and, for a truncated print, the interval [lo, hi) it
        stands for; an unavailable reference makes every row not comparable.
    alpha : float
        Family-wise error rate over this reference's comparable rows.

    Returns
    -------
    pandas.DataFrame
        One row per row of ``fit``, columns :data:`COMPARISON_COLUMNS`:

        - ``reference``: the reference's name; ``param``, ``statistic``, ``fit_value``, ``fit_se``,
          ``n_seeds``: as in ``fit``;
        - ``reference_value``, ``reference_lo``, ``reference_hi``, ``reference_se``: the reference's
          number, the interval it stands for (NaN for a point) and its MCSE (0 for the exact posterior);
        - ``difference``: fit − reference; against an interval, 0 inside it and the signed distance to its
          nearer end outside;
        - ``se`` = √(fit_se² + reference_se²), a missing reference SE counting as 0;
        - ``z`` = difference / se and ``z_crit``, the Bonferroni threshold over the m comparable rows
          (:func:`z_critical`; a Student-t quantile with :func:`effective_df` degrees of freedom when
          the fit's SE comes from few seeds); both NaN when the row is not comparable;
        - ``verdict``: :data:`REAL` when ``|z| > z_crit``, else :data:`CONSISTENT`; :data:`NOT_COMPARABLE`
          when the reference is unavailable, has no value for the statistic or notes why it cannot be
          compared (REML: a point estimate), or when the fit has no positive standard error;
        - ``reason``: why a row is not comparable, or the threshold a real difference exceeded.

        Values and differences are in the parameters' units (variances in outcome units²); z is unitless.

    Notes
    -----
    With m comparable rows, a per-row test at level α would call about α·m of them real by chance
    (:func:`expected_false_alarms`); the Bonferroni threshold Φ⁻¹(1 − α/2m) keeps the chance of even
    one false "real difference" at most α, whatever the correlation between rows (Dunn 1961).
    """
    if not reference.available:
        rows = fit.assign(reference=reference.name, verdict=NOT_COMPARABLE,
                          reason=reference.unavailable_reason or f"no {reference.name} reference")
        return rows.reindex(columns=list(COMPARISON_COLUMNS))
    ref = reference.table.rename(columns={"value": "reference_value", "se": "reference_se",
                                          "lo": "reference_lo", "hi": "reference_hi", "note": "ref_note"})
    df = fit.merge(ref, on=["param", "statistic"], how="left")
    df["reference"] = reference.name
    has_interval = df["reference_lo"].notna() & df["reference_hi"].notna()
    point = df["reference_value"]
    inside = has_interval & (df["fit_value"] >= df["reference_lo"]) & (df["fit_value"] < df["reference_hi"])
    below = has_interval & (df["fit_value"] < df["reference_lo"])
    diff = np.where(
        has_interval,
        np.where(inside, 0.0, np.where(below, df["fit_value"] - df["reference_lo"], df["fit_value"] - df["reference_hi"])),
        df["fit_value"] - point,
    )
    df["difference"] = diff
    ref_se = df["reference_se"].fillna(0.0)
    df["se"] = np.sqrt(df["fit_se"] ** 2 + ref_se**2)

    reason = pd.Series("", index=df.index, dtype=object)
    missing = df["reference_value"].isna() & ~has_interval
    note = df["ref_note"].fillna("").astype(str)
    reason[missing & (note == "")] = f"{reference.name} has no value for this statistic"
    reason[(note != "") & (reason == "")] = note[(note != "") & (reason == "")]
    bad_se = ~(df["se"] > 0) | df["fit_se"].isna()
    reason[bad_se & (reason == "")] = "no Monte Carlo standard error for the fit"
    comparable = reason == ""
    m = int(comparable.sum())
    dof = effective_df(df["fit_se"].to_numpy(float), ref_se.to_numpy(float), df["n_seeds"].to_numpy(float))
    zc = np.array([z_critical(m, alpha, d) for d in dof])
    df["z"] = np.where(comparable, df["difference"] / df["se"].where(df["se"] > 0), np.nan)
    df["z_crit"] = np.where(comparable, zc, np.nan)
    df["verdict"] = np.where(~comparable, NOT_COMPARABLE, np.where(np.abs(df["z"]) > zc, REAL, CONSISTENT))
    df["reason"] = reason
    real = comparable & (df["verdict"] == REAL)
    df.loc[real, "reason"] = [
        f"|z| > {c:.2f} (Bonferroni over {m} comparisons, family-wise α = {alpha}"
        + (f", t with {d:.0f} df)" if np.isfinite(d) else ")")
        for c, d in zip(zc[real.to_numpy()], dof[real.to_numpy()])
    ]
    return df.reindex(columns=list(COMPARISON_COLUMNS))


def compare_all(fit: pd.DataFrame, references: Iterable[Reference] | Mapping[str, Reference],
                alpha: float = FAMILY_ALPHA) -> pd.DataFrame:
    """Run :func:`compare` against every reference and stack the rows.

    Parameters
    ----------
    fit : pandas.DataFrame
        From :func:`fit_table`.
    references : iterable of Reference, or mapping of str to Reference
        E.g. :func:`~partclust.references.all_references`'s result.
    alpha : float
        Family-wise error rate, applied per reference (each reference is its own family of tests).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COMPARISON_COLUMNS`; the rows of each reference in turn, in the order given.
    """
    refs = references.values() if isinstance(references, Mapping) else references
    return pd.concat([compare(fit, r, alpha) for r in refs], ignore_index=True)


def per_seed_z(summaries: Sequence[pd.DataFrame], reference: Reference, statistic: str = "mean") -> pd.DataFrame:
    """Compute z_s = (m_s − reference) / MCSE_s for every seed and parameter (STUDY.md's calibration check).

    If each fit is off by Monte Carlo error only and its MCSE is right, these z values are standard normal.

    Parameters
    ----------
    summaries : sequence of pandas.DataFrame
        Run summaries (columns :data:`~partclust.inference.SUMMARY_COLUMNS`), one per seed.
    reference : Reference
        Usually the exact posterior; its ``value`` rows for ``statistic`` are used.
    statistic : str
        One of :data:`~partclust.inference.STATISTICS`.

    Returns
    -------
    pandas.DataFrame
        Columns ``seed_index`` (position in ``summaries``), ``param``, ``fit_value`` (the seed's
        statistic, in the parameter's units), ``mcse`` (its MCSE) and ``z`` (unitless); one row per seed
        and parameter present in both the summary and the reference.
    """
    ref = reference.table[reference.table["statistic"] == statistic].set_index("param")
    rows = []
    for k, s in enumerate(summaries):
        s = s.set_index("param")
        for param in s.index.intersection(ref.index):
            mcse = s.loc[param, MCSE_COLUMN[statistic]]
            rows.append({"seed_index": k, "param": param, "fit_value": s.loc[param, statistic], "mcse": mcse,
                         "z": (s.loc[param, statistic] - ref.loc[param, "value"]) / mcse})
    return pd.DataFrame(rows)


def verdict_counts(comparison: pd.DataFrame) -> pd.DataFrame:
    """Count the verdicts per reference.

    Returns
    -------
    pandas.DataFrame
        Index: the references; columns :data:`CONSISTENT`, :data:`REAL`, :data:`NOT_COMPARABLE` (counts).
    """
    return (comparison.groupby(["reference", "verdict"]).size().unstack(fill_value=0)
            .reindex(columns=[CONSISTENT, REAL, NOT_COMPARABLE], fill_value=0))


@dataclass(frozen=True)
class FlagSummary:
    """The false-alarm arithmetic of a comparison, and the rows flagged as real differences.

    Attributes
    ----------
    reference : str
        The reference whose comparable rows are counted.
    compared : int
        Statistics judged against it (m).
    expected_by_chance : float
        α·m: how many a test without correction would flag if nothing differed.
    familywise_alpha : float
        The Bonferroni bound on the chance of even one false flag.
    flagged : pandas.DataFrame
        Every row, against any reference, whose verdict is a real difference.
    """

    reference: str
    compared: int
    expected_by_chance: float
    familywise_alpha: float
    flagged: pd.DataFrame

    def markdown(self) -> str:
        """State the false-alarm arithmetic as one sentence (numbers from the fields)."""
        return (f"{self.compared} statistics (means, SDs, quantiles) are compared with the {self.reference} "
                f"reference. Tested one by one at the 5 % level, about {self.expected_by_chance:.1f} would be "
                f"flagged by chance alone, so the verdicts use a Bonferroni threshold: the chance of even one "
                f"false 'real difference' is at most {self.familywise_alpha:.0%}.")


def flag_summary(comparison: pd.DataFrame, reference: str = "exact", alpha: float = FAMILY_ALPHA) -> FlagSummary:
    """Summarize the false-alarm arithmetic and the flagged rows that notebooks 03 and 04 show.

    Parameters
    ----------
    comparison : pandas.DataFrame
        Rows of :data:`COMPARISON_COLUMNS` (from :func:`compare_all`).
    reference : str
        Whose comparable rows are counted.
    alpha : float
        The family-wise error rate of the verdicts.

    Returns
    -------
    FlagSummary
        ``compared``: comparable rows against ``reference``; ``expected_by_chance``: α·m, the rows a
        per-row test at level α would flag if nothing differed; ``flagged``: every row whose verdict
        is a real difference.
    """
    m = int(((comparison["reference"] == reference) & (comparison["verdict"] != NOT_COMPARABLE)).sum())
    fa = expected_false_alarms(m, alpha)
    flagged = comparison[comparison["verdict"] == REAL].reset_index(drop=True)
    return FlagSummary(reference, m, fa["uncorrected_expected"], fa["bonferroni_familywise_max"], flagged)


@dataclass(frozen=True)
class RunSet:
    """Runs to compare: those that passed the convergence gate, and the excluded ones with reasons."""

    model: str
    included: tuple[tuple[str, dict, pd.DataFrame], ...]
    excluded: tuple[tuple[str, str], ...]
    data_sha256: str

    @property
    def summaries(self) -> list[pd.DataFrame]:
        """The summaries of the included runs, in the order they were read."""
        return [s for _, _, s in self.included]


def load_runs(run_dirs: Sequence[str], model: str | None = None, data_sha256: str | None = None,
              spec_record: dict | None = None) -> RunSet:
    """Read run directories; keep converged runs of ``model``; refuse runs of other data or another specification.

    A run whose recorded data SHA-256 differs from ``data_sha256`` (or from the other runs), or whose
    model specification (formula, priors as PROC MCMC text) differs from ``spec_record`` (or from the
    other runs'), is an error, not an exclusion: comparing it would answer a different question.

    Parameters
    ----------
    run_dirs : sequence of str
        Run folders (``run.json`` and ``summary.csv`` each).
    model : str, optional
        The model every run must be of (``single``, ``per_condition`` or a formula model's name);
        default: that of the first readable run.
    data_sha256 : str, optional
        The dataset the runs must have been fitted to (the one the references are computed from).
    spec_record : dict, optional
        The model specification every run must have fitted
        (:meth:`partclust.models.ModelSpec.record`); default: that of the first readable run.

    Returns
    -------
    RunSet
        ``included``: (folder, run record, summary) of each run that passed the convergence gate, in the
        order given; ``excluded``: (folder, reason) of unreadable or unconverged runs; ``data_sha256``.

    Raises
    ------
    ComparisonError
        When a run is of another model, of other data or of another specification, the runs mix
        datasets or specifications, or none is readable.
    """
    from partclust.inference.runs import run_spec_record

    specs: list[tuple[str, dict]] = []
    included, excluded = [], []
    shas: set[str] = set()
    for d in run_dirs:
        try:
            record, summary = read_run(d)
        except FitError as exc:
            excluded.append((str(d), str(exc)))
            continue
        rec_model = record["settings"]["model"]
        if model is None:
            model = rec_model
        if rec_model != model:
            raise ComparisonError(f"run {d} is of model {rec_model!r}, not {model!r}; compare one model at a time.")
        sha = record["data"]["sha256"]
        if data_sha256 is not None and sha != data_sha256:
            raise ComparisonError(
                f"run {d} was fitted to data with SHA-256 {sha[:12]}…, but the references are computed from "
                f"data with SHA-256 {data_sha256[:12]}…; pass the run's own dataset with --data."
            )
        shas.add(sha)
        rec_spec = run_spec_record(record)
        want = spec_record if spec_record is not None else (specs[0][1] if specs else rec_spec)
        if rec_spec != want:
            diff = sorted(k for k in set(rec_spec) | set(want) if rec_spec.get(k) != want.get(k))
            raise ComparisonError(
                f"run {d} fitted another model specification ({', '.join(diff)} differ: {rec_spec.get('formula')!r} "
                f"with priors {rec_spec.get('priors')} vs {want.get('formula')!r} with priors {want.get('priors')}); "
                "compare runs of one specification.")
        specs.append((str(d), rec_spec))
        if not record["convergence"]["passed"]:
            excluded.append((str(d), "convergence gate " + record["convergence"]["reason"]))
            continue
        included.append((str(d), record, summary))
    if len(shas) > 1:
        raise ComparisonError(f"the runs were fitted to {len(shas)} different datasets; compare runs of one dataset.")
    if model is None:
        raise ComparisonError("no readable run among " + ", ".join(map(str, run_dirs)))
    return RunSet(model=model, included=tuple(included), excluded=tuple(excluded),
                  data_sha256=next(iter(shas)) if shas else (data_sha256 or ""))
