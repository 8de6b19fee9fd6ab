"""Compile a PyMC model for nutpie once per model structure, on disk, shared by every process.

nutpie's numba backend spends seconds compiling and under one sampling, and nutpie 0.16 compiles
again in every process: its two C callbacks (log density with gradient, and the expansion of a draw
into every variable) close over the compiled PyTensor functions and the shared data, which numba does
not write to its disk cache. This module builds the same two callbacks from generated source with no
closure: the PyTensor functions are called as globals and the shared data (``pm.Data``) is read
through the pointers in nutpie's ``user_data`` record, so the callbacks do not depend on the data's
values and numba can write them to disk. An entry of the cache is a folder::

    <cache dir>/<key>/manifest.json   what the callbacks need: sizes, names, shared variables,
                                      versions, sha256 of every file below
    <cache dir>/<key>/*.nbi, *.nbc    numba's cache index and object code of the two callbacks

``<key>`` is :func:`~partclust.inference.graphkey.graph_key` of the model (its graph, constants,
shared variables' shapes, coordinate lengths) together with the versions of Python, NumPy, PyTensor,
PyMC, numba, llvmlite and nutpie, the compiler settings that change code and the machine's target
(numba's triple, CPU name and features). A changed model, design shape, version or machine is a
different key, so a stale entry is never looked up. An entry whose manifest does not match its key,
whose files fail their checksums, or which numba cannot load is discarded and rebuilt. Entries are
written into a temporary folder and renamed into place when complete, so two processes filling the
cache at once each publish a complete entry or leave the other's; a reader never sees a half-written
one. A process that finds an entry missing takes that key's build lock (:func:`build_lock`) before it
builds, so of several processes needing the same entry at once one compiles and the others wait and load. The folder is ``$PARTCLUST_CACHE_DIR`` if set, else ``results/cache/compiled/``
(:attr:`partclust.layout.ResultsLayout.compiled_cache`); it can be shared by machines that see the
same results folder (each CPU kind gets its own entries). Entries hold numba's pickled code: share
the folder only with people whose code you would run.

Draws do not depend on the cache: every process runs code loaded from an entry, the process that
asked for the entry included. An entry is therefore built in a child process (``python -m
partclust.inference.compiled``, the model sent to it with cloudpickle): in the process that compiles,
numba's JIT links the callbacks to the separately compiled PyTensor functions, which differ in the last
bits from the copies inside the entry's object code, and a seed's draws would differ from those of
every later process. The child compiles the PyTensor functions afresh, without PyTensor's own numba
cache (``~/.pytensor``), so an entry does not depend on what that cache held either. When a
model cannot be keyed (an Op that is not described by plain values) or the generated callbacks cannot
be built, :func:`compile_model` falls back to ``nutpie.compile_pymc_model`` and says so in its record.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from partclust.files import write_json
from partclust.inference.callbacks import SOURCE_DIGEST, NoCode, assemble, initial_point_fn, make_cfuncs
from partclust.inference.graphkey import graph_key, key_outputs
from partclust.inference.imports import import_nutpie

__all__ = ["CACHE_ENV", "CACHE_FORMAT", "cache_dir", "compile_model", "cache_versions", "clear_memory", "build_lock",
           "check_entry"]

CACHE_ENV = "PARTCLUST_CACHE_DIR"
"""Environment variable naming the compile cache folder (default: ``results/cache/compiled``)."""
CACHE_FORMAT = 1
"""Version of the entry layout and of the generated callbacks below; part of every key."""
MANIFEST = "manifest.json"

# Per process: key -> the loaded callbacks and manifest, so a kernel fitting many seeds loads once.
_MEMORY: dict[str, "_Callbacks"] = {}


class _Stale(Exception):
    """An entry that must not be used (it is discarded and rebuilt)."""


@dataclasses.dataclass
class _Callbacks:
    manifest: dict[str, Any]
    logp: Any  # numba CFunc (only .address is used)
    expand: Any


def cache_dir(root: str | os.PathLike | None = None) -> Path:
    """Return the compile cache folder: ``root``, else ``$PARTCLUST_CACHE_DIR``, else ``results/cache/compiled``."""
    if root:
        return Path(root)
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    from partclust.layout import ResultsLayout

    return ResultsLayout().compiled_cache


def cache_versions() -> dict[str, Any]:
    """Everything besides the model that the compiled code depends on (part of every key).

    Returns
    -------
    dict
        Versions of Python, NumPy, PyTensor, PyMC, numba, llvmlite and nutpie; PyTensor's and
        numba's code-changing settings; numba's target (triple, CPU name, features); the cache format.
    """
    import llvmlite
    import numba
    import pymc
    import pytensor
    from numba.core.registry import cpu_target

    nutpie = import_nutpie()
    cfg = pytensor.config
    return {
        "format": CACHE_FORMAT, "callbacks": SOURCE_DIGEST,
        "python": platform.python_version(), "numpy": np.__version__, "pytensor": pytensor.__version__,
        "pymc": pymc.__version__, "numba": numba.__version__, "llvmlite": llvmlite.__version__,
        "nutpie": nutpie.__version__,
        "pytensor_config": {k: str(getattr(cfg, k, "")) for k in (
            "floatX", "numba__fastmath", "optimizer", "optimizer_including", "optimizer_excluding",
            "optimizer_requiring", "compute_test_value")},
        "numba_opt": str(numba.config.OPT), "numba_fastmath": str(getattr(numba.config, "FASTMATH", "")),
        "target": list(map(str, cpu_target.target_context.codegen().magic_tuple())),
    }


def clear_memory() -> None:
    """Forget the callbacks loaded in this process (the disk cache is untouched)."""
    _MEMORY.clear()


# ---- entries ---------------------------------------------------------------------------------
def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load(entry: Path, key: str, versions: dict[str, Any]) -> _Callbacks:
    """Load a complete entry, or raise :class:`_Stale` saying why it cannot be used."""
    manifest = check_entry(entry, key, versions)
    try:
        logp, expand = make_cfuncs(manifest, entry, None)
    except NoCode as exc:
        raise _Stale(str(exc)) from None
    except Exception as exc:  # numba could not unpickle or link the code
        raise _Stale(f"numba could not load the code ({type(exc).__name__}: {exc})") from None
    return _Callbacks(manifest, logp, expand)


def check_entry(entry: Path, key: str, versions: dict[str, Any]) -> dict[str, Any]:
    """Return the manifest of a complete entry whose files pass their checksums, without loading its code.

    Raises
    ------
    _Stale
        Saying why the entry cannot be used: an unreadable manifest, another key or other versions, a code file
        missing or failing its SHA-256.
    """
    try:
        manifest = json.loads((entry / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise _Stale(f"unreadable manifest ({exc})") from None
    if manifest.get("key") != key:
        raise _Stale("the manifest's key is not the folder's")
    if manifest.get("versions") != json.loads(json.dumps(versions)):
        raise _Stale("built with other versions or settings")
    files = manifest.get("files") or {}
    if not files:
        raise _Stale("no code files listed")
    for name, digest in files.items():
        path = entry / name
        if not path.is_file() or _digest(path) != digest:
            raise _Stale(f"{name} is missing or fails its checksum")
    return manifest


@contextlib.contextmanager
def build_lock(root: Path, key: str) -> Iterator[float]:
    """Hold the build lock of entry ``key`` (``<root>/.<key>.lock``) while the block runs; yields the seconds waited.

    Two processes that need the same missing entry (the two workers of a cold study, say) would
    otherwise both compile it; with the lock, the first builds and publishes while the second waits,
    then loads what the first published. The lock is an ``fcntl.flock``, released by the operating
    system when its holder ends in any way, so a killed compile never blocks a later one. Where the lock
    cannot be taken (no ``fcntl``, a read-only cache folder), the block runs without it.
    """
    t0 = time.perf_counter()
    try:
        import fcntl

        root.mkdir(parents=True, exist_ok=True)
        fd = os.open(root / f".{key}.lock", os.O_RDWR | os.O_CREAT, 0o666)
    except (ImportError, OSError):
        yield 0.0
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:  # flock unsupported here (e.g. some network file systems)
            pass
        yield time.perf_counter() - t0
    finally:
        os.close(fd)  # releases the lock


def _discard(entry: Path) -> None:
    """Move an unusable entry aside and delete it (another process may be doing the same)."""
    aside = entry.parent / f".stale-{entry.name[:12]}-{uuid.uuid4().hex[:8]}"
    try:
        entry.rename(aside)
    except OSError:
        return
    shutil.rmtree(aside, ignore_errors=True)


def _shared_variables(fn) -> list[Any]:
    return list(dict.fromkeys(fn.get_shared()))


def _build(model: Any, ipf: Any, folder: Path, key: str, versions: dict[str, Any]):
    """Compile the model's functions and callbacks, publish the entry; returns (callbacks, flat initial point fn, published)."""
    import pytensor

    import_nutpie()
    from nutpie.compile_pymc import _make_functions

    # PyTensor's own numba cache is left out of a build: code linked from it differs from code
    # compiled afresh in the last bits (the draws of a seed then depend on what that cache held),
    # while an entry built from scratch gives every machine with these versions the same draws.
    with pytensor.config.change_flags(numba__cache=False):
        n_dim, n_expanded, logp_pt, expand_pt, flat_ipf, shape_info, reparam = _make_functions(
            model, mode="NUMBA", compute_grad=True, join_expanded=True, pymc_initial_point_fn=ipf)
        return _publish(model, logp_pt, expand_pt, flat_ipf, (n_dim, n_expanded, shape_info, reparam), folder, key,
                        versions)


def _publish(model, logp_pt, expand_pt, flat_ipf, sizes, folder: Path, key: str, versions: dict[str, Any]):
    n_dim, n_expanded, shape_info, reparam = sizes
    logp_vars, expand_vars = _shared_variables(logp_pt), _shared_variables(expand_pt)
    variables = list(dict.fromkeys(logp_vars + expand_vars))
    names = [v.name for v in variables]
    if any(n is None for n in names) or len(set(names)) != len(names):
        raise _Stale(f"shared variables without unique names ({names}): data cannot be swapped in by name")
    skey = {v: f"s{i}" for i, v in enumerate(variables)}
    manifest = {
        "format": CACHE_FORMAT, "key": key, "versions": versions, "n_dim": int(n_dim), "n_expanded": int(n_expanded),
        "shape_info": [list(shape_info[0]), [[s.start, s.stop] for s in shape_info[1]],
                       [[int(d) for d in s] for s in shape_info[2]]],
        "reparameterized_names": list(reparam),
        "shared": [{"key": skey[v], "name": v.name, "dtype": str(np.asarray(v.get_value(borrow=True)).dtype),
                    "ndim": int(v.ndim)} for v in variables],
        "logp_shared": [skey[v] for v in logp_vars], "expand_shared": [skey[v] for v in expand_vars],
    }
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".tmp-{key[:12]}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        logp, expand = make_cfuncs(manifest, tmp, (logp_pt.vm.jit_fn, expand_pt.vm.jit_fn))
        files = {p.name: _digest(p) for p in sorted(tmp.iterdir()) if p.suffix in (".nbi", ".nbc")}
        published = len(files) >= 4  # an index and a code file per callback; numba skips uncachable code
        if published:
            write_json(tmp / MANIFEST, {**manifest, "files": files, "created": time.strftime("%Y-%m-%d %H:%M:%S")})
            try:
                tmp.rename(folder / key)
            except OSError:  # another process published this key first; its entry is as good
                published = False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return _Callbacks(manifest, logp, expand), flat_ipf, published


def compile_model(model: Any, folder: str | os.PathLike | None = None) -> tuple[Any, dict[str, Any]]:
    """Compile ``model`` for nutpie's numba backend through the persistent cache.

    Parameters
    ----------
    model : pymc.Model
    folder : path, optional
        The cache folder (default :func:`cache_dir`).

    Returns
    -------
    (nutpie.compiled_pymc.CompiledPyMCModel, dict)
        The compiled model, ready for ``nutpie.sample``, and a record: ``source`` (``memory``: loaded
        earlier in this process; ``disk``: loaded from an entry; ``compiled``: built by a child process,
        then loaded; ``compiled-here``: built and published by this process because no child could
        (its draws may differ in the last bits from a later process's); ``compiled-unpublished``:
        built here, not written (numba could not cache it); ``uncached``: ``nutpie.compile_pymc_model``
        without the cache), ``key``,
        ``entry``, ``rebuilt`` (why an existing entry was discarded, or ""), ``reason`` (for
        ``uncached``), ``waited_s`` (seconds spent waiting for another process's build of the same entry,
        when it was missing) and ``seconds``.
    """
    nutpie = import_nutpie()
    t0 = time.perf_counter()
    root = cache_dir(folder)
    record: dict[str, Any] = {"source": "", "key": None, "entry": None, "rebuilt": "", "reason": ""}
    try:
        versions = cache_versions()
        outputs = key_outputs(model)
        key = graph_key(model, extra=versions, outputs=outputs)
    except Exception as exc:  # a model the key does not understand: compile it the ordinary way
        key, record["reason"] = None, f"no key ({type(exc).__name__}: {exc})"
    if key is None:
        record["reason"] = record["reason"] or "the graph has an Op that plain values do not describe"
        record.update(source="uncached", seconds=time.perf_counter() - t0)
        return nutpie.compile_pymc_model(model), record
    entry = root / key
    record.update(key=key, entry=str(entry))
    ipf = initial_point_fn(model)
    cb = _MEMORY.get(key)
    if cb is not None:
        record["source"] = "memory"
    elif (entry / MANIFEST).is_file():
        try:
            cb = _load(entry, key, versions)
            record["source"] = "disk"
        except _Stale as exc:
            record["rebuilt"] = str(exc)
            _discard(entry)
    try:
        if cb is None:
            with build_lock(root, key) as waited:  # one process builds a key; the others wait and load it
                record["waited_s"] = round(waited, 3)
                if (entry / MANIFEST).is_file():
                    try:
                        cb = _load(entry, key, versions)
                        record["source"] = "disk"  # published while this process waited
                    except _Stale as exc:
                        record["rebuilt"] = record["rebuilt"] or str(exc)
                        _discard(entry)
                if cb is None:
                    error = _build_in_child(model, root, key)
                    try:
                        cb = _load(root / key, key, versions)
                        record["source"] = "compiled"
                    except _Stale as exc:  # no child (or it failed): compile here, still publish for others
                        record["rebuilt"] = record["rebuilt"] or f"built in this process ({error or exc})"
                        cb, _, published = _build(model, ipf, root, key, versions)
                        record["source"] = "compiled-here" if published else "compiled-unpublished"
        compiled = assemble(model, cb.manifest, cb.logp, cb.expand, ipf, outputs)
    except Exception as exc:  # generated callbacks not possible for this model: nutpie's own compile
        record.update(source="uncached", reason=f"{type(exc).__name__}: {exc}")
        record["seconds"] = time.perf_counter() - t0
        return nutpie.compile_pymc_model(model), record
    _MEMORY[key] = cb
    record["seconds"] = time.perf_counter() - t0
    return compiled, record


# ---- the child process that builds an entry ----------------------------------------------------
def _build_in_child(model: Any, root: Path, key: str) -> str:
    """Build the entry ``key`` in a new Python process; returns "" or the child's error (one line)."""
    import cloudpickle

    src = str(Path(__file__).resolve().parents[2])  # this copy of the package, first on the child's path
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH", "")) if p)}
    try:
        done = subprocess.run([sys.executable, "-m", "partclust.inference.compiled", str(root), key],
                              input=cloudpickle.dumps(model), capture_output=True, env=env, timeout=3600,
                              check=False)
    except (OSError, subprocess.SubprocessError, Exception) as exc:  # pickling or starting the child failed
        return f"{type(exc).__name__}: {exc}"
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else f"exit code {done.returncode}"
    return ""


def _child_main(argv: list[str]) -> int:
    """``python -m partclust.inference.compiled ROOT KEY`` with a pickled model on stdin: build and publish."""
    import pickle

    root, key = Path(argv[0]), argv[1]
    model = pickle.loads(sys.stdin.buffer.read())
    versions = cache_versions()
    if graph_key(model, extra=versions) != key:
        print("the model sent to the child has another key (versions differ between the processes?)", file=sys.stderr)
        return 3
    if (root / key / MANIFEST).is_file():
        try:
            _load(root / key, key, versions)
            return 0  # another process published it meanwhile
        except _Stale:
            _discard(root / key)
    _build(model, initial_point_fn(model), root, key, versions)
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
