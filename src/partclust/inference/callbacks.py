"""The two C callbacks nutpie samples with, generated from source so that numba can cache them on disk.

nutpie 0.16 (``nutpie/compile_pymc.py``) builds its log-density and expansion callbacks as closures
over the compiled PyTensor functions and the shared data; numba does not write such functions to its
disk cache. The callbacks here do the same work from generated source with no closure: the PyTensor
function is a global of the generated code, the shared arrays (``pm.Data``) are read through the
pointers, sizes and shapes in nutpie's ``user_data`` record by straight-line code, and sizes are
literals. numba's file cache of each callback is directed to a folder of the caller's choice
(:mod:`partclust.inference.compiled` uses an entry folder), and :func:`assemble` turns two
callbacks and a model into the ``CompiledPyMCModel`` that ``nutpie.sample`` takes, with the model's
own data swapped in.
"""

from __future__ import annotations

import hashlib
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from partclust.inference.imports import import_nutpie

__all__ = ["SOURCE_DIGEST", "NoCode", "assemble", "initial_point_fn", "make_cfuncs"]


class NoCode(Exception):
    """Cached code that cannot be used: none for this signature and machine, or data it does not fit."""


# The generated callbacks. They do what nutpie's own ``logp_numba``/``expand_numba`` do (nutpie
# 0.16, compile_pymc.py), with the shared arrays read from ``user_data`` by straight-line code.
_LOGP_TEMPLATE = """
def partclust_logp(dim, x_, out_, logp_, user_data_):
    if dim != {n_dim}:
        return -1
    try:
        x = numba.carray(x_, ({n_dim},))
        out = numba.carray(out_, ({n_dim},))
        logp = numba.carray(logp_, ())
        shared = numba.carray(user_data_, (), RECORD)["shared"]
{unpack}
        logp_val, grad = INNER({args})
        logp[()] = logp_val
        out[...] = grad
        if not np.all(np.isfinite(out)):
            return 3
        if not np.isfinite(logp_val):
            return 4
    except Exception:
        return 1
    return 0
"""
_EXPAND_TEMPLATE = """
def partclust_expand(dim, expanded, x_, out_, user_data_):
    if dim != {n_dim}:
        return -1
    if expanded != {n_expanded}:
        return -1
    try:
        x = numba.carray(x_, ({n_dim},))
        out = numba.carray(out_, ({n_expanded},))
        shared = numba.carray(user_data_, (), RECORD)["shared"]
{unpack}
        (values,) = INNER({args})
        out[...] = values
    except Exception:
        return -2
    return 0
"""
_UNPACK = ("        {v} = numba.carray(address_as_void_pointer(shared['data']['{k}'][()]), "
           "int(shared['size']['{k}'][()]), DTYPE_{k}).reshape(({shape}))\n")
SOURCE_DIGEST = hashlib.sha256((_LOGP_TEMPLATE + _EXPAND_TEMPLATE + _UNPACK).encode()).hexdigest()

# Generated functions -> the folder numba caches them in (read by the locator below).
_LOCATIONS: "weakref.WeakKeyDictionary[Any, str]" = weakref.WeakKeyDictionary()
_STAMP = 1  # numba's "source stamp" of every generated callback; the callers key their folders


def _register_locator() -> None:
    from numba.core.caching import CacheImpl, _CacheLocator

    if any(getattr(c, "_partclust", False) for c in CacheImpl._locator_classes):
        return

    class _EntryLocator(_CacheLocator):
        """Directs numba's cache of a generated callback to its entry folder (registered functions only)."""

        _partclust = True

        def __init__(self, path: str):
            self._path = path

        def ensure_cache_path(self) -> None:  # the folder is made (or read-only) by this module
            pass

        def get_cache_path(self) -> str:
            return self._path

        def get_source_stamp(self) -> int:
            return _STAMP

        def get_disambiguator(self) -> str:
            return "entry"

        @classmethod
        def from_function(cls, py_func, py_file):
            path = _LOCATIONS.get(py_func)
            return None if path is None else cls(path)

    CacheImpl._locator_classes.insert(0, _EntryLocator)


def _signatures():
    import numba

    t = numba.types
    logp = t.int64(t.uint64, t.CPointer(t.double), t.CPointer(t.double), t.CPointer(t.double), t.voidptr)
    expand = t.int64(t.uint64, t.uint64, t.CPointer(t.double), t.CPointer(t.double), t.voidptr)
    return logp, expand


def _generate(template: str, manifest: dict[str, Any], keys: list[str], inner: Any, record: np.dtype):
    """Return the generated callback (a plain function) for ``template`` and the manifest's sizes."""
    import numba

    import_nutpie()
    from nutpie.compile_pymc import address_as_void_pointer

    shared = {s["key"]: s for s in manifest["shared"]}
    unpack = "".join(
        _UNPACK.format(v=f"a{i}", k=k, shape="".join(f"int(shared['shape']['{k}'][{d}]), "
                                                     for d in range(shared[k]["ndim"])))
        for i, k in enumerate(keys))
    args = ", ".join(["x", *[f"a{i}" for i in range(len(keys))]])
    src = template.format(n_dim=manifest["n_dim"], n_expanded=manifest["n_expanded"], unpack=unpack, args=args)
    # ``__name__``: numba's cached environment of the code is rebuilt from this module's globals
    env = {"__name__": __name__, "numba": numba, "np": np, "address_as_void_pointer": address_as_void_pointer, "RECORD": record,
           "INNER": inner, **{f"DTYPE_{k}": np.dtype(s["dtype"]) for k, s in shared.items()}}
    name = template.split("def ", 1)[1].split("(", 1)[0]
    exec(compile(src, f"partclust_generated_{name}.py", "exec"), env)
    return env[name]


def _record_dtype(manifest: dict[str, Any]) -> np.dtype:
    keys = [s["key"] for s in manifest["shared"]]
    ndims = {s["key"]: s["ndim"] for s in manifest["shared"]}
    return np.dtype([("shared", [
        ("data", [(k, np.uintp) for k in keys]),
        ("size", [(k, np.uintp) for k in keys]),
        ("shape", [(k, np.uint, (ndims[k],)) for k in keys]),
    ])])


def make_cfuncs(manifest: dict[str, Any], folder: Path, inner: tuple[Any, Any] | None):
    """Make the two callbacks, cached in ``folder``: compiled (``inner`` given) or loaded (None).

    Raises
    ------
    NoCode
        When loading and numba's cache has no usable code for this signature and machine.
    """
    from numba.core.ccallback import CFunc

    _register_locator()
    record = _record_dtype(manifest)
    out = []
    for template, keys, sig, fn in zip((_LOGP_TEMPLATE, _EXPAND_TEMPLATE),
                                       (manifest["logp_shared"], manifest["expand_shared"]), _signatures(),
                                       inner or (None, None)):
        py_func = _generate(template, manifest, keys, fn, record)
        _LOCATIONS[py_func] = str(folder)
        cf = CFunc(py_func, (sig.args, sig.return_type), locals={}, options={})
        cf.enable_caching()
        if inner is not None:
            cf.compile()  # compiles and writes numba's cache files into ``folder``
        else:
            cres = cf._cache.load_overload(cf._sig, cf._targetdescr.target_context)
            if cres is None:
                raise NoCode("numba's cache in the entry has no code for this signature and machine")
            cf._cache_hits += 1
            cf._library = cres.library
            cf._wrapper_name = cres.fndesc.llvm_cfunc_wrapper_name
            cf._wrapper_address = cres.library.get_pointer_to_function(cf._wrapper_name)
        out.append(cf)
    return out


def assemble(model: Any, manifest: dict[str, Any], logp: Any, expand: Any, ipf: Any, outputs: list[Any]) -> Any:
    """Return nutpie's ``CompiledPyMCModel`` of ``model`` from the two callbacks, with the model's own data.

    Raises
    ------
    NoCode
        When the model lacks a shared variable the callbacks read, or its dtype or rank differ.
    """
    import_nutpie()
    from nutpie.compile_pymc import (CompiledPyMCModel, _prepare_dims_and_coords, _rv_dict_to_flat_array_wrapper,
                                     make_user_data)
    from pytensor.compile.sharedvalue import SharedVariable
    from pytensor.graph.traversal import graph_inputs

    m = manifest
    names, slices, shapes = m["shape_info"]
    shape_info = (list(names), [slice(a, b) for a, b in slices], [tuple(s) for s in shapes])
    by_name = {v.name: v for v in graph_inputs(outputs)
               if isinstance(v, SharedVariable)}
    shared_var_keys, shared_data = {}, {}
    for s in m["shared"]:
        var = by_name.get(s["name"])
        if var is None:
            raise NoCode(f"the model has no shared variable {s['name']!r}")
        value = np.array(var.get_value(), order="C", copy=True)
        if str(value.dtype) != s["dtype"] or value.ndim != s["ndim"]:
            raise NoCode(f"shared variable {s['name']!r} is {value.dtype}[{value.ndim}d], the entry expects "
                         f"{s['dtype']}[{s['ndim']}d]")
        value.flags.writeable = False
        shared_var_keys[var] = s["key"]
        shared_data[s["key"]] = value
    user_data = make_user_data(shared_var_keys, shared_data)
    free = m["n_dim"]
    joined = [(n, sh) for n, sl, sh in zip(*shape_info) if sl.stop <= free]
    flat_ipf = _rv_dict_to_flat_array_wrapper(ipf, names=[n for n, _ in joined], shapes=[sh for _, sh in joined])
    dims, coords = _prepare_dims_and_coords(model, shape_info, m["reparameterized_names"])
    return CompiledPyMCModel(
        _n_dim=m["n_dim"], dims=dims, _coords=coords, _shapes={n: tuple(s) for n, _, s in zip(*shape_info)},
        compiled_logp_func=logp, compiled_expand_func=expand, initial_point_func=flat_ipf,
        shared_data=shared_data, shared_var_keys=shared_var_keys, user_data=user_data,
        n_expanded=m["n_expanded"], shape_info=shape_info, logp_func=None, expand_func=None,
        reparameterized_names=list(m["reparameterized_names"]),
    )


def initial_point_fn(model: Any):
    """PyMC's initial point function exactly as ``nutpie.compile_pymc_model`` makes it (default options)."""
    import_nutpie()
    from nutpie.compile_pymc import _wrap_with_lock
    from pymc.initial_point import make_initial_point_fn

    fn = make_initial_point_fn(model=model, overrides=None, default_strategy="support_point",
                               jitter_rvs=set(model.free_RVs), return_transformed=True)
    return _wrap_with_lock(fn)
