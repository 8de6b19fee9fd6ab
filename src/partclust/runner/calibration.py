"""The Dask engine of the calibration studies: many small replicates, each kept atomically, resumable.

A replicate (one SBC draw-simulate-fit, one simulated trial of a design cell) is a call of a package
function whose result — a small JSON-ready dict of ranks or summaries, never draws — the worker writes
atomically to the replicate's own file together with the *key* of the settings it was run with. So:

- a killed run (Ctrl-C, SIGTERM, a lost machine) leaves every finished replicate finished; a rerun with
  the same settings runs only the replicates whose file is missing (or was run with other settings);
- a replicate that fails is recorded in ``failed.json`` with its error and skipped; a rerun retries it;
- replicates of one model structure (a design × residual model) prefer one worker, so each worker
  compiles each structure it sees once and swaps the simulated outcome in for every further replicate
  (:func:`partclust.inference.sample.fit_outcome`).

Workers: a Dask ``LocalCluster`` of single-threaded processes (one per core) by default, or an existing
scheduler (``tcp://host:8786``) whose workers run this environment and share the output folder.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from partclust.errors import StudyError
from partclust.files import write_json
from partclust.validate import check_scheduler_address

__all__ = ["Replicate", "Engine", "ReplicateOutcome", "run_replicates", "read_replicates", "progress_bar",
           "run_on_worker"]


@dataclass(frozen=True)
class Replicate:
    """One unit of work: ``fn(*args)`` → a small dict, kept at ``path``.

    Attributes
    ----------
    label : str
        How messages and ``failed.json`` name it (e.g. ``single/17``).
    path : str
        The replicate's JSON file.
    group : str
        Its model structure: replicates of one group prefer one worker (one compile).
    fn : callable
        A module-level function (pickled by reference to the workers).
    args : tuple
    """

    label: str
    path: str
    group: str
    fn: Callable[..., dict]
    args: tuple


@dataclass(frozen=True)
class Engine:
    """Where replicates run: ``workers`` local processes (0: one per core) or an existing ``scheduler``.

    Raises
    ------
    StudyError
        For a negative number of workers or a malformed scheduler address.
    """

    workers: int = 0
    scheduler: str = ""

    def __post_init__(self) -> None:
        """Check the worker count and the scheduler address (see Raises)."""
        if not isinstance(self.workers, int) or self.workers < 0:
            raise StudyError(f"workers must be a whole number ≥ 0 (0: one per core); got {self.workers!r}")
        if self.scheduler:
            check_scheduler_address(self.scheduler, StudyError)

    @property
    def n_workers(self) -> int:
        """Worker processes of a local cluster."""
        return self.workers or os.cpu_count() or 1


@dataclass
class ReplicateOutcome:
    """What happened to one replicate: ``done``, ``skipped`` (already kept) or ``failed`` (with the error)."""

    label: str
    status: str
    seconds: float = 0.0
    error: str = ""


def _kept(path: str | Path, key: str) -> dict | None:
    """Return the kept result at ``path`` if it is whole and was run with ``key``, else None."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("key") == key else None


def run_on_worker(fn: Callable[..., dict], args: tuple, path: str, key: str) -> ReplicateOutcome:
    """Run one replicate on a worker and keep its result atomically; never raises for a failed replicate.

    Returns
    -------
    ReplicateOutcome
        ``done`` once ``path`` holds ``{"key": key, "result": …}``; ``failed`` with the error.
    """
    t0 = time.perf_counter()
    label = Path(path).stem
    try:
        result = fn(*args)
        write_json(path, {"key": key, "result": result})
        return ReplicateOutcome(label, "done", time.perf_counter() - t0)
    except Exception as exc:  # one failed replicate is recorded, never fatal to the study
        first = str(exc).splitlines()[0][:300] if str(exc) else ""
        return ReplicateOutcome(label, "failed", time.perf_counter() - t0, f"{type(exc).__name__}: {first}")


def read_replicates(replicates: Sequence[Replicate], key: str) -> list[dict]:
    """Return the kept results of ``replicates`` run with ``key`` (missing or other-key ones left out)."""
    out = []
    for rep in replicates:
        record = _kept(rep.path, key)
        if record is not None:
            out.append(record["result"])
    return out


def run_replicates(replicates: Sequence[Replicate], key: str, folder: str | Path, engine: Engine = Engine(),
                   progress: Callable[[ReplicateOutcome, int, int], None] | None = None,
                   client: Any = None) -> list[ReplicateOutcome]:
    """Run every replicate not yet kept with ``key`` on Dask; write ``<folder>/failed.json``.

    Parameters
    ----------
    replicates : sequence of Replicate
    key : str
        The settings' identity; a kept result with another key is run again.
    folder : path
        Where ``failed.json`` goes (the list of failed replicates and their errors; empty when none).
    engine : Engine
    progress : callable, optional
        Called as ``progress(outcome, k, n)`` after each replicate (skipped ones first).
    client : dask.distributed.Client, optional
        A client to use and leave open; by default one is made for ``engine`` and closed.

    Returns
    -------
    list of ReplicateOutcome
        One per replicate, in the order given.

    Raises
    ------
    StudyError
        When the scheduler cannot be reached or has no workers.
    WriteError
        When ``failed.json`` cannot be written.
    """
    from partclust.runner.dask import close_client, make_client

    outcomes: dict[str, ReplicateOutcome] = {}
    total = len(replicates)

    def record(o: ReplicateOutcome) -> None:
        outcomes[o.label] = o
        if progress:
            progress(o, len(outcomes), total)

    for stale in {Path(r.path).parent for r in replicates}:  # temporary files of an interrupted write
        for part in stale.glob(".*.part") if stale.is_dir() else ():
            part.unlink(missing_ok=True)
    todo = []
    for rep in replicates:
        if _kept(rep.path, key) is not None:
            record(ReplicateOutcome(rep.label, "skipped"))
        else:
            todo.append(rep)
    own = client is None and bool(todo)
    cluster = None
    try:
        if todo:
            if own:
                client, cluster = make_client(engine)
            _submit_and_collect(client, todo, key, record)
    finally:
        if own:
            close_client(client, cluster)
        failed = [{"replicate": o.label, "error": o.error} for o in outcomes.values() if o.status == "failed"]
        write_json(Path(folder) / "failed.json", failed)
    return [outcomes.get(r.label, ReplicateOutcome(r.label, "failed", error="not run")) for r in replicates]


def _submit_and_collect(client: Any, todo: Sequence[Replicate], key: str,
                        record: Callable[[ReplicateOutcome], None]) -> None:
    from dask.distributed import as_completed

    workers = sorted(client.scheduler_info().get("workers", {}))
    groups = list(dict.fromkeys(r.group for r in todo))
    home = {g: workers[k % len(workers)] for k, g in enumerate(groups)} if workers else {}
    meta = {}
    for rep in todo:
        where = {"workers": [home[rep.group]], "allow_other_workers": True} if rep.group in home else {}
        fut = client.submit(run_on_worker, rep.fn, rep.args, rep.path, key, pure=False, **where)
        meta[fut] = rep.label
    try:
        for fut in as_completed(list(meta)):
            label = meta[fut]
            try:
                o = fut.result()
                o.label = label
            except Exception as exc:  # the worker itself died: record, go on
                o = ReplicateOutcome(label, "failed", error=f"worker lost: {type(exc).__name__}: {exc}")
            record(o)
    finally:
        client.cancel([f for f in meta if not f.done()])


def progress_bar(total: int, unit: str = "replicate") -> tuple[Any, Callable[[ReplicateOutcome, int, int], None]]:
    """Return a tqdm bar (stderr) and the ``progress`` callback that advances it, naming failures.

    Returns
    -------
    (bar, update)
        Close ``bar`` when done.
    """
    from tqdm.auto import tqdm

    bar = tqdm(total=total, unit=unit, desc=f"{unit}s", dynamic_ncols=True)
    counts = {"done": 0, "skipped": 0, "failed": 0}

    def update(o: ReplicateOutcome, k: int, n: int) -> None:
        counts[o.status] += 1
        bar.set_postfix(done=counts["done"], kept=counts["skipped"], failed=counts["failed"], refresh=False)
        bar.update(1)
        if o.status == "failed":
            bar.write(f"{unit} {o.label} failed: {o.error[:300]}")

    return bar, update
