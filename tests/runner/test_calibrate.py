"""The calibration engine: interrupted and resumed, failures recorded and skipped, the commands' exits."""

from __future__ import annotations

import json

import pytest

from partclust.runner.calibrate import run_simulation, simulation_replicates
from partclust.runner.calibration import Engine, Replicate, run_replicates
from partclust.runner.cli import main
from partclust.studies.simulation import read_grid

GRID = ('[design]\ntreated_clusters = [4, 6]\ncluster_size = [3]\nicc = [0.2]\nvariance_ratio = [1.0]\n'
        'controls = [10]\n[fit]\nmodels = ["single"]\n')


@pytest.fixture(scope="module")
def client():
    from dask.distributed import Client

    c = Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=":0")
    yield c
    c.close()


class _Stop(KeyboardInterrupt):
    pass


@pytest.mark.slow
def test_interrupted_simulation_resumes_with_only_the_missing_replicates(tmp_path, client):
    (tmp_path / "grid.toml").write_text(GRID)
    grid = read_grid(tmp_path / "grid.toml")
    seen = []

    def stop_after_three(outcome, k, n):
        seen.append(outcome)
        if len([o for o in seen if o.status == "done"]) == 3:
            raise _Stop  # as Ctrl-C in the middle of the study

    with pytest.raises(KeyboardInterrupt):
        run_simulation(grid, 4, seed=5, sampler="exact", out=tmp_path, client=client, progress=stop_after_three,
                       figures=False)
    reps = simulation_replicates(grid, 4, 5, "exact", tmp_path / "simulation")
    kept = {r.label for r in reps if (tmp_path / r.path).exists()}
    assert 3 <= len(kept) < 8
    again = []
    result = run_simulation(grid, 4, seed=5, sampler="exact", out=tmp_path, client=client,
                            progress=lambda o, k, n: again.append(o), figures=False)
    assert {o.label for o in again if o.status == "skipped"} == kept
    assert {o.label for o in again if o.status == "done"} == {r.label for r in reps} - kept
    cov = result.tables["coverage"]
    assert set(cov["n"]) == {4} and json.loads((tmp_path / "simulation" / "failed.json").read_text()) == []


def _ok(k):
    return {"k": k}


def _boom(k):
    raise ValueError(f"replicate {k} cannot be fitted")


def test_failed_replicate_is_recorded_and_retried(tmp_path, client):
    reps = [Replicate(f"r/{k}", str(tmp_path / f"rep-{k}.json"), "g", _boom if k == 1 else _ok, (k,))
            for k in range(3)]
    out = run_replicates(reps, "key1", tmp_path, Engine(), client=client)
    assert [o.status for o in out] == ["done", "failed", "done"]
    failed = json.loads((tmp_path / "failed.json").read_text())
    assert failed == [{"replicate": "r/1", "error": "ValueError: replicate 1 cannot be fitted"}]
    again = run_replicates(reps, "key1", tmp_path, Engine(), client=client)
    assert [o.status for o in again] == ["skipped", "failed", "skipped"]  # only the failed one is run again
    other = run_replicates(reps[:1], "key2", tmp_path, Engine(), client=client)
    assert other[0].status == "done"  # kept with other settings: run again


def test_bad_grid_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[design]\nicc = [2]\n")
    assert main(["simulate", "--grid", str(bad), "--out", str(tmp_path)]) == 2
    assert "bad.toml" in capsys.readouterr().err
    assert main(["sbc", "--replicates", "0", "--out", str(tmp_path)]) == 2


@pytest.mark.slow
def test_killed_command_reruns_only_missing_replicates(tmp_path):
    """SIGKILL the whole `partclust simulate` process group midway; the rerun runs only what was not kept."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from partclust.layout import REPO_ROOT

    (tmp_path / "grid.toml").write_text(GRID)
    cmd = [sys.executable, "-m", "partclust", "simulate", "--grid", str(tmp_path / "grid.toml"), "--replicates",
           "30", "--sampler", "exact", "--workers", "1", "--no-notebook", "--out", str(tmp_path)]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}
    folder = tmp_path / "simulation" / "replicates"
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(list(folder.glob("*/rep-*.json"))) < 5:
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    kept = len(list(folder.glob("*/rep-*.json")))
    assert 5 <= kept < 60, f"{kept} replicates kept: the kill came too late to test resuming"
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    counts = json.loads((tmp_path / "simulation" / "simulation.json").read_text())["replicates"]
    assert counts == {"done": 60 - kept, "skipped": kept, "failed": 0}
    assert not list(folder.glob("*/.*.part"))  # no half-written replicate left behind


def test_sbc_refuses_an_improper_prior(tmp_path, capsys, run1_path):
    code = main(["sbc", "--data", str(run1_path), "--formula", "y ~ treat + (0 + treat | j)", "--prior",
                 "s2u ~ general(-log(s2u), lower=0)", "--out", str(tmp_path), "--no-notebook"])
    assert code == 2 and "proper prior" in capsys.readouterr().err
