"""Argument checks every layer uses, so that each rule and its message exist once."""

from __future__ import annotations

import math
import numbers
import os
import re
from pathlib import Path
from typing import Any, Iterable

from partclust.config import PARAMETERIZATIONS, RESIDUALS, SAMPLERS
from partclust.errors import PartclustError, SpecError

__all__ = ["check_model_choice", "check_gate_chains", "check_choice", "check_residual", "check_parameterization",
           "check_sampler", "check_positive", "check_int", "check_output_dir", "check_output_file",
           "check_scheduler_address"]


def check_choice(what: str, value: Any, allowed: Iterable[str],
                 error: type[PartclustError] = SpecError) -> str:
    """Return ``value`` if it is one of ``allowed``.

    Raises
    ------
    SpecError
        (or ``error``) naming ``what``, the value and the choices.
    """
    allowed = tuple(allowed)
    if value not in allowed:
        raise error(f"{what} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def check_residual(residual: Any, error: type[PartclustError] = SpecError) -> str:
    """Return ``residual`` if it is a residual structure of :data:`partclust.config.RESIDUALS`."""
    return check_choice("residual", residual, RESIDUALS, error)


def check_parameterization(value: Any, error: type[PartclustError] = SpecError) -> str:
    """Return ``value`` if it is one of :data:`partclust.config.PARAMETERIZATIONS`."""
    return check_choice("parameterization", value, PARAMETERIZATIONS, error)


def check_sampler(value: Any, error: type[PartclustError] = SpecError) -> str:
    """Return ``value`` if it is one of :data:`partclust.config.SAMPLERS`."""
    return check_choice("sampler", value, SAMPLERS, error)


def check_positive(what: str, value: Any, error: type[PartclustError] = SpecError) -> float:
    """Return ``value`` as a float if it is a finite number > 0.

    Raises
    ------
    SpecError
        (or ``error``) naming ``what`` and the value.
    """
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    if not ok:
        raise error(f"{what} must be a positive number; got {value!r}")
    return float(value)


def check_int(what: str, value: Any, lo: int | None = None, hi: int | None = None,
              error: type[PartclustError] = SpecError) -> int:
    """Return ``value`` as an int if it is an integer (not a bool) within ``[lo, hi]``.

    Raises
    ------
    SpecError
        (or ``error``) naming ``what``, the value and the allowed range.
    """
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise error(f"{what} must be an integer; got {value!r}")
    v = int(value)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        rng = f"≥ {lo}" if hi is None else (f"≤ {hi}" if lo is None else f"between {lo} and {hi}")
        raise error(f"{what} must be {rng}; got {v}")
    return v


def _first_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_output_dir(what: str, path: Any, error: type[PartclustError] = SpecError) -> Path:
    """Return ``path`` resolved if it is, or can be created as, a folder this process can write into.

    Nothing is left behind: the nearest existing ancestor must be a writable folder, and when ``path`` is missing a
    folder is created in that ancestor and removed again (``/proc`` passes the permission check, yet takes none).

    Raises
    ------
    SpecError
        (or ``error``) when the path is a file, lies below a file, or its nearest existing folder is
        not writable; the message names ``what`` and the path.
    """
    p = Path(path).expanduser().resolve()
    if p.exists() and not p.is_dir():
        raise error(f"{what} {p} is a file, not a folder; give a folder (it is created when missing).")
    base = _first_existing(p)
    if not base.is_dir():
        raise error(f"{what} {p} cannot be a folder: {base} is a file.")
    if not os.access(base, os.W_OK | os.X_OK):
        raise error(f"{what} {p} cannot be written: {base} is not writable by this user. Choose another folder.")
    if base != p:
        import tempfile

        try:
            os.rmdir(tempfile.mkdtemp(prefix=".partclust-probe-", dir=base))
        except OSError as exc:
            raise error(f"{what} {p} cannot be created: {base} takes no new folder ({exc.strerror or exc}). "
                        "Choose another folder.") from None
    return p


def check_output_file(what: str, path: Any, error: type[PartclustError] = SpecError,
                      example: str = "result.csv") -> Path:
    """Return ``path`` resolved if a file can be written there (nothing is created).

    Raises
    ------
    SpecError
        (or ``error``) when the path is a folder, its folder cannot be one, or is not writable.
    """
    p = Path(path).expanduser().resolve()
    if p.is_dir():
        raise error(f"{what} {p} is a folder; give a file name, e.g. {p / example}.")
    check_output_dir(f"the folder of {what}", p.parent, error)
    return p


_SCHEDULER = re.compile(r"^(?:(tcp|tls)://)?(\[[0-9a-fA-F:]+\]|[A-Za-z0-9._-]+):(\d{1,5})/?$")


def check_scheduler_address(address: Any, error: type[PartclustError] = SpecError) -> str:
    """Return ``address`` if it is a Dask scheduler address: ``tcp://host:port``, ``tls://host:port`` or ``host:port``.

    Raises
    ------
    SpecError
        (or ``error``) for anything else (another scheme such as ``http://``, no port, a port outside
        1–65535), saying what is expected.
    """
    text = str(address).strip()
    m = _SCHEDULER.match(text)
    if not m or not 1 <= int(m.group(3)) <= 65535:
        hint = " (a Dask scheduler speaks tcp://, not HTTP; its dashboard's web address is not it)" \
            if text.lower().startswith(("http://", "https://")) else ""
        raise error(f"--scheduler {text!r} is not a Dask scheduler address{hint}; give tcp://HOST:PORT, "
                    "e.g. tcp://127.0.0.1:8786.")
    return text


def check_model_choice(model: str | None, formula: str | None) -> None:
    """Refuse a model request that names neither or both of a built-in model and a formula.

    Raises
    ------
    SpecError
        Saying which options to give.
    """
    if model and formula:
        raise SpecError("give either --model (a built-in run1 model) or --formula, not both")
    if not model and not formula:
        raise SpecError("give --model single|per_condition (the built-in run1 models), --formula \"y ~ …\" or "
                        "--sas-program FILE.sas")


def check_gate_chains(chains: Any, error: type[PartclustError]) -> None:
    """Refuse fewer than 2 chains per run, for ``fit`` and ``study`` alike: the convergence gate's R-hat compares chains.

    A value that is not an integer is left to :func:`check_int`'s message.

    Raises
    ------
    PartclustError
        Of type ``error``.
    """
    if isinstance(chains, int) and not isinstance(chains, bool) and chains < 2:
        raise error(f"chains (--chains) must be at least 2: R-hat and the convergence gate need at least 2 chains "
                    f"to compare; got {chains}")
