"""Wall time of the light commands in fresh processes: ``partclust --help`` and ``partclust exact``.

    python bench/bench_cli.py [--repeats 7] [--data PATH]

Targets of issue 15 (idle machine): ``partclust --help`` ≤ 0.5 s and ``partclust exact --model
per_condition`` ≤ 1.0 s on run1. Each is measured alternately with ``python -c pass`` (the
interpreter's own start) and with a bare import of the libraries ``exact`` needs (numpy, pandas,
scipy.special: its floor) so that load changes show in all; medians are printed. For where the time
goes, run a command under ``python -X importtime -m partclust …``.
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

REPO = Path(__file__).resolve().parents[1]
FLOOR = "import numpy, pandas, scipy.special"
"""What ``exact`` cannot do without: pandas reads and checks the data, scipy.special has the quadrature's functions."""


def _wall(cmd: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--data", default=None)
    args = ap.parse_args()
    sys.path.insert(0, str(REPO / "src"))
    from partclust.data import resolve_data_path

    data = str(resolve_data_path(args.data))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO / "src"), os.environ.get("PYTHONPATH", ""))
                                                       if p)}
    print(f"load average at start: {', '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cpus")
    with tempfile.TemporaryDirectory() as tmp:
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "partclust --help": [sys.executable, "-m", "partclust", "--help"],
            FLOOR: [sys.executable, "-c", "import numpy, pandas, scipy.special"],
            "partclust exact --model per_condition": [sys.executable, "-m", "partclust", "exact", "--model",
                                                      "per_condition", "--data", data, "--out", f"{tmp}/exact.csv"],
        }
        times: dict[str, list[float]] = {k: [] for k in commands}
        for _ in range(args.repeats):
            for name, cmd in commands.items():
                times[name].append(_wall(cmd, env))
    targets = {"partclust --help": 0.5, "partclust exact --model per_condition": 1.0}
    for name, ts in times.items():
        target = f"  (target <= {targets[name]} s)" if name in targets else ""
        print(f"{name:40s} median {statistics.median(ts):.3f} s  min {min(ts):.3f}  max {max(ts):.3f}{target}")
    exact = statistics.median(times["partclust exact --model per_condition"])
    print(f"exact / its libraries' import: {exact / statistics.median(times[FLOOR]):.2f} (the rest is ours: "
          "partclust's modules, reading and checking the data, the quadrature, the table)")
    print(f"load average at end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
