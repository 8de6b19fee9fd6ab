"""A fresh-process ``partclust fit --model single`` against a fresh ``python -c "import pymc"``, side by side.

    python bench/bench_fit.py [--repeats 5] [--data PATH] [--model single]

The acceptance ratio of issue 15: the wall time of ``partclust fit`` in a new process with a warm
compile cache, divided by the wall time of ``python -c "import pymc"``, both measured alternately so
that a change of the machine's load hits both (target ≤ 3). The cold-cache fit (empty compile cache,
empty PyTensor cache) is reported too. For each fit the split comes from its ``run.json`` and the
executed notebook's cell durations: kernel start and notebook imports, build, compile (and where the
compiled model came from), sampling, summary and gate, plots, writing, and the rest (CLI start-up,
papermill, the kernel's start).
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


def _wall(cmd: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def _cells(nb_path: Path) -> dict[str, float]:
    nb = json.loads(nb_path.read_text())
    out: dict[str, float] = {}
    marks = {"imports": "_t_start = time.perf_counter()", "fit cell": "result = fit(", "plots": "if make_plots",
             "write cell": "record = write_run("}
    total = 0.0
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        d = float(cell["metadata"].get("papermill", {}).get("duration") or 0.0)
        total += d
        src = "".join(cell["source"])
        for k, m in marks.items():
            if m in src:
                out[k] = d
    out["all cells"] = total
    return out


def _fit(model: str, data: str, out: Path, env: dict[str, str]) -> dict:
    cmd = [sys.executable, "-m", "partclust", "fit", "--model", model, "--seed", "1", "--out", str(out),
           "--data", data]
    wall = _wall(cmd, env)
    record = json.loads((out / "run.json").read_text())
    return {"wall_s": wall, **record["timings"], **_cells(out / "02_fit.ipynb")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--data", default=None)
    ap.add_argument("--model", default="single")
    args = ap.parse_args()
    sys.path.insert(0, str(REPO / "src"))
    from partclust.data import resolve_data_path

    data = str(resolve_data_path(args.data))
    print(f"load average at start: {', '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cpus")
    with tempfile.TemporaryDirectory(prefix="bench-fit-") as tmp:
        tmp = Path(tmp)
        path = os.pathsep.join(p for p in (str(REPO / "src"), os.environ.get("PYTHONPATH", "")) if p)
        env = {**os.environ, "PYTHONPATH": path,
               "PARTCLUST_CACHE_DIR": str(tmp / "cache"), "PYTENSOR_FLAGS": f"base_compiledir={tmp / 'pytensor'}"}
        cold = _fit(args.model, data, tmp / "cold", env)  # fills both caches
        fits, imports = [], []
        for k in range(args.repeats):  # alternately, so that load changes hit both
            imports.append(_wall([sys.executable, "-c", "import pymc"], env))
            fits.append(_fit(args.model, data, tmp / f"warm-{k}", env))
    med = {key: statistics.median(f[key] for f in fits) for key in fits[0] if isinstance(fits[0][key], (int, float))
           and not isinstance(fits[0][key], bool)}
    imp = statistics.median(imports)
    print(f"python -c 'import pymc': median {imp:.2f} s over {len(imports)} "
          f"(min {min(imports):.2f}, max {max(imports):.2f})")
    print(f"partclust fit --model {args.model}, warm cache: median {med['wall_s']:.2f} s "
          f"(min {min(f['wall_s'] for f in fits):.2f}, max {max(f['wall_s'] for f in fits):.2f}); "
          f"compiled model from: {sorted({f.get('compile_source') for f in fits})}")
    ratios = [f["wall_s"] / i for f, i in zip(fits, imports)]
    print(f"RATIO fit (warm) / import pymc: median {statistics.median(ratios):.2f} (target <= 3)")
    print(f"cold cache: {cold['wall_s']:.2f} s, compile {cold['compile_s']:.2f} s ({cold.get('compile_source')}), "
          f"ratio to import pymc {cold['wall_s'] / imp:.2f}")
    rest = med["wall_s"] - med["all cells"]
    print("warm split (median s): " + ", ".join(f"{k} {med[k]:.2f}" for k in (
        "imports", "build_s", "compile_s", "sample_s", "plots", "write_s", "all cells") if k in med)
        + f"; outside the notebook's cells (CLI, papermill, kernel start) {rest:.2f}")
    print(f"load average at end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
