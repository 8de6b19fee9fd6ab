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
from partclust.files import WriteError, write_advice
from partclust.layout import NOTEBOOKS

__all__ = ["NOTEBOOK_FILES", "FIT_NOTEBOOK", "KERNEL_ARGUMENTS", "notebook_path", "execute", "start_kernel", "as_list",
           "moved_parameters"]

FIT_NOTEBOOK = NOTEBOOK_FILES["fit"]
# the kernel's own log (e.g. its start-up note on local TCP) is not the reader's concern; errors
# inside the notebook are still recorded in the executed copy
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]
WARM_IMPORTS = ("import partclust.reporting.plots, partclust.inference.imports\n"
                "partclust.inference.imports.warm_up()\n")
"""What a fit notebook's kernel can do before the notebook arrives: its imports, numba's start-up and a first
summary (:func:`partclust.inference.imports.warm_up`)."""
REPORT_IMPORTS = "import partclust.data, partclust.reporting.analyses, partclust.reporting.summary\n"
"""What a kernel that runs only analysis notebooks (a re-run's) imports before they arrive: the reporting stack."""
ENGINE = "partclust"
SAVE_EVERY_S = 5.0
"""Seconds between two saves of a running notebook's executed copy (papermill saves it before and after every cell:
about 7 ms a save for the fit notebook, 40 saves a run). The copy is still saved at the end, after a failed cell,
a dead kernel or a time-out, so what ran is never lost; a process killed outright loses at most this many seconds
of it."""


def _engine() -> str:
    """Register and name papermill's nbclient engine with saves at most every :data:`SAVE_EVERY_S` seconds."""
    from papermill.engines import NBClientEngine, papermill_engines

    class SparseSaves(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, **kwargs):
            save = nb_man.save

            def sparse(**kw):
                if (nb_man.now() - nb_man.last_save_time).total_seconds() >= SAVE_EVERY_S:
                    save(**kw)

            nb_man.save = sparse  # the cells' saves; the engine's final save (notebook_complete) is papermill's own
            try:
                return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)
            finally:
                del nb_man.save

    papermill_engines.register(ENGINE, SparseSaves)
    return ENGINE


def start_kernel(km: Any, warm: bool = True) -> None:
    """Start ``km``'s kernel as :func:`execute` would, queuing :data:`WARM_IMPORTS` or :data:`REPORT_IMPORTS`.

    ``warm``: the kernel will fit (the fit notebook's imports); else it runs analysis notebooks only. The imports
    are queued, not waited for: the caller goes on (validating data, planning runs) while the kernel imports, and
    the notebook's first cell runs after them. A kernel that is already running is left as it is.
    """
    from jupyter_client.utils import run_sync

    if km.has_kernel:
        return
    _ensure_path()
    run_sync(km.start_kernel)(extra_arguments=KERNEL_ARGUMENTS, cwd=str(NOTEBOOKS))
    kc = km.client()
    kc.start_channels()
    try:
        run_sync(kc.wait_for_ready)(timeout=300)
        kc.execute(WARM_IMPORTS if warm else REPORT_IMPORTS, silent=True, store_history=False)
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
        When a cell raises, a cell runs out of time, or the kernel dies (killed, out of memory):
        ``cell``, ``ename``, ``evalue`` and ``executed`` say where; the partly executed notebook is
        kept at ``output``.
    WriteError
        When the executed copy cannot be written (read-only folder, disk full).

    Notes
    -----
    Papermill saves the notebook as it runs (at most every :data:`SAVE_EVERY_S` seconds, and at its end); it
    writes to a temporary name beside ``output`` that is renamed to ``output`` at the end, whether the notebook
    succeeded or not, so ``output`` is never a half-written file.
    """
    from partclust.config import import_nbformat

    import_nbformat()  # before papermill imports it: 3.7 s less
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    src = notebook_path(name)
    out = Path(output)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WriteError(f"cannot write into {out.parent}: {exc.strerror or exc}. {write_advice(exc)}.") from None
    part = out.with_name(f".{out.stem}.part{out.suffix}")
    # nbclient logs a dead kernel through papermill's logger before raising; the NotebookError below
    # says it once, in one line
    import logging

    logging.getLogger("papermill").setLevel(logging.CRITICAL)
    _ensure_path()
    try:
        pm.execute_notebook(
            _literal_path(src), _literal_path(part), parameters=parameters, engine_name=_engine(),
            kernel_name="python3", cwd=str(NOTEBOOKS),
            progress_bar=progress, execution_timeout=timeout, log_output=False,
            extra_arguments=KERNEL_ARGUMENTS,
            **({"km": km} if km is not None else {}),
        )
    except PapermillExecutionError as exc:
        _keep(part, out)
        raise NotebookError(
            f"{src.name} failed in cell {exc.exec_count}: {exc.ename}: {_one_line(exc.evalue)}. "
            f"The executed notebook with the full traceback is {out}.",
            notebook=str(name), executed=out, cell=exc.exec_count, ename=exc.ename, evalue=exc.evalue,
        ) from None
    except OSError as exc:
        if isinstance(exc, TimeoutError):  # nbclient's CellTimeoutError is a TimeoutError, hence an OSError
            raise _not_run(exc, src, part, out, name, timeout) from None
        part.unlink(missing_ok=True)
        raise WriteError(f"cannot write {out}: {exc.strerror or exc}. {write_advice(exc)}, then rerun.") from None
    except Exception as exc:  # nbclient's DeadKernelError, a kernel that never started
        raise _not_run(exc, src, part, out, name, timeout) from None
    _keep(part, out)
    return out


def _not_run(exc: BaseException, src: Path, part: Path, out: Path, name: object, timeout: float | None
             ) -> NotebookError:
    """Build the one-line error for a notebook that did not run to its end (dead kernel, time out)."""
    kept = _keep(part, out)
    cell = _last_started_cell(out) if kept else None
    ename = type(exc).__name__
    where = f"the partly executed notebook is {out}" if kept else "no notebook was written"
    at = f" in cell {cell}" if cell else ""
    if ename == "DeadKernelError":
        what = f"the kernel running {src.name} died{at} (killed, or out of memory)"
    elif ename == "CellTimeoutError":
        what = f"{src.name} timed out{at} (a cell ran longer than {timeout or 0:g} s)"
    else:
        what = f"{src.name} could not run{at}: {ename}: {_one_line(str(exc))}"
    return NotebookError(f"{what}; {where}.", notebook=str(name), executed=out if kept else None, cell=cell,
                         ename=ename, evalue=_one_line(str(exc)))


def _one_line(text: object, limit: int = 300) -> str:
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    return (lines[0] if lines else "")[:limit]


def _keep(part: Path, out: Path) -> bool:
    """Rename papermill's temporary output onto ``out``; False when there is none."""
    if not part.is_file():
        return False
    try:
        os.replace(part, out)
    except OSError as exc:
        raise WriteError(f"cannot write {out}: {exc.strerror or exc}. {write_advice(exc)}, then rerun.") from None
    return True


def _last_started_cell(notebook: Path) -> int | None:
    """Return the execution count of the last code cell that started, read from a saved notebook."""
    try:
        from partclust.config import import_nbformat

        nb = import_nbformat().read(notebook, as_version=4)
    except Exception:  # unreadable: no cell to name
        return None
    counts = [c.get("execution_count") for c in nb.cells if c.cell_type == "code" and c.get("execution_count")]
    return int(counts[-1]) if counts else None


def _literal_path(path: Path) -> str:
    """``path`` for papermill, which formats paths as templates (``{x}`` → parameter x): braces escaped."""
    return str(path).replace("{", "{{").replace("}", "}}")


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


def moved_parameters(notebook: str | os.PathLike, old: str, new: str) -> None:
    """Say in an executed notebook's injected parameters that its folder ``old`` is now ``new``.

    A study runs each fit in a temporary folder renamed into place once complete; the executed notebook, and so
    its page behind "Show code", would otherwise name the temporary folder, which no longer exists. Only the
    ``injected-parameters`` cell changes (the outputs keep what the run printed), with a comment saying so.

    Raises
    ------
    partclust.files.WriteError
        When the notebook cannot be rewritten.
    """
    import json

    from partclust.files import write_text

    path = Path(notebook)
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            source = "".join(cell.get("source", []))
            if old in source:
                lines = (source.replace(old, new).rstrip("\n")
                         + "\n# (the run was written in a temporary folder, renamed to run_dir once complete)\n")
                cell["source"] = lines.splitlines(keepends=True)
    write_text(path, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
