"""Time a fresh-process fit: interpreter start + imports, model build, compile, sampling, writing.

Run by hand (``make bench`` or ``python bench/bench_fit.py [--repeats N] [--data PATH]``); the
numbers go into the README's performance section. Each repeat is a new Python process, so nothing is
cached in memory between repeats (on-disk caches, if any, are what a real rerun would see too).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from partclust.data import load_design
from partclust.fit import FitSettings, fit, write_run
t1 = time.perf_counter()
design = load_design(sys.argv[1])
settings = FitSettings(model=sys.argv[2], seed=1)
result = fit(design, settings)
record = write_run(sys.argv[3], result, design)
print(json.dumps({"imports_s": t1 - t0, **record["timings"]}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--data", default=None)
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from partclust.data import resolve_data_path

    data = str(resolve_data_path(args.data))
    for model in ("single", "per_condition"):
        rows = []
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as out:
                t = time.perf_counter()
                res = subprocess.run([sys.executable, "-c", CHILD, data, model, out],
                                     capture_output=True, text=True, check=True)
                wall = time.perf_counter() - t
            timing = json.loads(res.stdout.strip().splitlines()[-1])
            timing["process_wall_s"] = wall
            rows.append(timing)
        keys = ["process_wall_s", "imports_s", "build_s", "compile_s", "sample_s", "write_s"]
        print(f"{model}: median over {args.repeats} fresh processes (4 chains x 2000 draws, 1000 tune, nutpie)")
        for k in keys:
            vals = [r[k] for r in rows]
            print(f"  {k:15s} {statistics.median(vals):7.2f} s   (min {min(vals):.2f}, max {max(vals):.2f})")


if __name__ == "__main__":
    main()
