"""A fresh-process ``partclust fit --model single`` against a fresh ``python -c "import pymc"``, side by side.

    python bench/bench_fit.py [--repeats 5] [--data PATH] [--model single]

The acceptance ratio of issue 15: the wall time of ``partclust fit`` in a new process with a warm
compile cache, divided by the wall time of ``python -c "import pymc"``, both measured alternately so
that a change of the machine's load hits both (target ≤ 3). The cold-cache fit (empty compile cache,
empty PyTensor cache) is reported too, and, alternately with the others, ``partclust fit --notebook`` (the
same fit through papermill and the fit notebook). For each fit the split comes from its ``run.json``:
the package imports of the fit, build, compile (and where the compiled model came from), sampling, the
pointwise log-likelihood, writing, and the rest (the interpreter, the CLI, reading and checking the data,
the summary and gate, printing; with ``--notebook`` also papermill and the kernel's start).
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


def _fit(model: str, data: str, out: Path, env: dict[str, str], notebook: bool = False) -> dict:
    cmd = [sys.executable, "-m", "partclust", "fit", "--model", model, "--seed", "1", "--out", str(out),
           "--data", data, *(["--notebook"] if notebook else [])]
    wall = _wall(cmd, env)
    record = json.loads((out / "run.json").read_text())
    if notebook:
        return {"wall_s": wall, **record["timings"], **_cells(out / "02_fit.ipynb")}
    return {"wall_s": wall, **record["timings"], "imports": record["timings_cli"]["imports_s"],
            "fit_here_s": record["timings_cli"]["wall_s"]}


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
        fits, imports, books = [], [], []
        for k in range(args.repeats):  # alternately, so that load changes hit all three
            imports.append(_wall([sys.executable, "-c", "import pymc"], env))
            fits.append(_fit(args.model, data, tmp / f"warm-{k}", env))
            books.append(_fit(args.model, data, tmp / f"book-{k}", env, notebook=True))
            same = (tmp / f"warm-{k}" / "summary.csv").read_bytes() == (tmp / f"book-{k}" / "summary.csv").read_bytes()
            if not same:
                print(f"repeat {k}: the notebook's summary.csv differs from the in-process fit's")
    imp = statistics.median(imports)
    print(f"python -c 'import pymc': median {imp:.2f} s over {len(imports)} "
          f"(min {min(imports):.2f}, max {max(imports):.2f})")
    for label, runs, rest_of in (("partclust fit", fits, "fit_here_s"), ("partclust fit --notebook", books, "all cells")):
        med = {key: statistics.median(f[key] for f in runs) for key in runs[0]
               if isinstance(runs[0][key], (int, float)) and not isinstance(runs[0][key], bool)}
        print(f"{label} --model {args.model}, warm cache: median {med['wall_s']:.2f} s "
              f"(min {min(f['wall_s'] for f in runs):.2f}, max {max(f['wall_s'] for f in runs):.2f}); "
              f"compiled model from: {sorted({f.get('compile_source') for f in runs})}")
        ratios = [f["wall_s"] / i for f, i in zip(runs, imports)]
        print(f"  RATIO {label} (warm) / import pymc: median {statistics.median(ratios):.2f} (target <= 3)")
        print("  warm split (median s): " + ", ".join(f"{k} {med[k]:.2f}" for k in (
            "imports", "build_s", "compile_s", "sample_s", "log_likelihood_s", "plots", "write_s", rest_of)
            if k in med) + f"; outside those ({'interpreter, CLI, data, writing, printing' if rest_of == 'fit_here_s' else 'CLI, papermill, kernel start'}) {med['wall_s'] - med[rest_of]:.2f}")
    print(f"cold cache: {cold['wall_s']:.2f} s, compile {cold['compile_s']:.2f} s ({cold.get('compile_source')}), "
          f"ratio to import pymc {cold['wall_s'] / imp:.2f}")
    print(f"load average at end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
