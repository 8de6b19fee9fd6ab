"""Command line: ``partclust validate | fit | exact | reml | compare | why | study``.

Bad input exits with code 2 and one sentence naming the problem, never a traceback; a failed
computation exits with 1 and says where the details are.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from partclust.config import NOTEBOOK_FILES, PARAMETERIZATIONS, RESIDUALS, SAMPLERS
from partclust.errors import EXIT_BAD_INPUT, EXIT_FAILED, PartclustError
from partclust.layout import RESULTS
from partclust.validate import check_output_dir, check_output_file

__all__ = ["build_parser", "main", "EXIT_BAD_INPUT", "EXIT_FAILED"]


def load_design(path: str | None):
    """Read and validate the dataset (:func:`partclust.data.load_design`; pandas is imported here, not at start-up)."""
    from partclust.data import load_design as _load

    return _load(path)


def _add_data(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", metavar="PATH", default=None,
                   help="run1.csv (default: $RUN1_CSV, then data/run1.csv, then the pinned download)")


def _load(data: str | None, models: Sequence[str] = (), *, priors: bool = True):
    """Load the validated dataset; refuse it (exit 2) when any of ``models`` cannot be fitted to it."""
    from partclust.models.checks import check_data

    design = load_design(data)
    for model in models:
        check_data(design, model, **({} if priors else {"priors": None}))
    return design


def cmd_validate(args: argparse.Namespace) -> int:
    from partclust.models.checks import data_problems

    design = load_design(args.data)
    print(design.describe())
    for model in RESIDUALS:
        problems = data_problems(design, model)
        verdict = "can be fitted" if not problems else "cannot be fitted: " + problems[0].removeprefix(
            f"{design.source}: ")
        print(f"{model} residual model: {verdict}")
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    from jupyter_client.manager import AsyncKernelManager

    from partclust.inference.runs import SUMMARY_CSV, verify_run
    from partclust.inference.settings import FitSettings
    from partclust.runner.notebooks import FIT_NOTEBOOK, execute, start_kernel

    settings = FitSettings(
        model=args.model, parameterization=args.parameterization, seed=args.seed, draws=args.draws,
        tune=args.tune, chains=args.chains, sampler=args.sampler, target_accept=args.target_accept,
    )
    out = check_output_dir("--out", args.out)
    design = _load(args.data, [settings.model])  # validate before starting a kernel: bad data fails fast
    params = {**settings.__dict__, "data_path": design.source, "output_dir": str(out),
              "make_plots": not args.no_plots}
    print(f"fitting {settings.model} ({settings.parameterization}, {settings.sampler}, seed {settings.seed}) → {out}",
          flush=True)
    # the kernel starts and begins the notebook's imports while papermill is loaded and prepares
    km = AsyncKernelManager(kernel_name="python3")
    start_kernel(km)
    try:
        executed = execute(FIT_NOTEBOOK, out / FIT_NOTEBOOK, params, progress=sys.stderr.isatty(), km=km)
    finally:
        from jupyter_client.utils import run_sync

        if km.has_kernel:
            run_sync(km.shutdown_kernel)(now=True)
    record = verify_run(out)
    gate = record["convergence"]
    print(f"executed notebook: {executed}")
    print(f"convergence gate: {'passed' if gate['passed'] else gate['reason']}")
    print(f"summary: {out / SUMMARY_CSV}")
    return 0


def cmd_exact(args: argparse.Namespace) -> int:
    from partclust.files import write_csv
    from partclust.references.exact import exact_posterior

    target = check_output_file("--out", args.out, example=f"exact_{args.model}.csv")
    design = _load(args.data, [args.model])
    post = exact_posterior(design, args.model)
    out = write_csv(target, post.table)
    print(post.table.to_string(index=False, float_format=lambda v: f"{v:.5f}"))
    print(f"σ²_u marginal mode: {post.s2u_mode:.5f}")
    print(f"wrote {out}")
    return 0


def cmd_reml(args: argparse.Namespace) -> int:
    from partclust.references.reml import lrt, reml

    design = _load(args.data, RESIDUALS, priors=False)
    fits = {m: reml(design, m) for m in RESIDUALS}
    for m, f in fits.items():
        print(f"REML, {m} residual (restricted log-likelihood {f.loglik:.4f}):")
        print(f.table.to_string(index=False, float_format=lambda v: f"{v:.5f}"))
        print()
    test = lrt(fits["single"], fits["per_condition"])
    print(f"likelihood-ratio test, per-condition vs single residual: statistic {test.statistic:.4f}, "
          f"df {test.df}, p = {test.p_value:.4g}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from partclust.data import resolve_data_path
    from partclust.evaluation import REAL, compare_all, fit_table, load_runs, verdict_counts
    from partclust.files import write_csv
    from partclust.inference.runs import RUN_JSON
    from partclust.references import all_references, refuse_inconsistent_sas

    target = check_output_file("--out", args.out, example=f"comparison_{args.model}.csv")
    data = args.data
    if data is None:  # default: the dataset the runs recorded
        first = Path(args.runs[0]) / RUN_JSON
        if first.is_file():
            data = json.loads(first.read_text())["data"]["path"]
        data = str(resolve_data_path(data)) if data else None
    design = _load(data, [args.model])
    runs = load_runs(args.runs, model=args.model, design=design)
    for d, reason in runs.excluded:
        print(f"excluded: {d}: {reason}", file=sys.stderr)
    refs = all_references(design, args.model, args.sas_output)
    refuse_inconsistent_sas(refs)  # a PostSumInt that disagrees with its OUTPOST draws: exit 2
    fit = fit_table(runs.summaries)
    comparison = compare_all(fit, refs.values())
    out = write_csv(target, comparison)
    print(f"{len(runs.included)} converged run(s) of {args.model} compared with {', '.join(refs)}")
    print(verdict_counts(comparison).to_string())
    real = comparison[comparison["verdict"] == REAL]
    for _, r in real.iterrows():
        print(f"real difference: {r['reference']} {r['param']} {r['statistic']}: fit {r['fit_value']:.4f} vs "
              f"{r['reference_value']:.4f} (z = {r['z']:.2f})")
    print(f"wrote {out}")
    return 0


def cmd_study(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from partclust.errors import StudyError
    from partclust.runner.dask import close_client, compile_cache, start_workers
    from partclust.runner.study import main_study
    from partclust.studies.seeds import MAX_SEEDS, StudySettings
    from partclust.validate import check_int

    if not args.seed_list:
        check_int("--seeds", args.seeds, 1, MAX_SEEDS, StudyError)  # before range(): 2**40 seeds is refused here
    seeds = tuple(args.seed_list) if args.seed_list else tuple(range(1, args.seeds + 1))
    # every setting is checked before the data are loaded (or downloaded)
    study = StudySettings(
        models=tuple(args.models), seeds=seeds, draws=args.draws, tune=args.tune, chains=args.chains,
        data_path="", out=str(Path(args.out).resolve()), workers=args.workers,
        scheduler=args.scheduler or "", timeout_s=args.timeout, why_notebook=args.why, plots=args.plots,
    )
    if study.scheduler:  # a wrong address is refused in seconds, before any data are read
        from partclust.runner.dask import probe_scheduler

        probe_scheduler(study.scheduler)
    # the workers and their kernels start now, while the data are read and checked
    starting = start_workers(study.scheduler, study.n_workers, compile_cache(study))
    try:
        design = _load(args.data, study.models)
        from partclust.references import refuse_inconsistent_sas, sas_reference

        for model in study.models:  # the aggregate compares with sas_reference/output: check it before any fit
            refuse_inconsistent_sas([sas_reference(design, model)])
    except BaseException:
        try:
            close_client(*starting.result())
        except Exception:  # the data error is the one to report
            pass
        raise
    return main_study(replace(study, data_path=design.source), design, starting=starting)


def cmd_why(args: argparse.Namespace) -> int:
    from partclust.layout import ResultsLayout
    from partclust.reporting.index import write_index
    from partclust.reporting.render import render_notebooks
    from partclust.runner.notebooks import execute

    WHY_NOTEBOOK = NOTEBOOK_FILES["why"]
    out = check_output_dir("--out", args.out)
    design = load_design(args.data)
    target = ResultsLayout(out).study_notebook(WHY_NOTEBOOK)
    print(f"running {WHY_NOTEBOOK} (several minutes: NUTS and Metropolis fits) → {target}", flush=True)
    execute(WHY_NOTEBOOK, target, {"data_path": design.source, "results_dir": str(out)},
            progress=sys.stderr.isatty())
    render_notebooks(out, [target])
    print(f"report: {write_index(out)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of ``partclust`` and its subcommands, each bound to its ``cmd_*`` function."""
    parser = argparse.ArgumentParser(
        prog="partclust",
        description="Replicate a SAS PROC MCMC analysis of a partially clustered trial in PyMC.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check the dataset and print its design")
    _add_data(p)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("fit", help="fit one model with one seed (executes notebooks/02_fit.ipynb)")
    p.add_argument("--model", choices=RESIDUALS, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--draws", type=int, default=2000)
    p.add_argument("--tune", type=int, default=1000)
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--parameterization", choices=PARAMETERIZATIONS, default="noncentered")
    p.add_argument("--sampler", choices=SAMPLERS, default="nutpie")
    p.add_argument("--target-accept", type=float, default=0.9)
    p.add_argument("--no-plots", action="store_true", help="skip trace and rank plots")
    p.add_argument("--out", required=True, metavar="DIR")
    _add_data(p)
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("exact", help="the exact posterior by quadrature (no sampling)")
    p.add_argument("--model", choices=RESIDUALS, required=True)
    p.add_argument("--out", required=True, metavar="FILE.csv")
    _add_data(p)
    p.set_defaults(func=cmd_exact)

    p = sub.add_parser("reml", help="REML estimates of both models and the likelihood-ratio test")
    _add_data(p)
    p.set_defaults(func=cmd_reml)

    p = sub.add_parser("compare", help="compare fits with exact, REML, PyMC 2 (2011) and SAS")
    p.add_argument("--model", choices=RESIDUALS, required=True)
    p.add_argument("--runs", nargs="+", required=True, metavar="DIR")
    p.add_argument("--sas-output", metavar="DIR", default=None, help="default: sas_reference/output")
    p.add_argument("--out", required=True, metavar="FILE.csv")
    _add_data(p)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("why", help="why σ²_u differed: skewness, mixing, prior traps (notebook 05)")
    p.add_argument("--out", default=str(RESULTS), metavar="DIR")
    _add_data(p)
    p.set_defaults(func=cmd_why)

    p = sub.add_parser("study", help="the multi-seed study: every model × seed, aggregate, HTML reports")
    p.add_argument("--models", nargs="+", choices=RESIDUALS, default=list(RESIDUALS))
    g = p.add_mutually_exclusive_group()
    g.add_argument("--seeds", type=int, default=20, help="run seeds 1..N (default 20)")
    g.add_argument("--seed-list", type=int, nargs="+", metavar="SEED")
    p.add_argument("--draws", type=int, default=2000)
    p.add_argument("--tune", type=int, default=1000)
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--workers", type=int, default=0, help="local worker processes (default: one per core)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler, e.g. tcp://host:8786")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds a notebook cell may run")
    p.add_argument("--why", action="store_true", help="also run notebooks/05_why_s2u_differed.ipynb (minutes)")
    p.add_argument("--plots", choices=("first", "all", "none"), default="first",
                   help="trace and rank plots in the first seed's notebook of each model (default), all, or none")
    p.add_argument("--out", default=str(RESULTS), metavar="DIR")
    _add_data(p)
    p.set_defaults(func=cmd_study)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0, 1 failed computation, 2 bad input, 130 interrupted)."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except PartclustError as exc:
        kind = "error" if exc.exit_code == EXIT_BAD_INPUT else "failed"
        print(f"partclust {args.command}: {kind}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"partclust {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
