"""Standard output for the command line that survives a reader closing the pipe (``partclust exact | head``)."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Any, Iterator

__all__ = ["ClosedPipeGuard", "guarded_stdout"]


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
