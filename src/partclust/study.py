"""Stage 6 — the multi-seed study: every model × seed through the fit notebook, on Dask.

Each run executes ``notebooks/02_fit.ipynb`` with papermill into ``runs/<model>/seed-<k>/``. Nothing
is lost and everything resumes:

- a run writes into a temporary sibling directory and is renamed into place only when complete, so
  a killed study leaves finished seeds finished and no half-written run that looks complete;
- a rerun skips a seed whose completed ``run.json`` records the requested settings and dataset,
  and redoes the rest;
- a run that fails (exception, dead kernel, timeout) is recorded in ``study/failed.json`` with its
  error and its executed notebook is kept under ``failed/``; the study goes on.

Workers: by default a Dask ``LocalCluster`` with one single-threaded worker process per core; with
``scheduler="tcp://host:port"`` the same tasks go to an existing Dask cluster, whose workers must
run this package's environment and see the same filesystem (results are written by the workers).
Each worker keeps one Jupyter kernel alive across its runs, so the imports and the model compile
are paid once per worker and model rather than once per run; every run is still a papermill
execution of the notebook with its own parameters, and the draws do not depend on the reuse.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from partclust.settings import RESIDUALS, FitSettings
from partclust.notebook import FIT_NOTEBOOK
from partclust.paths import RESULTS

INJECTED_FAILURE = "injected-failure"  # a sampler name the fit notebook refuses: the test hook


class StudyError(RuntimeError):
    """The study cannot start (bad settings, unreachable scheduler); the message says what to fix."""


@dataclass(frozen=True)
class StudySettings:
    models: tuple[str, ...] = RESIDUALS
    seeds: tuple[int, ...] = tuple(range(1, 21))
    draws: int = 2000
    tune: int = 1000
    chains: int = 4
    data_path: str = ""
    out: str = str(RESULTS)
    workers: int = 0  # 0: one per core
    scheduler: str = ""
    timeout_s: float = 900.0  # per cell of a run's notebook
    fail: tuple[str, ...] = ()  # "model:seed" runs made to fail on purpose (tests of failure handling)
    why_notebook: bool = False  # also run notebooks/05_why_s2u_differed.ipynb (minutes; `make why`)
    plots: str = "first"  # trace/rank plots in "first" seed's notebook of each model, "all" or "none"

    def __post_init__(self) -> None:
        bad = [m for m in self.models if m not in RESIDUALS]
        if bad:
            raise StudyError(f"unknown model(s) {bad}; choose from {', '.join(RESIDUALS)}")
        if not self.seeds:
            raise StudyError("no seeds to run")
        if self.plots not in ("first", "all", "none"):
            raise StudyError(f"plots must be first, all or none; got {self.plots!r}")
        if len(set(self.seeds)) != len(self.seeds):
            raise StudyError("the seed list has repeats")
        for m in self.models:
            for s in self.seeds:
                self.fit_settings(m, s)  # validates draws, tune, chains, seeds

    def fit_settings(self, model: str, seed: int) -> FitSettings:
        return FitSettings(model=model, seed=int(seed), draws=self.draws, tune=self.tune, chains=self.chains)

    @property
    def n_workers(self) -> int:
        return self.workers or os.cpu_count() or 1


@dataclass
class RunOutcome:
    model: str
    seed: int
    status: str  # "done", "skipped" (already complete), "failed"
    run_dir: str
    seconds: float = 0.0
    error: str = ""
    timings: dict[str, Any] = field(default_factory=dict)


def run_dir(out: Path, model: str, seed: int) -> Path:
    return out / "runs" / model / f"seed-{seed}"


def is_complete(path: Path, settings: FitSettings, data_sha256: str) -> bool:
    """A run counts as done when its run.json records exactly these settings and this dataset."""
    try:
        record = json.loads((path / "run.json").read_text())
    except (OSError, ValueError):
        return False
    return (record.get("settings") == asdict(settings)
            and record.get("data", {}).get("sha256") == data_sha256
            and (path / "summary.csv").is_file() and (path / "posterior.nc").is_file())


# ---- executed on the workers ---------------------------------------------------------------------
_KERNEL: dict[str, Any] = {}  # this worker process's reusable kernel manager


def _kernel_manager():
    from jupyter_client.manager import AsyncKernelManager

    km = _KERNEL.get("km")
    if km is None:
        km = _KERNEL["km"] = AsyncKernelManager(kernel_name="python3")
    return km


def _drop_kernel() -> None:
    km = _KERNEL.pop("km", None)
    if km is not None and km.has_kernel:
        from jupyter_client.utils import run_sync

        try:
            run_sync(km.shutdown_kernel)(now=True)
        except Exception:  # a dead kernel cannot be shut down politely; it is gone either way
            pass


def run_one(model: str, seed: int, study: StudySettings, data_path: str, data_sha256: str) -> RunOutcome:
    """Execute the fit notebook for one model × seed, atomically; never raises for a failed run."""
    from partclust.notebook import NotebookError, execute

    t0 = time.perf_counter()
    out = Path(study.out)
    settings = study.fit_settings(model, seed)
    final = run_dir(out, model, seed)
    if is_complete(final, settings, data_sha256):
        return RunOutcome(model, seed, "skipped", str(final))
    tmp = final.parent / f".{final.name}.tmp-{uuid.uuid4().hex[:8]}"
    make_plots = study.plots == "all" or (study.plots == "first" and seed == study.seeds[0])
    params = {**asdict(settings), "data_path": data_path, "output_dir": str(tmp), "make_plots": make_plots,
              "cores": 2}
    if f"{model}:{seed}" in study.fail:
        params["sampler"] = INJECTED_FAILURE
    try:
        execute(FIT_NOTEBOOK, tmp / FIT_NOTEBOOK, params, timeout=study.timeout_s, km=_kernel_manager())
        if not is_complete(tmp, settings, data_sha256):
            raise NotebookError(f"the notebook finished but {tmp} lacks a matching run.json/summary.csv")
        if final.exists():
            shutil.rmtree(final)  # a stale run with other settings
        tmp.rename(final)
        record = json.loads((final / "run.json").read_text())
        return RunOutcome(model, seed, "done", str(final), time.perf_counter() - t0,
                          timings={**record.get("timings", {}), **record.get("timings_notebook", {})})
    except Exception as exc:  # any failure of one run is recorded, never fatal to the study
        _drop_kernel()  # a timed-out or broken kernel is not reused
        kept = out / "failed" / model / f"seed-{seed}"
        if tmp.exists():
            if kept.exists():
                shutil.rmtree(kept)
            kept.parent.mkdir(parents=True, exist_ok=True)
            tmp.rename(kept)
        error = f"{type(exc).__name__}: {exc}".replace(str(tmp), str(kept))
        return RunOutcome(model, seed, "failed", str(kept), time.perf_counter() - t0, error=error)


# ---- the driver --------------------------------------------------------------------------------
def _client(study: StudySettings):
    import logging

    from dask.distributed import Client, LocalCluster

    logging.getLogger("distributed").setLevel(logging.ERROR)

    if study.scheduler:
        try:
            client = Client(study.scheduler, timeout="10s")
        except OSError as exc:
            raise StudyError(f"cannot reach the Dask scheduler at {study.scheduler} ({exc}); start it or drop --scheduler") from None
        try:
            client.wait_for_workers(1, timeout=120)
        except TimeoutError:
            client.close()
            raise StudyError(f"the Dask scheduler at {study.scheduler} has no workers; start some with "
                             f"`dask worker {study.scheduler} --nthreads 1` in this project's environment") from None
        return client, None
    import dask

    # No work stealing: a stolen fit would make a second kernel compile its model (≈10 s) to save
    # a few seconds of sampling; idle workers get the rendering and aggregate work instead.
    with dask.config.set({"distributed.scheduler.work-stealing": False}):
        cluster = LocalCluster(n_workers=study.n_workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, env={"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                                                            "OPENBLAS_NUM_THREADS": "1"})
    return Client(cluster), cluster


def close_client(client: Any, cluster: Any) -> None:
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
        client, cluster = _client(study)
    try:
        outcomes, _, _ = _drive(study, data_path, data_sha256, client, progress, post=False)
    finally:
        if own:
            close_client(client, cluster)
    return outcomes


def _drive(study: StudySettings, data_path: str, data_sha256: str, client: Any,
           progress: Callable[[RunOutcome, int, int], None] | None, post: bool):
    """Fits on the workers and, with ``post``, everything after them as soon as it can start.

    A model's fits prefer one worker each, so a kernel compiles few models (compiling costs
    about ten times a warm run). Work that does not compile — rendering a finished run's
    notebook, the data notebook, a model's aggregate notebook once all its seeds are in — is
    handed to whichever worker is free, which fills the time a worker with the faster model
    would otherwise sit idle.
    """
    from dask.distributed import as_completed

    out = Path(study.out)
    (out / "study").mkdir(parents=True, exist_ok=True)
    for model in study.models:  # temporary dirs of an interrupted study: never complete, never read
        for stale in (out / "runs" / model).glob(".seed-*.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
    tasks = [(m, s) for m in study.models for s in study.seeds]
    todo = [(m, s) for m, s in tasks if not is_complete(run_dir(out, m, s), study.fit_settings(m, s), data_sha256)]
    outcomes = [RunOutcome(m, s, "skipped", str(run_dir(out, m, s))) for m, s in tasks if (m, s) not in todo]
    if progress:
        for o in outcomes:
            progress(o, len(outcomes), len(tasks))
    errors: list[str] = []
    stages: dict[str, float] = {}
    t0 = time.perf_counter()
    workers = sorted(client.scheduler_info()["workers"])
    # With at least as many models as workers, each model stays on one worker; with fewer, every
    # worker takes seeds of any model (each then compiles it once).
    spread = workers and len(study.models) >= len(workers)
    home = {m: workers[k % len(workers)] for k, m in enumerate(study.models)} if spread else {}
    meta: dict[Any, tuple] = {}
    for m, s in todo:
        fut = client.submit(run_one, m, s, study, data_path, data_sha256, pure=False,
                            key=f"fit-{m}-{s}-{uuid.uuid4().hex[:6]}",
                            **({"workers": [home[m]], "allow_other_workers": True} if m in home else {}))
        meta[fut] = ("fit", m, s)
    pending_fits = {m: sum(1 for mm, _ in todo if mm == m) for m in study.models}
    ac = as_completed(list(meta))

    def submit(kind: str, fn: Callable, *args: Any) -> None:
        fut = client.submit(fn, *args, pure=False, key=f"{kind}-{uuid.uuid4().hex[:8]}")
        meta[fut] = (kind, *args)
        ac.add(fut)

    def aggregate(model: str) -> None:
        submit("notebook", _execute_on_worker, AGGREGATE_NOTEBOOK, str(out / "study" / f"04_monte_carlo_{model}.ipynb"),
               {"model": model, "results_dir": str(out), "data_path": data_path, "sas_output_dir": ""})

    extras_sent = False

    def extras() -> None:  # notebooks that need no fit, sent once a worker has its kernel warm
        nonlocal extras_sent
        if extras_sent:
            return
        extras_sent = True
        submit("notebook", _execute_on_worker, DATA_NOTEBOOK, str(out / "study" / DATA_NOTEBOOK), {"data_path": data_path})
        if study.why_notebook:
            submit("notebook", _execute_on_worker, WHY_NOTEBOOK, str(out / "study" / WHY_NOTEBOOK),
                   {"data_path": data_path, "results_dir": str(out)})

    if post:
        for m in study.models:
            if pending_fits[m] == 0:
                extras()
                aggregate(m)
    for fut in ac:
        kind, *args = meta.pop(fut)
        if kind == "fit":
            m, s = args
            try:
                o = fut.result()
            except Exception as exc:  # the worker itself died: record and go on
                o = RunOutcome(m, s, "failed", "", error=f"worker lost: {type(exc).__name__}: {exc}")
            outcomes.append(o)
            _write_failures(out, outcomes)
            if progress:
                progress(o, len(outcomes), len(tasks))
            pending_fits[m] -= 1
            if post:
                if o.run_dir and Path(o.run_dir, FIT_NOTEBOOK).is_file():
                    submit("render", _render_on_worker, str(out), [str(Path(o.run_dir, FIT_NOTEBOOK))])
                if pending_fits[m] == 0:
                    stages["fits_s"] = max(stages.get("fits_s", 0.0), time.perf_counter() - t0)
                    extras()
                    aggregate(m)
        elif kind == "notebook":
            try:
                err = fut.result()
            except Exception as exc:
                err = f"worker lost: {type(exc).__name__}: {exc}"
            if err:
                errors.append(f"{Path(args[1]).name}: {err}")
            elif Path(args[1]).is_file():
                submit("render", _render_on_worker, str(out), [args[1]])
        else:
            try:
                fut.result()
            except Exception as exc:
                errors.append(f"rendering {args[1]}: {type(exc).__name__}: {exc}")
    stages.setdefault("fits_s", time.perf_counter() - t0)
    stages["fits_and_post_s"] = time.perf_counter() - t0
    _write_failures(out, outcomes)
    order = {t: k for k, t in enumerate(tasks)}
    return sorted(outcomes, key=lambda o: order[(o.model, o.seed)]), errors, stages


def _write_failures(out: Path, outcomes: Sequence[RunOutcome]) -> None:
    failed = [{"model": o.model, "seed": o.seed, "error": o.error, "notebook": o.run_dir} for o in outcomes
              if o.status == "failed"]
    path = out / "study" / "failed.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(failed, indent=2))
    tmp.replace(path)


# ---- the whole job: runs, aggregate notebooks, reports -----------------------------------------------
DATA_NOTEBOOK = "01_data.ipynb"
AGGREGATE_NOTEBOOK = "04_monte_carlo.ipynb"
WHY_NOTEBOOK = "05_why_s2u_differed.ipynb"


def _progress_bar(total: int):
    from tqdm.auto import tqdm

    bar = tqdm(total=total, unit="run", desc="fits", dynamic_ncols=True)
    counts = {"done": 0, "skipped": 0, "failed": 0}

    def update(o: RunOutcome, k: int, n: int) -> None:
        counts[o.status] += 1
        bar.set_postfix(done=counts["done"], reused=counts["skipped"], failed=counts["failed"], refresh=False)
        bar.update(1)
        if o.status == "failed":
            bar.write(f"run {o.model} seed {o.seed} failed: {o.error.splitlines()[0][:300]}")

    return bar, update


def _sigterm_as_interrupt() -> None:
    import signal

    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not in the main thread (e.g. under a test runner's thread)
        pass


def write_study_record(study: StudySettings, design, outcomes: Sequence[RunOutcome], wall_s: float,
                       stages: dict[str, float]) -> Path:
    from partclust.settings import package_versions

    out = Path(study.out) / "study"
    out.mkdir(parents=True, exist_ok=True)
    record = {
        "settings": {**asdict(study), "models": list(study.models), "seeds": list(study.seeds)},
        "data": {"path": design.source, "sha256": design.sha256},
        "versions": package_versions(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "wall_s": round(wall_s, 2),
        "stages_s": {k: round(v, 2) for k, v in stages.items()},
        "runs": [asdict(o) for o in outcomes],
        "failed": [{"model": o.model, "seed": o.seed, "error": o.error} for o in outcomes if o.status == "failed"],
    }
    path = out / "study.json"
    path.write_text(json.dumps(record, indent=2, default=str))
    return path


def _execute_on_worker(name: str, output: str, parameters: dict[str, Any]) -> str:
    """A notebook on a study worker, in its warm kernel; returns "" or the error."""
    from partclust.notebook import execute

    try:
        execute(name, output, parameters, km=_kernel_manager())
        return ""
    except Exception as exc:
        _drop_kernel()
        return f"{type(exc).__name__}: {exc}"


def _render_on_worker(results: str, notebooks: list[str]) -> int:
    from partclust.report import render_notebooks

    return len(render_notebooks(Path(results), [Path(n) for n in notebooks], only_stale=True))


def render_remaining(out: Path) -> list[Path]:
    """Render any executed notebook whose page is missing or older (e.g. runs reused from before)."""
    from partclust.report import executed_notebooks, render_notebooks

    return render_notebooks(out, executed_notebooks(out), only_stale=True)


def main_study(study: StudySettings, design) -> int:
    """What ``partclust study`` does; returns the exit code (1 when any run failed)."""
    import sys

    _sigterm_as_interrupt()
    t0 = time.perf_counter()
    n = len(study.models) * len(study.seeds)
    print(f"study: {len(study.models)} model(s) × {len(study.seeds)} seeds, {study.chains} chains × "
          f"{study.draws} draws ({study.tune} tune) → {study.out}", flush=True)
    client, cluster = _client(study)
    try:
        bar, update = _progress_bar(n)
        try:
            outcomes, errors, stages = _drive(study, design.source, design.sha256, client, update, post=True)
        finally:
            bar.close()
    finally:
        close_client(client, cluster)
    t = time.perf_counter()
    render_remaining(Path(study.out))
    stages["render_remaining_s"] = time.perf_counter() - t
    wall = time.perf_counter() - t0
    write_study_record(study, design, outcomes, wall, stages)
    from partclust.report import write_index

    index = write_index(Path(study.out))

    failed = [o for o in outcomes if o.status == "failed"]
    for err in errors:
        print(f"notebook failed: {err}", file=sys.stderr)
    print(f"study finished in {wall:.0f} s: {sum(o.status == 'done' for o in outcomes)} fitted, "
          f"{sum(o.status == 'skipped' for o in outcomes)} reused, {len(failed)} failed")
    print(f"report: {index}")
    for o in failed:
        print(f"failed: {o.model} seed {o.seed}: {o.error.splitlines()[0][:300]}", file=sys.stderr)
    return 1 if failed or errors else 0
