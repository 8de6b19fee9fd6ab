"""Executing the parameterized notebooks with papermill (used by the CLI and the multi-seed study).

Notebooks live in ``notebooks/`` and are committed without outputs; an executed copy is written into
the run's own directory, next to what it produced. The kernel is this interpreter's own ``python3``
(jupyter_client maps a ``python`` kernel command onto ``sys.executable``), so nothing needs to be
registered outside the repository.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from partclust.paths import NOTEBOOKS

FIT_NOTEBOOK = "02_fit.ipynb"


class NotebookError(RuntimeError):
    """A notebook failed; the message names the executed copy to open and the error inside."""


def notebook_path(name: str) -> Path:
    path = NOTEBOOKS / name
    if not path.is_file():
        raise NotebookError(f"notebook {path} not found; is this a complete checkout?")
    return path


def execute(
    name: str,
    output: str | os.PathLike,
    parameters: dict[str, Any],
    *,
    timeout: float | None = None,
    progress: bool = False,
    km: Any = None,
) -> Path:
    """Run ``notebooks/<name>`` with ``parameters`` and save the executed copy at ``output``.

    ``km``: a jupyter_client kernel manager to run in (started on first use and left running, so a
    caller can reuse one kernel for many notebooks); by default a fresh kernel per notebook.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    src = notebook_path(name)
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    env_path = os.environ.get("PATH", "")
    bindir = str(Path(sys.executable).parent)
    if bindir not in env_path.split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + env_path
    try:
        pm.execute_notebook(
            str(src), str(out), parameters=parameters, kernel_name="python3", cwd=str(NOTEBOOKS),
            progress_bar=progress, execution_timeout=timeout, log_output=False,
            # the kernel's own log (e.g. its start-up note on local TCP) is not the reader's concern;
            # errors inside the notebook are still recorded in the executed copy
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
            **({"km": km} if km is not None else {}),
        )
    except PapermillExecutionError as exc:
        raise NotebookError(
            f"{name} failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue}. "
            f"The executed notebook with the full traceback is {out}."
        ) from None
    return out
