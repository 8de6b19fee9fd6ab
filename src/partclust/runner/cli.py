"""Command line: ``partclust validate | fit | exact | reml | compare | why | efficiency | study | sbc | simulate | translate``.

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
from partclust.runner.args import (add_data as _add_data, add_spec as _add_spec, check_run_dirs, check_study_sizes,
                                   given_spec as _given_spec, load_checked as _load, model_data_of as _model_data,
                                   spec_of as _spec)
from partclust.runner.fitting import cmd_fit
from partclust.runner.pipes import guarded_stdout
from partclust.runner.questions import add_efficiency
from partclust.runner.programs import (add_program, cmd_translate, compare_program, family_data, fit_program,
                                       translation_of)
from partclust.validate import check_output_dir, check_output_file

__all__ = ["build_parser", "main", "EXIT_BAD_INPUT", "EXIT_FAILED"]


def load_design(path: str | None):
    """Read and validate the dataset (:func:`partclust.data.load_design`; pandas is imported here, not at start-up)."""
    from partclust.data import load_design as _load

    return _load(path)


def cmd_validate(args: argparse.Namespace) -> int:
    from partclust.models.checks import data_problems

    if _given_spec(args):
        spec = _spec(args)
        print(_model_data(args, spec, check=False).describe())
        if spec.is_builtin:  # `validate --model X` asks whether X can be fitted: a refusal is exit 2, as fit's
            _model_data(args, spec)
            print(f"{spec.name} residual model: can be fitted")
        return 0
    design = load_design(args.data)
    print(design.describe())
    for model in RESIDUALS:
        problems = data_problems(design, model)
        verdict = "can be fitted" if not problems else "cannot be fitted: " + problems[0].removeprefix(
            f"{design.source}: ")
        print(f"{model} residual model: {verdict}")
    return 0


def _print_table(table) -> None:
    import pandas as pd

    with pd.option_context("display.max_colwidth", 200, "display.width", 250):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.5f}", na_rep="—"))


def cmd_exact(args: argparse.Namespace) -> int:
    import math

    from partclust.files import write_csv
    from partclust.references.exact import exact_posterior

    translation = translation_of(args) if args.sas_program else None
    if translation:
        target = check_output_file("--out", args.out, example=f"exact_{translation.name}.csv")
        data = family_data(translation)
    else:
        spec = _spec(args)
        target = check_output_file("--out", args.out, example=f"exact_{spec.name}.csv")
        data = _model_data(args, spec)
    post = exact_posterior(data, progress=sys.stderr.isatty())
    table = translation.family.rename(post.table) if translation else post.table  # the program's names
    out = write_csv(target, table)
    if not table["note"].astype(bool).any():
        table = table.drop(columns="note")
    _print_table(table)
    if not math.isnan(post.s2u_mode):
        name = f" ({translation.effect_variance})" if translation and translation.effect_variance != "s2u" else ""
        print(f"σ²_u{name} marginal mode: {post.s2u_mode:.5f}")
    print(f"wrote {out}")
    return 0


def cmd_reml(args: argparse.Namespace) -> int:
    from partclust.references.reml import lrt, reml

    if args.sas_program:
        translation = translation_of(args)
        f = reml(family_data(translation))
        print(f"REML, {translation.program.title}: {translation.family.description} (restricted log-likelihood "
              f"{f.loglik:.4f}" + (", σ²_u on its boundary 0" if f.s2u_on_boundary else "") + "):")
        _print_table(translation.family.rename(f.table))
        return 0
    if _given_spec(args):
        spec = _spec(args)
        f = reml(_model_data(args, spec, check=False))
        print(f"REML, {spec.text()} (restricted log-likelihood {f.loglik:.4f}"
              + (", s2u on its boundary 0" if f.s2u_on_boundary else "") + "):")
        _print_table(f.table)
        return 0
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
    from partclust.inference.runs import RUN_JSON, run_spec_record
    from partclust.references import all_references, refuse_inconsistent_sas
    from partclust.translate import spec_from_record

    first = check_run_dirs(args.runs)[0] / RUN_JSON  # first of all: a mistyped folder is named, not blamed on --model
    try:
        record = json.loads(first.read_text()) if first.is_file() else None
    except ValueError:
        record = None
    if args.sas_program:
        return compare_program(args, args.sas_program, record)
    if not _given_spec(args) and record is not None and record.get("settings", {}).get("sas_program"):
        return compare_program(args, record["settings"]["sas_program"], record)  # the program the runs fitted
    if _given_spec(args) or record is None:
        spec = _spec(args)
    else:  # default: the specification the runs recorded
        spec = spec_from_record(run_spec_record(record))
    target = check_output_file("--out", args.out, example=f"comparison_{spec.name}.csv")
    data = args.data
    if data is None and record is not None:  # default: the dataset the runs recorded
        data = str(resolve_data_path(record["data"]["path"]))
    args.data = data
    md = _model_data(args, spec)
    runs = load_runs(args.runs, model=spec.name, design=md, spec_record=spec.record())
    for d, reason in runs.excluded:
        print(f"excluded: {d}: {reason}", file=sys.stderr)
    refs = all_references(md, spec.name, args.sas_output)
    refuse_inconsistent_sas(refs)  # a PostSumInt that disagrees with its OUTPOST draws: exit 2
    fit = fit_table(runs.summaries)
    comparison = compare_all(fit, refs.values())
    out = write_csv(target, comparison)
    print(f"{len(runs.included)} converged run(s) of {spec.text()} compared with {', '.join(refs)}")
    print(verdict_counts(comparison).to_string())
    real = comparison[comparison["verdict"] == REAL]
    for _, r in real.iterrows():
        print(f"real difference: {r['reference']} {r['param']} {r['statistic']}: fit {r['fit_value']:.4f} vs "
              f"{r['reference_value']:.4f} (z = {r['z']:.2f})")
    print(f"wrote {out}")
    return 0


def cmd_study(args: argparse.Namespace) -> int:
    from dataclasses import replace

    check_study_sizes(args)  # before the imports of the study's layers (≈ 1.5 s) and before range()
    from partclust.runner.dask import close_client, compile_cache, start_workers
    from partclust.runner.study import check_study_folder_free, main_study
    from partclust.studies.seeds import StudySettings

    seeds = tuple(args.seed_list) if args.seed_list else tuple(range(1, args.seeds + 1))
    if args.sas_program:
        if args.models != list(RESIDUALS):
            from partclust.errors import SpecError

            raise SpecError("--sas-program runs the program's own model; do not give --models")
        translation = translation_of(args)
        translation.model("noncentered")  # a statement whose value cannot be computed fails before any fit
        study = StudySettings(
            models=(translation.name,), seeds=seeds, draws=args.draws, tune=args.tune, chains=args.chains,
            data_path=translation.source, out=str(Path(args.out).resolve()), workers=args.workers,
            scheduler=args.scheduler or "", timeout_s=args.timeout, why_notebook=args.why, plots=args.plots,
            sas_program=str(Path(args.sas_program).resolve()), step=int(args.step or 0),
        )
        return main_study(study, translation)
    models = tuple(args.models) if not args.formula else ("formula",)
    # every setting is checked before the data are loaded (or downloaded)
    study = StudySettings(
        models=models, seeds=seeds, draws=args.draws, tune=args.tune, chains=args.chains,
        data_path="", out=str(Path(args.out).resolve()), workers=args.workers,
        scheduler=args.scheduler or "", timeout_s=args.timeout, why_notebook=args.why, plots=args.plots,
        formula=args.formula or "", residual_by=args.residual_by or "", priors=tuple(args.prior),
    )
    if study.scheduler:  # a wrong address is refused in seconds, before any data are read
        from partclust.runner.dask import probe_scheduler

        probe_scheduler(study.scheduler)
    check_study_folder_free(study.out)  # a folder another study holds is refused before any worker starts
    # the workers and their kernels start now, while the data are read and checked; the fit's imports are queued
    # in them unless every run folder exists already (a re-run, which executes analysis notebooks only)
    fits_likely = not all((study.layout.run_dir(m, s) / "run.json").is_file() for m in models for s in seeds)
    starting = start_workers(study.scheduler, study.n_workers, compile_cache(study), imports=fits_likely)
    try:
        data = _model_data(args, study.spec(models[0]))
        for model in models[1:]:
            _model_data(args, study.spec(model))
        if not study.formula:
            from partclust.references import refuse_inconsistent_sas, sas_reference

            for model in study.models:  # the aggregate compares with sas_reference/output: check it before any fit
                refuse_inconsistent_sas([sas_reference(data, model)])
    except BaseException:
        try:
            close_client(*starting.result())
        except Exception:  # the data error is the one to report
            pass
        raise
    return main_study(replace(study, data_path=data.source), data, starting=starting)


def cmd_why(args: argparse.Namespace) -> int:
    from partclust.layout import ResultsLayout
    from partclust.reporting.render import render_notebooks
    from partclust.runner.cache import execute_cached
    from partclust.runner.study import landing_page

    WHY_NOTEBOOK = NOTEBOOK_FILES["why"]
    out = check_output_dir("--out", args.out)
    design = load_design(args.data)
    target = ResultsLayout(out).study_notebook(WHY_NOTEBOOK)
    print(f"{WHY_NOTEBOOK} (several minutes the first time: NUTS and Metropolis fits) → {target}", flush=True)
    ran = execute_cached(WHY_NOTEBOOK, target, {"data_path": design.source, "results_dir": str(out)}, design.sha256,
                         root=out, progress=sys.stderr.isatty())
    if not ran:
        print("reused: its notebook, parameters, data and package are unchanged")
    render_notebooks(out, [target], only_stale=True)
    print(f"report: {landing_page(out, design)}")
    return 0


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (what was wrong, and where the usage is), exit code 2."""

    def error(self, message: str):
        """Print ``<prog>: error: <message>`` and where the usage is, on one line; exit 2 (argparse's code)."""
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (usage: {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of ``partclust`` and its subcommands, each bound to its ``cmd_*`` function."""
    parser = OneLineParser(
        prog="partclust",
        description="Replicate a SAS PROC MCMC analysis of a partially clustered trial in PyMC.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check the dataset and print its design (as a model reads it)")
    _add_spec(p)
    _add_data(p)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("fit", help="fit one model with one seed (in this process; --notebook: notebooks/02_fit.ipynb)")
    _add_spec(p)
    p.add_argument("--seed", type=int, required=True, help="the sampler's seed: same seed and settings, same draws")
    p.add_argument("--draws", type=int, default=2000, help="draws kept per chain (default 2000)")
    p.add_argument("--tune", type=int, default=1000, help="tuning steps per chain, discarded (default 1000)")
    p.add_argument("--chains", type=int, default=4, help="chains, at least 2 for R-hat (default 4)")
    p.add_argument("--parameterization", choices=PARAMETERIZATIONS, default="noncentered",
                   help="how the cluster effects are written (sas_singletons: one effect per value of the cluster "
                        "column, controls included, as PROC MCMC)")
    p.add_argument("--sampler", choices=SAMPLERS, default="nutpie",
                   help="nutpie (NUTS, default), pymc (PyMC's NUTS) or metropolis (Metropolis-within-Gibbs)")
    p.add_argument("--target-accept", type=float, default=0.9, help="NUTS step-size adaptation target (default 0.9)")
    p.add_argument("--notebook", action="store_true",
                   help="execute the fit notebook (papermill) for its trace and rank plots: the same draws, about 9 s more")
    p.add_argument("--no-plots", action="store_true", help="with --notebook: skip trace and rank plots")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="run folder: posterior.nc, summary.csv and run.json (written last)")
    add_program(p)
    _add_data(p)
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("exact", help="the exact posterior by quadrature (no sampling)")
    _add_spec(p)
    p.add_argument("--out", required=True, metavar="FILE.csv",
                   help="the posterior table: mean, SD and quantiles of every parameter")
    add_program(p)
    _add_data(p)
    p.set_defaults(func=cmd_exact)

    p = sub.add_parser("reml", help="REML estimates (default: both built-in models and the likelihood-ratio test)")
    _add_spec(p, "one built-in run1 model (default: both, with the likelihood-ratio test)")
    add_program(p)
    _add_data(p)
    p.set_defaults(func=cmd_reml)

    p = sub.add_parser("compare", help="compare fits with exact, REML, PyMC 2 (2011) and SAS")
    _add_spec(p, "a built-in run1 model (default: the specification the runs recorded)")
    p.add_argument("--runs", nargs="+", required=True, metavar="DIR", help="run folders (fit --out or a study's runs)")
    p.add_argument("--sas-output", metavar="DIR", default=None,
                   help="default: sas_reference/output (with --sas-program: the folder holding that step's "
                        "outpost.csv; none by default)")
    p.add_argument("--out", required=True, metavar="FILE.csv",
                   help="one row per parameter × statistic × reference, with its difference, MCSE and verdict")
    add_program(p)
    _add_data(p)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("why", help="why σ²_u differed: skewness, mixing, prior traps (notebook 05)")
    p.add_argument("--out", default=str(RESULTS), metavar="DIR", help="results folder (default results/)")
    _add_data(p)
    p.set_defaults(func=cmd_why)

    add_efficiency(sub)

    p = sub.add_parser("study", help="the multi-seed study: every model × seed, aggregate, HTML reports")
    p.add_argument("--models", nargs="+", choices=RESIDUALS, default=list(RESIDUALS),
                   help="the built-in models to run (without --formula)")
    g = p.add_argument_group("model specification (default: the built-in models)")
    g.add_argument("--formula", default=None, metavar='"Y ~ X + (0 + TX | G)"', help="run this model instead")
    g.add_argument("--residual-by", default=None, metavar="COLUMN",
                   help="with --formula: one residual variance per level of COLUMN")
    g.add_argument("--prior", action="append", default=[], metavar='"NAME ~ DIST"',
                   help="a PROC MCMC prior statement for one parameter (repeatable); the others keep the SAS priors")
    add_program(p)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--seeds", type=int, default=20, help="run seeds 1..N (default 20)")
    g.add_argument("--seed-list", type=int, nargs="+", metavar="SEED", help="run exactly these seeds instead")
    p.add_argument("--draws", type=int, default=2000, help="draws kept per chain in every run (default 2000)")
    p.add_argument("--tune", type=int, default=1000, help="tuning steps per chain (default 1000)")
    p.add_argument("--chains", type=int, default=4, help="chains per run (default 4)")
    p.add_argument("--workers", type=int, default=0, help="local worker processes (default 0: one per core)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler, e.g. tcp://host:8786")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds a notebook cell may run (default 900)")
    p.add_argument("--why", action=argparse.BooleanOptionalAction, default=True,
                   help="run the notebooks that fit their own models too: 05 (why σ²_u differed), 08 (efficiency), "
                        "10 (prior sensitivity), and 09 (residual model) once both models are in (default; minutes "
                        "the first time, then reused while their inputs are unchanged)")
    p.add_argument("--plots", choices=("first", "all", "none"), default="first",
                   help="trace and rank plots in the first seed's notebook of each model (default), all, or none")
    p.add_argument("--out", default=str(RESULTS), metavar="DIR",
                   help="results folder: runs/, study/, comparison/, reports/index.html (default results/)")
    _add_data(p)
    p.set_defaults(func=cmd_study)

    from partclust.runner.calibrate_cli import add_commands

    add_commands(sub)

    p = sub.add_parser("translate", help="translate a PROC MCMC program: the SAS ↔ PyMC table and the model family")
    p.add_argument("program", metavar="PROGRAM.sas")
    p.add_argument("--step", type=int, default=None, metavar="K",
                   help="which PROC MCMC step of the file (needed when it has several; without it they are listed)")
    p.add_argument("--parameterization", choices=PARAMETERIZATIONS, default="noncentered",
                   help="how the RANDOM statement's effects are written (sas_singletons: one per subject value, "
                        "as PROC MCMC)")
    p.add_argument("--data", metavar="PATH", default=None,
                   help="the data the program reads (default: the project's dataset, if it has the program's columns)")
    p.set_defaults(func=cmd_translate)
    for action in sub._choices_actions:  # `partclust fit --help` opens with the line `partclust --help` lists
        sub.choices[action.dest].description = sub.choices[action.dest].description or action.help
    return parser


def run() -> None:
    """Run the ``partclust`` console script and ``python -m partclust``: :func:`main`, then a quick exit (``finish``)."""
    from partclust.runner.pipes import finish, hide_dask

    if sys.argv[1:2] == ["fit"]:  # a fit in this process never uses Dask (the studies' commands do)
        hide_dask()
    finish(main())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0, 1 failed computation, 2 bad input, 130 interrupted)."""
    args = build_parser().parse_args(argv)
    if args.command == "study":
        args.model = None
    with guarded_stdout():  # `partclust exact | head`: no BrokenPipeError traceback
        try:
            if getattr(args, "data", None):  # a missing file is refused before pandas loads (a second or more)
                from partclust.data.source import resolve_data_path

                resolve_data_path(args.data)
            return int(args.func(args) or 0)
        except PartclustError as exc:
            kind = "error" if exc.exit_code == EXIT_BAD_INPUT else "failed"
            print(f"partclust {args.command}: {kind}: {exc}", file=sys.stderr)
            return exc.exit_code
        except KeyboardInterrupt:
            print(f"partclust {args.command}: interrupted", file=sys.stderr)
            return 130

