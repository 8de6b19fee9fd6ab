"""Compare ways to avoid compiling the model in every process: the numbers of the README's table.

    python bench/bench_compile.py [--data PATH] [--options numba-nutpie numba-partclust jax pymc-c]
                                  [--jax-path DIR] [--repeats 1]

For each option, two fresh Python processes fit the single-residual model on run1 (4 chains × 2,000
draws after 1,000 tuning steps, seed 1): the first with empty caches (cold), the second with the caches
the first left (warm). Each prints its phases; this script prints one table row per option and
process: wall time of the whole process, of the imports, of the compile and of the sampling, the bulk
ESS of σ²_u per second of sampling, and whether the warm draws are identical to the cold ones.

Options:

- ``numba-nutpie``: ``nutpie.compile_pymc_model`` (numba backend); only PyTensor's own numba cache
  (``base_compiledir``) persists between processes;
- ``numba-partclust``: :func:`partclust.inference.compiled.compile_model`, the cache this project
  uses (entries under a results folder);
- ``jax``: nutpie's JAX backend with JAX's persistent compilation cache (needs ``jax``; give its
  folder with ``--jax-path`` when it is installed outside the environment, e.g. with
  ``pip install --target DIR --no-deps jax jaxlib ml_dtypes opt_einsum``);
- ``pymc-c``: PyMC's own NUTS sampler on PyTensor's C backend, with PyTensor's C cache.

Timings depend on the machine's load: run it on an idle machine for the README.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import hashlib, json, os, sys, time
t0 = time.perf_counter()
option, data, cache = sys.argv[1], sys.argv[2], sys.argv[3]
import numpy as np
import pymc as pm
import arviz as az
from partclust.data import load_design
from partclust.models.pymc import build_model
if option in ("numba-nutpie", "numba-partclust", "jax"):
    import nutpie
if option == "jax":
    import jax
    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
imports = time.perf_counter() - t0
model = build_model(load_design(data), "single")
kw = dict(draws=2000, tune=1000, chains=4, seed=1)
t = time.perf_counter()
note = ""
if option == "numba-nutpie":
    compiled = nutpie.compile_pymc_model(model)
elif option == "numba-partclust":
    from partclust.inference.compiled import compile_model
    compiled, rec = compile_model(model, cache)
    note = rec["source"]
elif option == "jax":
    compiled = nutpie.compile_pymc_model(model, backend="jax", gradient_backend="jax")
compile_s = time.perf_counter() - t
t = time.perf_counter()
if option == "pymc-c":
    import pytensor
    with pytensor.config.change_flags(mode="FAST_RUN", linker="cvm"), model:
        trace = pm.sample(draws=2000, tune=1000, chains=4, cores=1, random_seed=1, nuts_sampler="pymc",
                          progressbar=False, compute_convergence_checks=False)
    total = time.perf_counter() - t
    sample_s = float(trace.sample_stats.attrs.get("sampling_time", total))
    compile_s = total - sample_s
else:
    trace = nutpie.sample(compiled, progress_bar=False, **kw)
    sample_s = time.perf_counter() - t
post = trace.posterior.to_dataset() if hasattr(trace.posterior, "to_dataset") else trace.posterior
s2u = np.asarray(post["s2u"])
ess = float(az.ess(post[["s2u"]], method="bulk")["s2u"])
print(json.dumps({"imports_s": imports, "compile_s": compile_s, "sample_s": sample_s, "ess_per_s": ess / sample_s,
                  "s2u_sha": hashlib.sha256(np.ascontiguousarray(s2u).tobytes()).hexdigest()[:16],
                  "s2u_mean": float(s2u.mean()), "note": note}))
"""


def _run(option: str, data: str, cache: Path, env: dict[str, str]) -> dict:
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, option, data, str(cache)], env=env, capture_output=True,
                          text=True, check=False)
    wall = time.perf_counter() - t
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["?"])[-1], "wall_s": wall}
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "wall_s": wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None)
    ap.add_argument("--options", nargs="+", default=["numba-nutpie", "numba-partclust", "jax", "pymc-c"])
    ap.add_argument("--jax-path", default=None, help="folder holding jax, added to the children's PYTHONPATH")
    ap.add_argument("--repeats", type=int, default=1, help="cold/warm pairs per option")
    args = ap.parse_args()
    sys.path.insert(0, str(REPO / "src"))
    from partclust.data import resolve_data_path

    data = str(resolve_data_path(args.data))
    print(f"load average at start: {', '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cpus")
    print(f"{'option':16s} {'cache':5s} {'wall s':>7s} {'imports':>8s} {'compile':>8s} {'sample':>7s} "
          f"{'ESS/s σ²_u':>11s}  draws")
    for option in args.options:
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory(prefix=f"bench-{option}-") as tmp:
                path = os.pathsep.join(p for p in (str(REPO / "src"), args.jax_path or "",
                                                   os.environ.get("PYTHONPATH", "")) if p)
                env = {**os.environ, "PYTHONPATH": path,
                       "PYTENSOR_FLAGS": f"base_compiledir={Path(tmp) / 'pytensor'}"}
                rows = [_run(option, data, Path(tmp) / "cache", env) for _ in ("cold", "warm")]
            for label, r in zip(("cold", "warm"), rows):
                if "error" in r:
                    print(f"{option:16s} {label:5s} failed: {r['error']}")
                    continue
                same = "" if label == "cold" else ("identical" if r["s2u_sha"] == rows[0].get("s2u_sha")
                                                   else "differ")
                print(f"{option:16s} {label:5s} {r['wall_s']:7.2f} {r['imports_s']:8.2f} {r['compile_s']:8.2f} "
                      f"{r['sample_s']:7.2f} {r['ess_per_s']:11.0f}  {same} {r['note']}")
    print(f"load average at end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
