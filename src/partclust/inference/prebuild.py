"""Build a model's compile-cache entry ahead of its fits, without loading it (a study's driver, while kernels start).

A study's first fit on a worker waits for the worker's process, its kernel, the kernel's imports and the fit
notebook's first cells (about 13 s here) before its fit cell asks the compile cache for the model, and only then
does a missing entry start compiling (about 25 s). :func:`prebuild` lets the driver start that compile at once:
it builds the PyMC model exactly as :func:`~partclust.inference.sample.fit` will, and when the cache has no entry
for its key it builds one in a child process under the entry's build lock
(:func:`~partclust.inference.compiled.build_lock`). A fit that gets there first waits for the lock and loads the
entry (``source`` ``disk``); the entry is built by a child either way, so the draws are those of any other process.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from partclust.inference.settings import FitSettings

__all__ = ["prebuild", "ensure_entry", "copy_entry"]


def ensure_entry(model: Any, folder: str | os.PathLike | None = None) -> dict[str, Any]:
    """Build the compile-cache entry of ``model`` when it is missing; never load it into this process.

    Parameters
    ----------
    model : pymc.Model
    folder : path, optional
        The cache folder (default :func:`~partclust.inference.compiled.cache_dir`).

    Returns
    -------
    dict
        ``source``: ``present`` (an entry was there; whether it is usable is checked when a fit loads it),
        ``copied`` (from the default cache folder, :func:`~partclust.inference.compiled.cache_dir`, named in
        ``copied_from``; its checksums were checked first), ``built`` (a child process built it), ``failed``
        (the child failed; ``error`` says why, and the fit will compile as usual) or ``unkeyed`` (the model has
        no key: nutpie compiles it in the fit); ``key``, ``waited_s`` (for another process's build of the same
        entry) and ``seconds``.
    """
    from partclust.inference.compiled import MANIFEST, _build_in_child, build_lock, cache_dir, cache_versions
    from partclust.inference.graphkey import graph_key

    t0 = time.perf_counter()
    root = Path(cache_dir(folder))
    default = Path(cache_dir())
    try:
        versions = cache_versions()
        key = graph_key(model, extra=versions)
    except Exception:  # a model the key does not understand
        key = None
    record: dict[str, Any] = {"key": key, "source": "unkeyed", "error": "", "waited_s": 0.0}
    if key is not None:
        record["source"] = "present"
        if not (root / key / MANIFEST).is_file():
            with build_lock(root, key) as waited:
                record["waited_s"] = round(waited, 3)
                if not (root / key / MANIFEST).is_file():
                    if default.resolve() != root.resolve() and copy_entry(default, root, key, versions):
                        record["source"] = "copied"  # from the default cache (a `partclust fit` compiled it)
                        record["copied_from"] = str(default)
                    else:
                        record["error"] = _build_in_child(model, root, key)
                        record["source"] = "failed" if record["error"] else "built"
    record["seconds"] = round(time.perf_counter() - t0, 3)
    return record


def prebuild(data: Any, settings: FitSettings, folder: str | os.PathLike | None = None) -> dict[str, Any]:
    """Build the cache entry the fit of ``data`` with ``settings`` will load (:func:`ensure_entry`).

    Parameters
    ----------
    data : ModelData, Design or TranslatedProgram
        What :func:`~partclust.inference.sample.fit` would be given (a translated program when
        ``settings.sas_program``).
    settings : FitSettings
        The fit's settings; the seed, draws and chains do not matter, the model and parameterization do.
    folder : path, optional
        The cache folder.

    Returns
    -------
    dict
        :func:`ensure_entry`'s record; ``source`` ``not-nutpie`` for another sampler (nothing is compiled ahead).
    """
    if settings.sampler != "nutpie":
        return {"key": None, "source": "not-nutpie", "error": "", "waited_s": 0.0, "seconds": 0.0}
    if settings.sas_program:
        model = data.model(settings.parameterization).model
    else:
        from partclust.inference.sample import model_for

        model = model_for(data, settings)[0]
    return ensure_entry(model, folder)


def copy_entry(source: Path, root: Path, key: str, versions: dict[str, Any]) -> bool:
    """Copy the entry ``key`` from the cache folder ``source`` into ``root`` when it is there and passes its checks.

    An entry holds no path of its own (it loads from any folder), so a study whose results folder has its own cache
    can start from the entries ``partclust fit`` left in the default one. The copy is made under a temporary name
    and renamed into place, as a build is.

    Returns
    -------
    bool
        True when ``root`` now holds the entry from ``source``.
    """
    from partclust.inference.compiled import MANIFEST, _Stale, check_entry

    entry = source / key
    try:
        check_entry(entry, key, versions)
    except _Stale:  # absent or unusable: the caller builds it
        return False
    tmp = root / f".tmp-{key[:12]}-{uuid.uuid4().hex[:8]}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        shutil.copytree(entry, tmp)
        tmp.rename(root / key)
        return True
    except OSError:  # unreadable source, full disk, or another process published it first
        return (root / key / MANIFEST).is_file()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
