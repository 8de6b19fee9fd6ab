"""The multi-seed study: atomic, resumable runs; failures recorded; Dask locally and via a scheduler."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import netCDF4
import pandas as pd
import pytest

from partclust.inference.runs import is_complete
from partclust.layout import ResultsLayout
from partclust.runner.cli import main
from partclust.runner.dask import run_study
from partclust.studies import StudySettings

TINY = ["--draws", "600", "--tune", "400", "--chains", "4", "--no-why"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _seed_dirs(out: Path, model: str) -> list[str]:
    return sorted(p.name for p in (out / "runs" / model).iterdir())


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "notebooks"


def _study(data: Path, out: Path, **kw) -> StudySettings:
    base = dict(models=("single",), seeds=(1, 2, 3), draws=600, tune=400, chains=4, workers=2,
                data_path=str(data), out=str(out), why_notebook=False)
    return StudySettings(**{**base, **kw})


@pytest.mark.slow
def test_failed_seed_is_recorded_and_a_rerun_redoes_only_it(unbalanced_csv, tmp_path, capsys):
    from partclust.data import load_design
    from partclust.runner.study import main_study

    out = tmp_path / "results"
    design = load_design(unbalanced_csv)
    rc = main_study(_study(unbalanced_csv, out, fit_notebook=str(FIXTURES / "fit_raises_for_one_seed.ipynb")), design)
    assert rc == 1
    printed = capsys.readouterr()
    assert "failed: single seed 2" in printed.err and "report:" in printed.out
    assert _seed_dirs(out, "single") == ["seed-1", "seed-3"]  # no half-written seed-2, no temp dirs
    failed = json.loads((out / "study" / "failed.json").read_text())
    assert [(f["model"], f["seed"]) for f in failed] == [("single", 2)]
    assert "fixture failure for seed 2" in failed[0]["error"]
    assert (out / "failed" / "single" / "seed-2" / "02_fit.ipynb").is_file()  # kept for reading
    index = (out / "reports" / "index.html").read_text()
    assert "seed 2" in index or "seed-2" in index
    assert "fixture failure for seed 2" in index  # the failed runs' table on the landing page
    assert (out / "study" / "single" / "mc_error.csv").is_file()
    assert (out / "comparison" / "single.csv").is_file()
    assert (out / "reports" / "runs" / "single" / "seed-1" / "02_fit.html").is_file()
    # every analysis of the study ran, has its page, and is linked from the landing page
    analyses = ["study/01_data", "comparison/03_compare_single", "study/04_monte_carlo_single"]
    for name in analyses:
        assert (out / f"{name}.ipynb").is_file() and (out / "reports" / f"{name}.html").is_file(), name
        assert f'href="{name}.html"' in index, name
    args = ["study", "--models", "single", "--seeds", "3", *TINY, "--workers", "2", "--data", str(unbalanced_csv),
            "--out", str(out)]
    mtimes = {s: (out / "runs" / "single" / s / "run.json").stat().st_mtime for s in ("seed-1", "seed-3")}

    def notebooks() -> dict[str, str]:
        record = json.loads((out / "study" / "study.json").read_text())
        return {n["name"]: n["status"] for n in record["notebooks"]}

    executed = {name: (out / f"{name}.ipynb").stat().st_mtime_ns for name in analyses}
    rc = main(args)  # the fault removed: only seed 2 runs
    assert rc == 0
    assert "compiled models: single already in the cache" in capsys.readouterr().out  # seeds 1 and 3 compiled it
    assert _seed_dirs(out, "single") == ["seed-1", "seed-2", "seed-3"]
    assert {s: (out / "runs" / "single" / s / "run.json").stat().st_mtime for s in mtimes} == mtimes
    record = json.loads((out / "study" / "study.json").read_text())
    status = {(r["model"], r["seed"]): r["status"] for r in record["runs"]}
    assert status == {("single", 1): "skipped", ("single", 2): "done", ("single", 3): "skipped"}
    assert (record["runs_fitted"], record["runs_reused"]) == (1, 2)
    assert record["complete"] is True and record["local_workers"] == 2
    index = (out / "reports" / "index.html").read_text()  # built from the record written before the study ended
    assert "before the study ended" in index and "local_workers" in index
    [(date, line)] = record["earlier_invocations"].items()  # the first invocation is not forgotten
    assert line.startswith("wall ") and line.endswith("s; 2 run(s) fitted, 0 reused") and date != record["date"]
    assert "2 run(s) fitted, 0 reused" in index
    assert json.loads((out / "study" / "failed.json").read_text()) == []
    # a new run changes what 03 and 04 read, not what 01 reads; the landing page is always rebuilt
    assert notebooks() == {"01_data.ipynb": "reused", "03_compare_single.ipynb": "executed",
                           "04_monte_carlo_single.ipynb": "executed", "00_summary.ipynb": "executed"}
    assert (out / "study" / "01_data.ipynb").stat().st_mtime_ns == executed["study/01_data"]

    executed = {name: (out / f"{name}.ipynb").stat().st_mtime_ns for name in analyses}
    capsys.readouterr()
    rc = main(args)  # nothing changed: nothing is fitted or executed again but the landing page
    assert rc == 0
    assert notebooks() == {"01_data.ipynb": "reused", "03_compare_single.ipynb": "reused",
                           "04_monte_carlo_single.ipynb": "reused", "00_summary.ipynb": "executed"}
    assert {name: (out / f"{name}.ipynb").stat().st_mtime_ns for name in analyses} == executed
    assert "0 fitted, 3 reused, 0 failed; 1 notebook(s) executed, 3 reused" in capsys.readouterr().out
    earlier = json.loads((out / "study" / "study.json").read_text())["earlier_invocations"]
    assert len(earlier) == 2 and any(v.endswith("s; 1 run(s) fitted, 2 reused") for v in earlier.values())

    # a smaller seed list: the analyses pool its one run, not the seed folders the last study left
    rc = main(["study", "--models", "single", "--seeds", "1", *TINY, "--workers", "2", "--data", str(unbalanced_csv),
               "--out", str(out)])
    assert rc == 0
    assert _seed_dirs(out, "single") == ["seed-1", "seed-2", "seed-3"]  # left on disk, untouched
    assert notebooks() == {"01_data.ipynb": "reused", "03_compare_single.ipynb": "executed",
                           "04_monte_carlo_single.ipynb": "executed", "00_summary.ipynb": "executed"}
    mc = pd.read_csv(out / "study" / "single" / "mc_error.csv")
    comparison = pd.read_csv(out / "comparison" / "single.csv")
    assert set(mc["n_seeds"]) == {1} and set(comparison["n_seeds"]) == {1}
    assert "(SE, 1 seeds)" in (out / "reports" / "index.html").read_text()


def test_changed_settings_are_not_reused(tmp_path, run1_design):
    from helpers import write_exact_run

    study = StudySettings(models=("single",), seeds=(1,), draws=400, tune=300, chains=2, out=str(tmp_path))
    d = ResultsLayout(tmp_path).run_dir("single", 1)
    settings = study.fit_settings("single", 1)
    write_exact_run(d, run1_design, settings=settings)
    assert is_complete(d, settings, run1_design.content_sha256)
    assert not is_complete(d, study.fit_settings("single", 2), run1_design.content_sha256)
    assert not is_complete(d, settings, "0" * 64)
    longer = StudySettings(models=("single",), seeds=(1,), draws=800, tune=300, chains=2, out=str(tmp_path))
    assert not is_complete(d, longer.fit_settings("single", 1), run1_design.content_sha256)


@pytest.mark.parametrize("name", ["summary.csv", "posterior.nc"])
def test_a_truncated_run_is_planned_again(tmp_path, run1_design, name):
    """The study's plan redoes a run whose file was truncated; the intact run is reused."""
    from helpers import write_exact_run

    from partclust.runner.dask import _Driver

    study = StudySettings(models=("single",), seeds=(1, 2), draws=400, tune=300, chains=2, out=str(tmp_path))
    layout = ResultsLayout(tmp_path)
    for seed in (1, 2):
        write_exact_run(layout.run_dir("single", seed), run1_design, settings=study.fit_settings("single", seed))
    path = layout.run_dir("single", 2) / name
    path.write_bytes(path.read_bytes()[:100])
    driver = _Driver(study, run1_design.source, run1_design.content_sha256, None, None, post=False)
    assert driver.plan() == [("single", 2)]
    assert [(o.seed, o.status) for o in driver.outcomes] == [(1, "skipped")]


def test_the_data_notebook_goes_before_the_fits_and_the_fits_in_order(tmp_path, run1_design):
    """A worker runs the data notebook while the first compile is under way, not after a model's fits; Dask's
    priorities (higher first) keep the fits in model and seed order."""
    from partclust.runner.dask import _Driver

    class Client:
        keys: list[str] = []

        def scheduler_info(self):
            return {"workers": {"tcp://a": {}, "tcp://b": {}}}

        def submit(self, fn, *args, key, priority=0, **kwargs):
            self.keys.append((key.rsplit("-", 1)[0], priority))
            return key

    study = StudySettings(models=("single", "per_condition"), seeds=(1, 2), draws=400, tune=300, chains=2,
                          out=str(tmp_path), why_notebook=False)
    driver = _Driver(study, run1_design.source, run1_design.content_sha256, Client(), None, post=True)
    driver.submit()
    assert Client.keys == [("notebook-data", 1), ("fit-single-1", 0), ("fit-single-2", -1),
                           ("fit-per_condition-1", -2), ("fit-per_condition-2", -3)]


def test_fits_keep_off_the_worker_reserved_for_notebook_05(tmp_path, run1_design):
    """Fits queued behind notebook 05 on its worker waited for minutes: they go to the other worker (loosely)."""
    from partclust.runner.dask import _Driver

    sent = []

    class Client:
        def scheduler_info(self):
            return {"workers": {"tcp://a": {}, "tcp://b": {}}}

        def submit(self, fn, *args, key, priority=0, **kwargs):
            sent.append((key.rsplit("-", 1)[0], kwargs.get("workers"), kwargs.get("allow_other_workers")))
            return key

    study = StudySettings(models=("single",), seeds=(1, 2), draws=400, tune=300, chains=2, out=str(tmp_path))
    _Driver(study, run1_design.source, run1_design.content_sha256, Client(), None, post=True).submit()
    assert ("notebook-why", ["tcp://b"], None) in sent
    assert [s for s in sent if s[0].startswith("fit-")] == [("fit-single-1", ["tcp://a"], True),
                                                           ("fit-single-2", ["tcp://a"], True)]


def test_the_other_long_notebooks_wait_for_the_fits_then_go_one_per_worker(tmp_path, run1_design):
    """05, 08 and 10 sent at once queued on one worker and ran one after another (12 minutes) while the other
    worker, its fits done, sat idle: 05 starts with the fits; 08 and 10 go out when the fits are in, the
    worker that ran the fits first."""
    from partclust.runner.dask import _Driver

    sent = []

    class Client:
        def scheduler_info(self):
            return {"workers": {"tcp://a": {}, "tcp://b": {}}}

        def submit(self, fn, *args, key, priority=0, **kwargs):
            sent.append((key.rsplit("-", 1)[0], kwargs.get("workers")))
            return key

    study = StudySettings(models=("single",), seeds=(1, 2), draws=400, tune=300, chains=2, out=str(tmp_path))
    driver = _Driver(study, run1_design.source, run1_design.content_sha256, Client(), None, post=True)
    driver.submit()
    long = ("notebook-why", "notebook-efficiency", "notebook-sensitivity")
    assert [s for s in sent if s[0] in long] == [("notebook-why", ["tcp://b"])]
    driver._model_done("single")  # the last model's fits are in
    assert [s for s in sent if s[0] in long] == [("notebook-why", ["tcp://b"]), ("notebook-efficiency", ["tcp://a"]),
                                                 ("notebook-sensitivity", ["tcp://b"])]
    assert sent.index(("notebook-efficiency", ["tcp://a"])) > sent.index(("notebook-monte_carlo", None))


def test_pages_left_to_render_are_waited_for_and_their_errors_named():
    from partclust.runner.dask import finish_renders

    class Done:
        def __init__(self, value):
            self.value = value

        def result(self):
            if isinstance(self.value, Exception):
                raise self.value
            return self.value

    renders = [(Done(""), ["/r/runs/single/seed-1/02_fit.ipynb"]),
               (Done("ReportError: cannot read"), ["/r/runs/single/seed-2/02_fit.ipynb"]),
               (Done(OSError("gone")), ["/r/runs/single/seed-3/02_fit.ipynb"])]
    assert finish_renders(renders) == ["rendering 02_fit.ipynb: ReportError: cannot read",
                                       "rendering 02_fit.ipynb: worker lost: OSError: gone"]


@pytest.mark.slow
def test_dask_scheduler_on_localhost(unbalanced_csv, tmp_path):
    """The same tasks go to an existing Dask cluster: a scheduler and a worker started here."""
    port = _free_port()
    bindir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    sched = subprocess.Popen([str(bindir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                              "--no-dashboard"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen([str(bindir / "dask"), "worker", f"tcp://127.0.0.1:{port}", "--nthreads", "1",
                               "--nworkers", "1", "--no-dashboard"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        from partclust.data import load_design

        design = load_design(unbalanced_csv)
        study = StudySettings(models=("per_condition",), seeds=(5, 6), draws=400, tune=300, chains=2,
                              out=str(tmp_path), scheduler=f"tcp://127.0.0.1:{port}")
        deadline = time.time() + 60
        while True:  # wait for the scheduler to listen
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.5)
        outcomes = run_study(study, design.source, design.content_sha256)
        assert [(o.seed, o.status) for o in outcomes] == [(5, "done"), (6, "done")], [o.error for o in outcomes]
        for seed in (5, 6):
            run_dir = ResultsLayout(tmp_path).run_dir("per_condition", seed)
            assert is_complete(run_dir, study.fit_settings("per_condition", seed), design.content_sha256)
            # the executed notebook's outputs name the folder the run is kept in, not the temporary one it wrote to
            shown = "\n".join(str(o.get("data", {}).get("text/markdown", "")) + str(o.get("text", ""))
                              for c in nbformat.read(run_dir / "02_fit.ipynb", 4).cells for o in c.get("outputs", []))
            assert f"run.json` to `{run_dir}`" in shown and ".tmp-" not in shown
            injected = next(c.source for c in nbformat.read(run_dir / "02_fit.ipynb", 4).cells
                            if "injected-parameters" in c.metadata.get("tags", []))
            assert f'output_dir = "{run_dir}"' in injected  # behind "Show code": the kept folder, said to be renamed
            assert "renamed to" in injected and ".tmp-" not in injected  # the temporary folder is gone
            # the pointwise log-likelihood (for PSIS-LOO) is stored for the first seed of the list only
            with netCDF4.Dataset(run_dir / "posterior.nc") as nc:
                assert ("log_likelihood" in nc.groups) == (seed == 5), seed
    finally:
        for p in (worker, sched):
            p.send_signal(signal.SIGTERM)
        for p in (worker, sched):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def test_unreachable_scheduler_is_a_clear_error(unbalanced_csv, tmp_path, capsys):
    port = _free_port()
    rc = main(["study", "--models", "single", "--seeds", "1", *TINY, "--scheduler", f"tcp://127.0.0.1:{port}",
               "--data", str(unbalanced_csv), "--out", str(tmp_path)])
    assert rc == 2
    assert "no Dask scheduler answered" in capsys.readouterr().err


@pytest.mark.slow
def test_sigterm_then_rerun_keeps_finished_seeds(unbalanced_csv, tmp_path):
    out = tmp_path / "results"
    cmd = [sys.executable, "-m", "partclust", "study", "--models", "single", "--seeds", "4", *TINY,
           "--workers", "1", "--data", str(unbalanced_csv), "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 240
    runs = out / "runs" / "single"
    while time.time() < deadline and not (runs.exists() and any(p.name.startswith("seed-") for p in runs.iterdir())):
        time.sleep(0.5)
    finished_first = {p.name: (p / "run.json").stat().st_mtime for p in runs.iterdir() if p.name.startswith("seed-")}
    assert finished_first, "no seed finished in time"
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=60)
    assert proc.returncode != 0
    # nothing half-written looks complete
    for p in runs.iterdir():
        if p.name.startswith("seed-"):
            assert (p / "run.json").is_file() and (p / "summary.csv").is_file()
    rc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert rc.returncode == 0, rc.stderr[-2000:]
    assert _seed_dirs(out, "single") == ["seed-1", "seed-2", "seed-3", "seed-4"]
    for name, mtime in finished_first.items():
        assert (runs / name / "run.json").stat().st_mtime == mtime  # not redone
    assert [p.name for p in runs.iterdir() if not p.name.startswith("seed-")] == []  # temp dirs cleared


def test_study_settings_are_checked():
    from partclust.errors import StudyError

    with pytest.raises(StudyError, match=r"plots \(--plots\) must be"):
        StudySettings(plots="some")
    with pytest.raises(StudyError, match="unknown model"):
        StudySettings(models=("double",))
    with pytest.raises(StudyError, match="repeats"):
        StudySettings(seeds=(1, 1))
    from partclust.errors import FitError

    with pytest.raises(FitError, match="draws >= 10"):
        StudySettings(draws=5)


@pytest.mark.slow
@pytest.mark.parametrize("fixture, words, timeout", [("fit_hangs_for_one_seed.ipynb", "timed out", 60.0),
                                                     ("fit_kernel_dies_for_one_seed.ipynb", "died", 900.0)])
def test_a_hanging_run_or_a_dead_kernel_fails_that_run_only(unbalanced_csv, tmp_path, fixture, words, timeout):
    # The cell timeout applies to every cell of every run, including seed 3's real fit in a fresh kernel
    # (imports and, with the session's compile cache usually warm, at most one compile: ≈ 15–25 s on a
    # loaded machine): 60 s leaves room for that, while the hang of seed 2 is an hour long.
    out = tmp_path / "results"
    study = _study(unbalanced_csv, out, seeds=(2, 3), workers=1, timeout_s=timeout,
                   fit_notebook=str(FIXTURES / fixture))
    from partclust.data import load_design

    outcomes = run_study(study, str(unbalanced_csv), load_design(unbalanced_csv).content_sha256)
    status = {o.seed: o.status for o in outcomes}
    assert status == {2: "failed", 3: "done"}, [o.error for o in outcomes]  # the next run got a fresh kernel
    error = next(o.error for o in outcomes if o.seed == 2)
    assert words in error.lower() or ("timeout" in error.lower() if words == "timed out" else "dead" in error.lower())
    assert _seed_dirs(out, "single") == ["seed-3"]


@pytest.mark.slow
def test_a_truncated_run_is_refused_by_compare_and_redone_by_the_study(unbalanced_csv, tmp_path, capsys):
    """End to end: the pooled numbers after the redo are those of the intact study."""
    out = tmp_path / "results"
    args = ["study", "--models", "single", "--seeds", "2", *TINY, "--workers", "1", "--data", str(unbalanced_csv),
            "--out", str(out)]
    assert main(args) in (0, 1)
    runs = out / "runs" / "single"
    before = (out / "comparison" / "single.csv").read_text()
    intact = (runs / "seed-2" / "summary.csv").read_bytes()
    (runs / "seed-2" / "summary.csv").write_bytes(intact[: len(intact) // 2])
    capsys.readouterr()
    rc = main(["compare", "--model", "single", "--runs", str(runs / "seed-1"), str(runs / "seed-2"),
               "--data", str(unbalanced_csv), "--out", str(tmp_path / "cmp.csv")])
    assert rc == 2 and "not a complete run: summary.csv" in capsys.readouterr().err
    main(args)
    record = json.loads((out / "study" / "study.json").read_text())
    assert {r["seed"]: r["status"] for r in record["runs"]} == {1: "skipped", 2: "done"}
    assert (runs / "seed-2" / "summary.csv").read_bytes() == intact  # same seed, same draws
    assert (out / "comparison" / "single.csv").read_text() == before


def test_progress_bar_tallies_runs_and_notebooks_apart():
    """The tally says which counts are runs and which notebooks (a trial read "reused=40" as notebooks)."""
    from partclust.runner.dask import NotebookOutcome, RunOutcome
    from partclust.runner.study import _progress_bar

    bar, update, update_notebook = _progress_bar(3, 2)
    try:
        update(RunOutcome("single", 1, "done", "r1"), 1, 3)
        update(RunOutcome("single", 2, "skipped", "r2"), 2, 3)
        update(RunOutcome("single", 3, "failed", "", error="boom"), 3, 3)
        update_notebook(NotebookOutcome("03_compare_single.ipynb", "o", "reused"))
        assert bar.postfix == "runs: 1 fitted, 1 reused, 1 failed · notebooks: 1 reused"  # only counts not zero
    finally:
        bar.close()
