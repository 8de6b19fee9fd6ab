"""Simulation-based calibration (SBC; Talts, Betancourt, Simpson, Vehtari & Gelman 2018) of the whole fit.

For each replicate: draw θ̃ from the prior of the specification, simulate y | θ̃ on a fixed design (run1's
by default), fit y with the study's sampler, thin the posterior to ``rank_draws`` near-independent draws
and record the SBC rank of every scalar parameter: the number of thinned draws below θ̃ (0 … L). If the
fit is right, every rank is uniform on 0 … L. The exact i.i.d. posterior sampler
(:meth:`~partclust.references.exact.ExactPosterior.draws`) runs the same SBC as a control that must pass;
fitting with a prior other than the one simulated from must fail it.

Uniformity is tested per model and parameter two ways: Pearson's χ² on ``bins`` equal bins of the ranks
(Talts et al.'s histogram, as a test), and ArviZ's PIT-ECDF test ``pot_c`` (``uniformity_test``; Tesso &
Vehtari's pointwise test with Cauchy combination) on randomised fractional ranks (rank + U)/(L + 1), which
are exactly Uniform(0, 1) under calibration. The verdict is Bonferroni-corrected over every model ×
parameter of a test (family-wise α).

One replicate's result is small (one rank per parameter, its ESS and timings), so that 10⁵ replicates fit
on disk; :mod:`partclust.runner.calibration` runs replicates on Dask and keeps each one atomically.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from partclust.config import RESIDUALS
from partclust.errors import SpecError
from partclust.models.model_data import ModelData, builtin_data
from partclust.models.priors import SAS_PRIORS, Priors
from partclust.models.simulate import draw_parameters, simulate_outcome, with_outcome
from partclust.validate import check_choice, check_int

__all__ = ["SBCSettings", "SBC_SAMPLERS", "RANK_COLUMNS", "UNIFORMITY_COLUMNS", "sbc_replicate", "ranks_table",
           "uniformity", "fractional_ranks"]

SBC_SAMPLERS: tuple[str, ...] = ("nutpie", "exact")
"""``nutpie``: the study's NUTS fit; ``exact``: i.i.d. draws from the exact posterior (the control)."""
RANK_COLUMNS = ["model", "replicate", "parameter", "rank", "n_draws", "truth", "ess_bulk"]
"""Columns of ``ranks.csv``: one row per model × replicate × parameter."""
UNIFORMITY_COLUMNS = ["model", "parameter", "test", "statistic", "df", "p_value", "n_replicates", "alpha_per_test",
                      "uniform"]
"""Columns of ``uniformity.csv``: one row per model × parameter × test."""


@dataclass(frozen=True)
class SBCSettings:
    """Everything that determines an SBC; replicates of equal settings give equal ranks.

    Parameters
    ----------
    models : tuple of str
        Built-in residual structures to calibrate (``single``, ``per_condition``).
    replicates : int
        Replicates per model (≥ 1).
    seed : int
        Base seed; replicate k of model m uses the seed sequence (seed, m, k).
    sampler : {"nutpie", "exact"}
    draws, tune, chains : int
        Per chain, as the study's fits (default 4 × 2,000 after 1,000 tuning steps).
    rank_draws : int
        L: the posterior is thinned to L draws (evenly spaced over the chains' draws, i.e. thinned by
        chains·draws // L); ranks run 0 … L.
    bins : int
        Bins of the χ² test and the rank histograms (L + 1 should be a multiple).
    alpha : float
        Family-wise level of the uniformity verdict (Bonferroni over model × parameter).
    fit_priors : Priors or None
        Priors of the fitted model (None: the priors simulated from, :data:`SAS_PRIORS`). Another
        prior is a deliberately mismatched fit, which SBC must detect. Built-in models only.
    sim_priors : Priors
        Priors the built-in models are simulated from.
    spec : str
        A model specification's canonical JSON (:func:`partclust.translate.spec_key`) when the SBC is of a
        formula model or other priors (then ``models`` is its one name and the data passed to
        :func:`sbc_replicate` are read through it); empty for the built-in models.

    Raises
    ------
    SpecError
        For an unknown model or sampler, or counts out of range.
    """

    models: tuple[str, ...] = RESIDUALS
    replicates: int = 100
    seed: int = 2018
    sampler: str = "nutpie"
    draws: int = 2000
    tune: int = 1000
    chains: int = 4
    rank_draws: int = 99
    bins: int = 10
    alpha: float = 0.05
    fit_priors: Priors | None = None
    sim_priors: Priors = field(default=SAS_PRIORS)
    spec: str = ""

    def __post_init__(self) -> None:
        """Check the settings (see Raises)."""
        object.__setattr__(self, "models", tuple(self.models))
        if self.spec:
            if len(self.models) != 1 or self.fit_priors is not None:
                raise SpecError("an SBC of a specification has one model name and fits the priors it simulates from")
        else:
            for m in self.models:
                check_choice("model", m, RESIDUALS)
        check_choice("sampler", self.sampler, SBC_SAMPLERS)
        for name, lo in (("replicates", 1), ("draws", 0), ("tune", 0), ("chains", 1), ("rank_draws", 1), ("bins", 2),
                         ("seed", 0)):  # one setting named at a time, with its option
            check_int(f"{name} (--{name.replace('_', '-')})", getattr(self, name), lo=lo)
        if self.sampler == "nutpie" and self.draws * self.chains < self.rank_draws:
            raise SpecError(f"chains × draws (--chains {self.chains} × --draws {self.draws}) = "
                            f"{self.chains * self.draws} draws cannot be thinned to --rank-draws {self.rank_draws}: "
                            f"give --draws ≥ {-(-self.rank_draws // self.chains)} with {self.chains} chains")
        if not 0 < self.alpha < 1:
            raise SpecError(f"alpha must be in (0, 1); got {self.alpha}")

    def record(self) -> dict[str, Any]:
        """JSON-ready record: a replicate counts only when it was run with an equal record."""
        rec = asdict(self)
        rec.pop("replicates")  # adding replicates keeps the ones already run
        return rec

    @property
    def mismatched(self) -> bool:
        """Whether the fit uses other priors than the simulation."""
        return self.fit_priors is not None and self.fit_priors != self.sim_priors


def sbc_replicate(design: Any, settings: SBCSettings, model: str, replicate: int) -> dict[str, Any]:
    """Run one SBC replicate: θ̃ from the prior, y | θ̃ on ``design``, a fit, the ranks of θ̃.

    Parameters
    ----------
    design : Design or ModelData
        The fixed design (run1's by default); its outcome is replaced by the simulated one. With
        ``settings.spec``, the data read through that specification (its priors are simulated from and fitted).
    settings : SBCSettings
    model : str
        ``single`` or ``per_condition``, or the specification's name.
    replicate : int
        0-based replicate number (with ``settings.seed`` and the model, it fixes every random number).

    Returns
    -------
    dict
        ``rows``: one dict per scalar parameter with the columns of :data:`RANK_COLUMNS`;
        ``timings`` in seconds (``fit_s`` and, for nutpie, the compile/sample split); ``divergences``.
    """
    t0 = time.perf_counter()
    m_index = RESIDUALS.index(model) if model in RESIDUALS else len(RESIDUALS) + settings.models.index(model)
    rng = np.random.default_rng([settings.seed, m_index, replicate])
    if isinstance(design, ModelData):
        sim = fitted = design
    else:
        sim = builtin_data(design, model, settings.sim_priors)
        fitted = builtin_data(design, model, settings.fit_priors or settings.sim_priors)
    truth = draw_parameters(sim, rng)
    y = simulate_outcome(sim, truth, rng)
    md = with_outcome(fitted, y)
    fit_seed = int(rng.integers(0, 2**31 - 1))
    draws, ess, timings, divergences = _posterior_draws(md, settings, fit_seed)
    rows = [{"model": model, "replicate": int(replicate), "parameter": name,
             "rank": int(np.sum(draws[name] < truth[name])), "n_draws": int(draws[name].size),
             "truth": float(truth[name]), "ess_bulk": ess.get(name, float("nan"))} for name in md.scalar_names]
    timings["replicate_s"] = time.perf_counter() - t0
    return {"rows": rows, "timings": timings, "divergences": divergences}


def _posterior_draws(md: ModelData, settings: SBCSettings, seed: int
                     ) -> tuple[dict[str, np.ndarray], dict[str, float], dict[str, Any], int]:
    """Return ``rank_draws`` thinned posterior draws per scalar, their bulk ESS, timings and divergences."""
    L = settings.rank_draws
    if settings.sampler == "exact":
        from partclust.references.exact import exact_posterior

        t = time.perf_counter()
        flat = exact_posterior(md).draws(L, seed)
        return {k: np.asarray(flat[k]) for k in md.scalar_names}, {}, {"fit_s": time.perf_counter() - t}, 0
    import arviz_stats

    from partclust.inference.sample import fit_outcome
    from partclust.inference.settings import FitSettings

    fs = FitSettings(model=md.spec.name, seed=seed, draws=settings.draws, tune=settings.tune,
                     chains=settings.chains, spec=settings.spec)
    t = time.perf_counter()
    res = fit_outcome(md, fs)
    timings = {**res.timings, "fit_s": time.perf_counter() - t}
    post = res.posterior
    total = settings.chains * settings.draws
    step = total // L
    idx = np.arange(step - 1, step * L, step)[:L]  # L evenly spaced draws over the chains laid end to end
    out, ess = {}, {}
    for name in md.scalar_names:
        values = np.asarray(post[name].transpose("chain", "draw").values, dtype=float)
        out[name] = values.reshape(-1)[idx]
        ess[name] = float(arviz_stats.ess(values, method="bulk"))
    return out, ess, timings, res.divergences


def ranks_table(results: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Collect replicate results (:func:`sbc_replicate`) into the ranks table (:data:`RANK_COLUMNS`).

    Returns
    -------
    pandas.DataFrame
        Sorted by model, parameter and replicate.
    """
    rows = [r for res in results for r in res["rows"]]
    frame = pd.DataFrame(rows, columns=RANK_COLUMNS)
    return frame.sort_values(["model", "parameter", "replicate"], kind="stable").reset_index(drop=True)


def fractional_ranks(ranks: pd.DataFrame, seed: int = 0) -> pd.Series:
    """Randomised fractional ranks (rank + U)/(L + 1), U ~ Uniform(0, 1): exactly Uniform(0, 1) under calibration.

    Parameters
    ----------
    ranks : pandas.DataFrame
        Columns ``rank`` and ``n_draws`` (L).
    seed : int
        Seed of the jitter U (fixed, so a table gives the same PIT values every time).

    Returns
    -------
    pandas.Series
        Values in (0, 1), aligned with ``ranks``.
    """
    u = np.random.default_rng(seed).random(len(ranks))
    return pd.Series((ranks["rank"].to_numpy() + u) / (ranks["n_draws"].to_numpy() + 1.0), index=ranks.index)


def _chi_square(rank: np.ndarray, L: int, bins: int) -> tuple[float, int, float]:
    from scipy import stats

    values = np.arange(L + 1)
    which = np.minimum(values * bins // (L + 1), bins - 1)  # bin of each possible rank
    expected_p = np.bincount(which, minlength=bins) / (L + 1.0)
    observed = np.bincount(which[rank], minlength=bins)
    res = stats.chisquare(observed, rank.size * expected_p)
    return float(res.statistic), bins - 1, float(res.pvalue)


def uniformity(ranks: pd.DataFrame, bins: int = 10, alpha: float = 0.05, seed: int = 0) -> pd.DataFrame:
    """Test the uniformity of the SBC ranks per model and parameter.

    Parameters
    ----------
    ranks : pandas.DataFrame
        The ranks table (:data:`RANK_COLUMNS`); one L (``n_draws``) per model.
    bins : int
        Bins of Pearson's χ² test.
    alpha : float
        Family-wise level; each test's rows are judged at ``alpha`` / their number (Bonferroni).
    seed : int
        Seed of the randomised fractional ranks of the PIT-ECDF test.

    Returns
    -------
    pandas.DataFrame
        :data:`UNIFORMITY_COLUMNS`; ``test`` is ``chi-square (<bins> bins)`` (statistic and df given) or
        ``PIT-ECDF pot_c (ArviZ)`` (a p-value; no single statistic). ``uniform`` is p ≥ ``alpha_per_test``.

    Raises
    ------
    SpecError
        For an empty table or more than one L within a model.
    """
    import arviz_stats  # noqa: F401  (registers the ``azstats`` accessor)
    import xarray as xr

    if ranks.empty:
        raise SpecError("no SBC ranks to test")
    rows = []
    pit = fractional_ranks(ranks, seed)
    for (model, param), g in ranks.groupby(["model", "parameter"], sort=True):
        Ls = g["n_draws"].unique()
        if Ls.size != 1:
            raise SpecError(f"{model} {param}: ranks among different numbers of draws {sorted(Ls)}")
        stat, df, p = _chi_square(g["rank"].to_numpy(dtype=int), int(Ls[0]), bins)
        rows.append({"model": model, "parameter": param, "test": f"chi-square ({bins} bins)", "statistic": stat,
                     "df": df, "p_value": p, "n_replicates": len(g)})
        ds = xr.Dataset({"pit": (("sample",), pit.loc[g.index].to_numpy())})
        p_value = ds.azstats.uniformity_test(dim="sample", method="pot_c")[0]["pit"]
        rows.append({"model": model, "parameter": param, "test": "PIT-ECDF pot_c (ArviZ)", "statistic": np.nan,
                     "df": np.nan, "p_value": float(p_value), "n_replicates": len(g)})
    out = pd.DataFrame(rows)
    per_test = out.groupby("test")["test"].transform("size")
    out["alpha_per_test"] = alpha / per_test
    out["uniform"] = out["p_value"] >= out["alpha_per_test"]
    return out[UNIFORMITY_COLUMNS]
