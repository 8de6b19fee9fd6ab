"""Time the default study end to end and split a run's cost; peak memory per worker.

Run by hand: ``python bench/bench_study.py [--out DIR] [--warm] [-- extra partclust study args]``. It runs
``partclust study`` in a subprocess (fresh results folder), polls the process tree for memory, then
reads the run records and executed notebooks for the per-run split and each analysis notebook's time.
With ``--warm`` it then runs the same command again in the same folder (every fit and analysis notebook
reused, the landing page rebuilt) and reports that wall time too. Numbers go into the README.
"""

from __future__ import annotations

import argparse
import json
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
    ap.add_argument("--warm", action="store_true", help="then rerun in the same folder and time the warm study")
    ap.add_argument("extra", nargs="*", help="further arguments for partclust study")
    args = ap.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="bench-study-"))
    cmd = [str(Path(sys.executable).parent / "partclust"), "study", "--out", str(out), *args.extra]
    peaks: dict[int, tuple[int, str, int | None]] = {}
    stop = threading.Event()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    poller = threading.Thread(target=_poll, args=(psutil.Process(proc.pid), peaks, stop), daemon=True)
    poller.start()
    rc = proc.wait()
    wall = time.perf_counter() - t0
    stop.set()
    poller.join()

    record = json.loads((out / "study" / "study.json").read_text())
    print(f"partclust study {' '.join(args.extra)} → exit {rc}, wall {wall:.1f} s; stages {record['stages_s']}")
    runs = [r for r in record["runs"] if r["status"] == "done"]
    keys = ("seconds", "compile_s", "sample_s", "log_likelihood_s", "write_s")
    for model in record["settings"]["models"]:
        rr = [r for r in runs if r["model"] == model]
        if not rr:
            continue
        first = [r for r in rr if r["timings"].get("compile_cached") is False]
        warm = [r for r in rr if r["timings"].get("compile_cached") is True]
        print(f"{model}: {len(rr)} runs, {len(first)} compiled the model, {len(warm)} reused it")
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
    if args.warm:
        t0 = time.perf_counter()
        rc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        warm = time.perf_counter() - t0
        record = json.loads((out / "study" / "study.json").read_text())
        statuses = {nb["name"]: nb["status"] for nb in record.get("notebooks", [])}
        fitted = sum(r["status"] == "done" for r in record["runs"])
        print(f"warm rerun → exit {rc}, wall {warm:.1f} s; {fitted} runs fitted again; notebooks {statuses}; "
              f"stages {record['stages_s']}")
    print(f"results in {out}")


if __name__ == "__main__":
    main()
