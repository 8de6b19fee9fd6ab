"""Import nutpie without loading the whole ArviZ namespace (a fit needs ArviZ's data functions, not its plots).

nutpie 0.16 starts with ``import arviz``, and ``arviz`` 1.x imports ``arviz_base``, ``arviz_stats`` and
``arviz_plots`` (with ``matplotlib.pyplot``) whole. Of these nutpie calls two functions, ``arviz.from_dict`` and
``arviz.dict_to_dataset``, which are ``arviz_base``'s (``arviz`` re-exports them). :func:`import_nutpie` imports
nutpie with a namespace in place of ``arviz`` that holds those two and loads the real ``arviz`` for any other
name; the namespace is nutpie's own global only, ``sys.modules`` is left as it was, so every other
``import arviz`` gets the real package. Measured with ``python -X importtime`` here: nutpie's import fell from
about 3.1 s to 0.5 s, of which ``arviz_stats`` (1.7 s, needed anyway for ESS and R-hat) and ``arviz_plots``
(0.8 s, not needed by a fit) were the bulk. Same functions, so the same trees and draws.
"""

from __future__ import annotations

import importlib
import sys
import threading
import types
from typing import Any

__all__ = ["import_nutpie", "warm_up"]

_LOCK = threading.Lock()
NUTPIE_USES = ("from_dict", "dict_to_dataset")
"""The ``arviz`` names nutpie 0.16 calls (``nutpie/sample.py``); both are ``arviz_base``'s."""


class _ArvizBaseNamespace(types.ModuleType):
    """``arviz_base``'s data functions under the name ``arviz``; any other name loads the real ``arviz``."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(importlib.import_module("arviz"), name)


def import_nutpie() -> types.ModuleType:
    """Return the ``nutpie`` module, imported without ``arviz_plots`` when ``arviz`` is not loaded yet.

    Returns
    -------
    module
        ``nutpie``. When ``arviz`` is already imported, or nutpie is, this is a plain ``import nutpie``.
    """
    if "nutpie" in sys.modules or "arviz" in sys.modules:
        import nutpie

        return nutpie
    import arviz_base

    with _LOCK:
        if "nutpie" not in sys.modules:
            namespace = _ArvizBaseNamespace("arviz", "arviz_base's from_dict and dict_to_dataset, for nutpie")
            for name in NUTPIE_USES:
                setattr(namespace, name, getattr(arviz_base, name))
            sys.modules["arviz"] = namespace
            try:
                importlib.import_module("nutpie")
            finally:
                if sys.modules.get("arviz") is namespace:
                    del sys.modules["arviz"]
    return sys.modules["nutpie"]


def warm_up() -> None:
    """Do ahead of a process's first fit the one-off work that fit would otherwise wait for.

    A study's kernels call it while they wait for the first compile (:data:`partclust.runner.notebooks.WARM_IMPORTS`):
    the fit's imports (PyMC, nutpie via :func:`import_nutpie`, numba's start-up), ``arviz_stats`` with a summary of
    16 draws, and the netCDF4 library. Measured here in a fresh process: importing ``arviz_stats`` took 1.6 s and
    its first summary 0.8 s, against 0.02 s for the next one; a study's first run per kernel paid both after the
    compile.
    """
    import netCDF4  # noqa: F401  (the writer of posterior.nc)
    import numba.core.registry
    import numpy as np
    import xarray as xr

    import partclust.inference.compiled  # noqa: F401
    import partclust.inference.sample  # noqa: F401
    from partclust.inference.summary import summarize_params

    import_nutpie()
    numba.core.registry.cpu_target.target_context.refresh()
    draws = np.random.default_rng(0).normal(size=(2, 8))
    summarize_params({"x": xr.DataArray(draws, dims=("chain", "draw"))})
