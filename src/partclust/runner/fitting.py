"""``partclust fit``: one model, one seed, in this process (or, with ``--notebook``, through the fit notebook).

In this process the command does what ``notebooks/02_fit.ipynb`` does — validate, build, compile (through the
persistent cache of :mod:`partclust.inference.compiled`), sample, summarise, apply the convergence gate and
write ``posterior.nc``, ``summary.csv`` and ``run.json`` — with the same package functions, so the same seed and
settings give the same draws either way. It skips what only a reader of the notebook needs (trace and rank
plots) and the notebook's own costs (papermill, a kernel's start and imports: a warm fit took 6.9 s here against
15.9 s through the notebook, ``bench/bench_fit.py``). ``--notebook`` executes the notebook instead: the same run,
plus its executed copy with the plots.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["cmd_fit", "fit_here", "print_fit"]

POSTERIOR_COLUMNS = ["param", "mean", "mcse_mean", "sd", "q2.5", "median", "q97.5", "r_hat", "ess_bulk", "ess_tail"]
"""The columns of ``summary.csv`` the command prints (scalar parameters only)."""


def fit_here(data: Any, settings: Any, out: Path, *, translated: bool = False) -> dict:
    """Fit ``data`` as ``settings`` say in this process and write the run into ``out``.

    Parameters
    ----------
    data : ModelData or Translation
        Validated data with its specification (:func:`partclust.translate.load_model_data`), or a translated
        PROC MCMC program (:func:`partclust.translate.translate_file`; then ``translated`` is True).
    settings : FitSettings
    out : Path
        The run folder; ``run.json`` is written last, so a folder without it is not a run.
    translated : bool
        Whether ``data`` is a translated program (its summary uses the program's names).

    Returns
    -------
    dict
        The run record (what ``run.json`` holds), with ``timings_cli`` (``imports_s``, ``wall_s``).

    Raises
    ------
    FitError
        When sampling fails.
    WriteError
        When ``out`` cannot be written.
    """
    t0 = time.perf_counter()
    from partclust.inference import fit, summarize, write_run

    imports_s = time.perf_counter() - t0
    result = fit(data, settings)
    summary = summarize(result.posterior, data.summary_items if translated else data.scalar_names)
    return write_run(out, result, data, summary, extra={"timings_cli": {  # its record holds the convergence gate
        "imports_s": round(imports_s, 4), "wall_s": round(time.perf_counter() - t0, 4)}})


def print_fit(out: Path, record: dict, executed: Path | None = None) -> None:
    """Print a finished run: its scalar parameters' posterior table, the convergence gate and where the files are."""
    import pandas as pd

    from partclust.inference.runs import SUMMARY_CSV

    table = pd.read_csv(out / SUMMARY_CSV)
    scalars = table[~table["param"].astype(str).str.contains(r"\[") | table["param"].astype(str).str.startswith("b[")
                    | table["param"].astype(str).str.startswith("s2e[")]
    cols = [c for c in POSTERIOR_COLUMNS if c in scalars.columns]
    shown = scalars[cols].copy()
    for c in ("ess_bulk", "ess_tail"):
        if c in shown:
            shown[c] = shown[c].round().astype("Int64")  # an effective sample size is a count
    with pd.option_context("display.width", 200):
        print(shown.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    t = record.get("timings", {})
    if t:
        from partclust.inference.sample import compile_phrase

        print(f"{compile_phrase(t)}; sampling {t.get('sample_s', 0):.1f} s; "
              f"divergences {record.get('convergence', {}).get('worst', {}).get('divergences', 0)}")
    gate = record["convergence"]
    print(f"convergence gate: {'passed' if gate['passed'] else gate['reason']}")
    if executed is not None:
        print(f"executed notebook: {executed}")
    else:
        print("trace and rank plots: run again with --notebook (the fit notebook, about 9 s more)")
    print(f"summary: {out / SUMMARY_CSV}")


def cmd_fit(args: argparse.Namespace) -> int:
    """``partclust fit``: validate, fit and write one run (see the module's docstring)."""
    from partclust.errors import FitError
    from partclust.inference.settings import FitSettings
    from partclust.validate import check_gate_chains, check_output_dir

    # the options alone first: a value out of range is refused before the imports of the model's layers (≈ 1.5 s)
    check_gate_chains(args.chains, FitError)
    FitSettings(parameterization=args.parameterization, seed=args.seed, draws=args.draws, tune=args.tune,
                chains=args.chains, sampler=args.sampler, target_accept=args.target_accept)

    if args.sas_program:
        from partclust.runner.programs import fit_program

        return fit_program(args)
    out = check_output_dir("--out", args.out)  # an unusable --out is refused before the model layers' imports
    from partclust.runner.args import model_data_of, notebook_spec_params, spec_of

    spec = spec_of(args)
    from partclust.translate import spec_key

    settings = FitSettings(
        model=spec.name, parameterization=args.parameterization, seed=args.seed, draws=args.draws,
        tune=args.tune, chains=args.chains, sampler=args.sampler, target_accept=args.target_accept,
        spec=spec_key(spec),
    )
    data = model_data_of(args, spec)  # validate before anything is built or a kernel starts: bad data fails fast
    print(f"fitting {spec.text()} ({settings.parameterization}, {settings.sampler}, seed {settings.seed}) → {out}",
          flush=True)
    if not args.notebook:
        record = fit_here(data, settings, out)
        print_fit(out, record)
        return 0
    params = {k: v for k, v in settings.__dict__.items() if k != "spec"}
    params.update(notebook_spec_params(args, spec))
    params.update({"data_path": data.source, "output_dir": str(out), "make_plots": not args.no_plots})
    executed = fit_notebook(out, params)
    from partclust.inference.runs import verify_run

    print_fit(out, verify_run(out), executed)
    return 0


def fit_notebook(out: Path, params: dict) -> Path:
    """Execute the fit notebook with ``params`` into ``out`` in a fresh kernel; returns the executed copy.

    Raises
    ------
    NotebookError
        When the notebook fails (its executed copy is kept).
    """
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_client.utils import run_sync

    from partclust.runner.notebooks import FIT_NOTEBOOK, execute, start_kernel

    # the kernel starts and begins the notebook's imports while papermill is loaded and prepares
    km = AsyncKernelManager(kernel_name="python3")
    start_kernel(km)
    try:
        return execute(FIT_NOTEBOOK, out / FIT_NOTEBOOK, params, progress=sys.stderr.isatty(), km=km)
    finally:
        if km.has_kernel:
            run_sync(km.shutdown_kernel)(now=True)
