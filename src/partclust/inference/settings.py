"""A run's settings: everything that determines a fit. Importable without PyMC."""

from __future__ import annotations

from dataclasses import dataclass

from partclust.errors import FitError
from partclust.config import RESIDUALS
from partclust.validate import check_choice, check_int, check_parameterization, check_sampler

__all__ = ["FitSettings", "SEED_MAX"]

SEED_MAX = 2**32 - 1
"""Largest seed every sampler accepts (nutpie takes 64-bit seeds, PyMC's ``random_seed`` 32-bit)."""


@dataclass(frozen=True)
class FitSettings:
    """Everything that determines a run; two runs with equal settings give equal summaries.

    Parameters
    ----------
    model : str
        A built-in model (``single``, ``per_condition``) or, with ``spec``, the name of a formula model, or,
        with ``sas_program``, the name of a translated PROC MCMC program's model (e.g.
        ``partially_clustered-step2``).
    parameterization : {"noncentered", "centered", "sas_singletons"}
    seed : int
        0 … 2³² − 1.
    draws, tune, chains : int
        Draws per chain kept (≥ 10), tuning steps (≥ 0), chains (≥ 1).
    sampler : {"nutpie", "pymc", "metropolis"}
    target_accept : float
        NUTS step-size adaptation target, in [0.5, 1). 0.8 left a divergence in 3 of 20
        per-condition seeds and 1 of 20 single seeds; 0.9 in none (4 × 2,000 draws).
    spec : str
        The model specification as canonical JSON (:func:`partclust.translate.spec_key`); empty for a
        built-in model with the SAS program's priors.
    sas_program : str
        A PROC MCMC program to translate and fit instead of a built-in or formula model ("": none).
    step : int
        Which PROC MCMC step of ``sas_program`` (0: its only one).
    program_sha256 : str
        SHA-256 of ``sas_program`` (a changed program is another fit).

    Raises
    ------
    FitError
        Naming the first setting out of range.
    """

    model: str = "single"
    parameterization: str = "noncentered"
    seed: int = 1
    draws: int = 2000
    tune: int = 1000
    chains: int = 4
    sampler: str = "nutpie"
    target_accept: float = 0.9
    spec: str = ""
    sas_program: str = ""
    step: int = 0
    program_sha256: str = ""

    def __post_init__(self) -> None:
        """Refuse settings a sampler would reject, naming the first one out of range."""
        if self.sas_program:
            check_int("step (--step)", self.step, error=FitError)
            if self.step < 0:
                raise FitError(f"step (--step) must be 0 (the only step) or a step number; got {self.step}")
        if not self.spec and not self.sas_program:
            check_choice("model", self.model, RESIDUALS, FitError)
        elif not (isinstance(self.model, str) and self.model.replace("_", "").replace("-", "").isalnum()):
            raise FitError(f"model name must be letters, digits, - and _; got {self.model!r}")
        check_parameterization(self.parameterization, FitError)
        check_sampler(self.sampler, FitError)
        for name in ("draws", "tune", "chains", "seed"):
            check_int(f"{name} (--{name})", getattr(self, name), error=FitError)
        if not 0.5 <= float(self.target_accept) < 1.0:
            raise FitError(f"target_accept (--target-accept) must be in [0.5, 1); got {self.target_accept!r}")
        for name, ok, rule in (("draws", self.draws >= 10, "draws >= 10"), ("chains", self.chains >= 1, "chains >= 1"),
                               ("tune", self.tune >= 0, "tune >= 0"),
                               ("seed", 0 <= self.seed <= SEED_MAX, f"0 <= seed <= {SEED_MAX}")):
            if not ok:  # one setting named at a time, so the reader knows which to change
                raise FitError(f"{name} (--{name}) out of range: need {rule}; got {name}={getattr(self, name)}")
