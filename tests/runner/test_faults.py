"""Bad options refused at once; faults while running said in one line, nothing half-written or lost."""

from __future__ import annotations

import errno
import re
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import nbformat
import pytest

from partclust.errors import NotebookError, StudyError
from partclust.files import FolderInUse, WriteError, folder_lock, write_csv, write_json, write_text, write_with
from partclust.runner import cli
from partclust.runner.cli import main

TINY = ["--draws", "600", "--tune", "400", "--chains", "4", "--no-why"]  # notebook 05 has tests of its own


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


# ---- options: exit 2, one line, before any data are read -------------------------------------------
@pytest.mark.parametrize("args, fragment", [
    (["study", "--seeds", str(2**40)], "seeds (--seeds) must be between 1 and 10000"),
    (["study", "--seeds", "0"], "seeds (--seeds) must be between 1 and 10000"),
    (["study", "--workers", "-1"], "workers (--workers) must be between 0 and 1024"),
    (["study", "--scheduler", "nonsense"], "is not a Dask scheduler address"),
    (["study", "--scheduler", "http://127.0.0.1:8787/status"], "speaks tcp://, not HTTP"),
    (["study", "--scheduler", "tcp://host:99999"], "is not a Dask scheduler address"),
    (["study", "--seed-list", "1", str(2**32)], "seed <= 4294967295"),
    (["study", "--timeout", "-5"], "timeout (--timeout) must be a positive number"),
    (["study", "--chains", "1"], "at least 2 chains"),
    (["fit", "--model", "single", "--seed", str(2**64), "--out", "OUT"], "seed <= 4294967295"),
    (["fit", "--model", "single", "--seed", "-1", "--out", "OUT"], "seed (--seed) out of range: need 0 <= seed <= 4294967295"),
    (["fit", "--model", "single", "--seed", "1", "--draws", "0", "--out", "OUT"], "draws (--draws) out of range: need draws >= 10"),
    (["fit", "--model", "single", "--seed", "1", "--chains", "1", "--out", "OUT"], "chains (--chains) must be at least 2"),
])
def test_bad_options_exit_2_before_the_data_are_read(args, fragment, capsys, monkeypatch, tmp_path):
    def no_data(*a, **k):
        raise AssertionError("the data were read before the options were checked")

    monkeypatch.setattr(cli, "load_design", no_data)
    args = [str(tmp_path / "out") if a == "OUT" else a for a in args]
    assert main([*args, "--out", str(tmp_path / "out")] if "--out" not in args else args) == 2
    assert fragment in _one_line_error(capsys)


@pytest.mark.parametrize("args, fragment", [
    (["fit", "--model", "nonsense", "--seed", "1", "--out", "OUT"], "invalid choice: 'nonsense'"),
    (["nonsense"], "invalid choice: 'nonsense'"),
    ([], "required: command"),
    (["exact", "--model", "single"], "required: --out"),
    (["fit", "--model", "single", "--seed", "x", "--out", "OUT"], "invalid int value: 'x'"),
    (["validate", "--no-such-option"], "unrecognized arguments: --no-such-option"),
])
def test_options_argparse_refuses_are_one_line_with_where_the_usage_is(args, fragment, capsys, tmp_path):
    """argparse's own refusals (unknown choice, missing or mistyped option) are one line too, exit 2, no usage block."""
    with pytest.raises(SystemExit) as stop:
        main([str(tmp_path / "out") if a == "OUT" else a for a in args])
    assert stop.value.code == 2
    line = _one_line_error(capsys)
    assert fragment in line and "--help)" in line and not line.startswith("usage")


@pytest.mark.parametrize("command, where, fragment", [
    (["study"], "file", "is a file, not a folder"),
    (["study"], "below_file", "cannot be a folder"),
    (["fit", "--model", "single", "--seed", "1"], "file", "is a file, not a folder"),
    (["exact", "--model", "single"], "dir", "is a folder; give a file name"),
    (["compare", "--model", "single", "--runs", "R"], "dir", "is a folder; give a file name"),
])
def test_an_output_path_that_cannot_be_what_is_needed(command, where, fragment, tmp_path, capsys, run1_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    out = {"file": afile, "below_file": afile / "sub", "dir": tmp_path}[where]
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run.json").write_text("{}")  # a run folder: the output path is what is refused
    command = [str(tmp_path / "run") if c == "R" else c for c in command]
    assert main([*command, "--out", str(out), "--data", str(run1_path)]) == 2
    assert fragment in _one_line_error(capsys)


def test_samplers_accept_the_whole_seed_range():
    """The bound the settings enforce is what both samplers take (checked once by hand with PyMC and
    nutpie at 0 and 2**32 − 1; here: the bound itself, and that NumPy's generators take it)."""
    import numpy as np

    from partclust.inference.settings import SEED_MAX, FitSettings

    assert SEED_MAX == 2**32 - 1
    FitSettings(seed=0)
    FitSettings(seed=SEED_MAX)
    np.random.default_rng(SEED_MAX)
    np.random.RandomState(SEED_MAX)  # the legacy generator PyMC seeds some steps with: 32-bit


class _Http(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the standard library's name
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("what", ["http_server", "nothing"])
def test_an_address_that_is_no_dask_scheduler_is_refused_in_seconds(what, capsys, run1_path, tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Http)
    port = server.server_address[1]
    if what == "http_server":
        threading.Thread(target=server.serve_forever, daemon=True).start()
    else:
        server.server_close()  # the port is free: nothing listens
    try:
        t = time.monotonic()
        rc = main(["study", "--models", "single", "--seeds", "1", "--scheduler", f"tcp://127.0.0.1:{port}",
                   "--data", str(run1_path), "--out", str(tmp_path / "res")])
        elapsed = time.monotonic() - t
    finally:
        if what == "http_server":
            server.shutdown()
            server.server_close()
    assert rc == 2 and "no Dask scheduler answered" in _one_line_error(capsys)
    assert elapsed < 15.0  # the bound the issue sets (the probe gives up after 5 s)
    assert not (tmp_path / "res").exists()


def test_braces_in_paths_are_not_papermill_templates():
    from partclust.runner.notebooks import _literal_path

    assert _literal_path(Path("runs/a {x} b/02_fit.ipynb")).format(x="NO") == "runs/a {x} b/02_fit.ipynb"


def _notebook(path: Path, code: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_code_cell("x = 0", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(code)]
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
def test_a_notebook_runs_into_a_folder_with_braces(tmp_path):
    from partclust.runner.notebooks import execute

    src = _notebook(tmp_path / "tiny.ipynb", "y = x + 1\nprint(y)")
    out = tmp_path / "runs" / "a {x} b" / "tiny.ipynb"
    assert execute(src, out, {"x": 41}) == out
    assert "42" in out.read_text()
    assert [p.name for p in out.parent.iterdir()] == ["tiny.ipynb"]  # no temporary left


@pytest.mark.slow
def test_a_notebook_is_saved_sparsely_yet_kept_whole_up_to_its_failed_cell(tmp_path, monkeypatch):
    import papermill.engines

    from partclust.runner import notebooks

    saves: list[str] = []
    real = papermill.engines.write_ipynb
    monkeypatch.setattr(papermill.engines, "write_ipynb", lambda nb, path: (saves.append(str(path)), real(nb, path)))
    src = _notebook(tmp_path / "many.ipynb", "y = x")
    nb = nbformat.read(src, as_version=4)
    nb.cells += ([nbformat.v4.new_code_cell(f"y{k} = x + {k}") for k in range(12)]
                 + [nbformat.v4.new_code_cell("raise ValueError('boom')")])
    nbformat.write(nb, src)
    out = tmp_path / "out" / "many.ipynb"
    with pytest.raises(NotebookError, match="ValueError: boom"):
        notebooks.execute(src, out, {"x": 1})
    assert len(saves) <= 3, saves  # papermill's start and end, not two per cell
    cells = [c for c in nbformat.read(out, as_version=4).cells if c.cell_type == "code"]
    assert all(c.execution_count for c in cells) and cells[-1].outputs[0]["ename"] == "ValueError"
    saves.clear()  # papermill's own engine saves before and after each of the 16 cells
    monkeypatch.setattr(notebooks, "_engine", lambda: None)
    with pytest.raises(NotebookError):
        notebooks.execute(src, tmp_path / "out2" / "many.ipynb", {"x": 1})
    assert len(saves) >= 2 * 14


@pytest.mark.slow
def test_a_dead_kernel_is_one_line_naming_the_partly_executed_notebook(tmp_path):
    from partclust.runner.notebooks import execute

    src = _notebook(tmp_path / "dies.ipynb", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    out = tmp_path / "out" / "dies.ipynb"
    with pytest.raises(NotebookError) as info:
        execute(src, out, {"x": 1})
    msg = str(info.value)
    assert "kernel running dies.ipynb died" in msg and str(out) in msg and "\n" not in msg
    assert info.value.ename == "DeadKernelError" and info.value.executed == out
    assert nbformat.read(out, as_version=4).cells[0].source.startswith("x = 0")  # a readable notebook


# ---- writing: nothing half-written, one line naming the folder -------------------------------------
def test_a_full_disk_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    import pandas as pd

    target = tmp_path / "t" / "mc_error.csv"
    write_csv(target, pd.DataFrame({"a": [1.0]}))
    before = target.read_bytes()

    def full(self, *a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    with pytest.raises(WriteError, match=rf"cannot write {target}: No space left on device\. Free space or choose"):
        write_csv(target, pd.DataFrame({"a": [2.0]}))
    assert target.read_bytes() == before
    assert [p.name for p in target.parent.iterdir()] == ["mc_error.csv"]


def test_a_refused_write_is_not_blamed_on_free_space(tmp_path, monkeypatch):
    import pandas as pd

    target = tmp_path / "t" / "mc_error.csv"

    def refused(self, *a, **k):
        raise OSError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(pd.DataFrame, "to_csv", refused)
    with pytest.raises(WriteError, match=r"Permission denied\. Check that you may write there or choose another") as err:
        write_csv(target, pd.DataFrame({"a": [2.0]}))
    assert "Free space" not in str(err.value)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_written_files_have_the_umask_permissions_not_owner_only(tmp_path, umask, mode):
    """Reports and results are read by others (a shared folder, workers elsewhere): what the umask allows."""
    import stat

    import pandas as pd

    previous = os.umask(umask)
    try:
        written = [write_csv(tmp_path / "a.csv", pd.DataFrame({"a": [1.0]})),
                   write_text(tmp_path / "b.html", "<p>x</p>"),
                   write_with(tmp_path / "c.bin", lambda p: p.write_bytes(b"x")),
                   write_with(tmp_path / "d.bin", lambda p: (p.unlink(), p.write_bytes(b"y")))]  # a new file
    finally:
        os.umask(previous)
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == mode, path


@pytest.mark.parametrize("command", [["exact", "--model", "per_condition"], ["validate"], ["reml", "--model", "single"]])
def test_a_reader_that_closes_the_pipe_gets_no_traceback(command, tmp_path, monkeypatch, capsys, run1_path):
    """``partclust exact | head -2``: the command finishes its work and its exit code is its own."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone: every write raises BrokenPipeError (EPIPE)
    closed = open(write_end, "w", buffering=1, encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", closed)
    out = ["--out", str(tmp_path / "table.csv")] if command[0] == "exact" else []
    try:
        assert main([*command, "--data", str(run1_path), *out]) == 0
    finally:
        closed.close()
    assert "Traceback" not in capsys.readouterr().err
    assert sys.stdout is closed  # given back as it was
    if out:
        assert (tmp_path / "table.csv").stat().st_size > 0


def test_failed_json_never_claims_fewer_failures(tmp_path, monkeypatch):
    from partclust.layout import ResultsLayout
    from partclust.runner import dask as rdask

    layout = ResultsLayout(tmp_path)
    write_json(layout.failed_record, [])
    outcomes = [rdask.RunOutcome("single", 1, "failed", "x", error="NotebookError: no space"),
                rdask.RunOutcome("single", 2, "done", "y")]

    def full(path, data):
        raise WriteError(f"cannot write {path}: No space left on device.")

    monkeypatch.setattr(rdask, "write_json", full)
    with pytest.raises(WriteError, match=r"No space left on device\. 1 run\(s\) failed: single seed 1"):
        rdask.write_failures(layout, outcomes)
    assert not layout.failed_record.exists()


# ---- two studies into one folder --------------------------------------------------------------------
def test_a_second_holder_of_a_results_folder_is_refused(tmp_path):
    with folder_lock(tmp_path, "a study"):
        with pytest.raises(FolderInUse, match=rf"{tmp_path} is in use by a study \(process {os.getpid()}"):
            with folder_lock(tmp_path, "another study"):
                pass
    with folder_lock(tmp_path, "a study"):  # released: free again
        pass


def test_the_lock_of_a_killed_process_does_not_block(tmp_path):
    code = (f"import sys, time; sys.path.insert(0, {str(Path(__file__).parents[2] / 'src')!r})\n"
            "from partclust.files import folder_lock\n"
            f"with folder_lock({str(tmp_path)!r}):\n    print('locked', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(FolderInUse, match=f"process {proc.pid}"):
            with folder_lock(tmp_path):
                pass
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    with folder_lock(tmp_path):  # stale: the holder is dead
        assert json.loads((tmp_path / ".partclust.lock").read_text())["pid"] == os.getpid()


def test_cli_study_into_a_locked_folder_is_refused(tmp_path, capsys, unbalanced_csv, monkeypatch):
    from partclust.runner import dask
    from partclust.runner import study as study_module  # imported before the patch: it binds make_client at import

    def started(*a, **k):
        raise AssertionError("Dask workers were started for a study that is refused")

    monkeypatch.setattr(dask, "start_workers", started)
    monkeypatch.setattr(dask, "make_client", started)
    monkeypatch.setattr(study_module, "make_client", started)
    out = tmp_path / "results"
    with folder_lock(out, "a partclust study"):
        rc = main(["study", "--models", "single", "--seeds", "1", *TINY, "--data", str(unbalanced_csv),
                   "--out", str(out)])
    assert rc == 2 and "is in use by a partclust study" in _one_line_error(capsys)
    assert not (out / "runs").exists()
    from partclust.files import check_folder_free

    check_folder_free(out)  # released: free again
    check_folder_free(tmp_path / "new")  # never locked: free, and nothing is created
    assert not (tmp_path / "new").exists()


# ---- the convergence gate ---------------------------------------------------------------------------
def test_gate_sentence_says_how_many_passed_and_why_not():
    from partclust.studies.gates import gate_sentence

    def rec(passed, checks, worst):
        return {"convergence": {"passed": passed, "checks": checks, "worst": worst}}

    bad = rec(False, {"r_hat": False, "ess_bulk": False, "ess_tail": True, "divergences": True},
              {"r_hat_max": 1.08, "ess_bulk_min": 35, "ess_tail_min": 410, "divergences": 0})
    worse = rec(False, {"r_hat": True, "ess_bulk": False, "ess_tail": True, "divergences": True},
                {"r_hat_max": 1.005, "ess_bulk_min": 12, "ess_tail_min": 500, "divergences": 0})
    text = gate_sentence([bad, worse])
    assert text.startswith("0 of 2 runs passed the convergence gate (R-hat ≤ 1.01")
    assert "bulk ESS too small in 2 run(s), smallest bulk ESS 12" in text
    assert "R-hat above its limit in 1 run(s), largest R-hat 1.080" in text
    ok = rec(True, {"r_hat": True}, {"r_hat_max": 1.0, "ess_bulk_min": 900, "ess_tail_min": 900, "divergences": 0})
    assert gate_sentence([ok, bad]).startswith("1 of 2 runs passed")


# ---- end to end on a real file system: read-only, full, then freed -----------------------------------
def _mount_tmpfs(path: Path, options: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    try:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    except OSError:
        return False
    return r.returncode == 0


@pytest.fixture
def tmpfs(tmp_path):
    mounted = []

    def mount(name: str, options: str) -> Path:
        path = tmp_path / name
        if not _mount_tmpfs(path, options):
            pytest.skip("cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN)")
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def test_a_read_only_results_folder_is_refused_at_once(tmpfs, capsys, unbalanced_csv):
    ro = tmpfs("ro", "size=1m,ro")
    rc = main(["study", "--models", "single", "--seeds", "1", *TINY, "--data", str(unbalanced_csv),
               "--out", str(ro / "results")])
    assert rc == 2 and f"{ro} is not writable" in _one_line_error(capsys)


@pytest.mark.parametrize("command", [
    ["sbc", "--replicates", "2", "--sampler", "exact", "--models", "single"],
    ["simulate", "--replicates", "1", "--sampler", "exact"],
    ["fit", "--sas-program", "SAS", "--seed", "1", "--draws", "100", "--tune", "100"],
    ["compare", "--sas-program", "SAS", "--runs", "RUN"],
])
def test_every_command_that_writes_refuses_a_read_only_folder_at_once(command, tmpfs, capsys, tmp_path,
                                                                      monkeypatch):
    """Before any data, worker or kernel: a Dask cluster or notebook started here fails the test."""
    from partclust.layout import SAS_REFERENCE
    from partclust.runner import dask, notebooks

    def started(*a, **k):
        raise AssertionError("work started before the output folder was checked")

    monkeypatch.setattr(dask, "_connect", started)
    monkeypatch.setattr(notebooks, "execute", started)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run.json").write_text("{}")
    ro = tmpfs("ro", "size=1m,ro")
    out = ro / ("cmp.csv" if command[0] == "compare" else "results")
    swap = {"SAS": str(SAS_REFERENCE / "partially_clustered.sas"), "RUN": str(tmp_path / "run")}
    rc = main([swap.get(c, c) for c in command] + ["--out", str(out)])
    assert rc == 2 and f"{ro} is not writable by this user" in _one_line_error(capsys)


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="no /proc file system here")
@pytest.mark.parametrize("command, out", [
    (["fit", "--model", "single", "--seed", "1"], "/proc/partclust-out"),
    (["exact", "--model", "single"], "/proc/partclust-out/exact.csv"),
    (["study", "--models", "single", "--seeds", "1"], "/proc/partclust-out"),
])
def test_a_folder_that_takes_no_new_folder_is_refused_at_once(command, out, capsys, monkeypatch):
    """/proc passes the permission check but takes no folder: refused before any fit, worker or kernel."""
    from partclust.runner import dask, notebooks

    def started(*a, **k):
        raise AssertionError("work started before the output folder was checked")

    monkeypatch.setattr(dask, "_connect", started)
    monkeypatch.setattr(notebooks, "execute", started)
    rc = main(command + ["--out", out])
    assert rc == 2 and "/proc takes no new folder" in _one_line_error(capsys)


@pytest.mark.parametrize("where", ["missing", "file", "no_record"])
def test_compare_names_a_run_folder_that_is_not_one_first(where, tmp_path, capsys):
    path = {"missing": tmp_path / "nonexistent" / "folder", "file": tmp_path / "afile",
            "no_record": tmp_path / "empty"}[where]
    if where == "file":
        path.write_text("x")
    elif where == "no_record":
        path.mkdir()
    ok = tmp_path / "ok"
    ok.mkdir()
    (ok / "run.json").write_text("{}")
    rc = main(["compare", "--runs", str(ok), str(path), "--out", str(tmp_path / "cmp.csv")])  # no --model
    err = _one_line_error(capsys)
    assert rc == 2 and f"--runs {path}" in err and "--model" not in err.split("--runs")[0], err


@pytest.mark.slow
def test_a_full_disk_fails_in_one_line_and_a_rerun_after_freeing_space_completes(tmpfs, unbalanced_csv):
    disk = tmpfs("disk", "size=20m")
    filler = disk / "filler"
    with open(filler, "wb") as fh:  # leave about 150 KiB free: less than one run's files
        fh.write(b"\0" * (20 * 2**20 - 150 * 2**10))
    out = disk / "results"
    cmd = [sys.executable, "-m", "partclust", "study", "--models", "single", "--seeds", "2", *TINY,
           "--workers", "1", "--data", str(unbalanced_csv), "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    assert first.returncode == 1, first.stderr[-3000:]
    last = first.stderr.strip().splitlines()[-1]
    assert last.startswith("partclust study: failed: cannot write") and "No space left on device" in last
    assert "Traceback" not in first.stderr
    failed = out / "study" / "failed.json"
    if failed.exists():  # truthful when present: it lists every failed run
        listed = {(f["model"], f["seed"]) for f in json.loads(failed.read_text())}
        assert listed == {("single", s) for s in (1, 2) if not (out / "runs" / "single" / f"seed-{s}").is_dir()}
    for p in out.rglob("*"):
        assert not (p.is_file() and p.stat().st_size == 0 and p.suffix in (".csv", ".json", ".nc")), p
    filler.unlink()
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    assert second.returncode == 0, second.stderr[-3000:]
    assert json.loads(failed.read_text()) == []
    assert (out / "reports" / "index.html").is_file()
    assert re.search(r"single: [0-2] of 2 runs passed the convergence gate", second.stdout), second.stdout


@pytest.mark.slow
def test_a_study_where_no_run_converges_says_so(tmp_path, unbalanced_csv):
    out = tmp_path / "results"
    cmd = [sys.executable, "-m", "partclust", "study", "--models", "single", "--seeds", "2", "--draws", "20",
           "--tune", "20", "--chains", "2", "--workers", "1", "--no-why", "--data", str(unbalanced_csv), "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    assert "single: 0 of 2 runs passed the convergence gate" in r.stdout, r.stdout + r.stderr[-2000:]
    assert "too small in 2 run(s)" in r.stdout
    nb = (out / "study" / "04_monte_carlo_single.ipynb").read_text()
    assert "0 of 2 runs passed the convergence gate" in nb


def test_study_error_is_exit_2():
    assert StudyError("x").exit_code == 2 and FolderInUse("x").exit_code == 2
