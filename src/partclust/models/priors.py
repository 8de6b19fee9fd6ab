"""Prior families, each defined once: PyMC builder, log density, PROC MCMC text and a description.

Every prior the project uses is one of the small frozen classes below. The PyMC model
(:mod:`partclust.models.pymc`) calls :meth:`Prior.pymc`, the exact posterior and REML's report call
:meth:`Prior.log_density` and :meth:`Prior.sas`, and the PROC MCMC parser
(:mod:`partclust.translate.distributions`) produces them from text such as ``normal(0, var=10000)``, so a
prior is never written twice. Parameterizations follow SAS PROC MCMC (STUDY.md's translation traps):

==============================  ==============================  ==========================================
class                           PROC MCMC                       PyMC
==============================  ==============================  ==========================================
``Normal(mean, var)``           ``normal(0, var=10000)``        ``pm.Normal(mu=0, sigma=sqrt(var))``
``Gamma(shape, rate)``          ``gamma(shape=a, iscale=b)``    ``pm.Gamma(alpha=a, beta=b)`` (rate)
``InverseGamma(shape, scale)``  ``igamma(shape=a, scale=b)``    ``pm.InverseGamma(alpha=a, beta=b)``
``Uniform(lower, upper)``       ``uniform(a, b)``               ``pm.Uniform(a, b)``
``Exponential(scale)``          ``expon(scale=s)``              ``pm.Exponential(scale=s)``
``Flat(lower)``                 ``general(0)``                  ``pm.Flat`` (``pm.HalfFlat`` if lower=0)
``Reciprocal()``                ``general(-log(v), lower=0)``   ``pm.HalfFlat`` + ``pm.Potential(-log v)``
``GammaOnSD(shape, rate)``      (a trap: Gamma put on √v)       ``sd = pm.Gamma(…)``; ``v = sd**2``
``GammaOnPrecision(…)``         (a trap: Gamma put on 1/v)      ``tau = pm.Gamma(…)``; ``v = 1/tau``
``HalfCauchyOnSD(scale)``       ``cauchy(0, s, lower=0)`` on √v  ``sd = pm.HalfCauchy(beta=s)``; ``v = sd**2``
``HalfNormalOnSD(scale)``       ``normal(0, sd=s, lower=0)`` on √v ``sd = pm.HalfNormal(sigma=s)``; ``v = sd**2``
``UniformOnSD(upper)``          ``uniform(0, A)`` on √v          ``sd = pm.Uniform(0, A)``; ``v = sd**2``
==============================  ==============================  ==========================================

The last three are the usual weakly informative alternatives for a variance component (Gelman 2006): a
prior on the SD σ = √v, whose density on the variance is p_σ(√v)/(2√v). PROC MCMC writes them as a prior
on an SD parameter and the variance as an assignment, so they are not one-line PRIOR statements.

Length: over 400 lines because each of twelve families is a small class with its own docstring and five
hooks; one concept (a prior family) kept in one module so that each is defined once.

:class:`Priors` is the convenience the built-in run1 models and the σ²_u investigation use (a Normal on
each fixed effect, one of four σ²_u families, a Uniform on each residual variance);
:meth:`Priors.families` turns it into the families above.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy import special

from partclust.errors import SpecError
from partclust.validate import check_choice, check_positive

__all__ = [
    "Prior", "Normal", "Gamma", "InverseGamma", "Uniform", "Exponential", "Flat", "Reciprocal", "GammaOnSD",
    "GammaOnPrecision", "HalfCauchyOnSD", "HalfNormalOnSD", "UniformOnSD", "PRIOR_FAMILIES", "S2U_PRIORS", "Priors", "SAS_PRIORS", "DEFAULT_PRIORS",
    "log_prior_s2u", "log_prior_residual", "s2u_prior_rv", "describe_s2u_prior", "fmt_number",
]


def fmt_number(x: float) -> str:
    """Write a number as PROC MCMC text: shortest round-trip form, integers without a decimal point."""
    x = float(x)
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return repr(x)


def _finite(what: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise SpecError(f"{what} must be a number; got {value!r}") from None
    if not math.isfinite(v):
        raise SpecError(f"{what} must be a finite number; got {value!r}")
    return v


class Prior:
    """A prior family. Subclasses are frozen dataclasses holding the family's parameters.

    Each subclass implements the hooks ``_log_density``, ``_pymc``, ``_pymc_text``, ``_sas`` and
    ``_describe`` (and ``_support`` when not the whole line); the public methods below are defined once.

    Attributes
    ----------
    kind : str
        The family's short name (``normal``, ``gamma``, …).
    proper : bool
        Whether the density integrates to one (``Flat`` and ``Reciprocal`` do not).
    """

    kind: ClassVar[str] = ""
    proper: ClassVar[bool] = True

    @property
    def support(self) -> tuple[float, float]:
        """(lower, upper) of the support on the parameter's own scale."""
        return self._support()

    def _support(self) -> tuple[float, float]:
        return (-math.inf, math.inf)

    @property
    def for_variance(self) -> bool:
        """Whether the support lies in [0, ∞), as a variance's prior must."""
        return self.support[0] >= 0.0

    def log_density(self, x: Any) -> np.ndarray:
        """Evaluate the log density at ``x`` on the parameter's own scale (−inf outside the support).

        Parameters
        ----------
        x : array_like
            Any shape.

        Returns
        -------
        numpy.ndarray
            Same shape as ``x``; for an improper prior, up to an additive constant.
        """
        return self._log_density(np.asarray(x, dtype=float))

    def pymc(self, name: str) -> Any:
        """Create the prior's random variable named ``name`` in the current PyMC model; return its tensor."""
        return self._pymc(name)

    def pymc_text(self, name: str) -> str:
        """Write the PyMC call :meth:`pymc` makes, as text (for SAS ↔ PyMC tables)."""
        return self._pymc_text(name)

    def sas(self, name: str = "v") -> str:
        """Write the prior in PROC MCMC syntax; :func:`partclust.translate.parse_distribution` reads it back.

        ``name`` is the parameter's name, which only ``general(-log(name), lower=0)`` mentions.
        """
        return self._sas(name)

    def describe(self) -> str:
        """Describe the prior in words, with its parameterization spelled out."""
        return self._describe()

    def _log_density(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _pymc(self, name: str) -> Any:
        raise NotImplementedError

    def _pymc_text(self, name: str) -> str:
        raise NotImplementedError

    def _sas(self, name: str) -> str:
        raise NotImplementedError

    def _describe(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class Normal(Prior):
    """Normal with mean ``mean`` and **variance** ``var`` (SAS ``normal(mean, var=)``)."""

    mean: float = 0.0
    var: float = 1.0
    kind: ClassVar[str] = "normal"

    def __post_init__(self) -> None:
        """Check the parameters (:class:`~partclust.errors.SpecError` naming the one out of range)."""
        object.__setattr__(self, "mean", _finite("normal mean", self.mean))
        object.__setattr__(self, "var", check_positive("normal variance", float(self.var)))

    @property
    def sd(self) -> float:
        """The standard deviation √var (PyMC's ``sigma``)."""
        return math.sqrt(self.var)

    def _log_density(self, x: Any) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return -0.5 * (math.log(2 * math.pi * self.var) + (x - self.mean) ** 2 / self.var)

    def _pymc(self, name: str) -> Any:
        import pymc as pm

        return pm.Normal(name, mu=self.mean, sigma=self.sd)

    def _pymc_text(self, name: str) -> str:
        return f"pm.Normal({name!r}, mu={self.mean:g}, sigma={self.sd:g})"

    def _sas(self, name: str) -> str:
        return f"normal({fmt_number(self.mean)}, var={fmt_number(self.var)})"

    def _describe(self) -> str:
        return f"Normal(mean {self.mean:g}, variance {self.var:g})"


@dataclass(frozen=True)
class Gamma(Prior):
    """Gamma with shape ``shape`` and **rate** ``rate`` (SAS ``gamma(shape, iscale=rate)``)."""

    shape: float = 1.0
    rate: float = 1.0
    kind: ClassVar[str] = "gamma"

    def __post_init__(self) -> None:
        """Check the parameters (:class:`~partclust.errors.SpecError` naming the one out of range)."""
        object.__setattr__(self, "shape", check_positive("gamma shape", float(self.shape)))
        object.__setattr__(self, "rate", check_positive("gamma rate (iscale)", float(self.rate)))

    def _support(self) -> tuple[float, float]:
        return (0.0, math.inf)

    def _log_density(self, x: Any) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        a, b = self.shape, self.rate
        with np.errstate(divide="ignore", invalid="ignore"):
            out = a * math.log(b) - special.gammaln(a) + special.xlogy(a - 1.0, x) - b * x
        return np.where(x >= 0, out, -np.inf)  # at 0: finite for shape 1, +inf below, -inf above

    def _pymc(self, name: str) -> Any:
        import pymc as pm

        return pm.Gamma(name, alpha=self.shape, beta=self.rate)

    def _pymc_text(self, name: str) -> str:
        return f"pm.Gamma({name!r}, alpha={self.shape:g}, beta={self.rate:g})"

    def _sas(self, name: str) -> str:
        return f"gamma(shape={fmt_number(self.shape)}, iscale={fmt_number(self.rate)})"

    def _describe(self) -> str:
        return f"Gamma(shape {self.shape:g}, rate {self.rate:g})"


@dataclass(frozen=True)
class InverseGamma(Prior):
    """Inverse-gamma with shape ``shape`` and **scale** ``scale``: density ∝ v^−(shape+1)·exp(−scale/v).

    SAS ``igamma(shape, scale=)``; PyMC ``InverseGamma(alpha=shape, beta=scale)``.
    """

    shape: float = 1.0
    scale: float = 1.0
    kind: ClassVar[str] = "igamma"

    def __post_init__(self) -> None:
        """Check the parameters (:class:`~partclust.errors.SpecError` naming the one out of range)."""
        object.__setattr__(self, "shape", check_positive("igamma shape", float(self.shape)))
        object.__setattr__(self, "scale", check_positive("igamma scale", float(self.scale)))

    def _support(self) -> tuple[float, float]:
        return (0.0, math.inf)

    def _log_density(self, x: Any) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        a, b = self.shape, self.scale
        with np.errstate(divide="ignore", invalid="ignore"):
            out = a * math.log(b) - special.gammaln(a) - (a + 1.0) * np.log(x) - b / x
        return np.where(x > 0, out, -np.inf)

    def _pymc(self, name: str) -> Any:
        import pymc as pm

        return pm.InverseGamma(name, alpha=self.shape, beta=self.scale)

    def _pymc_text(self, name: str) -> str:
        return f"pm.InverseGamma({name!r}, alpha={self.shape:g}, beta={self.scale:g})"

    def _sas(self, name: str) -> str:
        return f"igamma(shape={fmt_number(self.shape)}, scale={fmt_number(self.scale)})"

    def _describe(self) -> str:
        return f"inverse-gamma(shape {self.shape:g}, scale {self.scale:g})"


@dataclass(frozen=True)
class Uniform(Prior):
    """Uniform on (``lower``, ``upper``) (SAS ``uniform(lower, upper)``)."""

    lower: float = 0.0
    upper: float = 1.0
    kind: ClassVar[str] = "uniform"

    def __post_init__(self) -> None:
        """Check the parameters (:class:`~partclust.errors.SpecError` naming the one out of range)."""
        lo, hi = _finite("uniform lower end", self.lower), _finite("uniform upper end", self.upper)
        if not lo < hi:
            raise SpecError(f"uniform needs lower < upper; got uniform({lo:g}, {hi:g})")
        object.__setattr__(self, "lower", lo)
        object.__setattr__(self, "upper", hi)

    def _support(self) -> tuple[float, float]:
        return (self.lower, self.upper)

    def _log_density(self, x: Any) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        inside = (x > self.lower) & (x <= self.upper)
        return np.where(inside, -math.log(self.upper - self.lower), -np.inf)

    def _pymc(self, name: str) -> Any:
        import pymc as pm

        return pm.Uniform(name, self.lower, self.upper)

    def _pymc_text(self, name: str) -> str:
        return f"pm.Uniform({name!r}, {self.lower:g}, {self.upper:g})"

    def _sas(self, name: str) -> str:
        return f"uniform({fmt_number(self.lower)}, {fmt_number(self.upper)})"

    def _describe(self) -> str:
        return f"Uniform({self.lower:g}, {self.upper:g})"


@dataclass(frozen=True)
class Exponential(Prior):
    """Exponential with **scale** (mean) ``scale`` (SAS ``expon(scale=)``; ``iscale=`` is the rate)."""

    scale: float = 1.0
    kind: ClassVar[str] = "expon"

    def __post_init__(self) -> None:
        """Check the parameters (:class:`~partclust.errors.SpecError` naming the one out of range)."""
        object.__setattr__(self, "scale", check_positive("expon scale", float(self.scale)))

    def _support(self) -> tuple[float, float]:
        return (0.0, math.inf)

    def _log_density(self, x: Any) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return np.where(x >= 0, -math.log(self.scale) - x / self.scale, -np.inf)

    def _pymc(self, name: str) -> Any:
        import pymc as pm

        return pm.Exponential(name, scale=self.scale)

    def _pymc_text(self, name: str) -> str:
        return f"pm.Exponential({name!r}, scale={self.scale:g})"

    def _sas(self, name: str) -> str:
        return f"expon(scale={fmt_number(self.scale)})"

    def _describe(self) -> str:
        return f"Exponential(scale {self.scale:g}, i.e. rate {1 / self.scale:g})"


@dataclass(frozen=True)
class Flat(Prior):
    """The improper flat prior (SAS ``general(0)``), on the whole line or on v > ``lower`` = 0."""

    lower: float = -math.inf
    kind: ClassVar[str] = "flat"
    proper: ClassVar[bool] = False

    def __post_init__(self) -> None:
        """Check the parameters (:class:`~partclust.errors.SpecError` naming the one out of range)."""
        lo = float(self.lower)
        if lo not in (-math.inf, 0.0):
            raise SpecError(f"a flat prior is supported on the whole line or on v > 0; got lower={lo:g}")
        object.__setattr__(self, "lower", lo)

    def _support(self) -> tuple[float, float]:
        return (self.lower, math.inf)

    def _log_density(self, x: Any) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return np.where(x > self.lower, 0.0, -np.inf)

    def _pymc(self, name: str) -> Any:
        import pymc as pm

        return pm.HalfFlat(name) if self.lower == 0.0 else pm.Flat(name)

    def _pymc_text(self, name: str) -> str:
        return f"pm.HalfFlat({name!r})" if self.lower == 0.0 else f"pm.Flat({name!r})"

    def _sas(self, name: str) -> str:
        return "general(0, lower=0)" if self.lower == 0.0 else "general(0)"

    def _describe(self) -> str:
        return "flat (improper) on v > 0" if self.lower == 0.0 else "flat (improper)"


@dataclass(frozen=True)
class Reciprocal(Prior):
    """The improper prior ∝ 1/v on v > 0 (SAS ``general(-log(v), lower=0)``): flat on log v."""

    kind: ClassVar[str] = "reciprocal"
    proper: ClassVar[bool] = False

    def _support(self) -> tuple[float, float]:
        return (0.0, math.inf)

    def _log_density(self, x: Any) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(x > 0, -np.log(x), -np.inf)

    def _pymc(self, name: str) -> Any:
        import pymc as pm
        import pytensor.tensor as pt

        v = pm.HalfFlat(name)
        pm.Potential(f"{name}_reciprocal_prior", -pt.log(v))
        return v

    def _pymc_text(self, name: str) -> str:
        return f"pm.HalfFlat({name!r}) + pm.Potential(-log({name}))"

    def _sas(self, name: str) -> str:
        return f"general(-log({name}), lower=0)"

    def _describe(self) -> str:
        return "∝ 1/v on v > 0 (improper; flat on log v)"


@dataclass(frozen=True)
class GammaOnSD(Prior):
    """A translation trap: Gamma(shape, rate) put on the SD √v instead of the variance v.

    Density of v: Gamma(√v) · 1/(2√v). The PyMC free variable is the SD (``sd_<name>``; ``sd_u`` for
    ``s2u``) and v a Deterministic.
    """

    shape: float = 1.0
    rate: float = 1.0
    kind: ClassVar[str] = "gamma_on_sd"

    def __post_init__(self) -> None:
        """Check the parameters (:class:`~partclust.errors.SpecError` naming the one out of range)."""
        Gamma(self.shape, self.rate)

    def _support(self) -> tuple[float, float]:
        return (0.0, math.inf)

    def _log_density(self, x: Any) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            sd = np.sqrt(x)
            out = Gamma(self.shape, self.rate).log_density(sd) - np.log(2.0 * sd)
        return np.where(x > 0, out, -np.inf)

    def _pymc(self, name: str) -> Any:
        import pymc as pm

        sd = pm.Gamma(_derived(name, "sd"), alpha=self.shape, beta=self.rate)
        return pm.Deterministic(name, sd**2)

    def _pymc_text(self, name: str) -> str:
        sd = _derived(name, "sd")
        return f"{sd} = pm.Gamma({sd!r}, alpha={self.shape:g}, beta={self.rate:g}); {name} = {sd}**2"

    def _sas(self, name: str) -> str:
        return f"gamma(shape={fmt_number(self.shape)}, iscale={fmt_number(self.rate)}) on the SD"

    def _describe(self) -> str:
        return f"Gamma(shape {self.shape:g}, rate {self.rate:g}) on the SD"


@dataclass(frozen=True)
class GammaOnPrecision(Prior):
    """A translation trap: Gamma(shape, rate) put on the precision 1/v (≡ inverse-gamma(shape, scale=rate) on v).

    The PyMC free variable is the precision (``tau_<name>``; ``tau_u`` for ``s2u``) and v a Deterministic.
    """

    shape: float = 1.0
    rate: float = 1.0
    kind: ClassVar[str] = "gamma_on_precision"

    def __post_init__(self) -> None:
        """Check the parameters (:class:`~partclust.errors.SpecError` naming the one out of range)."""
        Gamma(self.shape, self.rate)

    def _support(self) -> tuple[float, float]:
        return (0.0, math.inf)

    def _log_density(self, x: Any) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = Gamma(self.shape, self.rate).log_density(1.0 / x) - 2.0 * np.log(x)
        return np.where(x > 0, out, -np.inf)

    def _pymc(self, name: str) -> Any:
        import pymc as pm

        tau = pm.Gamma(_derived(name, "tau"), alpha=self.shape, beta=self.rate)
        return pm.Deterministic(name, 1.0 / tau)

    def _pymc_text(self, name: str) -> str:
        tau = _derived(name, "tau")
        return f"{tau} = pm.Gamma({tau!r}, alpha={self.shape:g}, beta={self.rate:g}); {name} = 1/{tau}"

    def _sas(self, name: str) -> str:
        return f"gamma(shape={fmt_number(self.shape)}, iscale={fmt_number(self.rate)}) on the precision"

    def _describe(self) -> str:
        return f"Gamma(shape {self.shape:g}, rate {self.rate:g}) on the precision"


class _OnSD(Prior):
    """A prior put on the SD σ = √v of a variance v: density of v is p_σ(√v)/(2√v).

    Subclasses give σ's log density (``_log_sd``), its upper end (``_sd_upper``) and its PyMC
    distribution (``_pymc_sd``, ``_pymc_sd_text``). The PyMC free variable is the SD (``sd_u`` for
    ``s2u``) and v a Deterministic, as for :class:`GammaOnSD`.
    """

    def _sd_upper(self) -> float:
        return math.inf

    def _support(self) -> tuple[float, float]:
        return (0.0, self._sd_upper() ** 2)

    def _log_sd(self, sd: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _pymc_sd(self, name: str) -> Any:
        raise NotImplementedError

    def _pymc_sd_text(self, name: str) -> str:
        raise NotImplementedError

    def _log_density(self, x: Any) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            sd = np.sqrt(x)
            out = self._log_sd(sd) - np.log(2.0 * sd)
        return np.where((x > 0) & (x <= self.support[1]), out, -np.inf)

    def _pymc(self, name: str) -> Any:
        import pymc as pm

        sd = self._pymc_sd(_derived(name, "sd"))
        return pm.Deterministic(name, sd**2)

    def _pymc_text(self, name: str) -> str:
        sd = _derived(name, "sd")
        return f"{sd} = {self._pymc_sd_text(sd)}; {name} = {sd}**2"


@dataclass(frozen=True)
class HalfCauchyOnSD(_OnSD):
    """Half-Cauchy with scale ``scale`` on the SD √v (Gelman 2006's weakly informative prior)."""

    scale: float = 1.0
    kind: ClassVar[str] = "halfcauchy_on_sd"

    def __post_init__(self) -> None:
        """Check the parameters (:class:`~partclust.errors.SpecError` naming the one out of range)."""
        object.__setattr__(self, "scale", check_positive("half-Cauchy scale", float(self.scale)))

    def _log_sd(self, sd: np.ndarray) -> np.ndarray:
        s = self.scale
        return math.log(2.0 / (math.pi * s)) - np.log1p((sd / s) ** 2)

    def _pymc_sd(self, name: str) -> Any:
        import pymc as pm

        return pm.HalfCauchy(name, beta=self.scale)

    def _pymc_sd_text(self, name: str) -> str:
        return f"pm.HalfCauchy({name!r}, beta={self.scale:g})"

    def _sas(self, name: str) -> str:
        return f"cauchy(0, {fmt_number(self.scale)}, lower=0) on the SD"

    def _describe(self) -> str:
        return f"half-Cauchy(scale {self.scale:g}) on the SD"


@dataclass(frozen=True)
class HalfNormalOnSD(_OnSD):
    """Half-normal with scale (SD of the parent normal) ``scale`` on the SD √v."""

    scale: float = 1.0
    kind: ClassVar[str] = "halfnormal_on_sd"

    def __post_init__(self) -> None:
        """Check the parameters (:class:`~partclust.errors.SpecError` naming the one out of range)."""
        object.__setattr__(self, "scale", check_positive("half-normal scale", float(self.scale)))

    def _log_sd(self, sd: np.ndarray) -> np.ndarray:
        s = self.scale
        return 0.5 * math.log(2.0 / math.pi) - math.log(s) - 0.5 * (sd / s) ** 2

    def _pymc_sd(self, name: str) -> Any:
        import pymc as pm

        return pm.HalfNormal(name, sigma=self.scale)

    def _pymc_sd_text(self, name: str) -> str:
        return f"pm.HalfNormal({name!r}, sigma={self.scale:g})"

    def _sas(self, name: str) -> str:
        return f"normal(0, sd={fmt_number(self.scale)}, lower=0) on the SD"

    def _describe(self) -> str:
        return f"half-normal(scale {self.scale:g}) on the SD"


@dataclass(frozen=True)
class UniformOnSD(_OnSD):
    """Uniform on (0, ``upper``) for the SD √v: the variance lies in (0, upper²)."""

    upper: float = 10.0
    kind: ClassVar[str] = "uniform_on_sd"

    def __post_init__(self) -> None:
        """Check the parameters (:class:`~partclust.errors.SpecError` naming the one out of range)."""
        object.__setattr__(self, "upper", check_positive("uniform upper end of the SD", float(self.upper)))

    def _sd_upper(self) -> float:
        return self.upper

    def _log_sd(self, sd: np.ndarray) -> np.ndarray:
        return np.full_like(sd, -math.log(self.upper))

    def _pymc_sd(self, name: str) -> Any:
        import pymc as pm

        return pm.Uniform(name, 0.0, self.upper)

    def _pymc_sd_text(self, name: str) -> str:
        return f"pm.Uniform({name!r}, 0, {self.upper:g})"

    def _sas(self, name: str) -> str:
        return f"uniform(0, {fmt_number(self.upper)}) on the SD"

    def _describe(self) -> str:
        return f"Uniform(0, {self.upper:g}) on the SD"


def _derived(name: str, prefix: str) -> str:
    """Name of the free variable behind a trap family: ``sd_u``/``tau_u`` for ``s2u``, else ``sd_<name>``."""
    return f"{prefix}_u" if name == "s2u" else f"{prefix}_{name}"


PRIOR_FAMILIES: tuple[type[Prior], ...] = (Normal, Gamma, InverseGamma, Uniform, Exponential, Flat, Reciprocal,
                                           GammaOnSD, GammaOnPrecision, HalfCauchyOnSD, HalfNormalOnSD, UniformOnSD)
"""Every prior family, in the order tables list them."""

S2U_PRIORS: tuple[str, ...] = ("gamma", "gamma_on_sd", "gamma_on_precision", "inverse_gamma")


@dataclass(frozen=True)
class Priors:
    """Prior settings of the built-in models (defaults: the SAS program's).

    Parameters
    ----------
    b_sd : float
        SD of the Normal(0, b_sd²) prior on each fixed effect (SAS ``normal(0, var=10000)`` → 100).
    s2u_prior : {"gamma", "gamma_on_sd", "gamma_on_precision", "inverse_gamma"}
        Where the Gamma(``s2u_alpha``, rate ``s2u_beta``) prior is put: on the variance σ²_u (correct),
        on the SD σ_u, on the precision 1/σ²_u; or an inverse-gamma(shape ``s2u_alpha``, scale
        ``s2u_beta``) on the variance.
    s2u_alpha, s2u_beta : float
        Shape and rate (scale for the inverse-gamma).
    s2e_upper : float
        Upper end of the Uniform(0, s2e_upper) prior on each residual variance (outcome units²).

    Raises
    ------
    SpecError
        For an unknown ``s2u_prior`` or a parameter that is not a positive number.
    """

    b_sd: float = 100.0
    s2u_prior: str = "gamma"
    s2u_alpha: float = 1.0
    s2u_beta: float = 1.0
    s2e_upper: float = 100.0

    def __post_init__(self) -> None:
        """Check the parameters (:class:`~partclust.errors.SpecError` naming the one out of range)."""
        """Refuse an unknown σ²_u prior family or a parameter that is not a positive number."""
        check_choice("s2u_prior", self.s2u_prior, S2U_PRIORS)
        for name in ("b_sd", "s2u_alpha", "s2u_beta", "s2e_upper"):
            check_positive(name, getattr(self, name))

    @property
    def s2u(self) -> Prior:
        """σ²_u's prior family."""
        a, b = self.s2u_alpha, self.s2u_beta
        return {"gamma": Gamma, "inverse_gamma": InverseGamma, "gamma_on_sd": GammaOnSD,
                "gamma_on_precision": GammaOnPrecision}[self.s2u_prior](a, b)

    @property
    def b(self) -> Normal:
        """Each fixed effect's prior: Normal(0, variance b_sd²)."""
        return Normal(0.0, self.b_sd**2)

    @property
    def s2e(self) -> Uniform:
        """Each residual variance's prior: Uniform(0, s2e_upper)."""
        return Uniform(0.0, self.s2e_upper)

    def families(self) -> dict[str, Prior]:
        """Return the priors by parameter group: ``{"b": …, "s2u": …, "s2e": …}``.

        ``b`` covers every fixed effect and ``s2e`` every residual variance.
        """
        return {"b": self.b, "s2u": self.s2u, "s2e": self.s2e}


SAS_PRIORS = Priors()
DEFAULT_PRIORS: dict[str, Prior] = SAS_PRIORS.families()
"""The SAS program's priors by group (STUDY.md): ``b`` normal(0, var=10000), ``s2u`` gamma(shape=1, iscale=1),
``s2e`` uniform(0, 100); the defaults of every model specification."""


def s2u_prior_rv(priors: Priors) -> Any:
    """Create σ²_u's prior in the current PyMC model context; returns the tensor of σ²_u.

    For priors put on the SD or the precision, the free variable is ``sd_u`` or ``tau_u`` and
    ``s2u`` is a Deterministic.
    """
    return priors.s2u.pymc("s2u")


def log_prior_s2u(priors: Priors, s2u: Any) -> np.ndarray:
    """Log prior density of σ²_u on the variance scale, broadcast over an array.

    For priors put on the SD (σ_u = √σ²_u) or the precision (τ = 1/σ²_u) the change of variables'
    Jacobian is included (1/(2σ_u) and 1/σ⁴_u). Outside the support: −inf.

    Returns
    -------
    numpy.ndarray
        Same shape as ``s2u``.
    """
    return priors.s2u.log_density(s2u)


def log_prior_residual(priors: Priors, s2e: Any) -> np.ndarray:
    """Log density of the Uniform(0, ``s2e_upper``) prior of a residual variance (−inf outside)."""
    return priors.s2e.log_density(s2e)


def describe_s2u_prior(priors: Priors) -> str:
    """Describe the σ²_u prior in words, e.g. ``"Gamma(shape 1, rate 1) on σ²_u"``."""
    a, b = priors.s2u_alpha, priors.s2u_beta
    return {
        "gamma": f"Gamma(shape {a:g}, rate {b:g}) on σ²_u",
        "gamma_on_sd": f"Gamma(shape {a:g}, rate {b:g}) on σ_u",
        "gamma_on_precision": f"Gamma(shape {a:g}, rate {b:g}) on 1/σ²_u",
        "inverse_gamma": f"inverse-gamma(shape {a:g}, scale {b:g}) on σ²_u",
    }[priors.s2u_prior]
