"""Names and run settings shared by every stage, importable without PyMC.

The multi-seed driver and the command line validate settings and schedule runs in processes
that never sample; keeping these definitions free of PyMC/ArviZ imports keeps those processes
light (a few seconds saved per Dask worker and per command).
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from importlib import metadata

import numpy as np

RESIDUALS: tuple[str, ...] = ("single", "per_condition")
PARAMETERIZATIONS: tuple[str, ...] = ("noncentered", "centered", "sas_singletons")
SAMPLERS: tuple[str, ...] = ("nutpie", "pymc", "metropolis")
VERSIONED_PACKAGES = (
    "partclust", "pymc", "pytensor", "nutpie", "numba", "arviz", "arviz-stats", "numpy", "scipy",
    "pandas", "xarray", "papermill",
)


class FitError(RuntimeError):
    """A fit could not be run or recorded; the message says which setting or file is at fault."""


@dataclass(frozen=True)
class FitSettings:
    """Everything that determines a run; two runs with equal settings give equal summaries."""

    model: str = "single"
    parameterization: str = "noncentered"
    seed: int = 1
    draws: int = 2000
    tune: int = 1000
    chains: int = 4
    sampler: str = "nutpie"
    # 0.8 left a divergence in 3 of 20 per-condition seeds and 1 of 20 single seeds; 0.9 in none
    # (20 seeds each, 4 × 2,000 draws) at a cost of well under a second per fit.
    target_accept: float = 0.9

    def __post_init__(self) -> None:
        checks = (
            ("model", self.model, RESIDUALS),
            ("parameterization", self.parameterization, PARAMETERIZATIONS),
            ("sampler", self.sampler, SAMPLERS),
        )
        for name, value, allowed in checks:
            if value not in allowed:
                raise FitError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
        for name in ("draws", "tune", "chains", "seed"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
                raise FitError(f"{name} must be an integer; got {value!r}")
        if not 0.5 <= float(self.target_accept) < 1.0:
            raise FitError(f"target_accept must be in [0.5, 1); got {self.target_accept!r}")
        if self.draws < 10 or self.chains < 1 or self.tune < 0 or self.seed < 0:
            raise FitError(
                f"need draws >= 10, chains >= 1, tune >= 0 and seed >= 0; got draws={self.draws}, "
                f"chains={self.chains}, tune={self.tune}, seed={self.seed}"
            )


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for pkg in VERSIONED_PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = "not installed"
    return versions
