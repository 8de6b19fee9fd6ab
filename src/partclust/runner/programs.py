"""The command line's PROC MCMC program options: ``--sas-program FILE [--step K]`` and ``partclust translate``.

A translated program takes the place of ``--model``/``--formula`` in ``fit``, ``exact``, ``reml``, ``compare``
and ``study`` (:mod:`partclust.runner.cli` dispatches here); a refused construct or a file with several steps
fails before any notebook or kernel starts.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["add_program", "translation_of", "fit_program", "family_data", "compare_program", "cmd_translate",
           "spec_given"]


def spec_given(args: argparse.Namespace) -> bool:
    """Whether a model specification option (``--model``, ``--formula``, ``--residual-by``, ``--prior``) was given."""
    return bool(getattr(args, "model", None) or getattr(args, "formula", None) or getattr(args, "prior", None)
                or getattr(args, "residual_by", None))


def add_program(p: argparse.ArgumentParser, replaces: bool = True) -> None:
    """Add ``--sas-program`` and ``--step`` to a command (``replaces``: the command has the model options too)."""
    g = p.add_argument_group("or a PROC MCMC program, translated as written (partclust translate shows how)"
                             if replaces else "a PROC MCMC program, translated as written (partclust translate shows how)")
    g.add_argument("--sas-program", metavar="FILE.sas", default=None,
                   help="the SAS program (instead of --model/--formula/--prior; its priors are the program's)"
                   if replaces else "the SAS program: its model and its alternative residual structure are studied "
                                    "(default: run1's two built-in models)")
    g.add_argument("--step", type=int, default=None, metavar="K",
                   help="which PROC MCMC step of the file (needed when it has several; without it they are listed)")


def translation_of(args: argparse.Namespace):
    """Translate the program of ``--sas-program`` (and ``--step``) with its data (``--data`` or the default)."""
    from partclust.data import resolve_data_path
    from partclust.errors import SpecError
    from partclust.translate.program import read_program
    from partclust.translate.translation import translate_file

    if spec_given(args):
        raise SpecError("--sas-program replaces --model, --formula, --residual-by and --prior (the program says "
                        "the model and its priors); give one or the other")
    read_program(args.sas_program, args.step)  # refusals and the list of steps come first
    return translate_file(args.sas_program, resolve_data_path(args.data), args.step)



def fit_program(args: argparse.Namespace) -> int:
    """``partclust fit --sas-program``: fit the translated program (in this process, or with ``--notebook`` the fit notebook)."""
    from partclust.inference.runs import RUN_JSON
    from partclust.inference.settings import FitSettings
    from partclust.runner.fitting import fit_here, fit_notebook, print_fit
    from partclust.validate import check_output_dir

    out = check_output_dir("--out", args.out)  # before the program is read: a folder it cannot write is refused
    translation = translation_of(args)  # refused constructs and bad data fail here, before a kernel starts
    step = int(args.step or 0)
    settings = FitSettings(
        model=translation.name, parameterization=args.parameterization, seed=args.seed, draws=args.draws,
        tune=args.tune, chains=args.chains, sampler=args.sampler, target_accept=args.target_accept,
        sas_program=str(Path(args.sas_program).resolve()), step=step, program_sha256=translation.program_sha256,
    )
    translation.model(settings.parameterization)  # a statement whose value cannot be computed fails here too
    params = {k: v for k, v in settings.__dict__.items() if k not in ("spec", "program_sha256")}
    params.update({"model": "", "data_path": translation.source, "output_dir": str(out),
                   "make_plots": not args.no_plots})
    print(f"fitting {translation.program.title} ({settings.parameterization}, {settings.sampler}, seed "
          f"{settings.seed}) → {out}", flush=True)
    if not args.notebook:
        print_fit(out, fit_here(translation, settings, out, translated=True))
        return 0
    executed = fit_notebook(out, params)
    print_fit(out, json.loads((out / RUN_JSON).read_text()), executed)
    return 0


def family_data(translation):
    """Return the family's ModelData of a translated program, or refuse in one line saying why it is not in it."""
    from partclust.errors import SpecError

    if not translation.family.member:
        raise SpecError(f"{translation.program.title} is not in the model family, so the exact posterior and REML "
                        f"do not apply: {translation.family.reason}")
    return translation.family.data



def compare_program(args: argparse.Namespace, sas_program: str, record: dict | None) -> int:
    """``partclust compare`` of runs of a translated program (given, or the one the runs recorded)."""
    from partclust.data import resolve_data_path
    from partclust.evaluation import REAL, compare_all, fit_table, load_runs, verdict_counts
    from partclust.files import write_csv
    from partclust.references import program_references
    from partclust.validate import check_output_file

    target = check_output_file("--out", args.out, example="comparison.csv")
    if args.sas_program is None:  # default: the program, step and dataset the runs recorded
        args.sas_program = sas_program
        args.step = args.step if args.step is not None else (record["settings"].get("step") or None)
    if args.data is None and record is not None:
        args.data = str(resolve_data_path(record["data"]["path"]))
    translation = translation_of(args)
    runs = load_runs(args.runs, model=translation.name, data_sha256=translation.sha256,
                     spec_record=translation.spec_record())
    for d, reason in runs.excluded:
        print(f"excluded: {d}: {reason}", file=sys.stderr)
    fit = fit_table(runs.summaries)
    refs = program_references(translation, args.sas_output)
    comparison = compare_all(fit, refs.values())
    out = write_csv(target, comparison)
    print(f"{len(runs.included)} converged run(s) of {translation.program.title} compared with "
          + ", ".join(f"{k}" + ("" if r.available else f" (unavailable: {r.unavailable_reason})") for k, r in refs.items()))
    print(verdict_counts(comparison).to_string())
    for _, r in comparison[comparison["verdict"] == REAL].iterrows():
        print(f"real difference: {r['reference']} {r['param']} {r['statistic']}: fit {r['fit_value']:.4f} vs "
              f"{r['reference_value']:.4f} (z = {r['z']:.2f})")
    print(f"wrote {out}")
    return 0



def _program_data(program_path: str, data: str | None) -> tuple[str | None, str]:
    """Find the data file for a program: ``--data``, else the project's dataset if it has the program's columns.

    Returns (path or None, why none).
    """
    from partclust.data import resolve_data_path
    from partclust.errors import DataError

    if data:
        return str(resolve_data_path(data)), ""
    try:
        return str(resolve_data_path(None, allow_download=False)), ""
    except DataError as exc:
        return None, str(exc)


def cmd_translate(args: argparse.Namespace) -> int:
    """``partclust translate``: the SAS ↔ PyMC table and the recognised family (with data, when they fit)."""
    from partclust.errors import DataError
    from partclust.translate.program import read_program
    from partclust.translate.table import format_table, translation_table
    from partclust.translate.translation import translate_file

    program = read_program(args.program, args.step)  # refusals and the list of steps come first, without data
    path, why = _program_data(args.program, args.data)
    translation = None
    if path is not None:
        try:
            translation = translate_file(args.program, path, args.step)
        except DataError as exc:
            if args.data:
                raise
            why = f"the default dataset does not fit this program ({exc}); give --data FILE"
    if translation is not None:
        print(translation.text(args.parameterization))
    else:
        print(program.title)
        print()
        print(format_table(translation_table(program, None, args.parameterization)))
        print()
        print(f"model family: not checked without data ({why})")
    return 0
