"""Time the exact posterior (both models) on run1.

    python bench/bench_exact.py [DATA_CSV] [--repeat 7] [--grid 5]

The data path is the argument, else $RUN1_CSV, else ../shared/data/run1.csv next to the repository.
Each model is run ``--repeat`` times after one warm-up call; best and median wall times are printed
with the grid sizes. Import time is reported separately (it is dominated by pymc via partclust.model).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def _data_path(arg: str | None) -> Path:
    for cand in (arg, os.environ.get("RUN1_CSV"), REPO_ROOT.parent / "shared" / "data" / "run1.csv"):
        if cand and Path(cand).is_file():
            return Path(cand).resolve()
    raise SystemExit("run1.csv not found: pass its path, or set RUN1_CSV.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", help="path to run1.csv")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--grid", type=float, default=None, help="grid resolution (default: the module's)")
    args = parser.parse_args()

    t0 = time.perf_counter()
    from partclust.data import load_design
    from partclust.references.exact import DEFAULT_GRID, exact_posterior

    imported = time.perf_counter() - t0
    grid = DEFAULT_GRID if args.grid is None else args.grid
    design = load_design(_data_path(args.data), allow_download=False)
    print(f"data: {design.source} ({design.n} rows, {design.n_clusters} treated clusters)")
    print(f"import partclust.references.exact: {imported:.2f} s;  grid = {grid:g};  repeats = {args.repeat}  "
          f"(cpus: {os.cpu_count()}, load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())})")
    best_total = 0.0
    median_total = 0.0
    for residual in ("single", "per_condition"):
        exact_posterior(design, residual, grid=grid)  # warm-up
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            post = exact_posterior(design, residual, grid=grid)
            times.append(time.perf_counter() - start)
        prov = post.provenance
        nodes = " × ".join(f"{k} {v}" for k, v in prov["nodes"].items())
        best, median = min(times), statistics.median(times)
        best_total += best
        median_total += median
        print(f"{residual:>14}: best {best * 1e3:7.1f} ms   median {median * 1e3:7.1f} ms   "
              f"grid {nodes} = {prov['grid_points']} points, {prov['mixture_components']} mixture components")
    print(f"{'both models':>14}: best {best_total * 1e3:7.1f} ms   median {median_total * 1e3:7.1f} ms")


if __name__ == "__main__":
    main()
