"""Executing the parameterized notebooks with papermill (used by the CLI and the multi-seed study).

Notebooks live in ``notebooks/`` and are committed without outputs; an executed copy is written next
to what it produced. The kernel is this interpreter's own ``python3`` (jupyter_client maps a
``python`` kernel command onto ``sys.executable``), so nothing needs to be registered outside the
repository.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from partclust.config import NOTEBOOK_FILES
from partclust.errors import NotebookError
from partclust.layout import NOTEBOOKS

__all__ = ["NOTEBOOK_FILES", "FIT_NOTEBOOK", "KERNEL_ARGUMENTS", "notebook_path", "execute", "start_kernel", "as_list"]

FIT_NOTEBOOK = NOTEBOOK_FILES["fit"]
# the kernel's own log (e.g. its start-up note on local TCP) is not the reader's concern; errors
# inside the notebook are still recorded in the executed copy
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]
WARM_IMPORTS = ("import partclust.inference.sample, partclust.inference.compiled, partclust.reporting.plots\n"
                "import nutpie, numba.core.registry\n"
                "numba.core.registry.cpu_target.target_context.refresh()\n")
"""What a fit notebook's kernel can do before the notebook arrives: its imports and numba's start-up."""


def start_kernel(km: Any, warm: bool = True) -> None:
    """Start ``km``'s kernel as :func:`execute` would, and with ``warm`` send it :data:`WARM_IMPORTS`.

    The imports are queued, not waited for: the caller goes on (validating data, planning runs) while
    the kernel imports, and the notebook's first cell runs after them. A kernel that is already
    running is left as it is.
    """
    from jupyter_client.utils import run_sync

    if km.has_kernel:
        return
    _ensure_path()
    run_sync(km.start_kernel)(extra_arguments=KERNEL_ARGUMENTS, cwd=str(NOTEBOOKS))
    if warm:
        kc = km.client()
        kc.start_channels()
        try:
            run_sync(kc.wait_for_ready)(timeout=300)
            kc.execute(WARM_IMPORTS, silent=True, store_history=False)
        finally:
            kc.stop_channels()


def _ensure_path() -> None:
    """Put this interpreter's folder first on PATH, so the ``python3`` kernel is this environment's."""
    env_path = os.environ.get("PATH", "")
    bindir = str(Path(sys.executable).parent)
    if bindir not in env_path.split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + env_path


def notebook_path(name: str | os.PathLike) -> Path:
    """Return the notebook ``name`` in ``notebooks/``, or ``name`` itself when it is a path to a notebook.

    Raises
    ------
    NotebookError
        When no such notebook exists.
    """
    candidate = Path(name)
    path = candidate if (candidate.is_absolute() or candidate.parent != Path(".")) else NOTEBOOKS / candidate
    if not path.is_file():
        raise NotebookError(f"notebook {path} not found; is this a complete checkout?", notebook=str(name))
    return path


def execute(
    name: str | os.PathLike,
    output: str | os.PathLike,
    parameters: dict[str, Any],
    *,
    timeout: float | None = None,
    progress: bool = False,
    km: Any = None,
) -> Path:
    """Run a notebook with ``parameters`` and save the executed copy at ``output``.

    Parameters
    ----------
    name : str or path
        A notebook in ``notebooks/`` (e.g. ``"02_fit.ipynb"``) or a path to one.
    output : path
        Where the executed copy goes (its folder is created).
    parameters : dict
        Injected after the notebook's ``parameters`` cell.
    timeout : float, optional
        Seconds a cell may run.
    progress : bool
        Show papermill's progress bar.
    km : jupyter_client kernel manager, optional
        A kernel to run in (started on first use and left running, so a caller can reuse one kernel
        for many notebooks); by default a fresh kernel per notebook.

    Returns
    -------
    pathlib.Path
        The executed copy.

    Raises
    ------
    NotebookError
        When a cell raises (``cell``, ``ename``, ``evalue`` and ``executed`` say where).
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    src = notebook_path(name)
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    _ensure_path()
    try:
        pm.execute_notebook(
            str(src), str(out), parameters=parameters, kernel_name="python3", cwd=str(NOTEBOOKS),
            progress_bar=progress, execution_timeout=timeout, log_output=False,
            extra_arguments=KERNEL_ARGUMENTS,
            **({"km": km} if km is not None else {}),
        )
    except PapermillExecutionError as exc:
        raise NotebookError(
            f"{src.name} failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue}. "
            f"The executed notebook with the full traceback is {out}.",
            notebook=str(name), executed=out, cell=exc.exec_count, ename=exc.ename, evalue=exc.evalue,
        ) from None
    return out


def as_list(value: Any, kind: type = int) -> list:
    """Read a notebook list parameter as a list of ``kind``.

    Accepts a list, one value, or text such as ``"[1, 2]"``, ``"1,2"`` or ``"centered sas_singletons"``
    (what ``papermill -p`` passes).
    """
    if isinstance(value, str):
        items = [v.strip().strip("'\"") for v in value.strip().strip("[]()").replace(",", " ").split()]
        return [kind(v) for v in items if v]
    if isinstance(value, (list, tuple)):
        return [kind(v) for v in value]
    return [kind(value)]
