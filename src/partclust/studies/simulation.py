"""A design-level simulation study: bias and 95 % interval coverage across partially nested trial designs.

A grid (a small TOML file; :data:`DEFAULT_GRID` ships with the package) crosses the number of treated
clusters, their size (or a size distribution), the ICC of the treated arm, the ratio of the arms' residual
variances and the number of controls. Each cell fixes the truth — b0, b1 and σ²_e,control from the grid's
``[truth]``, σ²_e,treated = ratio · σ²_e,control, σ²_u = ICC/(1 − ICC) · σ²_e,treated — and each replicate
draws the cluster effects and residuals, then fits both residual models with the SAS program's priors.
Per cell × model × parameter: bias, RMSE and coverage of the central 95 % interval with their Monte Carlo
SEs (coverage: √(c(1 − c)/n)), the questions of Candlish et al. (2018) and Flight et al. (2016).

A replicate's result is one row of summaries per model × parameter (never draws).
"""

from __future__ import annotations

import functools
import itertools
import time
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from partclust.config import RESIDUALS
from partclust.errors import SpecError
from partclust.models.model_data import ModelData
from partclust.models.simulate import partially_nested_design, simulate_outcome, with_outcome
from partclust.validate import check_choice, check_int

__all__ = ["DEFAULT_GRID", "Cell", "Grid", "read_grid", "simulation_replicate", "coverage_table", "SUMMARY_COLUMNS",
           "COVERAGE_COLUMNS", "FACTORS", "NOMINAL"]

DEFAULT_GRID = Path(__file__).with_name("grids") / "default.toml"
"""The grid ``partclust simulate`` uses without ``--grid``: 3 × 2 × 2 × 2 × 1 = 24 cells."""
FACTORS = ("treated_clusters", "cluster_size", "icc", "variance_ratio", "controls")
"""The design factors of a cell, in the order the grid file lists them."""
NOMINAL = 0.95
"""Nominal coverage of the central posterior interval (2.5 % and 97.5 % quantiles)."""
SUMMARY_COLUMNS = ["cell", "replicate", "model", "parameter", "truth", "estimate", "lower", "upper", "ess_bulk",
                   "divergences"]
"""One replicate's rows: posterior mean (``estimate``) and 2.5 / 97.5 % quantiles per model × parameter."""
COVERAGE_COLUMNS = ["cell", *FACTORS, "model", "parameter", "truth", "n", "bias", "bias_mcse", "rmse", "coverage",
                    "coverage_mcse"]
"""Columns of ``coverage.csv``."""


@dataclass(frozen=True)
class Cell:
    """One design of the grid and its truth.

    Attributes
    ----------
    index : int
        Position in the grid (0-based); names the cell ``cell-<index>``.
    treated_clusters, controls : int
    cluster_size : int or tuple of int
        One size, or sizes recycled over the clusters.
    icc, variance_ratio : float
        ICC of the treated arm and σ²_e,treated / σ²_e,control.
    b0, b1, s2e_control : float
        The grid's truth.
    """

    index: int
    treated_clusters: int
    cluster_size: int | tuple[int, ...]
    icc: float
    variance_ratio: float
    controls: int
    b0: float = 0.0
    b1: float = 0.5
    s2e_control: float = 1.0

    @property
    def name(self) -> str:
        """``cell-<index>`` (two digits at least)."""
        return f"cell-{self.index:02d}"

    @property
    def size_text(self) -> str:
        """The cluster size as text (``10`` or ``4/8/12``)."""
        return "/".join(map(str, self.cluster_size)) if isinstance(self.cluster_size, tuple) else str(self.cluster_size)

    @property
    def truth(self) -> dict[str, float]:
        """True values of every scalar parameter of both models (``s2e`` only when the arms' variances are equal)."""
        s2e_t = self.variance_ratio * self.s2e_control
        out = {"b0": self.b0, "b1": self.b1, "s2u": self.icc / (1.0 - self.icc) * s2e_t,
               "s2e_control": self.s2e_control, "s2e_treated": s2e_t}
        if self.variance_ratio == 1.0:
            out["s2e"] = self.s2e_control
        return out

    def factors(self) -> dict[str, Any]:
        """Return the design factors (:data:`FACTORS`), cluster size as text."""
        return {"treated_clusters": self.treated_clusters, "cluster_size": self.size_text, "icc": self.icc,
                "variance_ratio": self.variance_ratio, "controls": self.controls}


@dataclass(frozen=True)
class Grid:
    """A grid of cells and how each replicate is fitted.

    Attributes
    ----------
    cells : tuple of Cell
    models : tuple of str
        Residual models fitted to each replicate.
    draws, tune, chains : int
        nutpie's settings per fit.
    source : str
        The file read.
    """

    cells: tuple[Cell, ...]
    models: tuple[str, ...] = RESIDUALS
    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    source: str = ""

    def record(self) -> dict[str, Any]:
        """JSON-ready record (what a kept replicate must have been run with)."""
        return {"cells": [asdict(c) for c in self.cells], "models": list(self.models), "draws": self.draws,
                "tune": self.tune, "chains": self.chains}


def _positive_list(design: dict, name: str, kind: type, source: str) -> list:
    values = design.get(name)
    if not isinstance(values, list) or not values:
        raise SpecError(f"{source}: [design] {name} must be a non-empty list; got {values!r}")
    for v in values:
        items = v if (name == "cluster_size" and isinstance(v, list)) else [v]
        if not items or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and x > 0 for x in items) or (
                kind is int and not all(isinstance(x, int) for x in items)):
            raise SpecError(f"{source}: [design] {name} has {v!r}; every value must be a positive "
                            f"{'whole number' if kind is int else 'number'}")
    return values


def read_grid(path: str | Path = DEFAULT_GRID) -> Grid:
    """Read a grid file (TOML: ``[design]`` lists, ``[truth]``, ``[fit]``; see :data:`DEFAULT_GRID`).

    Returns
    -------
    Grid
        Cells in the order of ``itertools.product`` over :data:`FACTORS`.

    Raises
    ------
    SpecError
        For a missing or unreadable file, an unknown key, a factor that is not a non-empty list of positive
        numbers, an ICC not below 1, fewer than 2 clusters or controls, or an unknown model.
    """
    path = Path(path)
    source = str(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"no grid file {source}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SpecError(f"{source}: not a readable TOML grid ({exc})") from None
    unknown = set(raw) - {"design", "truth", "fit"}
    design, truth, fit = raw.get("design", {}), raw.get("truth", {}), raw.get("fit", {})
    unknown |= {f"design.{k}" for k in set(design) - set(FACTORS)} | {f"truth.{k}" for k in set(truth) - {
        "b0", "b1", "s2e_control"}} | {f"fit.{k}" for k in set(fit) - {"models", "draws", "tune", "chains"}}
    if unknown:
        raise SpecError(f"{source}: unknown key(s) {', '.join(sorted(unknown))}")
    lists = {f: _positive_list(design, f, int if f in ("treated_clusters", "cluster_size", "controls") else float,
                               source) for f in FACTORS}
    if any(v >= 1 for v in lists["icc"]):
        raise SpecError(f"{source}: [design] icc must be in (0, 1); got {lists['icc']}")
    if min(lists["treated_clusters"]) < 2 or min(lists["controls"]) < 2:
        raise SpecError(f"{source}: need at least 2 treated clusters and 2 controls per cell")
    tv = {k: float(truth.get(k, d)) for k, d in (("b0", 0.0), ("b1", 0.5), ("s2e_control", 1.0))}
    if tv["s2e_control"] <= 0:
        raise SpecError(f"{source}: [truth] s2e_control must be > 0")
    models = tuple(fit.get("models", RESIDUALS))
    for m in models:
        check_choice("model", m, RESIDUALS)
    counts = {k: check_int(k, fit.get(k, d), lo=lo) for k, d, lo in (("draws", 1000, 10), ("tune", 1000, 0),
                                                                       ("chains", 4, 1))}
    cells = []
    for k, combo in enumerate(itertools.product(*(lists[f] for f in FACTORS))):
        kw = dict(zip(FACTORS, combo))
        size = kw["cluster_size"]
        kw["cluster_size"] = tuple(int(s) for s in size) if isinstance(size, list) else int(size)
        kw["icc"], kw["variance_ratio"] = float(kw["icc"]), float(kw["variance_ratio"])
        cells.append(Cell(index=k, **kw, **tv))
    return Grid(tuple(cells), models, counts["draws"], counts["tune"], counts["chains"], source)


@functools.lru_cache(maxsize=64)
def _design(cell: Cell, model: str) -> ModelData:
    """Return the cell's design read through a built-in model (cached per process: one per cell and model)."""
    return partially_nested_design(cell.treated_clusters, cell.cluster_size, cell.controls, model)


def simulation_replicate(cell: Cell, grid: Grid, replicate: int, seed: int, sampler: str = "nutpie") -> dict[str, Any]:
    """Simulate one trial of ``cell`` and fit every model of ``grid`` to it.

    Parameters
    ----------
    cell : Cell
    grid : Grid
    replicate : int
        0-based; with ``seed`` and the cell's index it fixes every random number.
    seed : int
    sampler : {"nutpie", "exact"}
        ``exact``: the exact posterior's mean and quantiles (no Monte Carlo error; fast, for tests and as
        a reference).

    Returns
    -------
    dict
        ``rows``: one dict per model × parameter with :data:`SUMMARY_COLUMNS`; ``timings`` in seconds.
    """
    check_choice("sampler", sampler, ("nutpie", "exact"))
    t0 = time.perf_counter()
    rng = np.random.default_rng([seed, cell.index, replicate])
    truth = cell.truth
    sim = _design(cell, "per_condition")
    u = rng.normal(0.0, np.sqrt(truth["s2u"]), sim.n_groups)
    y = simulate_outcome(sim, {**truth, "u": u}, rng)
    fit_seed = int(rng.integers(0, 2**31 - 1))
    rows, timings = [], {}
    for model in grid.models:
        md = with_outcome(_design(cell, model), y)
        t = time.perf_counter()
        summary, extra = _summaries(md, grid, sampler, fit_seed)
        timings[f"{model}_s"] = time.perf_counter() - t
        timings.update({f"{model}_{k}": v for k, v in extra.items() if k != "divergences"})
        for name in md.scalar_names:
            mean, lo, hi, ess = summary[name]
            rows.append({"cell": cell.name, "replicate": int(replicate), "model": model, "parameter": name,
                         "truth": truth.get(name, np.nan), "estimate": mean, "lower": lo, "upper": hi,
                         "ess_bulk": ess, "divergences": int(extra.get("divergences", 0))})
    timings["replicate_s"] = time.perf_counter() - t0
    return {"rows": rows, "timings": timings}


def _summaries(md: ModelData, grid: Grid, sampler: str, seed: int) -> tuple[dict[str, tuple], dict[str, Any]]:
    """Posterior mean, 2.5 / 97.5 % quantiles and bulk ESS per scalar; timings and divergences."""
    if sampler == "exact":
        from partclust.references.exact import exact_posterior

        table = exact_posterior(md).table.set_index("param")
        return {n: (float(table.at[n, "mean"]), float(table.at[n, "q2.5"]), float(table.at[n, "q97.5"]), np.nan)
                for n in md.scalar_names}, {}
    import arviz_stats

    from partclust.inference.sample import fit_outcome
    from partclust.inference.settings import FitSettings

    res = fit_outcome(md, FitSettings(model=md.spec.name, seed=seed, draws=grid.draws, tune=grid.tune,
                                      chains=grid.chains))
    post = res.posterior
    out = {}
    for n in md.scalar_names:
        v = np.asarray(post[n].transpose("chain", "draw").values, dtype=float)
        lo, hi = np.quantile(v, [0.025, 0.975])
        out[n] = (float(v.mean()), float(lo), float(hi), float(arviz_stats.ess(v, method="bulk")))
    extra = {k: v for k, v in res.timings.items() if k in ("compile_s", "sample_s", "compile_cached")}
    return out, {**extra, "divergences": res.divergences}


def coverage_table(summaries: pd.DataFrame, cells: Sequence[Cell]) -> pd.DataFrame:
    """Bias, RMSE and 95 % interval coverage per cell × model × parameter, with Monte Carlo SEs.

    Parameters
    ----------
    summaries : pandas.DataFrame
        Replicate rows (:data:`SUMMARY_COLUMNS`); rows without a truth (``s2e`` of the single-residual
        model when the arms' variances differ) are left out.
    cells : sequence of Cell
        For the design factors.

    Returns
    -------
    pandas.DataFrame
        :data:`COVERAGE_COLUMNS`: ``bias`` = mean(estimate − truth) with ``bias_mcse`` = SD/√n,
        ``rmse`` = √mean((estimate − truth)²), ``coverage`` = share of replicates whose interval holds the
        truth with ``coverage_mcse`` = √(c(1 − c)/n); in the outcome's units (squared for variances).
    """
    s = summaries.dropna(subset=["truth"])
    factors = {c.name: c.factors() for c in cells}
    rows = []
    for (cell, model, param), g in s.groupby(["cell", "model", "parameter"], sort=True):
        err = g["estimate"].to_numpy() - g["truth"].to_numpy()
        covered = ((g["lower"] <= g["truth"]) & (g["truth"] <= g["upper"])).to_numpy()
        n = len(g)
        c = float(covered.mean())
        rows.append({"cell": cell, **factors.get(cell, {}), "model": model, "parameter": param,
                     "truth": float(g["truth"].iloc[0]), "n": n, "bias": float(err.mean()),
                     "bias_mcse": float(err.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan,
                     "rmse": float(np.sqrt(np.mean(err**2))), "coverage": c,
                     "coverage_mcse": float(np.sqrt(c * (1 - c) / n))})
    return pd.DataFrame(rows, columns=COVERAGE_COLUMNS)
