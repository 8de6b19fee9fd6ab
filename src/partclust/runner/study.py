"""``partclust study`` from start to end: the fits on Dask, the analysis notebooks, then the landing page."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

from partclust.config import NOTEBOOK_FILES, package_versions
from partclust.files import write_json
from partclust.runner.dask import (NotebookOutcome, RunOutcome, close_client, compile_cache, drive, finish_renders,
                                   make_client, run_summary)
from partclust.runner.plan import analysis_jobs
from partclust.studies.seeds import StudySettings

__all__ = ["main_study", "write_study_record", "render_remaining", "landing_page", "STUDY_LOCK",
           "check_study_folder_free", "prebuild_models"]

STUDY_LOCK = "a partclust study"
"""What a study's lock on its results folder says it is (:func:`~partclust.files.folder_lock`)."""


def _tally(counts: dict[str, int]) -> str:
    """Return the progress bar's tally: runs and notebooks, each with its counts that are not zero (short for 80 columns).

    ``counts`` keys: ``done``, ``skipped`` and ``failed`` (runs), ``executed``, ``reused`` and ``nb_failed``
    (notebooks).
    """
    runs = [f"{counts[k]} {w}" for k, w in (("done", "fitted"), ("skipped", "reused"), ("failed", "failed")) if counts[k]]
    notebooks = [f"{counts[k]} {w}" for k, w in (("executed", "executed"), ("reused", "reused"), ("nb_failed", "failed"))
                 if counts[k]]
    return f"runs: {', '.join(runs) or '0'}" + (f" · notebooks: {', '.join(notebooks)}" if notebooks else "")


def _progress_bar(n_runs: int, n_notebooks: int):
    """One bar over the fits and the analysis notebooks (the landing page's notebook included)."""
    from tqdm.auto import tqdm

    bar = tqdm(total=n_runs + n_notebooks, unit="task", desc="study", dynamic_ncols=True)
    counts = {"done": 0, "skipped": 0, "failed": 0, "executed": 0, "reused": 0, "nb_failed": 0}

    def refresh() -> None:
        bar.set_postfix_str(_tally(counts), refresh=False)

    def update(o: RunOutcome, k: int, n: int) -> None:
        counts[o.status] += 1
        refresh()
        bar.update(1)
        if o.status == "failed":
            bar.write(f"run {o.model} seed {o.seed} failed: {o.error.splitlines()[0][:300]}")

    def update_notebook(o: NotebookOutcome) -> None:
        counts["nb_failed" if o.status == "failed" else o.status] += 1
        refresh()
        bar.update(1)
        if o.status == "reused":
            bar.write(f"{o.name}: reused (its inputs are unchanged)")
        elif o.status == "failed":
            bar.write(f"{o.name} failed: {o.error.splitlines()[0][:300] if o.error else ''}")
        else:
            bar.write(f"{o.name}: executed in {o.seconds:.0f} s")

    return bar, update, update_notebook


def _sigterm_as_interrupt() -> None:
    import signal

    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not in the main thread (e.g. under a test runner's thread)
        pass


def prebuild_models(study: StudySettings, design, cache: str) -> dict[str, dict]:
    """Build the compile-cache entries of the study's models that have runs to do, one thread per model.

    ``design`` is what the study was started with: the validated data (``source``, ``content_sha256``), or for a
    PROC MCMC program study its translation, which is used as it is.

    Started by the driver while the workers' kernels start (:func:`partclust.inference.prebuild.prebuild`): the
    compiles run beside the kernels' start and imports instead of after them. A model whose runs are all done is
    skipped, so a warm re-run imports nothing for this; so is a study with another fit notebook than the project's.

    Returns
    -------
    dict
        Model name → the prebuild record (``source``, ``key``, ``seconds``…); a model that could not even be built
        has ``source`` ``failed`` and the ``error`` (its fits then compile, or fail, as they would have).
    """
    from concurrent.futures import ThreadPoolExecutor

    from partclust.inference.runs import is_complete

    if study.fit_notebook != NOTEBOOK_FILES["fit"]:  # another fit notebook need not fit through the cache
        return {}
    todo = [m for m in study.models if any(not is_complete(study.layout.run_dir(m, s), study.fit_settings(m, s),
                                                           design.content_sha256) for s in study.seeds)]

    def one(model: str) -> dict:
        try:
            from partclust.inference.prebuild import prebuild

            if study.sas_program:  # the program's translation, as the driver holds it
                data = design
            else:
                from partclust.translate import load_model_data

                data = load_model_data(design.source, study.spec(model))
            return prebuild(data, study.fit_settings(model, study.seeds[0]), cache)
        except Exception as exc:  # the fits will meet the same problem and report it in their notebooks
            return {"source": "failed", "error": f"{type(exc).__name__}: {exc}"}

    if not todo:
        return {}
    with ThreadPoolExecutor(max_workers=len(todo), thread_name_prefix="prebuild") as pool:
        return dict(zip(todo, pool.map(one, todo)))


def write_study_record(study: StudySettings, design, outcomes: Sequence[RunOutcome], wall_s: float,
                       stages: dict[str, float], notebooks: Sequence[NotebookOutcome] = (),
                       prebuilt: dict[str, dict] | None = None, started: str = "", final: bool = True) -> Path:
    """Write ``study/study.json``.

    Settings, data checksum, versions, timings, every run's and every analysis notebook's outcome, and what the
    driver compiled ahead (:func:`prebuild_models`). ``wall_s`` is this invocation's; ``runs_fitted`` and
    ``runs_reused`` say how many runs it fitted and how many it found on disk, and ``earlier_invocations``
    keeps one line (date → wall, runs fitted and reused) for each earlier invocation into the same folder,
    so that a re-run, which reuses everything, does not hide what the first one cost. ``started`` (when the
    invocation began) tells an earlier invocation from this one's own earlier write. ``final`` False marks the
    record written for the landing page, before the study ends (``complete``: False): its wall and notebooks stop
    there.
    """
    earlier: dict[str, str] = {}
    try:
        previous = json.loads(study.layout.study_record.read_text())
        earlier = dict(previous.get("earlier_invocations", {}))
        if not started or previous.get("started") != started:
            earlier[str(previous["date"])] = (
                f"wall {float(previous['wall_s']):.1f} s; "
                + _fitted_reused(previous.get("runs_fitted"), previous.get("runs_reused"), previous.get("runs", []))
                + ("; stopped before its end (no final record)" if previous.get("complete") is False else ""))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):  # none yet, or unreadable: nothing to keep
        pass
    record = {
        "settings": {**asdict(study), "models": list(study.models), "seeds": list(study.seeds)},
        "data": {"path": design.source, "sha256": design.sha256,
                 "content_sha256": getattr(design, "content_sha256", design.sha256),
                 "encoding": getattr(design, "encoding", "")},
        "versions": package_versions(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "started": started,
        "complete": final,
        "wall_s": round(wall_s, 2),
        **({} if study.scheduler else {"local_workers": study.n_workers}),  # settings.workers 0: one per core
        "runs_fitted": sum(o.status == "done" for o in outcomes),
        "runs_reused": sum(o.status == "skipped" for o in outcomes),
        "earlier_invocations": earlier,
        "stages_s": {k: round(v, 2) for k, v in stages.items()},
        "runs": [asdict(o) for o in outcomes],
        "failed": [{"model": o.model, "seed": o.seed, "error": o.error} for o in outcomes if o.status == "failed"],
        "notebooks": [asdict(o) for o in notebooks],
        "prebuilt": prebuilt or {},
    }
    return write_json(study.layout.study_record, record)


def _fitted_reused(fitted: Any, reused: Any, runs: Sequence[dict]) -> str:
    """"N run(s) fitted, M reused" of a study record (counted from its runs when it predates the counts)."""
    if not isinstance(fitted, int) or not isinstance(reused, int):
        fitted = sum(isinstance(r, dict) and r.get("status") == "done" for r in runs)
        reused = sum(isinstance(r, dict) and r.get("status") == "skipped" for r in runs)
    return f"{fitted} run(s) fitted, {reused} reused"


def render_remaining(out: Path) -> list[Path]:
    """Render any executed notebook whose page is missing or older (e.g. runs reused from before)."""
    from partclust.reporting.render import executed_notebooks, render_notebooks

    return render_notebooks(out, executed_notebooks(out), only_stale=True)


def landing_page(out: Path, design, models: Sequence[str] = ()) -> Path:
    """Execute the summary notebook in this process's kernel manager and render ``reports/index.html``.

    Used outside a study (``partclust why``, ``sbc``, ``simulate``); a study runs it on its warm workers
    instead. ``design`` None: the dataset the study recorded (or the default one).

    Raises
    ------
    NotebookError
        When the summary notebook fails (its page is still rendered, showing where).
    """
    from partclust.config import NOTEBOOK_FILES
    from partclust.layout import ResultsLayout
    from partclust.reporting.render import render_notebooks
    from partclust.runner.notebooks import execute

    layout = ResultsLayout(Path(out))
    executed = layout.study_notebook(NOTEBOOK_FILES["summary"])
    try:
        execute(NOTEBOOK_FILES["summary"], executed,
                {"results_dir": str(layout.root), "data_path": design.source if design is not None else "",
                 "models": list(models)})
    finally:
        if executed.is_file():
            render_notebooks(layout.root, [executed])
    return layout.index


def check_study_folder_free(out: str | Path) -> None:
    """Refuse a results folder another study holds, before any worker starts.

    See :func:`~partclust.files.check_folder_free`; the study still takes the lock itself (:func:`main_study`).

    Raises
    ------
    FolderInUse
        Naming the process that holds it.
    """
    from partclust.files import check_folder_free

    check_folder_free(out, STUDY_LOCK)


def _print_gates(study: StudySettings, outcomes: Sequence[RunOutcome]) -> None:
    """Per model: "k of N runs passed the convergence gate", with the failing checks."""
    from partclust.studies.gates import gate_sentence, run_records

    for model in study.models:
        dirs = [o.run_dir for o in outcomes if o.model == model and o.status in ("done", "skipped")]
        print(f"{model}: {gate_sentence(run_records(dirs))}")


def main_study(study: StudySettings, design, starting=None) -> int:
    """Run ``partclust study``: fits, analysis notebooks, the landing page; prints progress and where it is.

    The results folder is locked for the whole study (:func:`~partclust.files.folder_lock`): a second
    study into the same folder is refused at once. ``starting``: workers already being started
    (:func:`partclust.runner.dask.start_workers`), so that their kernels boot while the caller
    validated the data; by default they are started here.

    Returns
    -------
    int
        The exit code: 0, or 1 when any run or notebook failed.

    Raises
    ------
    FolderInUse
        When another study holds the results folder.
    WriteError
        When a result cannot be written (the failed runs are printed first).
    """
    from partclust.files import folder_lock

    _sigterm_as_interrupt()
    from contextlib import ExitStack

    with ExitStack() as held:
        try:
            held.enter_context(folder_lock(study.out, STUDY_LOCK))
        except BaseException:
            if starting is not None:  # refused: the workers started for it are not needed
                try:
                    close_client(*starting.result())
                except Exception:  # the refusal is the error to report
                    pass
            raise
        return _main_study(study, design, starting)


def _print_failed(outcomes: Sequence[RunOutcome]) -> None:
    """One line on stderr per failed run: model, seed and the first line of its error."""
    import sys

    for o in outcomes:
        if o.status == "failed":
            print(f"failed: {o.model} seed {o.seed}: {o.error.splitlines()[0][:300]}", file=sys.stderr)


def _main_study(study: StudySettings, design, starting=None) -> int:
    import sys

    from partclust.files import WriteError

    t0 = time.perf_counter()
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z") + f" pid {os.getpid()}"  # this invocation, in study.json
    n = len(study.models) * len(study.seeds)
    n_notebooks = len(analysis_jobs(study, design.source)) + 1
    print(f"study: {len(study.models)} model(s) × {len(study.seeds)} seeds, {study.chains} chains × "
          f"{study.draws} draws ({study.tune} tune), then {n_notebooks - 1} analysis notebook(s) and the landing page "
          f"→ {study.out}", flush=True)
    notebooks: list[NotebookOutcome] = []
    from concurrent.futures import ThreadPoolExecutor

    ahead = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prebuild")  # compiles while the kernels start
    prebuilding = ahead.submit(prebuild_models, study, design, compile_cache(study))
    ahead.shutdown(wait=False)
    t = time.perf_counter()
    client, cluster = starting.result() if starting is not None else make_client(study)
    waited = time.perf_counter() - t
    try:
        bar, update, update_notebook = _progress_bar(n, n_notebooks)

        def on_notebook(o: NotebookOutcome) -> None:
            notebooks.append(o)
            update_notebook(o)

        try:
            renders: list = []  # runs' pages still rendering on the workers: the summary goes ahead of them
            outcomes, errors, stages = drive(study, design.source, design.content_sha256, client, update, post=True,
                                             on_notebook=on_notebook, renders=renders)
            stages["workers_wait_s"] = waited
            try:
                prebuilt = prebuilding.result()  # done: every fit that needed an entry has loaded it
            except Exception as exc:  # compiling ahead is an optimisation: its failure is recorded, never fatal
                prebuilt = {"*": {"source": "failed", "error": f"{type(exc).__name__}: {exc}"}}
            try:
                # the landing page reports this invocation: write the record first, then the summary
                write_study_record(study, design, outcomes, time.perf_counter() - t0, stages, notebooks, prebuilt,
                                   started, final=False)
            except WriteError:
                _print_failed(outcomes)  # what happened to the runs is said before the write error ends it
                raise
            t = time.perf_counter()
            summary = run_summary(study, design.source, design.content_sha256, client)
            stages["summary_s"] = time.perf_counter() - t
            on_notebook(summary)
            if summary.status == "failed":
                errors.append(f"{summary.name}: {summary.error}")
            t = time.perf_counter()
            errors += finish_renders(renders)
            try:
                render_remaining(Path(study.out))
            except WriteError:
                _print_failed(outcomes)
                raise
            stages["render_remaining_s"] = time.perf_counter() - t
        finally:
            bar.close()
    finally:
        close_client(client, cluster)
    failed = [o for o in outcomes if o.status == "failed"]
    wall = time.perf_counter() - t0
    try:
        write_study_record(study, design, outcomes, wall, stages, notebooks, prebuilt, started)
    except WriteError:
        _print_failed(outcomes)
        raise
    if prebuilt:
        from partclust.reporting.records import prebuilt_text

        print("compiled models: " + "; ".join(f"{m} {prebuilt_text(r)}" for m, r in prebuilt.items()))
    _print_gates(study, outcomes)

    for err in errors:
        print(f"notebook failed: {err}", file=sys.stderr)
    reused = sum(o.status == "reused" for o in notebooks)
    print(f"study finished in {wall:.0f} s: {sum(o.status == 'done' for o in outcomes)} fitted, "
          f"{sum(o.status == 'skipped' for o in outcomes)} reused, {len(failed)} failed; "
          f"{len(notebooks) - reused} notebook(s) executed, {reused} reused")
    print(f"report: {study.layout.index}")
    _print_failed(outcomes)
    return 1 if failed or errors else 0
