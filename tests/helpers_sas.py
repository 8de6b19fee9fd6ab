"""Synthetic PROC MCMC output, written in SAS's layout from draws the caller provides.

Nothing here is SAS output: these files exist to test the reader (``partclust.sas``) and the
comparison against a sampled reference. Every file name carries ``synthetic`` so that nobody can
mistake one for the real thing, and the reader's canonical directory layout (``outpost.csv``) never
picks such a file up. Fixtures are written into temporary directories at test time, never into
``sas_reference/output/``.

``make_fixture`` takes the draws as an ``xarray.Dataset`` with dims (chain, draw) and the project's
names (``b0 b1 s2u`` + residual variance(s) + ``u`` over ``cluster``), e.g. exact-posterior draws
from ``partclust.exact.exact_draws`` once that module exists. Until then :func:`stand_in_draws`
provides simple, documented stand-ins.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from partclust.data import Design
from partclust.models import scalar_names

SAS_NBI, SAS_THIN = 5000, 10  # only to number Iteration the way the SAS program would


@dataclass(frozen=True)
class SyntheticFixture:
    outpost: tuple[Path, ...]  # one per chain
    postsumint: tuple[Path, ...]  # one per chain, beside its OUTPOST file
    directory: Path


def stand_in_draws(design: Design, residual: str, n_draws: int = 1000, n_chains: int = 1,
                   seed: int = 20110) -> xr.Dataset:
    """Independent stand-in draws, roughly where the run1 posterior lies (not the posterior).

    b0 ~ N(−0.07, 0.15²), b1 ~ N(0.30, 0.20²), s2u ~ Gamma(shape 4, scale 0.1),
    s2e (each) ~ Gamma(shape 100, scale 0.01), u_j | s2u ~ N(0, s2u) for each treated cluster.
    """
    rng = np.random.default_rng(seed)
    shape = (n_chains, n_draws)
    data = {
        "b0": rng.normal(-0.07, 0.15, shape),
        "b1": rng.normal(0.30, 0.20, shape),
        "s2u": rng.gamma(4.0, 0.1, shape),
    }
    for name in scalar_names(residual)[3:]:
        data[name] = rng.gamma(100.0, 0.01, shape)
    u = rng.normal(size=shape + (design.n_clusters,)) * np.sqrt(data["s2u"])[..., None]
    coords = {"chain": np.arange(n_chains), "draw": np.arange(n_draws), "cluster": list(design.clusters)}
    ds = xr.Dataset({k: (("chain", "draw"), v) for k, v in data.items()}, coords=coords)
    ds["u"] = (("chain", "draw", "cluster"), u)
    return ds


def _sas_name(label: str) -> str:
    s = str(label).strip()
    try:
        x = float(s)
        return str(int(x)) if x == int(x) else s
    except ValueError:
        return s


def outpost_frame(draws: xr.Dataset, chain: int, design: Design, residual: str,
                  u_control: np.ndarray) -> pd.DataFrame:
    """One chain in OUTPOST's layout: Iteration, parameters, u_<j> for every j, Log… columns."""
    post = draws.isel(chain=chain)
    n = post.sizes["draw"]
    cols: dict[str, np.ndarray] = {"Iteration": SAS_NBI + SAS_THIN * np.arange(1, n + 1)}
    for name in scalar_names(residual):
        cols[name] = np.asarray(post[name], dtype=float)
    u = np.asarray(post["u"].transpose("draw", "cluster").sel(cluster=list(design.clusters)), dtype=float)
    u_all = np.concatenate([u, u_control], axis=1)
    for k, label in enumerate(design.sas_clusters):
        cols[f"u_{_sas_name(label)}"] = u_all[:, k]

    s2u = cols["s2u"]
    log_prior = (stats.norm.logpdf(cols["b0"], 0, 100) + stats.norm.logpdf(cols["b1"], 0, 100)
                 + stats.gamma.logpdf(s2u, 1.0, scale=1.0)
                 + stats.norm.logpdf(u_all, 0, np.sqrt(s2u)[:, None]).sum(axis=1))
    for name in scalar_names(residual)[3:]:
        log_prior = log_prior + stats.uniform.logpdf(cols[name], 0, 100)
    treat = design.treat.astype(float)
    mu = (cols["b0"][:, None] + cols["b1"][:, None] * treat
          + u_all[:, design.sas_cluster_of_row] * treat)
    if residual == "single":
        var = np.repeat(cols["s2e"][:, None], design.n, axis=1)
    else:
        var = np.where(treat == 1, cols["s2e_treated"][:, None], cols["s2e_control"][:, None])
    log_like = stats.norm.logpdf(design.y, mu, np.sqrt(var)).sum(axis=1)
    cols["LogPrior"] = log_prior
    cols["LogLike"] = log_like
    cols["LogPost"] = log_prior + log_like
    return pd.DataFrame(cols)


def postsumint_frame(outpost: pd.DataFrame, decimals: int = 4) -> pd.DataFrame:
    """PostSumInt as PROC EXPORT writes it: Parameter, N, Mean, StdDev, HPDLower, HPDUpper.

    The HPD bounds here are the shortest 95 % interval of the draws.
    """
    rows = []
    for col in outpost.columns:
        if col == "Iteration" or col.startswith("Log"):
            continue
        x = np.sort(outpost[col].to_numpy())
        k = int(np.floor(0.95 * x.size))
        widths = x[k:] - x[: x.size - k]
        lo = int(np.argmin(widths))
        rows.append({"Parameter": col, "N": x.size, "Mean": x.mean(), "StdDev": x.std(ddof=1),
                     "HPDLower": x[lo], "HPDUpper": x[lo + k]})
    frame = pd.DataFrame(rows)
    for col in ("Mean", "StdDev", "HPDLower", "HPDUpper"):
        frame[col] = frame[col].map(lambda v: f"{v:.{decimals}f}")
    return frame


def make_fixture(out_dir: Path, draws: xr.Dataset, design: Design, residual: str,
                 shift_s2u: float = 0.0, name: str = "synthetic", seed: int = 1) -> SyntheticFixture:
    """Write ``outpost_<name>[_chain<k>].csv`` and ``postsumint_<name>[_chain<k>].csv``.

    ``shift_s2u`` is added to every s2u draw (a fixture that is *not* the posterior, for testing
    that a comparison detects a real difference). The controls' singleton effects, which PROC MCMC
    samples from their prior, are drawn as u_j | s2u ~ N(0, s2u) with ``seed`` unless ``draws``
    already holds ``u_control`` over ``control_cluster``.
    """
    if "synthetic" not in name:
        raise ValueError(f"fixture name must contain 'synthetic' (got {name!r}); it is not SAS output")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    draws = draws.copy()
    draws["s2u"] = draws["s2u"] + shift_s2u
    if np.any(draws["s2u"] <= 0):
        raise ValueError("shift_s2u makes some s2u draws non-positive")
    rng = np.random.default_rng(seed)
    n_chains = draws.sizes["chain"]
    outposts, tables = [], []
    for c in range(n_chains):
        s2u = np.asarray(draws["s2u"].isel(chain=c), dtype=float)
        if "u_control" in draws:
            u_ctrl = np.asarray(draws["u_control"].isel(chain=c).transpose("draw", "control_cluster")
                                .sel(control_cluster=list(design.control_clusters)), dtype=float)
        else:
            u_ctrl = rng.normal(size=(s2u.size, len(design.control_clusters))) * np.sqrt(s2u)[:, None]
        frame = outpost_frame(draws, c, design, residual, u_ctrl)
        suffix = f"_{name}" + (f"_chain{c + 1}" if n_chains > 1 else "")
        path = out / f"outpost{suffix}.csv"
        frame.to_csv(path, index=False, float_format="%.17g")
        table = out / f"postsumint{suffix}.csv"
        postsumint_frame(frame).to_csv(table, index=False)
        outposts.append(path)
        tables.append(table)
    return SyntheticFixture(outpost=tuple(outposts), postsumint=tuple(tables), directory=out)
