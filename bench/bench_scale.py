"""Time and peak memory of ``partclust validate`` and ``partclust exact`` on a large trial.

    python bench/bench_scale.py [--data large_trial.csv] [--commands validate single per_condition]

Without ``--data`` the trial of ``../shared/cases/make_large_trial.py`` (120,000 subjects: 20,000 treated
clusters of 5 and 100,000 unclustered controls) is written to a temporary folder first. Each command runs
in its own process (``python -m partclust …`` with this checkout's ``src`` first on the path); its wall
time and peak resident memory (the child's ``ru_maxrss`` from ``os.wait4``) are printed as a table.
Run it on an idle machine: timings on a shared one mean little.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
MAKER = REPO_ROOT.parent / "shared" / "cases" / "make_large_trial.py"
COMMANDS = {
    "validate": lambda data, out: ["validate", "--data", data],
    "single": lambda data, out: ["exact", "--model", "single", "--data", data, "--out", str(out / "single.csv")],
    "per_condition": lambda data, out: ["exact", "--model", "per_condition", "--data", data,
                                        "--out", str(out / "per_condition.csv")],
}


def run(args: list[str]) -> tuple[float, float, int]:
    """Wall seconds, peak resident MiB and exit code of ``python -m partclust args`` in a fresh process."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "partclust", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code:
        print(f"partclust {' '.join(args)} exited {code}: {err.splitlines()[-1] if err else ''}", file=sys.stderr)
    return wall, usage.ru_maxrss / 1024.0, code  # ru_maxrss is in KiB on Linux


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="a large trial CSV (default: generate make_large_trial.py's)")
    parser.add_argument("--commands", nargs="+", choices=list(COMMANDS), default=list(COMMANDS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        data = args.data
        if data is None:
            if not MAKER.is_file():
                raise SystemExit(f"{MAKER} not found: pass --data")
            subprocess.run([sys.executable, str(MAKER)], cwd=tmp, check=True)
            data = str(out / "large_trial.csv")
        print(f"data: {data}")
        print(f"{'command':<16} {'wall s':>8} {'peak MiB':>9} {'exit':>5}")
        failed = 0
        for name in args.commands:
            wall, peak, code = run(COMMANDS[name](data, out))
            failed += code != 0
            print(f"{name:<16} {wall:8.1f} {peak:9.0f} {code:5d}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
