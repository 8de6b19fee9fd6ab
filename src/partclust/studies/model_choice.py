"""Which residual model: one σ²_e, or one per condition? PSIS-LOO, REML's likelihood-ratio test, the ratio.

:func:`model_traces` reads each model's stored run (its ``posterior.nc`` holds the pointwise
log-likelihood, so LOO never refits); :func:`loo_comparison` runs ArviZ's PSIS-LOO and ``compare``;
:func:`pareto_k_table` lists the observations whose Pareto k is above 0.7; :func:`variance_ratio`
summarizes σ²_e,control / σ²_e,treated with P(ratio > 1); :func:`model_shift` puts b1 and σ²_u of the two
models side by side (exact posterior); :func:`exact_loo` is the exact leave-one-out ELPD (each point
left out in turn, its predictive density a ratio of quadrature evidences), the test's reference;
:func:`conclusion` says whether the data support separate variances.

References
----------
Vehtari, A., Gelman, A. and Gabry, J. (2017). Practical Bayesian model evaluation using leave-one-out
cross-validation and WAIC. *Statistics and Computing* 27, 1413–1432. doi:10.1007/s11222-016-9696-4
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from partclust.config import RESIDUALS
from partclust.errors import FitError
from partclust.layout import ResultsLayout

__all__ = ["PARETO_K_BAD", "model_traces", "loo_comparison", "pareto_k_table", "variance_ratio", "model_shift",
           "exact_loo", "fit_for_loo", "conclusion", "SHIFT_COLUMNS"]

PARETO_K_BAD = 0.7
"""Pareto k above which PSIS-LOO's estimate for an observation is unreliable (Vehtari et al. 2017/2024)."""


def model_traces(layout: ResultsLayout, seed: int | None = None, models: Sequence[str] = RESIDUALS
                 ) -> dict[str, tuple[Path, Any]]:
    """Read each model's stored run that holds the pointwise log-likelihood: ``{model: (run folder, DataTree)}``.

    Parameters
    ----------
    layout : ResultsLayout
    seed : int, optional
        The seed's run, tried first (a study stores the log-likelihood in its first seed's run only); then
        another seed's run fitted to the same data and specification as it (its ``run.json``). Without
        ``seed``: the first seed whose file has a ``log_likelihood`` group.
    models : sequence of str

    Returns
    -------
    dict
        Models without such a run are absent (the caller fits them or says so).
    """
    from partclust.inference.runs import read_trace

    out: dict[str, tuple[Path, Any]] = {}
    for model in models:
        dirs = ([layout.run_dir(model, seed)] if seed is not None else []) + layout.seed_runs(model)
        same = _fitted_to(layout.run_dir(model, seed)) if seed is not None else None
        for d in dirs:
            if same is not None and _fitted_to(d) != same:  # a run left by a study of other data or priors
                continue
            try:
                tree = read_trace(d)
            except FitError:
                continue
            if "log_likelihood" in tree.children:
                out[model] = (d, tree)
                break
    return out


def _fitted_to(run_dir: Path) -> tuple[str, str] | None:
    """Return the (data content SHA-256, model specification) a run's ``run.json`` records; None if unreadable."""
    import json

    try:
        record = json.loads((Path(run_dir) / "run.json").read_text())
        return (str(record["data"].get("content_sha256") or record["data"]["sha256"]),
                json.dumps(record.get("model_spec"), sort_keys=True))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def loo_comparison(traces: Mapping[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """PSIS-LOO of each model (``az.loo``) and their comparison (``az.compare``).

    Parameters
    ----------
    traces : mapping
        Model name → ArviZ DataTree with a ``log_likelihood`` group (dims chain, draw, obs).

    Returns
    -------
    (pandas.DataFrame, dict)
        ``az.compare``'s table, unrounded (rank, elpd_diff ≤ 0: the model's ELPD minus the best one's, dse
        its SE, p_worse, diag_diff, elpd, p, se, weight; log density units, the best model first), and
        each model's ``ELPDData``.
    """
    import arviz as az

    loos = {m: az.loo(t, pointwise=True) for m, t in traces.items()}
    table = az.compare(dict(loos), round_to="none")  # unrounded: the conclusion quotes these numbers
    return table, loos


def pareto_k_table(loos: Mapping[str, Any], subjects: Sequence[str] | None = None,
                   threshold: float = PARETO_K_BAD) -> pd.DataFrame:
    """Every observation whose Pareto k exceeds ``threshold``, per model (none is left unreported).

    Returns
    -------
    pandas.DataFrame
        Columns ``model``, ``obs`` (row index), ``subject`` (its id when given), ``pareto_k``; empty
        when every k is at most ``threshold``.
    """
    rows = []
    for model, loo in loos.items():
        k = np.asarray(loo.pareto_k).ravel()
        for i in np.flatnonzero(k > threshold):
            rows.append({"model": model, "obs": int(i), "subject": subjects[i] if subjects is not None else "",
                         "pareto_k": float(k[i])})
    return pd.DataFrame(rows, columns=["model", "obs", "subject", "pareto_k"])


def variance_ratio(posterior: Any, names: Sequence[str] = ("s2e_control", "s2e_treated")) -> dict[str, float]:
    """σ²_e,control / σ²_e,treated from per-condition draws: mean, quantiles, P(ratio > 1) and its MCSE.

    Parameters
    ----------
    posterior : xarray.Dataset or DataTree
        With the two residual variances (dims chain, draw).
    names : (str, str)
        Numerator and denominator: run1's ``s2e_control``, ``s2e_treated``; a formula model's
        ``s2e[<level>]`` in level order.

    Returns
    -------
    dict
        ``mean``, ``median``, ``q2.5``, ``q97.5`` of the ratio (unitless), ``p_greater`` = P(ratio > 1) and
        ``p_mcse``, its Monte Carlo standard error (ArviZ's MCSE of the indicator's mean), ``draws``.

    Raises
    ------
    FitError
        When the draws are not of the per-condition model.
    """
    import arviz as az
    import xarray as xr

    post = posterior["posterior"].to_dataset() if hasattr(posterior, "children") and "posterior" in posterior.children \
        else posterior
    top, bottom = names
    if top not in post or bottom not in post:
        raise FitError(f"the variance ratio needs the per-condition model's draws ({top}, {bottom})")
    ratio = post[top] / post[bottom]
    flat = np.asarray(ratio).ravel()
    above = xr.Dataset({"p": (ratio > 1.0).astype(float)})
    return {"mean": float(flat.mean()), "median": float(np.median(flat)), "q2.5": float(np.quantile(flat, 0.025)),
            "q97.5": float(np.quantile(flat, 0.975)), "p_greater": float((flat > 1.0).mean()),
            "p_mcse": float(az.mcse(above)["p"]), "draws": int(flat.size)}


SHIFT_COLUMNS: tuple[str, ...] = ("param", "statistic", "single", "per_condition", "difference", "relative")


def model_shift(exact: Mapping[str, Any], params: Sequence[str] = ("b1", "s2u"),
                models: Sequence[str] = RESIDUALS) -> pd.DataFrame:
    """b1 and σ²_u under the two residual models, from their exact posteriors (no Monte Carlo error).

    ``exact`` maps the names in ``models`` (one residual variance first, per condition second) to exact
    posteriors; the table's columns keep the names ``single`` and ``per_condition``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`SHIFT_COLUMNS`: per parameter and statistic (mean, sd, 2.5 %, median, 97.5 %)
        the value under each model, per-condition − single, and that difference relative to the
        single model's posterior SD.
    """
    a = exact[models[0]].table.set_index("param")
    b = exact[models[1]].table.set_index("param")
    rows = []
    for p in params:
        for stat in ("mean", "sd", "q2.5", "median", "q97.5"):
            d = float(b.loc[p, stat]) - float(a.loc[p, stat])
            rows.append({"param": p, "statistic": stat, "single": float(a.loc[p, stat]),
                         "per_condition": float(b.loc[p, stat]), "difference": d,
                         "relative": d / float(a.loc[p, "sd"])})
    return pd.DataFrame(rows, columns=list(SHIFT_COLUMNS))


def fit_for_loo(data: Any, seed: int, draws: int, tune: int, chains: int, cores: int | None = None) -> Any:
    """Fit a model once (nutpie, non-centered) with its pointwise log-likelihood, when no stored run has it.

    Parameters
    ----------
    data : ModelData
        Data read through the model's specification (a built-in run1 model or any of the family).

    Returns
    -------
    xarray.DataTree
        With ``posterior``, ``sample_stats`` and ``log_likelihood`` (dims chain, draw, obs).
    """
    from partclust.inference.sample import fit
    from partclust.inference.settings import FitSettings
    from partclust.translate.specs import spec_key

    settings = FitSettings(model=data.spec.name, parameterization="noncentered", seed=int(seed), draws=int(draws),
                           tune=int(tune), chains=int(chains), sampler="nutpie",
                           spec="" if data.spec.is_builtin else spec_key(data.spec))
    return fit(data, settings, cores=cores, log_likelihood=True).trace


def exact_loo(design: Any, residual: str = "single", progress: bool = False) -> np.ndarray:
    """Exact leave-one-out log predictive densities log p(y_i | y_−i), one per row, by quadrature.

    p(y_i | y_−i) = p(y) / p(y_−i): each is a difference of the exact posterior's log evidence with and
    without row i (b, u and the variances integrated exactly; the priors must be proper, as the SAS
    program's are). One quadrature per row: for small designs (tests, checks), not for thousands of rows.

    Returns
    -------
    numpy.ndarray
        Shape (n rows,), in the design's row order; their sum is the exact ELPD-LOO.
    """
    from partclust.data.design import design_frame, validate
    from partclust.references.exact import exact_posterior

    full = exact_posterior(design, residual).log_evidence
    frame = design_frame(design).rename(columns={"subject": "i", "cluster": "j"})[["i", "j", "treat", "y"]]
    out = np.empty(len(frame))
    rows = range(len(frame))
    if progress:
        from tqdm.auto import tqdm

        rows = tqdm(rows, desc="exact leave-one-out")
    for i in rows:
        sub = validate(frame.drop(index=frame.index[i]).reset_index(drop=True), source=f"{design.source} − row {i}")
        out[i] = full - exact_posterior(sub, residual).log_evidence
    return out


def conclusion(compare_table: pd.DataFrame, lrt: Any, ratio: Mapping[str, float], k_bad: int,
               shift: pd.DataFrame, z: float = 2.0, ratio_names: Sequence[str] = ("σ²_e,control", "σ²_e,treated"),
               names: Mapping[str, str] | None = None) -> list[str]:
    """Sentences, built from the numbers, saying whether the data support separate residual variances.

    PSIS-LOO prefers a model when its ELPD is higher by more than ``z`` SEs of the difference; REML's
    likelihood-ratio test at the 5 % level; the posterior probability that the control variance is the
    larger. Which model is preferred is decided by LOO; the other evidence is reported beside it.
    ``ratio_names`` name the variance ratio's numerator and denominator and ``names`` map the shift table's
    parameters to the names shown (a PROC MCMC program's, e.g. ``{"s2u": "s2g"}``).

    Returns
    -------
    list of str
        Markdown sentences, the verdict first.
    """
    best = str(compare_table.index[0])
    other = str(compare_table.index[1])
    diff = -float(compare_table.loc[other, "elpd_diff"])  # ArviZ: other − best ≤ 0
    dse = float(compare_table.loc[other, "dse"])
    clear = dse > 0 and diff > z * dse
    top, bottom = ratio_names
    names = dict(names or {})
    if clear and best == "per_condition":
        verdict = "**The data support separate residual variances**"
    elif clear:
        verdict = "**The data favour one residual variance**"
    else:
        verdict = "**The data do not distinguish the two residual models**"
    lines = [
        f"{verdict}: PSIS-LOO ranks `{best}` first, ELPD higher by {diff:.2f} (SE of the difference {dse:.2f}, "
        f"{diff / dse if dse > 0 else math.nan:.1f} SEs; a difference under {z:g} SEs is within LOO's own uncertainty"
        + (f"; ArviZ: P(`{other}` is worse) = {float(compare_table.loc[other, 'p_worse']):.2f}"
           if "p_worse" in compare_table and np.isfinite(float(compare_table.loc[other, "p_worse"])) else "")
        + (f", {str(compare_table.loc[other, 'diag_diff']).strip()}" if "diag_diff" in compare_table
           and str(compare_table.loc[other, "diag_diff"]).strip() not in ("", "<NA>", "nan") else "") + ").",
        f"REML's likelihood-ratio test of {top} = {bottom}: χ²({lrt.df}) = {lrt.statistic:.2f}, "
        f"p = {lrt.p_value:.3g} ({'rejected' if lrt.p_value < 0.05 else 'not rejected'} at the 5 % level).",
        f"{top} / {bottom}: posterior median {ratio['median']:.2f}, 95 % interval "
        f"[{ratio['q2.5']:.2f}, {ratio['q97.5']:.2f}]; P({top} > {bottom}) = {ratio['p_greater']:.3f} "
        f"(MCSE {ratio['p_mcse']:.3f}).",
        ("No observation has Pareto k > 0.7: PSIS-LOO is reliable here." if k_bad == 0 else
         f"{k_bad} observation(s) have Pareto k > 0.7 (listed above): their LOO terms are unreliable."),
    ]
    s = shift.set_index(["param", "statistic"])
    for p in dict.fromkeys(shift["param"]):
        label = ("σ²_u" + (f" ({names['s2u']})" if names.get("s2u") else "")) if p == "s2u" else names.get(p, p)
        lines.append(f"{label}: posterior mean {s.loc[(p, 'mean'), 'single']:.4f} (single) vs "
                     f"{s.loc[(p, 'mean'), 'per_condition']:.4f} (per-condition), a change of "
                     f"{s.loc[(p, 'mean'), 'relative']:+.2f} posterior SDs (exact posteriors).")
    return lines
