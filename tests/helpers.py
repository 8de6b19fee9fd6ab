"""Builders the tests share: generated designs (and, in ``helpers_sas.py``, SAS-layout fixtures)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from partclust.layout import REPO_ROOT

EXTERNAL = REPO_ROOT.parent / "shared" / "external_data"
"""Real and documentation datasets (third-party, never committed; see its README for provenance)."""


def need_external(path) -> None:
    """Skip the calling test, saying why, when a third-party file of ``../shared/external_data/`` is absent."""
    if not path.is_file():
        pytest.skip(f"{path} is absent (third-party data, see ../shared/external_data/README.md)")


def unbalanced_frame(seed: int = 7, sizes=(3, 12, 5, 9, 2, 7, 4), n_control: int = 23) -> pd.DataFrame:
    """A generated partially clustered trial: unequal clusters, string labels, shuffled rows."""
    rng = np.random.default_rng(seed)
    labels = [f"grp-{chr(ord('A') + k)}" for k in range(len(sizes))]
    u = rng.normal(0.0, 0.7, len(sizes))
    rows = []
    for lab, size, uj in zip(labels, sizes, u):
        for _ in range(size):
            rows.append((lab, 1, 0.1 + 0.4 + uj + rng.normal(0, 0.9)))
    for k in range(n_control):
        rows.append((f"ctl{k:03d}", 0, 0.1 + rng.normal(0, 1.1)))
    df = pd.DataFrame(rows, columns=["j", "treat", "y"])
    df.insert(0, "i", [f"s{k}" for k in rng.permutation(len(df))])
    df["extra"] = "ignored"
    return df.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def write_exact_run(out, design, model: str = "single", seed: int = 1, shift_s2u: float = 0.0, settings=None,
                    n: int = 1000, chains: int = 4, log_likelihood: bool = False):
    """A run folder written by :func:`partclust.inference.write_run` from i.i.d. exact-posterior draws.

    Plays a perfect sampler without compiling anything (a second or so); ``shift_s2u`` moves σ²_u's
    draws to make a run that really differs; ``log_likelihood`` adds a placeholder group of that name
    (zeros, dims chain, draw, obs). Returns the run record.
    """
    import xarray as xr

    from partclust.inference import FitSettings, write_run
    from partclust.inference.sample import FitResult
    from partclust.references.exact import exact_draws

    settings = settings or FitSettings(model=model, seed=seed, draws=n, tune=100, chains=chains)
    post = exact_draws(design, settings.model, n=settings.draws, seed=seed, chains=settings.chains)
    post["s2u"] = post["s2u"] + shift_s2u
    groups = {"posterior": post}
    if log_likelihood:
        import numpy as np

        groups["log_likelihood"] = xr.Dataset({"y": (("chain", "draw", "obs"), np.zeros((chains, n, design.n)))})
    trace = xr.DataTree.from_dict(groups)
    result = FitResult(settings=settings, trace=trace, timings={"sample_s": 0.0})
    return write_run(out, result, design)
