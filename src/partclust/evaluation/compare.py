"""The comparison engine: whether a difference is Monte Carlo error or real.

For every parameter and statistic (mean, sd, q2.5, median, q97.5) the engine puts a fit (one run or
seeds pooled) beside a reference and computes

    difference = fit − reference,   se = sqrt(se_fit² + se_ref²),   z = difference / se

where ``se_fit`` is the run's MCSE (ArviZ; for quantiles ArviZ's quantile MCSE); for S pooled seeds
with S ≥ :data:`MIN_SEEDS_FOR_SPREAD` it is SD(seed values)/√S, the spread actually observed, and with
fewer seeds √(Σ MCSE²)/S from the runs' own MCSEs (a spread from two values has one degree of freedom:
its Student-t threshold after Bonferroni is hundreds of SEs wide, so nothing could ever be flagged).
The table says which in ``fit_se_source``. ``se_ref`` is the reference's own MCSE (zero for the exact
posterior).
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

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from partclust.data import Design, same_data
from partclust.errors import ComparisonError, FitError
from partclust.inference.runs import read_run
from partclust.inference.summary import MCSE_COLUMN, STATISTICS
from partclust.references.base import Reference

__all__ = ["CONSISTENT", "REAL", "NOT_COMPARABLE", "FAMILY_ALPHA", "COMPARISON_COLUMNS", "MIN_SEEDS_FOR_SPREAD",
           "SE_FROM_MCSE", "SE_FROM_SPREAD", "fit_table", "z_critical",
           "effective_df", "expected_false_alarms", "compare", "compare_all", "per_seed_z", "verdict_counts",
           "REFERENCE_WORDS", "REFERENCE_NAMES", "real_differences_text", "flag_summary", "FlagSummary", "RunSet",
           "load_runs"]

CONSISTENT = "consistent with Monte Carlo error"
REAL = "real difference"
NOT_COMPARABLE = "not comparable"
FAMILY_ALPHA = 0.05
MIN_SEEDS_FOR_SPREAD = 3
"""Fewest seeds whose spread gives the pooled SE; below it the runs' own MCSEs do."""
SE_FROM_MCSE = "runs' MCSEs"
SE_FROM_SPREAD = "spread across seeds"
COMPARISON_COLUMNS: tuple[str, ...] = (
    "reference", "param", "statistic", "reference_value", "reference_lo", "reference_hi",
    "reference_se", "fit_value", "fit_se", "fit_se_source", "n_seeds", "difference", "se", "z", "z_crit",
    "verdict", "reason",
)


def fit_table(summaries: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Long table ``param, statistic, fit_value, fit_se, fit_se_source, n_seeds`` from run summaries.

    One run: its statistic and ArviZ MCSE. S seeds: the mean over seeds, and as its SE either SD/√S,
    the spread that was actually observed (which does not rely on the MCSEs being right), when
    S ≥ :data:`MIN_SEEDS_FOR_SPREAD`, or √(Σ MCSE²)/S from the runs' own MCSEs with fewer seeds.
    ``fit_se_source`` says which (:data:`SE_FROM_SPREAD` or :data:`SE_FROM_MCSE`).

    Raises
    ------
    ComparisonError
        When no summary is given.
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
    df["mcse2"] = df["mcse"].astype(float) ** 2
    order = {p: i for i, p in enumerate(summaries[0]["param"])}
    g = df.groupby(["param", "statistic"], sort=False)
    out = g.agg(fit_value=("value", "mean"), sd_values=("value", "std"), n_seeds=("value", "size"),
                sum_mcse2=("mcse2", "sum")).reset_index()
    sum_mcse2 = out["sum_mcse2"].to_numpy(float)
    spread = out["n_seeds"] >= MIN_SEEDS_FOR_SPREAD
    out["fit_se"] = np.where(spread, out["sd_values"] / np.sqrt(out["n_seeds"]),
                             np.sqrt(sum_mcse2) / out["n_seeds"])
    out["fit_se_source"] = np.where(spread, SE_FROM_SPREAD, SE_FROM_MCSE)
    out["_o"] = out["param"].map(order).fillna(len(order)) * 10 + out["statistic"].map(STATISTICS.index)
    return (out.sort_values("_o")[["param", "statistic", "fit_value", "fit_se", "fit_se_source", "n_seeds"]]
            .reset_index(drop=True))


def z_critical(m: int, alpha: float = FAMILY_ALPHA, df: float = np.inf) -> float:
    """Two-sided Bonferroni threshold for ``m`` simultaneous comparisons (Student-t with ``df``).

    Returns
    -------
    float
        Φ⁻¹(1 − α/2m), or the t quantile with ``df`` degrees of freedom when ``df`` is finite (Dunn 1961).
    """
    q = alpha / (2 * max(m, 1))
    return float(stats.norm.isf(q) if not np.isfinite(df) else stats.t.isf(q, df))


def effective_df(fit_se: np.ndarray, ref_se: np.ndarray, n_seeds: np.ndarray,
                 from_spread: np.ndarray | None = None) -> np.ndarray:
    """Degrees of freedom of the combined standard error (Welch–Satterthwaite).

    A pooled SE estimated from the spread of S seeds has S − 1 degrees of freedom; an SE from the
    runs' MCSEs and a reference's MCSE are treated as known (infinite df). With few seeds this keeps
    a by-chance small spread from turning ordinary Monte Carlo error into "real differences".

    Parameters
    ----------
    fit_se, ref_se, n_seeds : numpy.ndarray
        Per row.
    from_spread : numpy.ndarray of bool, optional
        Whether the row's fit SE is the spread across seeds (default: S ≥ :data:`MIN_SEEDS_FOR_SPREAD`).
    """
    if from_spread is None:
        from_spread = n_seeds >= MIN_SEEDS_FOR_SPREAD
    fit_df = np.where(from_spread & (n_seeds > 1), n_seeds - 1.0, np.inf)
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
    if "fit_se_source" in df:
        from_spread = (df["fit_se_source"] == SE_FROM_SPREAD).to_numpy()
    else:
        from_spread = None
    dof = effective_df(df["fit_se"].to_numpy(float), ref_se.to_numpy(float), df["n_seeds"].to_numpy(float),
                       from_spread)
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
    few = comparable & (df["n_seeds"] > 1) & ~pd.Series(
        from_spread if from_spread is not None else df["n_seeds"] >= MIN_SEEDS_FOR_SPREAD, index=df.index)
    if few.any():
        note = (f"SE from the runs' own MCSEs: fewer than {MIN_SEEDS_FOR_SPREAD} seeds cannot estimate it "
                "from their spread")
        df.loc[few, "reason"] = [f"{r}; {note}" if r else note for r in df.loc[few, "reason"]]
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


REFERENCE_WORDS: dict[str, str] = {"exact": "the exact posterior", "pymc2_2011": "PyMC 2 (2011)", "sas": "SAS"}
"""How a sentence names each judged reference (REML is a point estimate, never judged)."""
REFERENCE_NAMES: dict[str, str] = {"exact": "exact posterior", "pymc2_2011": "PyMC 2 (2011)", "sas": "SAS"}
"""How a table names each judged reference."""


def real_differences_text(comparison: pd.DataFrame) -> str:
    """Say, per judged reference, how many comparable statistics differ by more than Monte Carlo error.

    Returns
    -------
    str
        E.g. ``"0 of 75 against the exact posterior, 1 of 15 against PyMC 2 (2011)"``; references with
        no comparable row are left out; ``"no comparable statistic"`` when none has any.
    """
    counts = verdict_counts(comparison) if len(comparison) else pd.DataFrame(columns=[CONSISTENT, REAL])
    parts = []
    for name, row in counts.iterrows():
        m = int(row[CONSISTENT] + row[REAL])
        if m:
            parts.append(f"{int(row[REAL])} of {m} against {REFERENCE_WORDS.get(str(name), str(name))}")
    return ", ".join(parts) or "no comparable statistic"


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

    def flagged_view(self) -> pd.DataFrame:
        """Return the flagged rows as a page shows them: the columns a reader needs, rounded to 4 decimals.

        Returns
        -------
        pandas.DataFrame
            Columns reference (as :data:`REFERENCE_NAMES` names it), param, statistic, reference_value
            (``[lo, hi)`` as text for an interval
            reference such as a truncated print), fit_value, se (of the difference), z and z_crit (the
            Bonferroni threshold); the CSV keeps every column (:data:`COMPARISON_COLUMNS`).
        """
        f = self.flagged
        if not len(f):
            return pd.DataFrame(columns=["reference", "param", "statistic", "reference_value", "fit_value", "se", "z",
                                         "z_crit"])
        interval = f["reference_lo"].notna() & f["reference_hi"].notna()
        shown = f["reference_value"].map(lambda v: f"{v:.4f}").where(~interval, "[" + f["reference_lo"].map(
            lambda v: f"{v:.4f}") + ", " + f["reference_hi"].map(lambda v: f"{v:.4f}") + ")")
        view = f[["reference", "param", "statistic"]].assign(reference_value=shown)
        view["reference"] = view["reference"].map(lambda r: REFERENCE_NAMES.get(str(r), str(r)))
        return view.join(f[["fit_value", "se", "z", "z_crit"]].round(4))

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


def _data_id(record: dict) -> str:
    """Return the dataset a run record names: its canonical hash, or for an old record its file's SHA-256."""
    data = record.get("data", {})
    return data.get("content_sha256") or data.get("sha256", "")


def load_runs(run_dirs: Sequence[str], model: str | None = None, data_sha256: str | None = None, *,
              design: Design | None = None, spec_record: dict | None = None) -> RunSet:
    """Read run directories; keep converged runs of ``model``; refuse runs of other data or another specification.

    A run whose recorded dataset differs from the one given (or from the other runs'), or whose model
    specification (formula, priors as PROC MCMC text) differs from ``spec_record`` (or from the other
    runs'), is an error, not an exclusion: comparing it would answer a different question. Datasets are
    matched by their canonical hash (:func:`~partclust.data.same_data`), so a run of run1 is recognised
    whatever line endings the file given has.

    Parameters
    ----------
    run_dirs : sequence of path
    model : str, optional
        ``single``, ``per_condition`` or a formula model's name. Default: the first readable run's model.
    data_sha256 : str, optional
        The dataset's canonical hash (or, for runs recorded before it existed, its file's SHA-256).
    design : Design or ModelData, optional
        The dataset itself (both hashes are then used); takes precedence over ``data_sha256``.
    spec_record : dict, optional
        The model specification every run must have fitted (:meth:`partclust.models.ModelSpec.record`);
        default: that of the first readable run.

    Raises
    ------
    ComparisonError
        For a run that is not complete (a file missing, truncated or changed since the fit:
        :func:`~partclust.inference.runs.verify_run`), of another model, of other data or of another
        specification, and for a run given twice: the same folder, or two folders of the same model,
        seed, settings and data.
    """
    from partclust.inference.runs import run_spec_record

    specs: list[dict] = []
    included, excluded = [], []
    shas: set[str] = set()
    given: dict[Path, str] = {}
    fits: dict[tuple[str, str, str], str] = {}
    for d in run_dirs:
        where = Path(d).resolve()
        if where in given:
            raise ComparisonError(f"run {d} is given twice ({given[where]} and {d}); each run may count once.")
        given[where] = str(d)
        try:
            record, summary = read_run(d)
        except FitError as exc:  # a corrupt or unfinished run is refused, never silently dropped
            raise ComparisonError(f"{exc} Or leave it out of the comparison.") from None
        rec_model = record["settings"]["model"]
        if model is None:
            model = rec_model
        if rec_model != model:
            raise ComparisonError(f"run {d} is of model {rec_model!r}, not {model!r}; compare one model at a time.")
        sha = _data_id(record)
        recorded = record.get("data", {})
        if design is not None:
            matches = same_data(recorded, design.content_sha256, design.sha256)
            wanted = design.content_sha256
        elif data_sha256 is not None:
            matches = data_sha256 in (recorded.get("content_sha256"), recorded.get("sha256"))
            wanted = data_sha256
        else:
            matches, wanted = True, ""
        if not matches:
            raise ComparisonError(
                f"run {d} was fitted to other data (recorded {recorded.get('path', '?')}, hash {sha[:12]}…) than "
                f"the references are computed from (hash {wanted[:12]}…); pass the run's own dataset with --data."
            )
        shas.add(sha)
        rec_spec = run_spec_record(record)
        want = spec_record if spec_record is not None else (specs[0] if specs else rec_spec)
        if rec_spec != want:
            diff = sorted(k for k in set(rec_spec) | set(want) if rec_spec.get(k) != want.get(k))
            raise ComparisonError(
                f"run {d} fitted another model specification ({', '.join(diff)} differ: {rec_spec.get('formula')!r} "
                f"with priors {rec_spec.get('priors')} vs {want.get('formula')!r} with priors {want.get('priors')}); "
                "compare runs of one specification.")
        specs.append(rec_spec)
        same = (rec_model, json.dumps(record.get("settings"), sort_keys=True), sha)
        if same in fits:
            raise ComparisonError(
                f"runs {fits[same]} and {d} are the same fit (model {rec_model}, seed "
                f"{record.get('settings', {}).get('seed')}, equal settings and data): counted twice they would "
                "pool two copies of one seed with no spread between them. Keep one of them."
            )
        fits[same] = str(d)
        if not record["convergence"]["passed"]:
            excluded.append((str(d), "convergence gate " + record["convergence"]["reason"]))
            continue
        included.append((str(d), record, summary))
    if len(shas) > 1:
        raise ComparisonError(f"the runs were fitted to {len(shas)} different datasets; compare runs of one dataset.")
    if model is None:
        raise ComparisonError("no run folders given")
    return RunSet(model=model, included=tuple(included), excluded=tuple(excluded),
                  data_sha256=next(iter(shas)) if shas else (design.content_sha256 if design is not None
                                                             else data_sha256 or ""))
