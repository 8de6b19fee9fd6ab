"""``partclust study`` from start to end: the fits on Dask, then the aggregate notebooks and the report."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

from partclust.config import package_versions
from partclust.files import write_json
from partclust.runner.dask import RunOutcome, close_client, drive, make_client
from partclust.studies.seeds import StudySettings

__all__ = ["main_study", "write_study_record", "render_remaining"]


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
    """Write ``study/study.json``: settings, data checksum, versions, timings and every run's outcome."""
    record = {
        "settings": {**asdict(study), "models": list(study.models), "seeds": list(study.seeds)},
        "data": {"path": design.source, "sha256": design.sha256, "content_sha256": design.content_sha256,
                 "encoding": design.encoding},
        "versions": package_versions(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "wall_s": round(wall_s, 2),
        "stages_s": {k: round(v, 2) for k, v in stages.items()},
        "runs": [asdict(o) for o in outcomes],
        "failed": [{"model": o.model, "seed": o.seed, "error": o.error} for o in outcomes if o.status == "failed"],
    }
    return write_json(study.layout.study_record, record)


def render_remaining(out: Path) -> list[Path]:
    """Render any executed notebook whose page is missing or older (e.g. runs reused from before)."""
    from partclust.reporting.render import executed_notebooks, render_notebooks

    return render_notebooks(out, executed_notebooks(out), only_stale=True)


def _print_gates(study: StudySettings, outcomes: Sequence[RunOutcome]) -> None:
    """Per model: "k of N runs passed the convergence gate", with the failing checks."""
    from partclust.studies.seeds import gate_sentence, run_records

    for model in study.models:
        dirs = [o.run_dir for o in outcomes if o.model == model and o.status in ("done", "skipped")]
        print(f"{model}: {gate_sentence(run_records(dirs))}")


def main_study(study: StudySettings, design, starting=None) -> int:
    """Run ``partclust study``: fits, aggregates, renders, indexes; prints progress and where the report is.

    The results folder is locked for the whole study (:func:`~partclust.files.folder_lock`): a second
    study into the same folder is refused at once. ``starting``: workers already being started
    (:func:`partclust.runner.dask.start_workers`), so that their kernels boot while the caller
    validated the data; by default they are started here.

    Returns
    -------
    int
        The exit code: 0, or 1 when any run or study notebook failed.

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
            held.enter_context(folder_lock(study.out, "a partclust study"))
        except BaseException:
            if starting is not None:  # refused: the workers started for it are not needed
                try:
                    close_client(*starting.result())
                except Exception:  # the refusal is the error to report
                    pass
            raise
        return _main_study(study, design, starting)


def _main_study(study: StudySettings, design, starting=None) -> int:
    import sys

    from partclust.files import WriteError

    t0 = time.perf_counter()
    n = len(study.models) * len(study.seeds)
    print(f"study: {len(study.models)} model(s) × {len(study.seeds)} seeds, {study.chains} chains × "
          f"{study.draws} draws ({study.tune} tune) → {study.out}", flush=True)
    t = time.perf_counter()
    client, cluster = starting.result() if starting is not None else make_client(study)
    waited = time.perf_counter() - t
    try:
        bar, update = _progress_bar(n)
        try:
            outcomes, errors, stages = drive(study, design.source, design.content_sha256, client, update, post=True)
            stages["workers_wait_s"] = waited
        finally:
            bar.close()
    finally:
        close_client(client, cluster)
    failed = [o for o in outcomes if o.status == "failed"]
    try:
        t = time.perf_counter()
        render_remaining(Path(study.out))
        stages["render_remaining_s"] = time.perf_counter() - t
        wall = time.perf_counter() - t0
        write_study_record(study, design, outcomes, wall, stages)
        from partclust.reporting.index import write_index

        index = write_index(Path(study.out))
    except WriteError:
        for o in failed:  # what happened to the runs is said before the write error ends the command
            print(f"failed: {o.model} seed {o.seed}: {o.error.splitlines()[0][:300]}", file=sys.stderr)
        raise
    _print_gates(study, outcomes)

    for err in errors:
        print(f"notebook failed: {err}", file=sys.stderr)
    print(f"study finished in {wall:.0f} s: {sum(o.status == 'done' for o in outcomes)} fitted, "
          f"{sum(o.status == 'skipped' for o in outcomes)} reused, {len(failed)} failed")
    print(f"report: {index}")
    for o in failed:
        print(f"failed: {o.model} seed {o.seed}: {o.error.splitlines()[0][:300]}", file=sys.stderr)
    return 1 if failed or errors else 0
