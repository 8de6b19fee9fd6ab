"""Time and peak memory of ``partclust validate`` on a large trial (120,000+ subjects).

    python bench/bench_validate.py [--repeat 3] [--data LARGE.csv]

Without ``--data`` the trial is written by ``../shared/cases/make_large_trial.py`` (20,000 treated
clusters of 5 and 100,000 controls) into a temporary folder. Each repeat is a fresh process running
the command line, as a user would; its wall time and peak resident memory (``ru_maxrss`` of the
child) are printed, then the median. Measure on an idle machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
MAKER = REPO_ROOT.parent / "shared" / "cases" / "make_large_trial.py"


def _one(data: Path) -> tuple[float, float]:
    """Wall seconds and peak MiB of one ``partclust validate`` process."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "partclust", "validate", "--data", str(data)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"partclust validate failed: {proc.stderr.read().decode()}")
    return wall, usage.ru_maxrss / 1024.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data", help="a large trial CSV (default: written by make_large_trial.py)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.data:
            data = Path(args.data)
        else:
            if not MAKER.is_file():
                raise SystemExit(f"{MAKER} not found: pass --data LARGE.csv")
            subprocess.run([sys.executable, str(MAKER)], cwd=tmp, check=True)
            data = Path(tmp) / "large_trial.csv"
        rows = sum(1 for _ in data.open()) - 1
        print(f"partclust validate on {data.name}: {rows:,} subjects, {data.stat().st_size / 2**20:.1f} MiB")
        results = []
        for k in range(args.repeat):
            wall, peak = _one(data)
            results.append((wall, peak))
            print(f"  run {k + 1}: {wall:.2f} s wall, peak {peak:.0f} MiB")
        print(f"median: {statistics.median(w for w, _ in results):.2f} s wall, "
              f"peak {statistics.median(p for _, p in results):.0f} MiB")


if __name__ == "__main__":
    main()
