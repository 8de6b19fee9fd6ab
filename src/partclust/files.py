"""Writing files so that a reader never sees half of one: write to a temporary name, then rename.

A crash, a full disk or a kill between the two steps leaves the previous file (or none), never a
truncated one. Errors from the file system become one line naming the folder and the reason.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from partclust.errors import PartclustError

__all__ = ["WriteError", "write_advice", "atomic_path", "write_text", "write_json", "write_csv", "write_with",
           "write_tables", "json_default", "file_mode", "LOCK_NAME", "FolderInUse", "folder_lock", "check_folder_free"]

LOCK_NAME = ".partclust.lock"
"""The lock file a process holds in a results folder while it writes there."""


class WriteError(PartclustError, OSError):
    """A result could not be written (read-only folder, disk full); the message names the folder."""

    exit_code = 1


def _umask_at_import() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_IMPORT_UMASK = _umask_at_import()


def file_mode() -> int:
    """Return the permissions every file the project writes gets: those ``open`` gives under the umask.

    A ``mkstemp`` temporary is owner-only (0600); renamed into place it would keep that, and reports
    and results would be unreadable to whoever else may read the folder (other users, Dask workers on
    a shared filesystem). The umask is read from ``/proc/self/status`` where there is one (reading it
    with ``os.umask`` would briefly change it for every thread), else as it was at import.

    Returns
    -------
    int
        ``0o666 & ~umask``, e.g. 0o644 under umask 022.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o666 & ~_IMPORT_UMASK


FULL_ERRNOS = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})
"""The OS errors that mean "no space left" (the disk, or the user's quota)."""


def write_advice(exc: OSError, where: str = "output folder") -> str:
    """Return what to do about a failed write: free space only when the disk or quota is full.

    Parameters
    ----------
    exc : OSError
        The error the write raised.
    where : str
        How the message names the folder to change, e.g. ``"results folder (--out)"``.

    Returns
    -------
    str
        ``"Free space or choose another <where>"`` for ENOSPC and EDQUOT, else ``"Check that you may write
        there or choose another <where>"`` (permissions, a read-only disk, a path through a file).
    """
    if exc.errno in FULL_ERRNOS:
        return f"Free space or choose another {where}"
    return f"Check that you may write there or choose another {where}"


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed to ``path``.

    Raises
    ------
    WriteError
        When the folder cannot be created or written (the temporary file is removed).
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        os.fchmod(fd, file_mode())
        os.close(fd)
    except OSError as exc:
        raise WriteError(f"cannot write into {target.parent}: {exc.strerror or exc}. {write_advice(exc)}.") from None
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except OSError as exc:
        tmp_path.unlink(missing_ok=True)
        raise WriteError(f"cannot write {target}: {exc.strerror or exc}. {write_advice(exc)}, then rerun.") from None
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def json_default(obj: Any) -> Any:
    """JSON form of NumPy scalars and paths (for :func:`json.dumps`)."""
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as indented JSON atomically; returns the path."""
    return write_text(path, json.dumps(data, indent=2, default=json_default) + "\n")


def write_csv(path: str | os.PathLike, frame: Any, float_format: str = "%.10g") -> Path:
    """Write a DataFrame as CSV (no index, 10 significant digits) atomically; returns the path."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format=float_format)
    return Path(path)


def write_with(path: str | os.PathLike, writer: Callable[[Path], None]) -> Path:
    """Call ``writer(tmp)`` to write a temporary file, then rename it to ``path``."""
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def write_tables(tables: Mapping[str, Any], out_dir: str | os.PathLike) -> list[Path]:
    """Write each DataFrame of ``tables`` as ``<name>.csv`` in ``out_dir``; returns the paths."""
    return [write_csv(Path(out_dir) / f"{name}.csv", df) for name, df in tables.items()]


class FolderInUse(PartclustError, RuntimeError):
    """Another live process holds the folder's lock; the message names it (pid, host, since when)."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


@contextmanager
def folder_lock(folder: str | os.PathLike, what: str = "a study") -> Iterator[Path]:
    """Hold an exclusive lock on ``folder`` (``<folder>/.partclust.lock``) while the block runs.

    The lock is an ``fcntl.flock`` on the lock file, which the operating system releases when its
    process ends in any way (crash, SIGKILL), so a dead process never blocks a folder. Where flock is
    not available the file's recorded pid decides: a lock of a process that no longer runs on this
    host is stale and taken over. The file records pid, host, start time and ``what`` for the message
    a second process gets.

    Raises
    ------
    FolderInUse
        When another live process holds the lock (exit code 2), naming it.
    WriteError
        When the lock file cannot be created (read-only folder, disk full).
    """
    folder = Path(folder)
    path = folder / LOCK_NAME
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise WriteError(f"cannot write into {folder}: {exc.strerror or exc}. {write_advice(exc)}.") from None
    try:
        try:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # pragma: no cover - not a POSIX system: the pid decides
            _check_pid_lock(path, what)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise FolderInUse(_in_use_message(path, folder, what)) from None
            _check_pid_lock(path, what)  # flock unsupported here (e.g. some network file systems)
        record = {"pid": os.getpid(), "host": socket.gethostname(), "what": what,
                  "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the flock


def check_folder_free(folder: str | os.PathLike, what: str = "a study") -> None:
    """Refuse at once a folder whose lock another process holds, without taking the lock or creating anything.

    For a command that starts costly work (workers, kernels) before it takes the lock with
    :func:`folder_lock`: a folder in use is refused before that work starts. The lock itself is still
    taken afterwards, so a process that takes the folder in between is refused then.

    Raises
    ------
    FolderInUse
        When another live process holds the lock (exit code 2), naming it.
    """
    path = Path(folder) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # no lock file (no process ever held the folder) or unreadable: folder_lock decides
        return
    try:
        try:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # fails while anyone holds the exclusive lock
        except ImportError:  # pragma: no cover - not a POSIX system: the pid decides
            _check_pid_lock(path, what)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise FolderInUse(_in_use_message(path, Path(folder), what)) from None
            _check_pid_lock(path, what)
    finally:
        os.close(fd)  # releases the shared lock at once


def _holder(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}


def _in_use_message(path: Path, folder: Path, what: str) -> str:
    h = _holder(path)
    who = f"process {h.get('pid', '?')} on {h.get('host', '?')} since {h.get('started', '?')}"
    return (f"{folder} is in use by {h.get('what', 'another run')} ({who}); wait for it to finish or give "
            f"another results folder (--out) for {what}.")


def _check_pid_lock(path: Path, what: str) -> None:
    h = _holder(path)
    pid, host = h.get("pid"), h.get("host")
    if isinstance(pid, int) and pid != os.getpid() and host == socket.gethostname() and _pid_alive(pid):
        raise FolderInUse(_in_use_message(path, path.parent, what))
