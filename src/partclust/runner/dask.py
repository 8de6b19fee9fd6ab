"""The Dask engine of the multi-seed study: every model × seed through the fit notebook.

Each run executes the fit notebook with papermill into ``runs/<model>/seed-<k>/``. Nothing is lost
and everything resumes:

- a run writes into a temporary sibling folder and is renamed into place only when complete, so a
  killed study leaves finished seeds finished and no half-written run that looks complete;
- a rerun skips a seed whose completed ``run.json`` records the requested settings and dataset,
  and redoes the rest;
- a run that fails (exception, dead kernel, timeout) is recorded in ``study/failed.json`` with its
  error and its executed notebook is kept under ``failed/``; the study goes on.

After the fits, the analysis notebooks of :mod:`partclust.runner.plan` run on whichever worker is
free as soon as they can start; each is reused while its inputs are unchanged
(:mod:`partclust.runner.cache`). The summary notebook, the landing page, comes last
(:func:`run_summary`).

Workers: by default a Dask ``LocalCluster`` with one single-threaded worker process per core; with
``scheduler="tcp://host:port"`` the same tasks go to an existing Dask cluster, whose workers must
run this package's environment and see the same filesystem (results are written by the workers).
Each worker keeps one Jupyter kernel alive across its runs, so the imports and the model compile
are paid once per worker and model rather than once per run; every run is still a papermill
execution of the notebook with its own parameters, and the draws do not depend on the reuse. The
kernels are started, and their imports begun, as soon as the workers are up, while the driver is
still validating the data and planning the runs (:func:`start_workers`). Compiled models go to the
results folder's ``cache/compiled`` (or ``$PARTCLUST_CACHE_DIR``), so a rerun, and any later
process, loads them instead of compiling.

Length: one engine — the tasks a worker runs (a fit, an analysis notebook, a page) share the worker's
reusable kernel and one protocol with the driver that schedules them (``RunOutcome``, the temporary and
failed run folders, ``failed.json``); split, each half would have to restate it.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from partclust.config import NOTEBOOK_FILES
from partclust.errors import NotebookError, StudyError
from partclust.files import WriteError, write_advice, write_json
from partclust.inference.runs import RUN_JSON, is_complete
from partclust.layout import ResultsLayout
from partclust.runner.plan import NotebookJob, analysis_jobs, job_inputs, summary_job
from partclust.studies.seeds import StudySettings

__all__ = ["RunOutcome", "NotebookOutcome", "run_one", "run_study", "make_client", "close_client", "drive",
           "finish_renders", "run_summary", "write_failures", "probe_scheduler", "PROBE_TIMEOUT_S", "start_workers",
           "compile_cache"]


@dataclass
class RunOutcome:
    """What happened to one model × seed: ``status`` is ``done``, ``skipped`` (already complete) or ``failed``."""

    model: str
    seed: int
    status: str
    run_dir: str
    seconds: float = 0.0
    error: str = ""
    timings: dict[str, Any] = field(default_factory=dict)


@dataclass
class NotebookOutcome:
    """What happened to one analysis notebook.

    ``status`` is ``executed``, ``reused`` (inputs unchanged) or ``failed``; ``page`` is its rendered HTML
    page ("" when not rendered).
    """

    name: str
    output: str
    status: str
    seconds: float = 0.0
    error: str = ""
    page: str = ""


# ---- executed on the workers ---------------------------------------------------------------------
_KERNEL: dict[str, Any] = {}  # this worker process's reusable kernel manager


def compile_cache(study: StudySettings) -> str:
    """Return the compile cache a study's kernels use: ``$PARTCLUST_CACHE_DIR``, else ``<results>/cache/compiled``."""
    from partclust.inference.compiled import CACHE_ENV

    return os.environ.get(CACHE_ENV) or str(study.layout.compiled_cache)


def _kernel_manager(cache: str | None = None):
    """Return this worker's kernel manager; a new kernel when the compile cache folder changes (it is in its env)."""
    from jupyter_client.manager import AsyncKernelManager

    from partclust.inference.compiled import CACHE_ENV

    km = _KERNEL.get("km")
    if km is not None and cache and _KERNEL.get("cache") != cache:
        _drop_kernel()
        km = None
    if km is None:
        if cache:
            os.environ[CACHE_ENV] = cache  # the kernel inherits this process's environment
        km = _KERNEL["km"] = AsyncKernelManager(kernel_name="python3")
        _KERNEL["cache"] = cache
    return km


def _warm_kernel(cache: str, imports: bool = True) -> str:
    """Start this worker's kernel and (``imports``) queue the fit notebook's imports in it; returns "" or the error."""
    from partclust.runner.notebooks import start_kernel

    try:
        start_kernel(_kernel_manager(cache), warm=imports)
        return ""
    except Exception as exc:  # the first run starts a kernel of its own
        _drop_kernel()
        return f"{type(exc).__name__}: {exc}"


def _drop_kernel() -> None:
    km = _KERNEL.pop("km", None)
    if km is not None and km.has_kernel:
        from jupyter_client.utils import run_sync

        try:
            run_sync(km.shutdown_kernel)(now=True)
        except Exception:  # a dead kernel cannot be shut down politely; it is gone either way
            pass


def run_one(model: str, seed: int, study: StudySettings, data_path: str, data_sha256: str,
            cache: str | None = None) -> RunOutcome:
    """Execute the fit notebook for one model × seed, atomically; never raises for a failed run.

    ``cache`` is the compile cache folder (default :func:`compile_cache`).

    Returns
    -------
    RunOutcome
        ``skipped`` when a complete run with these settings and data exists, ``done`` with the run's
        timings, or ``failed`` with the error and the folder where the executed notebook was kept.
    """
    from partclust.runner.notebooks import execute, moved_parameters

    t0 = time.perf_counter()
    layout = study.layout
    settings = study.fit_settings(model, seed)
    final = layout.run_dir(model, seed)
    if is_complete(final, settings, data_sha256):
        return RunOutcome(model, seed, "skipped", str(final))
    tmp = final.parent / f".{final.name}.tmp-{uuid.uuid4().hex[:8]}"
    make_plots = study.plots == "all" or (study.plots == "first" and seed == study.seeds[0])
    params = {**{k: v for k, v in asdict(settings).items() if k not in ("spec", "model", "program_sha256")},
              **study.notebook_spec_params(model), "data_path": data_path, "output_dir": str(tmp),
              "run_dir": str(final), "make_plots": make_plots, "cores": 2,
              # PSIS-LOO (notebook 09) reads one run per model: the others need not store 4 × 2,000 × n values
              "log_likelihood": seed == study.seeds[0]}
    executed = tmp / NOTEBOOK_FILES["fit"]
    try:
        execute(study.fit_notebook, executed, params, timeout=study.timeout_s,
                km=_kernel_manager(cache or compile_cache(study)))
        if not is_complete(tmp, settings, data_sha256):
            raise NotebookError(f"the notebook finished but {tmp} lacks a matching run.json/summary.csv",
                                executed=executed)
        if final.exists():
            shutil.rmtree(final)  # a stale run with other settings
        tmp.rename(final)
        try:
            moved_parameters(final / NOTEBOOK_FILES["fit"], str(tmp), str(final))
        except Exception:  # the run is complete either way; its page then names the temporary folder
            pass
        record = json.loads((final / RUN_JSON).read_text())
        return RunOutcome(model, seed, "done", str(final), time.perf_counter() - t0,
                          timings={**record.get("timings", {}), **record.get("timings_notebook", {})})
    except Exception as exc:  # any failure of one run is recorded, never fatal to the study
        _drop_kernel()  # a timed-out or broken kernel is not reused
        kept = layout.failed_run(model, seed)
        if tmp.exists():
            try:
                if kept.exists():
                    shutil.rmtree(kept)
                kept.parent.mkdir(parents=True, exist_ok=True)
                tmp.rename(kept)
            except OSError:  # a full or read-only disk: the notebook stays where it was written
                kept = tmp
        error = f"{type(exc).__name__}: {exc}".replace(str(tmp), str(kept))
        return RunOutcome(model, seed, "failed", str(kept), time.perf_counter() - t0, error=error)


# ---- the driver --------------------------------------------------------------------------------
PROBE_TIMEOUT_S = 5.0
"""Seconds a scheduler address has to answer Dask's handshake and identity request."""


def probe_scheduler(address: str, timeout: float = PROBE_TIMEOUT_S) -> dict[str, Any]:
    """Ask ``address`` who it is, the way a Dask client would, giving up after ``timeout`` seconds.

    A Dask ``Client`` can wait far longer (or hang) on an address where something other than a
    scheduler listens; this probe bounds that wait, so a wrong address is refused within seconds.

    Returns
    -------
    dict
        The scheduler's identity (``type``, ``address``, ``workers`` …).

    Raises
    ------
    StudyError
        When nothing answers in time, or what answers is not a Dask scheduler.
    """
    import asyncio

    from distributed.comm import connect

    async def ask() -> Any:
        comm = await connect(address, timeout=timeout)
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            await comm.close()

    try:
        info = asyncio.run(asyncio.wait_for(ask(), timeout))
    except Exception as exc:  # TimeoutError, OSError, comm errors, a garbled handshake
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise StudyError(f"no Dask scheduler answered at {address} within {timeout:g} s ({reason}); start one "
                         "there (`dask scheduler`) or drop --scheduler") from None
    kind = info.get("type") if isinstance(info, dict) else None
    if kind != "Scheduler":
        raise StudyError(f"{address} answered, but as {kind or 'something else'}, not as a Dask scheduler; give "
                         "the scheduler's address (tcp://HOST:PORT, port 8786 by default)")
    return info


def make_client(study: StudySettings):
    """Connect a Dask client: to ``study.scheduler`` if given (checked for workers), else to a new LocalCluster.

    Returns
    -------
    (client, cluster)
        ``cluster`` is None for an external scheduler.

    Raises
    ------
    StudyError
        When the scheduler cannot be reached or has no workers.
    """
    return _connect(study.scheduler, study.n_workers)


class _Starting:
    """A client being connected in a thread, its workers' kernels warmed once it is up (see :func:`start_workers`)."""

    def __init__(self, scheduler: str, n_workers: int, cache: str, imports: bool = True):
        self._result: tuple[Any, Any] | None = None
        self._error: BaseException | None = None
        self._imports = imports
        self._thread = threading.Thread(target=self._run, args=(scheduler, n_workers, cache), daemon=True)
        self._thread.start()

    def _run(self, scheduler: str, n_workers: int, cache: str) -> None:
        try:
            client, cluster = _connect(scheduler, n_workers)
            self._result = (client, cluster)
            # one warm-up task per worker, submitted before any fit: each worker starts its kernel
            # and the imports while the driver reads the data and plans
            self.warm = [client.submit(_warm_kernel, cache, self._imports, workers=[w], allow_other_workers=False,
                                       pure=False,
                                       key=f"warm-{uuid.uuid4().hex[:8]}")
                         for w in sorted(client.scheduler_info()["workers"])]
        except BaseException as exc:  # handed to the caller by result()
            self._error = exc

    def result(self) -> tuple[Any, Any]:
        """Wait for the client; returns ``(client, cluster)`` or raises what connecting raised."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


def start_workers(scheduler: str, n_workers: int, cache: str, imports: bool = True) -> _Starting:
    """Connect to (or start) the workers in a thread and warm their kernels; ``.result()`` gives ``(client, cluster)``.

    Parameters
    ----------
    scheduler : str
        An existing scheduler's address, or "" for a new LocalCluster of ``n_workers`` processes.
    n_workers : int
    cache : str
        The compile cache folder the kernels are started with (:func:`compile_cache`).
    imports : bool
        Queue the fit notebook's imports (PyMC, nutpie, numba) in each kernel. A study whose runs are all on disk
        passes False: its kernels run only analysis notebooks, and get the reporting stack's imports instead.
    """
    return _Starting(scheduler, n_workers, cache, imports)


def _connect(scheduler: str, n_workers: int):
    """Connect a Dask client to ``scheduler`` or a new LocalCluster (returns and raises as :func:`make_client`)."""
    import logging

    from dask.distributed import Client, LocalCluster

    logging.getLogger("distributed").setLevel(logging.ERROR)
    import warnings

    warnings.filterwarnings("ignore", message="Port .* is already in use", category=UserWarning)

    if scheduler:
        probe_scheduler(scheduler)
        try:
            client = Client(scheduler, timeout="10s")
        except Exception as exc:  # OSError, TimeoutError, ValueError for a bad address, comm errors
            reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise StudyError(f"cannot reach a Dask scheduler at {scheduler} ({reason}); start one there "
                             "(`dask scheduler`) or drop --scheduler") from None
        try:
            client.wait_for_workers(1, timeout=120)
        except TimeoutError:
            client.close()
            raise StudyError(f"the Dask scheduler at {scheduler} has no workers; start some with "
                             f"`dask worker {scheduler} --nthreads 1` in this project's environment") from None
        return client, None
    import dask

    # No work stealing: a stolen fit would make a second kernel compile its model (≈10 s) to save
    # a few seconds of sampling; idle workers get the rendering and aggregate work instead.
    with dask.config.set({"distributed.scheduler.work-stealing": False}):
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, env={"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                                                            "OPENBLAS_NUM_THREADS": "1"})
    return Client(cluster), cluster


def close_client(client: Any, cluster: Any) -> None:
    """Shut the workers' kernels down, close the client and a local cluster."""
    try:
        client.run(_drop_kernel)  # the workers' kernels end with the study
    except Exception:
        pass
    client.close()
    if cluster is not None:
        cluster.close()


def run_study(
    study: StudySettings,
    data_path: str,
    data_sha256: str,
    progress: Callable[[RunOutcome, int, int], None] | None = None,
    client: Any = None,
) -> list[RunOutcome]:
    """Run every model × seed (fits only); returns one outcome per run (done, skipped or failed).

    ``client``: a Dask client to use (kept open); by default one is made for this call and closed.
    """
    own = client is None
    cluster = None
    if own:
        client, cluster = make_client(study)
    try:
        outcomes, _, _ = drive(study, data_path, data_sha256, client, progress, post=False)
    finally:
        if own:
            close_client(client, cluster)
    return outcomes


class _Driver:
    """The scheduling of one study on a Dask client, in named steps (see :func:`drive`)."""

    def __init__(self, study: StudySettings, data_path: str, data_sha256: str, client: Any,
                 progress: Callable[[RunOutcome, int, int], None] | None, post: bool,
                 on_notebook: Callable[[NotebookOutcome], None] | None = None):
        self.study, self.data_path, self.data_sha256 = study, data_path, data_sha256
        self.client, self.progress, self.post = client, progress, post
        self.on_notebook_done = on_notebook
        self.layout = study.layout
        self.cache = compile_cache(study)
        self.tasks = [(m, s) for m in study.models for s in study.seeds]
        self.outcomes: list[RunOutcome] = []
        self.errors: list[str] = []
        self.stages: dict[str, float] = {}
        self.meta: dict[Any, tuple] = {}
        self.extras_sent = False
        self.jobs = analysis_jobs(study, data_path) if post else []
        self.jobs.sort(key=lambda j: j.early)  # a long job that waits for the fits is sent after the others
        self.early_sent: set[str] = set()
        self.deferred: list[NotebookJob] = []  # long notebooks beyond the first: sent once the fits are done
        self.reserved: list[str] = []
        self.models_done: set[str] = set()
        self.ac = None
        self.notebooks: list[NotebookOutcome] = []
        self.write_error: Exception | None = None
        self.leave_renders: list[tuple[Any, list[str]]] | None = None  # set by drive(renders=...)
        self.t0 = time.perf_counter()

    # step 1: clear what an interrupted study left, find the runs still to do
    def plan(self) -> list[tuple[str, int]]:
        try:
            self.layout.study.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WriteError(f"cannot write into {self.layout.study}: {exc.strerror or exc}. "
                             f"{write_advice(exc, 'results folder (--out)')}.") from None
        for model in self.study.models:  # temporary dirs of an interrupted study: never complete, never read
            for stale in self.layout.runs(model).glob(".seed-*.tmp-*"):
                shutil.rmtree(stale, ignore_errors=True)
        todo = [(m, s) for m, s in self.tasks
                if not is_complete(self.layout.run_dir(m, s), self.study.fit_settings(m, s), self.data_sha256)]
        for m, s in self.tasks:
            if (m, s) not in todo:
                self._record(RunOutcome(m, s, "skipped", str(self.layout.run_dir(m, s))))
        return todo

    # step 2: a long notebook that will execute gets a worker of its own; the fits go to whichever
    # worker is free
    def submit_early(self) -> list[str]:
        """Submit the first early job that will execute (not reused) to the last worker (with two or more); returns it.

        The others wait for the fits (:meth:`submit_deferred`): sent now, they queued behind the first on that
        worker and ran one after another while the other workers, their fits done, sat idle (05, 08 and 10 took
        12 minutes of a 12-minute study there).
        """
        from partclust.runner.cache import inputs_key, inputs_manifest, is_fresh
        from partclust.runner.notebooks import notebook_path

        workers = sorted(self.client.scheduler_info()["workers"])
        early = [j for j in self.jobs if j.early]
        fresh = {j.output for j in early if j.cached and is_fresh(j.output, inputs_key(inputs_manifest(
            notebook_path(j.notebook), j.parameters, self.data_sha256, job_inputs(j, self.layout), self.layout.root)))}
        to_run = [j for j in early if j.output not in fresh]
        if len(workers) < 2 or not to_run:
            return []
        self._submit_job(to_run[0], workers=[workers[-1]])
        self.deferred = to_run[1:]
        self.early_sent = {j.output for j in to_run}
        self.reserved = [workers[-1]]
        return self.reserved

    def submit_deferred(self) -> None:
        """Send the long notebooks held back by :meth:`submit_early`, one per worker, the free workers first.

        Each is pinned to its worker: the scheduler, not knowing that they take minutes, would queue them all
        on one worker.
        """
        workers = sorted(self.client.scheduler_info()["workers"])
        order = [w for w in workers if w not in self.reserved] + [w for w in self.reserved if w in workers]
        for k, job in enumerate(self.deferred):
            self._submit_job(job, workers=[order[k % len(order)]] if order else None)
        self.deferred = []

    def submit_fits(self, todo: list[tuple[str, int]], reserved: Sequence[str] = ()) -> None:
        # No worker is a model's home: a model is compiled once into the shared cache (by the driver ahead, or
        # under the entry's lock), so a kernel's first run of another model loads it (about 1 s here) where a
        # worker pinned to a model left the other idle once its own model was done. Model by model, in
        # order, so a model's analysis notebooks can start while the next model's fits run.
        # Dask runs tasks sent together in an order of its own; the priorities keep this one. A worker reserved
        # for the long notebooks takes no fit until they are done (queued behind them, fits waited for minutes).
        others = [w for w in sorted(self.client.scheduler_info()["workers"]) if w not in reserved] if reserved else []
        where = {"workers": others, "allow_other_workers": True} if others else {}
        for k, (m, s) in enumerate(todo):
            fut = self.client.submit(run_one, m, s, self.study, self.data_path, self.data_sha256, self.cache,
                                     pure=False, key=f"fit-{m}-{s}-{uuid.uuid4().hex[:6]}", priority=-k, **where)
            self.meta[fut] = ("fit", m, s)
        self.pending = {m: sum(1 for mm, _ in todo if mm == m) for m in self.study.models}

    def _submit(self, kind: str, fn: Callable, *args: Any) -> None:
        # a run's page after every fit and notebook: nothing waits for it but the end of the study
        fut = self.client.submit(fn, *args, pure=False, key=f"{kind}-{uuid.uuid4().hex[:8]}",
                                 priority=-len(self.tasks) - 1)
        self.meta[fut] = (kind, *args)
        self.ac.add(fut)

    # step 3: the analysis notebooks, each as soon as what it reads is in
    def _submit_job(self, job: NotebookJob, workers: list[str] | None = None, priority: int = 0) -> None:
        inputs = [str(p) for p in job_inputs(job, self.layout)]
        fut = self.client.submit(_notebook_on_worker, job, self.data_sha256, inputs, str(self.layout.root),
                                 pure=False, key=f"notebook-{job.role}-{uuid.uuid4().hex[:8]}", priority=priority,
                                 **({"workers": workers} if workers else {}))
        self.meta[fut] = ("notebook", job)
        if self.ac is not None:
            self.ac.add(fut)

    def _aggregate(self, model: str) -> None:
        for job in self.jobs:
            if job.model == model:
                self._submit_job(job, priority=1)  # before the other models' fits still queued

    def _extras(self) -> None:
        if self.extras_sent:
            return
        self.extras_sent = True
        for job in self.jobs:
            if job.model is None and not job.after and job.output not in self.early_sent:
                self._submit_job(job, priority=1)  # before any fit: Dask orders tasks sent together by priority

    def _model_done(self, model: str) -> None:
        self.stages["fits_s"] = max(self.stages.get("fits_s", 0.0), time.perf_counter() - self.t0)
        self._aggregate(model)  # first: the model's own notebooks, then the rest (long ones last)
        self._extras()
        self.models_done.add(model)
        for job in self.jobs:  # a job reading several models' runs: once the last of them is in
            if job.after and model in job.after and set(job.after) <= self.models_done:
                self._submit_job(job, priority=1)
        if self.deferred and set(self.study.models) <= self.models_done:  # every fit is in: workers come free
            self.submit_deferred()

    def _record(self, outcome: RunOutcome) -> None:
        self.outcomes.append(outcome)
        if self.progress:
            self.progress(outcome, len(self.outcomes), len(self.tasks))

    # step 4: react to each finished task
    def on_fit(self, fut: Any, m: str, s: int) -> None:
        try:
            o = fut.result()
        except Exception as exc:  # the worker itself died: record and go on
            o = RunOutcome(m, s, "failed", "", error=f"worker lost: {type(exc).__name__}: {exc}")
        self._record(o)
        try:
            write_failures(self.layout, self.outcomes)
        except WriteError as exc:  # said at the end, with every failure; the other runs go on
            self.write_error = exc
        self.pending[m] -= 1
        if self.post:
            executed = Path(o.run_dir, NOTEBOOK_FILES["fit"]) if o.run_dir else None
            if executed is not None and executed.is_file():
                self._submit("render", _render_on_worker, str(self.layout.root), [str(executed)])
            if self.pending[m] == 0:
                self._model_done(m)

    def on_notebook(self, fut: Any, job: NotebookJob) -> None:
        try:
            outcome = fut.result()
        except Exception as exc:
            outcome = NotebookOutcome(job.name, job.output, "failed", error=f"worker lost: {type(exc).__name__}: {exc}")
        self.notebooks.append(outcome)
        if outcome.status == "failed":
            self.errors.append(f"{job.name}: {outcome.error}")
        if self.on_notebook_done:
            self.on_notebook_done(outcome)

    def on_render(self, fut: Any, notebooks: list[str]) -> None:
        self.errors += finish_renders([(fut, notebooks)])

    def submit(self) -> None:
        """Run steps 1 and 2 and send the notebooks that read no fit."""
        todo = self.plan()
        reserved = self.submit_early() if self.post else []
        if self.post and todo:
            self._extras()  # the data notebook first: it fills a worker's wait for the first compile
        self.submit_fits(todo, reserved)

    def run(self) -> tuple[list[RunOutcome], list[str], dict[str, float]]:
        from dask.distributed import as_completed

        self.submit()
        self.ac = as_completed(list(self.meta))
        if self.post:
            for m in self.study.models:
                if self.pending[m] == 0:
                    self._model_done(m)
        for fut in self.ac:
            kind, *args = self.meta.pop(fut)
            if kind == "fit":
                self.on_fit(fut, *args)
            elif kind == "notebook":
                self.on_notebook(fut, args[0])
            else:
                self.on_render(fut, args[1])
            if self.leave_renders is not None and all(kind == "render" for kind, *_ in self.meta.values()):
                # the pages still to render are the caller's (:func:`finish_renders`)
                self.leave_renders.extend((f, args[1]) for f, (_, *args) in self.meta.items())
                break
        self.stages.setdefault("fits_s", time.perf_counter() - self.t0)
        self.stages["fits_and_post_s"] = time.perf_counter() - self.t0
        write_failures(self.layout, self.outcomes)  # raises, with every failure named, if it still cannot
        order = {t: k for k, t in enumerate(self.tasks)}
        return sorted(self.outcomes, key=lambda o: order[(o.model, o.seed)]), self.errors, self.stages


def drive(study: StudySettings, data_path: str, data_sha256: str, client: Any,
          progress: Callable[[RunOutcome, int, int], None] | None, post: bool,
          on_notebook: Callable[[NotebookOutcome], None] | None = None, renders: list | None = None):
    """Fits on the workers and, with ``post``, the analysis notebooks as soon as each can start.

    Every task goes to whichever worker is free: the fits model by model (a model is compiled once,
    into the shared cache, and another kernel loads it), a model's analysis notebooks as soon as
    all its seeds are in, ahead of the fits still queued, and a finished run's page. The notebooks
    that read no fit (the data notebook) are sent before the fits, so a worker runs them while the
    first compile is under way.

    ``on_notebook`` is called with each analysis notebook's :class:`NotebookOutcome` as it ends.
    With a list ``renders``, the driver returns once only runs' pages are left to render, and puts those
    tasks in it, for :func:`finish_renders` after the summary (which goes ahead of them).

    Returns
    -------
    (outcomes, errors, stages)
        One :class:`RunOutcome` per model × seed in task order; errors of the analysis notebooks;
        stage times in seconds.
    """
    driver = _Driver(study, data_path, data_sha256, client, progress, post, on_notebook)
    driver.leave_renders = renders
    return driver.run()


def finish_renders(renders: list) -> list[str]:
    """Wait for the page renders :func:`drive` left in ``renders``; returns their errors, one line each."""
    errors = []
    for fut, notebooks in renders:
        try:
            err = fut.result()
        except Exception as exc:
            err = f"worker lost: {type(exc).__name__}: {exc}"
        if err:
            errors.append(f"rendering {', '.join(Path(n).name for n in notebooks)}: {err}")
    return errors


def run_summary(study: StudySettings, data_path: str, data_sha256: str, client: Any) -> NotebookOutcome:
    """Execute the summary notebook on a worker and render it as ``reports/index.html``.

    A failed notebook is rendered too (the page then shows where); never raises for a failed notebook.
    """
    job = summary_job(study, data_path)
    try:
        return client.submit(_notebook_on_worker, job, data_sha256, [], str(study.layout.root), pure=False,
                             key=f"notebook-summary-{uuid.uuid4().hex[:8]}", priority=2).result()
    except Exception as exc:
        return NotebookOutcome(job.name, job.output, "failed", error=f"worker lost: {type(exc).__name__}: {exc}")


def write_failures(layout: ResultsLayout, outcomes: Sequence[RunOutcome]) -> None:
    """Write ``study/failed.json``: every failed run with its error and kept notebook folder.

    Raises
    ------
    WriteError
        When it cannot be written; an older ``failed.json`` is then removed (so none can claim fewer
        failures than there were) and the message lists the failed runs.
    """
    failed = [{"model": o.model, "seed": o.seed, "error": o.error, "notebook": o.run_dir} for o in outcomes
              if o.status == "failed"]
    try:
        write_json(layout.failed_record, failed)
    except WriteError as exc:
        try:
            layout.failed_record.unlink(missing_ok=True)
        except OSError:
            pass
        names = ", ".join(f"{f['model']} seed {f['seed']}" for f in failed[:10]) + (" …" if len(failed) > 10 else "")
        raise WriteError(f"{exc} {len(failed)} run(s) failed" + (f": {names}" if failed else "") + ".") from None


def _notebook_on_worker(job: NotebookJob, data_sha256: str, inputs: list[str], root: str) -> NotebookOutcome:
    """Run an analysis notebook on a study worker, in its warm kernel, then render its page.

    Reused while its inputs are unchanged. A failed notebook's executed copy is rendered too, so its
    page shows the error.
    """
    from partclust.errors import PartclustError
    from partclust.reporting.render import render_notebooks
    from partclust.runner.cache import execute_cached
    from partclust.runner.notebooks import execute

    t0 = time.perf_counter()
    status, error = "executed", ""
    try:
        if job.cached:
            ran = execute_cached(job.notebook, job.output, job.parameters, data_sha256, inputs, root,
                                 km=_kernel_manager(_KERNEL.get("cache")))
            status = "executed" if ran else "reused"
        else:
            execute(job.notebook, job.output, job.parameters, km=_kernel_manager(_KERNEL.get("cache")))
    except Exception as exc:
        _drop_kernel()
        status, error = "failed", f"{type(exc).__name__}: {exc}"
    page = ""
    if Path(job.output).is_file():
        try:
            page = str(render_notebooks(Path(root), [Path(job.output)], only_stale=True)[0])
        except PartclustError as exc:
            error = error or f"rendering: {exc}"
            status = "failed"
    return NotebookOutcome(job.name, job.output, status, time.perf_counter() - t0, error, page)


def _render_on_worker(results: str, notebooks: list[str]) -> str:
    """Render pages on a study worker; returns "" or the error (never raises: the driver reports it)."""
    from partclust.reporting.render import render_notebooks

    try:
        render_notebooks(Path(results), [Path(n) for n in notebooks], only_stale=True)
        return ""
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
