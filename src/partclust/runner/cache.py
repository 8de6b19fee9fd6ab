"""Content-addressed reuse of executed notebooks: a notebook whose inputs are unchanged is not run again.

The *inputs* of an execution are the notebook file itself, its parameters, the dataset's SHA-256, the
versions of every package a result depends on (:func:`~partclust.config.package_versions`), a digest
of partclust's own source (so a fix in the package re-executes what it affects), and the bytes of every
file the notebook reads from earlier stages (e.g. each run's ``run.json`` and ``summary.csv``; a run
folder is renamed into place only when complete, so its ``run.json`` identifies its draws). Their
SHA-256 is the execution's *key*.

After a successful execution the key and the inputs it was computed from are written beside the
executed notebook as ``<name>.inputs.json``; the sidecar is removed before an execution starts, so
a failed or interrupted execution is never reused. :func:`execute_cached` reuses an executed notebook
only when its sidecar holds the same key.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable

from partclust.config import package_versions
from partclust.files import json_default, write_json

__all__ = ["SIDECAR_SUFFIX", "file_sha256", "source_digest", "inputs_manifest", "inputs_key", "sidecar_path",
           "is_fresh", "execute_cached"]

SIDECAR_SUFFIX = ".inputs.json"
_PACKAGE = Path(__file__).resolve().parents[1]


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@functools.cache
def source_digest() -> str:
    """SHA-256 over partclust's source files (``*.py``, templates, bundled JSON), by relative path."""
    h = hashlib.sha256()
    for path in sorted(p for p in _PACKAGE.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                       and p.suffix in (".py", ".j2", ".css", ".json")):
        h.update(path.relative_to(_PACKAGE).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def inputs_manifest(notebook: str | os.PathLike, parameters: dict[str, Any], data_sha256: str,
                    input_files: Iterable[str | os.PathLike] = (), root: str | os.PathLike | None = None) -> dict:
    """Everything an execution depends on, JSON-ready (see the module docstring).

    Parameters
    ----------
    notebook : path
        The source notebook (its bytes count, not its name).
    parameters : dict
        The papermill parameters.
    data_sha256 : str
        The dataset's checksum.
    input_files : iterable of path
        Files of earlier stages the notebook reads; missing ones are recorded as missing.
    root : path, optional
        Input files are named relative to it (so a moved results folder keeps its keys).
    """
    files = {}
    for f in sorted({Path(p) for p in input_files}):
        name = f.relative_to(root).as_posix() if root is not None and f.is_relative_to(root) else f.as_posix()
        files[name] = file_sha256(f) if f.is_file() else "missing"
    return {
        "notebook": {"name": Path(notebook).name, "sha256": file_sha256(notebook)},
        "parameters": json.loads(json.dumps(parameters, sort_keys=True, default=json_default)),
        "data_sha256": data_sha256,
        "versions": package_versions(),
        "partclust_source_sha256": source_digest(),
        "input_files": files,
    }


def inputs_key(manifest: dict) -> str:
    """Hash a manifest's canonical JSON with SHA-256: equal keys, equal inputs."""
    return hashlib.sha256(json.dumps(manifest, sort_keys=True, default=json_default).encode()).hexdigest()


def sidecar_path(executed: str | os.PathLike) -> Path:
    """``<folder>/<name>.inputs.json`` beside the executed notebook ``<folder>/<name>.ipynb``."""
    p = Path(executed)
    return p.with_name(p.stem + SIDECAR_SUFFIX)


def is_fresh(executed: str | os.PathLike, key: str) -> bool:
    """Whether ``executed`` exists and was produced from inputs with this key."""
    side = sidecar_path(executed)
    if not Path(executed).is_file() or not side.is_file():
        return False
    try:
        return json.loads(side.read_text()).get("key") == key
    except (OSError, ValueError, AttributeError):
        return False


def execute_cached(name: str | os.PathLike, output: str | os.PathLike, parameters: dict[str, Any],
                   data_sha256: str, input_files: Iterable[str | os.PathLike] = (),
                   root: str | os.PathLike | None = None, **execute_kwargs: Any) -> bool:
    """Execute a notebook unless an executed copy with the same inputs exists.

    Parameters
    ----------
    name, output, parameters
        As :func:`~partclust.runner.notebooks.execute`.
    data_sha256, input_files, root
        As :func:`inputs_manifest`.
    **execute_kwargs
        Passed to :func:`~partclust.runner.notebooks.execute` (``timeout``, ``km``, ``progress``).

    Returns
    -------
    bool
        True when the notebook was executed, False when the existing copy was reused.

    Raises
    ------
    NotebookError
        When the execution fails (no sidecar is left, so the next call executes again).
    """
    from partclust.runner.notebooks import execute, notebook_path

    src = notebook_path(name)
    input_files = list(input_files)
    manifest = inputs_manifest(src, parameters, data_sha256, input_files, root)
    key = inputs_key(manifest)
    if is_fresh(output, key):
        return False
    sidecar_path(output).unlink(missing_ok=True)
    execute(name, output, parameters, **execute_kwargs)
    write_json(sidecar_path(output), {"key": key, "inputs": manifest})
    return True
