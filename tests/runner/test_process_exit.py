"""The command line's quick exit (:func:`partclust.runner.pipes.finish`): nothing printed, written or registered is lost."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from partclust.layout import REPO_ROOT

SRC = str(REPO_ROOT / "src")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH", "")) if p)}


def test_finish_after_pytensor_keeps_exit_code_buffered_output_and_atexit(tmp_path):
    """With PyTensor loaded the process ends by ``os._exit``: the code, a piped (block-buffered) stdout, stderr and
    the atexit callbacks must all survive it; without PyTensor it is an ordinary ``sys.exit``."""
    marker = tmp_path / "atexit-ran"
    for heavy in ("import pytensor", "pass"):
        marker.unlink(missing_ok=True)
        code = (f"{heavy}\nimport atexit, pathlib, sys\n"
                f"atexit.register(lambda: pathlib.Path({str(marker)!r}).write_text('yes'))\n"
                "from partclust.runner.pipes import finish\n"
                "sys.stdout.write('last line, still in the buffer\\n'); sys.stderr.write('err line\\n')\n"
                "finish(3)\n")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=300)
        assert done.returncode == 3, (heavy, done.stderr)
        assert done.stdout == "last line, still in the buffer\n", heavy
        assert "err line" in done.stderr, heavy
        assert marker.read_text() == "yes", heavy


def test_a_fit_in_its_own_process_prints_everything_and_leaves_a_complete_run(tmp_path, run1_path):
    """``python -m partclust fit`` with a piped stdout: the whole printout arrives, the run verifies, and a bad
    option still exits 2 in one line."""
    from partclust.inference import read_posterior, verify_run

    out = tmp_path / "fit"
    cmd = [sys.executable, "-m", "partclust", "fit", "--model", "single", "--seed", "5", "--draws", "200",
           "--tune", "200", "--data", str(run1_path), "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("fitting ") and lines[-1] == f"summary: {out / 'summary.csv'}"
    assert any(line.startswith("convergence gate:") for line in lines)
    record = verify_run(out)  # every file present with its recorded checksum
    assert record["settings"]["seed"] == 5
    assert read_posterior(out)["s2u"].shape == (4, 200)
    bad = subprocess.run([*cmd[:-2], "--out", str(tmp_path / "other"), "--chains", "1"], capture_output=True,
                         text=True, env=_env(), timeout=300)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert not Path(tmp_path / "other" / "run.json").exists()


def test_hide_dask_lets_xarray_build_and_write_without_dask(tmp_path):
    """After ``hide_dask`` xarray builds arrays and writes netCDF without importing Dask; once xarray is imported
    it does nothing (Dask stays importable for whoever imported the package to use it)."""
    code = ("import sys\nfrom partclust.runner.pipes import hide_dask\nhide_dask()\n"
            "import numpy as np, xarray as xr\n"
            f"xr.Dataset({{'a': ('x', np.arange(3.0))}}).to_netcdf({str(tmp_path / 'a.nc')!r}, engine='netcdf4')\n"
            f"assert float(xr.open_dataset({str(tmp_path / 'a.nc')!r}, engine='netcdf4')['a'].sum()) == 3.0\n"
            "assert 'dask.array' not in sys.modules and 'distributed' not in sys.modules\n"
            "del sys.modules['dask']\n"
            "hide_dask()  # xarray is imported now: no effect\n"
            "import dask.array\nprint('ok')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
