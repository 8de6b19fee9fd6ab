"""The command line's shared options: the data file and the model specification, read into model data.

Every command that takes data and a model uses these, so ``--data``, ``--model``, ``--formula``,
``--residual-by`` and ``--prior`` mean the same everywhere.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from partclust.config import RESIDUALS
from partclust.runner.programs import spec_given

__all__ = ["check_study_sizes", "add_data", "load_checked", "add_spec", "spec_of", "model_data_of", "given_spec",
           "notebook_spec_params", "check_run_dirs"]


def add_data(p: argparse.ArgumentParser) -> None:
    """Add the ``--data PATH`` option."""
    p.add_argument("--data", metavar="PATH", default=None,
                   help="run1.csv (default: $RUN1_CSV, then data/run1.csv, then the pinned download)")


def load_checked(data: str | None, models: Sequence[str] = (), *, priors: bool = True):
    """Load the validated dataset; refuse it (exit 2) when any of ``models`` cannot be fitted to it."""
    from partclust.models.checks import check_data

    from partclust.data import load_design

    design = load_design(data)
    for model in models:
        check_data(design, model, **({} if priors else {"priors": None}))
    return design


def add_spec(p: argparse.ArgumentParser, model_help: str = "a built-in run1 model") -> None:
    """Add the model-specification options ``--model``, ``--formula``, ``--residual-by`` and ``--prior``."""
    g = p.add_argument_group("model specification (--model or --formula)")
    g.add_argument("--model", choices=RESIDUALS, default=None, help=model_help)
    g.add_argument("--formula", default=None, metavar='"Y ~ X + (0 + TX | G)"',
                   help="any model of the family, e.g. \"y ~ treat + pretest + (0 + treat | coach)\" or "
                        "\"Height ~ gf + (1 | Family)\"")
    g.add_argument("--residual-by", default=None, metavar="COLUMN",
                   help="with --formula: one residual variance per level of COLUMN")
    g.add_argument("--prior", action="append", default=[], metavar='"NAME ~ DIST"',
                   help="a prior in PROC MCMC syntax, e.g. \"s2u ~ igamma(0.01, scale=0.01)\" (repeatable); "
                        "names: b, b[<column>], s2u, s2e, s2e[<level>] (b0, b1, s2e_control, … for --model)")


def spec_of(args: argparse.Namespace, default_model: str | None = None):
    """Return the :class:`~partclust.models.spec.ModelSpec` the options describe (``default_model`` when none).

    Raises
    ------
    SpecError
        When the formula, the residual column or a prior cannot be read.
    """
    from partclust.validate import check_model_choice

    model = args.model or (None if args.formula else default_model)
    check_model_choice(model, args.formula)  # before the model layers' imports (≈ 1 s)
    from partclust.translate import model_spec

    return model_spec(model, args.formula, args.residual_by, args.prior)


def model_data_of(args: argparse.Namespace, spec, *, check: bool = True):
    """Read the data through ``spec``; a built-in model's data are first checked as the model needs."""
    from partclust.models import builtin_data
    from partclust.translate import load_model_data, spec_key

    if spec.is_builtin:
        default = spec_key(spec) == ""
        design = load_checked(args.data, [spec.name] if check else [], priors=default)
        return builtin_data(design, spec=spec)
    return load_model_data(args.data, spec)


def given_spec(args: argparse.Namespace) -> bool:
    """Whether the command line gives a model specification (``--formula``, ``--residual-by`` or ``--prior``)."""
    return spec_given(args)


def notebook_spec_params(args: argparse.Namespace, spec) -> dict:
    """Return the fit notebook's specification parameters (it rebuilds the same spec from them)."""
    return {"model": spec.name if spec.is_builtin else "", "formula": spec.formula,
            "residual_by": spec.residual_by or "" if not spec.is_builtin else "", "priors": list(args.prior)}


def check_run_dirs(runs: Sequence[str]) -> list[Path]:
    """Return the ``--runs`` folders as paths if each is a run folder (one holding ``run.json``); else name it.

    Raises
    ------
    ComparisonError
        For the first entry that does not exist, is a file, or holds no ``run.json``.
    """
    from partclust.errors import ComparisonError
    from partclust.inference.runs import RUN_JSON

    hint = "give the folders partclust fit --out or a study (runs/<model>/seed-<k>) wrote"
    for d in runs:
        p = Path(d).expanduser()
        if not p.exists():
            raise ComparisonError(f"--runs {p}: no such folder; {hint}.")
        if not p.is_dir():
            raise ComparisonError(f"--runs {p} is a file, not a run folder; {hint}.")
        if not (p / RUN_JSON).is_file():
            raise ComparisonError(f"--runs {p} is not a run folder (no {RUN_JSON}: not a fit's output, or the fit "
                                  f"did not finish); {hint}.")
    return [Path(d).expanduser() for d in runs]


def check_study_sizes(args: argparse.Namespace) -> None:
    """Refuse a study's out-of-range seeds, draws, tune, chains or workers with light imports only (≈ 0.2 s).

    Raises
    ------
    StudyError
        Naming the option, its allowed range and the value given.
    """
    from partclust.config import MAX_SEEDS, MAX_WORKERS
    from partclust.errors import PartclustError, StudyError
    from partclust.inference.settings import FitSettings
    from partclust.validate import check_int, check_positive, check_gate_chains

    if not args.seed_list:
        check_int("seeds (--seeds)", args.seeds, 1, MAX_SEEDS, StudyError)  # before range(): 2**40 seeds refused
    try:
        FitSettings(draws=args.draws, tune=args.tune, chains=args.chains)
    except PartclustError as exc:
        raise StudyError(str(exc)) from None
    check_int("workers (--workers)", args.workers, 0, MAX_WORKERS, StudyError)
    check_positive("timeout (--timeout)", args.timeout, StudyError)
    check_gate_chains(args.chains, StudyError)
