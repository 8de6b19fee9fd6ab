"""``partclust efficiency``: notebook 08 (σ²_u's efficiency per parameterization × sampler) from the command line."""

from __future__ import annotations

import argparse
import sys

from partclust.config import NOTEBOOK_FILES
from partclust.layout import RESULTS
from partclust.runner.args import add_data
from partclust.runner.programs import add_program
from partclust.validate import check_output_dir

__all__ = ["QUICK_EFFICIENCY", "add_efficiency", "cmd_efficiency"]

QUICK_EFFICIENCY = {"seeds": [1, 2], "parameterizations": ["centered", "sas_singletons"], "samplers": ["nutpie", "metropolis"],
                    "nutpie_sizes": [300, 300, 2], "metropolis_sizes": [300, 200, 1], "exact_draws": 300}
"""Notebook 08's parameters under ``--quick``: a minute-scale look (and the tests' size), not an answer."""


def cmd_efficiency(args: argparse.Namespace) -> int:
    """Execute notebook 08 into ``--out`` (reused while its inputs are unchanged), render it, print the recommendation.

    With ``--sas-program FILE [--step K]`` the notebook studies that program's model (its specification, data
    and priors, and its other residual structure when it suggests one: :mod:`partclust.studies.programs`);
    the program's bytes are part of the reuse key.

    Raises
    ------
    DataError
        For data that cannot be read (before any kernel starts).
    SpecError
        For a program outside the model family (its reason, in one line) or with several steps and no
        ``--step``; ``RefusedError`` for a construct the translator does not support.
    NotebookError
        When the notebook fails (its executed copy is kept).
    """
    from pathlib import Path

    from partclust.data import load_design
    from partclust.layout import ResultsLayout
    from partclust.reporting.render import render_notebooks
    from partclust.runner.cache import execute_cached
    from partclust.runner.study import landing_page

    name = NOTEBOOK_FILES["efficiency"]
    out = check_output_dir("--out", args.out)
    layout = ResultsLayout(out)
    target = layout.study_notebook(name)
    params = {"results_dir": str(out), **(QUICK_EFFICIENCY if args.quick else {})}
    inputs: list[str] = []
    if args.sas_program:
        from partclust.runner.programs import translation_of
        from partclust.studies.programs import program_models_of

        translation = translation_of(args)  # refusals, a file with several steps and bad data: exit 2 here
        models = program_models_of(translation)  # a program outside the family: exit 2 with the reason
        design, sha256 = None, translation.sha256
        program = str(Path(args.sas_program).resolve())
        params.update({"data_path": translation.source, "sas_program": program, "step": int(args.step or 0)})
        inputs = [program]  # the program's content, not only its path, keys the reuse
        what = f"{translation.program.title}: " + " and ".join(f"{m}" for m in models.residuals) + " residual model(s)"
        print(models.describe().replace("**", "").replace("`", ""), flush=True)
    else:
        design = load_design(args.data)
        sha256 = design.sha256
        params["data_path"] = design.source
        what = "both residual models"
    print(f"{name} ({'quick sizes' if args.quick else 'several minutes the first time'}: every parameterization × "
          f"sampler × seed for {what}) → {target}", flush=True)
    ran = execute_cached(name, target, params, sha256, inputs, root=out, progress=sys.stderr.isatty())
    if not ran:
        print("reused: its notebook, parameters, data" + (", program" if inputs else "") + " and package are unchanged")
    render_notebooks(out, [target], only_stale=True)
    recommendation = layout.efficiency / "recommendation.md"
    if recommendation.is_file():
        print(recommendation.read_text(encoding="utf-8").replace("**", "").strip())
    print(f"table: {layout.efficiency / 'efficiency.csv'}")
    # the answer is on the notebook's own page; run1's landing page lists it with the study's other analyses
    # (a program's data need not be run1's, which that page summarizes)
    print(f"report: {layout.reports / target.relative_to(out).with_suffix('.html')}")
    if not inputs:
        print(f"landing page of the results folder: {landing_page(out, design)}")
    return 0


def add_efficiency(sub: argparse._SubParsersAction) -> None:
    """Add the ``efficiency`` subcommand to the command line's subparsers."""
    p = sub.add_parser("efficiency", help="σ²_u's ESS per second for every parameterization × sampler (notebook 08)")
    p.add_argument("--out", default=str(RESULTS), metavar="DIR",
                   help="results folder: <DIR>/efficiency/efficiency.csv, the executed notebook and its page "
                        "(default results/)")
    p.add_argument("--quick", action="store_true",
                   help="two seeds, the centered and sas_singletons parameterizations, nutpie and Metropolis, few "
                        "draws: a look in minutes, not an answer (without it: 3 seeds × 3 parameterizations × 3 "
                        "samplers × 2 models, several minutes to a quarter of an hour here)")
    add_data(p)
    add_program(p, replaces=False)
    p.set_defaults(func=cmd_efficiency)
