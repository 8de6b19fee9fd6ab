"""Throughput of the calibration studies on Dask: replicates per minute on N local workers, and the projection.

Run by hand on an idle machine: ``python bench/bench_calibration.py [--workers 2] [--sbc-replicates 50]
[--sim-replicates 4] [--grid FILE]`` (``--tiny``: a few small replicates, to check that the script runs).
It runs ``partclust sbc`` and ``partclust simulate`` (nutpie, the commands' sampler settings) in
subprocesses on a fresh results folder, then reads the kept replicates' own timings:

- ``replicates_per_min``: replicates done / wall time of the command × 60 (compiles included);
- ``warm_replicate_s``: median seconds of a replicate whose model was already compiled on its worker;
- ``compile_s``: median seconds of a first compile (one per worker and model structure);
- ``projection_per_100_cores_s``: wall time of a run of ``--project`` replicates on 100 worker cores,
  ``structures × compile_s / 100 + project × warm_replicate_s / 100`` (each structure compiled on one core,
  compiles spread over the cores; an upper bound when a structure's compile overlaps other work).

Numbers go into the README's "Calibration at scale" section; do not quote timings from a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TINY_GRID = ('[design]\ntreated_clusters = [4]\ncluster_size = [3]\nicc = [0.2]\nvariance_ratio = [1.0]\n'
             'controls = [10]\n[fit]\nmodels = ["single"]\ndraws = 100\ntune = 100\nchains = 2\n')


def _run(args: list[str], env_path: str) -> float:
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "partclust", *args, "--no-notebook"], cwd=REPO,
                          env={**os.environ, "PYTHONPATH": env_path}, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if done.returncode not in (0, 1):
        sys.exit(f"partclust {args[0]} failed ({done.returncode}): {done.stderr[-1500:]}")
    return wall


def _timings(folder: Path) -> tuple[list[float], list[float], list[float], int]:
    """Warm replicate seconds, first-compile seconds, all replicate seconds, and model structures compiled."""
    warm, compiles, every, structures = [], [], [], 0
    for path in sorted(folder.glob("replicates/*/rep-*.json")):
        t = json.loads(path.read_text())["result"]["timings"]
        every.append(t["replicate_s"])
        cached = [v for k, v in t.items() if k.endswith("compile_cached")]
        seconds = [v for k, v in t.items() if k.endswith("compile_s")]
        if cached and all(cached):
            warm.append(t["replicate_s"])
        else:
            structures += sum(1 for c in cached if not c)
            compiles += [s for s, c in zip(seconds, cached) if not c]
    return warm, compiles, every, structures


def _summary(name: str, wall: float, folder: Path, workers: int, project: int) -> dict:
    warm, compiles, every, structures = _timings(folder)
    warm_s = statistics.median(warm) if warm else float("nan")
    compile_s = statistics.median(compiles) if compiles else 0.0
    per_worker_structures = structures / max(workers, 1)
    return {
        "command": name, "workers": workers, "replicates": len(every), "wall_s": round(wall, 1),
        "replicates_per_min": round(len(every) / wall * 60, 1), "warm_replicate_s": round(warm_s, 3),
        "compile_s": round(compile_s, 1), "compiles": structures,
        "compiles_per_worker": round(per_worker_structures, 1),
        f"projection_{project}_replicates_per_100_cores_s": round(
            max(compile_s, structures * compile_s / 100) + project * warm_s / 100, 1),
    }


def main() -> None:
    """Run both commands and print one JSON line per command."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--sbc-replicates", type=int, default=50, help="per model")
    ap.add_argument("--sim-replicates", type=int, default=4, help="per cell of the grid")
    ap.add_argument("--grid", default="", help="default: the grid shipped with the package")
    ap.add_argument("--project", type=int, default=100_000, help="replicates in the projection")
    ap.add_argument("--tiny", action="store_true", help="a few small replicates: check that the script runs")
    ap.add_argument("--out", default="", help="results folder (default: a fresh temporary one)")
    ap.add_argument("--data", default="", help="run1.csv for the SBC (default: $RUN1_CSV)")
    a = ap.parse_args()
    out = Path(a.out or tempfile.mkdtemp(prefix="bench-calibration-"))
    src = str(REPO / "src")
    common = ["--workers", str(a.workers), "--out", str(out)]
    if a.tiny:
        grid = out / "tiny_grid.toml"
        out.mkdir(parents=True, exist_ok=True)
        grid.write_text(TINY_GRID)
        sbc = ["sbc", "--models", "single", "--replicates", "3", "--draws", "100", "--tune", "100", "--chains", "2",
               "--rank-draws", "19", "--bins", "4"]
        sim = ["simulate", "--grid", str(grid), "--replicates", "2"]
    else:
        sbc = ["sbc", "--replicates", str(a.sbc_replicates)]
        sim = ["simulate", "--replicates", str(a.sim_replicates)] + (["--grid", a.grid] if a.grid else [])
    if a.data:
        sbc += ["--data", a.data]
    for name, args, folder in (("sbc", sbc, out / "sbc"), ("simulate", sim, out / "simulation")):
        wall = _run(args + common, src)
        print(json.dumps(_summary(name, wall, folder, a.workers, a.project)), flush=True)
    print(f"results: {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
