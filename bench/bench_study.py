"""Time a study end to end, cold and warm, against its floor; split a run's cost; peak memory per worker.

Run by hand: ``python bench/bench_study.py [--out DIR] [--no-rerun] [-- extra partclust study args]``,
e.g. ``-- --models single --seeds 20`` for issue 15's 20-seed single-model study, or no extra
arguments for the default study (``make study``). It runs ``partclust study`` in a subprocess in a
fresh results folder (cold: no runs, no compile cache), then again in the same folder (warm: every
run reused), polls the process tree for memory, then reads the run records and executed notebooks.

The floor of a cold study is the runs' summed sampling seconds divided by the workers plus one
compile (the longest compile of a run that built its model, or of the driver's build ahead, ``prebuilt`` in
``study.json``); the ratio wall / floor is printed with
the split of the rest (the wait for the workers, each model's first run beyond its compile, the other
runs beyond their sampling, and the work after the fits). Numbers go into the README.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil


def _poll(root: psutil.Process, peaks: dict[int, tuple[int, str, int | None]], stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            procs = root.children(recursive=True)
        except psutil.Error:
            break
        for p in procs:
            try:
                rss = p.memory_info().rss
                cmd = " ".join(p.cmdline())
                parent = p.ppid()
            except psutil.Error:
                continue
            old = peaks.get(p.pid)
            if old is None or rss > old[0]:
                peaks[p.pid] = (rss, cmd, parent)
        stop.wait(0.25)


def _cell_seconds(nb_path: Path, marker: str) -> float:
    nb = json.loads(nb_path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and marker in "".join(cell["source"]):
            return float(cell["metadata"].get("papermill", {}).get("duration") or 0.0)
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=None, help="results folder (default: a new temporary one)")
    ap.add_argument("--no-rerun", action="store_true", help="skip the warm rerun in the same folder")
    ap.add_argument("extra", nargs="*", help="further arguments for partclust study")
    args = ap.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="bench-study-"))
    print(f"load average at start: {', '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cpus")
    wall, rc, peaks = _run_study(out, args.extra)
    _report(out, args.extra, wall, rc, peaks, cold=True)
    if not args.no_rerun:
        wall, rc, _ = _run_study(out, args.extra)
        _report(out, args.extra, wall, rc, {}, cold=False)
    print(f"load average at end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"results in {out}")


def _run_study(out: Path, extra: list[str]):
    cmd = [sys.executable, "-m", "partclust", "study", "--out", str(out), *extra]
    src = str(Path(__file__).resolve().parents[1] / "src")  # this checkout's package
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH", "")) if p),
           # the study's own cache, also as the default: no entry is copied from results/cache/compiled (cold)
           "PARTCLUST_CACHE_DIR": str(out / "cache" / "compiled")}
    peaks: dict[int, tuple[int, str, int | None]] = {}
    stop = threading.Event()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    poller = threading.Thread(target=_poll, args=(psutil.Process(proc.pid), peaks, stop), daemon=True)
    poller.start()
    rc = proc.wait()
    wall = time.perf_counter() - t0
    stop.set()
    poller.join()

    return wall, rc, peaks


def _floor(record: dict) -> tuple[float, float, float]:
    """(floor, summed sampling seconds, one compile) of a study record."""
    runs = [r for r in record["runs"] if r["status"] == "done"]
    workers = record["settings"].get("workers") or os.cpu_count() or 1
    sampling = sum(float(r["timings"].get("sample_s", 0.0)) for r in runs)
    compiles = [float(r["timings"].get("compile_s", 0.0)) for r in runs
                if str(r["timings"].get("compile_source", "")).startswith("compiled")]
    # a model the driver compiled ahead (``prebuilt``, while the kernels started): its build's seconds
    compiles += [float(p.get("seconds", 0.0)) for p in (record.get("prebuilt") or {}).values()
                 if p.get("source") == "built"]
    one = max(compiles, default=0.0)
    return sampling / workers + one, sampling, one


def _report(out: Path, extra: list[str], wall: float, rc: int, peaks: dict, cold: bool) -> None:
    record = json.loads((out / "study" / "study.json").read_text())
    label = "cold (fresh results folder)" if cold else "warm rerun (same folder)"
    print(f"\n{label}: partclust study {' '.join(extra)} → exit {rc}, wall {wall:.1f} s; stages {record['stages_s']}")
    floor, sampling, one = _floor(record)
    if cold and floor > 0:
        print(f"floor = summed sampling {sampling:.1f} s / workers + one compile {one:.1f} s = {floor:.1f} s; "
              f"RATIO wall / floor {wall / floor:.2f} (targets: 20-seed single study <= 2, default study <= 1.5)")
    for model, built in (record.get("prebuilt") or {}).items():
        print(f"compiled ahead by the driver while the kernels started: {model} {built.get('source')} in "
              f"{float(built.get('seconds', 0.0)):.1f} s")
    runs = [r for r in record["runs"] if r["status"] == "done"]
    keys = ("seconds", "compile_s", "sample_s", "log_likelihood_s", "write_s")
    for model in record["settings"]["models"]:
        rr = [r for r in runs if r["model"] == model]
        if not rr:
            continue
        first = [r for r in rr if r["timings"].get("compile_cached") is False]
        warm = [r for r in rr if r["timings"].get("compile_cached") is True]
        sources = sorted({str(r["timings"].get("compile_source")) for r in first})
        print(f"{model}: {len(rr)} runs, {len(first)} first runs of a kernel (compiled model from {sources}), "
              f"{len(warm)} reused the kernel's")
        for label, group in (("compiling run", first), ("warm run", warm)):
            if not group:
                continue
            parts = {k: statistics.median([g["timings"].get(k, g.get(k, float("nan"))) if k != "seconds" else g["seconds"]
                                           for g in group]) for k in keys}
            nbs = [Path(g["run_dir"]) / "02_fit.ipynb" for g in group]
            plots = statistics.median([_cell_seconds(p, "if make_plots") for p in nbs])
            loglik = parts["log_likelihood_s"] if parts["log_likelihood_s"] == parts["log_likelihood_s"] else 0.0
            summary = (statistics.median([_cell_seconds(p, "result = fit(") for p in nbs]) - parts["sample_s"]
                       - parts["compile_s"] - loglik)
            notebook_cells = parts["compile_s"] + parts["sample_s"] + loglik + parts["write_s"] + plots + max(summary, 0)
            print(f"  {label:14s} median: whole task {parts['seconds']:.2f} s = compile {parts['compile_s']:.2f} + "
                  f"sampling {parts['sample_s']:.2f} + log-likelihood {loglik:.2f} + summary/gate {max(summary, 0):.2f}"
                  f" + plots {plots:.2f} + writing {parts['write_s']:.2f} + papermill/kernel/imports "
                  f"{parts['seconds'] - notebook_cells:.2f}")
    for nb in record.get("notebooks", []):
        print(f"  notebook {nb['name']}: {nb['status']} in {nb['seconds']:.1f} s (on a worker, page included)")
    kernels = {pid: v for pid, v in peaks.items() if "ipykernel" in v[1]}
    workers = {pid: v for pid, v in peaks.items() if "multiprocessing" in v[1] or "distributed" in v[1]}
    for pid, (rss, _, _) in sorted(workers.items()):
        kids = sum(r for r, _, parent in kernels.values() if parent == pid)
        if rss > 50e6:
            print(f"worker pid {pid}: peak {rss / 2**20:.0f} MiB, its kernel(s) peak {kids / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
