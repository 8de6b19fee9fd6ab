"""The command line's process: standard output that survives a closed pipe, and an exit without the teardown.

``partclust exact | head``: the reader may go before the command has finished. After a fit, an ordinary exit
tears PyMC's modules down one by one; :func:`finish` skips that.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Any, Iterator, NoReturn

__all__ = ["ClosedPipeGuard", "finish", "guarded_stdout", "hide_dask"]


class ClosedPipeGuard:
    """Standard output that outlives its reader: ``partclust exact | head -3`` finishes its work quietly.

    When the reader closes the pipe, the first failed write points the file descriptor at
    ``os.devnull`` (so that nothing, not even the final flush, raises again) and the command goes on:
    its files are written and its exit code is its own, never a ``BrokenPipeError`` traceback.
    """

    def __init__(self, stream: Any):
        self._stream = stream
        self._closed = False

    def _lost(self) -> None:
        self._closed = True
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, self._stream.fileno())
        except (OSError, ValueError):  # no descriptor (a captured stream): writes are dropped below
            pass
        finally:
            os.close(devnull)

    def write(self, text: str) -> int:
        """Write ``text``, or drop it once the reader has gone; returns its length either way."""
        if not self._closed:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._lost()
        return len(text)

    def flush(self) -> None:
        """Flush, unless the reader has gone."""
        if not self._closed:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._lost()

    def __getattr__(self, name: str) -> Any:
        """Everything else (``fileno``, ``encoding``, ``isatty`` …) is the wrapped stream's."""
        return getattr(self._stream, name)


@contextmanager
def guarded_stdout() -> Iterator[ClosedPipeGuard]:
    """Put ``sys.stdout`` behind a :class:`ClosedPipeGuard` while the block runs, then give it back, flushed."""
    stream = sys.stdout
    guard = sys.stdout = ClosedPipeGuard(stream)
    try:
        yield guard
    finally:
        sys.stdout = stream
        guard.flush()


def finish(code: int) -> NoReturn:
    """End the command's process with exit code ``code``; once PyTensor is loaded, without the interpreter's teardown.

    A normal exit frees every module and object one by one. With PyMC, numba and nutpie loaded this took 1.2 to
    2.4 s here after ``partclust fit`` had printed its last line and written its files (measured from the last line
    to the end of the process; ``python -c "import nutpie"`` alone spends about 1.2 s after its last statement).
    When ``pytensor`` is loaded, the standard streams are flushed, the ``atexit`` callbacks run (logging's flush
    among them) and the process ends with ``os._exit``; otherwise this is ``sys.exit``. Every file the commands
    write is closed before they return (:mod:`partclust.files` writes atomically), so nothing is lost.
    """
    if "pytensor" not in sys.modules:
        sys.exit(code)
    import atexit

    try:
        getattr(atexit, "_run_exitfuncs", lambda: None)()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # a closed pipe or stream: nothing more can be shown
                pass
        os._exit(code)


def hide_dask() -> None:
    """Make ``import dask`` fail in this process, so that xarray does not import Dask (for ``partclust fit``).

    xarray imports ``dask.array`` when it first builds an array and ``dask.distributed`` when it writes a netCDF
    file, whenever Dask is installed, to recognise Dask arrays and schedulers; a fit in its own process has
    neither, and the two imports took 0.6 s here (``python -X importtime``). With ``sys.modules["dask"] = None``
    xarray finds Dask unavailable and goes on without it. Only the command's own process calls this (from
    :func:`partclust.runner.cli.run`, before anything imports xarray), never a process that imports the package
    to use it, and only when Dask is not imported yet.
    """
    if "dask" not in sys.modules and "xarray" not in sys.modules:
        sys.modules["dask"] = None  # type: ignore[assignment]
