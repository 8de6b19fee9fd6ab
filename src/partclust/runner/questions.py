"""``partclust efficiency``: notebook 08 (σ²_u's efficiency per parameterization × sampler) from the command line."""

from __future__ import annotations

import argparse
import sys

from partclust.config import NOTEBOOK_FILES
from partclust.layout import RESULTS
from partclust.runner.args import add_data
from partclust.validate import check_output_dir

__all__ = ["QUICK_EFFICIENCY", "add_efficiency", "cmd_efficiency"]

QUICK_EFFICIENCY = {"seeds": [1, 2], "parameterizations": ["centered", "sas_singletons"], "samplers": ["nutpie", "metropolis"],
                    "nutpie_sizes": [300, 300, 2], "metropolis_sizes": [300, 200, 1], "exact_draws": 300}
"""Notebook 08's parameters under ``--quick``: a minute-scale look (and the tests' size), not an answer."""


def cmd_efficiency(args: argparse.Namespace) -> int:
    """Execute notebook 08 into ``--out`` (reused while its inputs are unchanged), render it, print the recommendation.

    Raises
    ------
    DataError
        For data that cannot be read (before any kernel starts).
    NotebookError
        When the notebook fails (its executed copy is kept).
    """
    from partclust.data import load_design
    from partclust.layout import ResultsLayout
    from partclust.reporting.render import render_notebooks
    from partclust.runner.cache import execute_cached
    from partclust.runner.study import landing_page

    name = NOTEBOOK_FILES["efficiency"]
    out = check_output_dir("--out", args.out)
    design = load_design(args.data)
    layout = ResultsLayout(out)
    target = layout.study_notebook(name)
    params = {"data_path": design.source, "results_dir": str(out), **(QUICK_EFFICIENCY if args.quick else {})}
    print(f"{name} ({'quick sizes' if args.quick else 'several minutes the first time'}: every parameterization × "
          f"sampler × seed for both residual models) → {target}", flush=True)
    ran = execute_cached(name, target, params, design.sha256, root=out, progress=sys.stderr.isatty())
    if not ran:
        print("reused: its notebook, parameters, data and package are unchanged")
    render_notebooks(out, [target], only_stale=True)
    recommendation = layout.efficiency / "recommendation.md"
    if recommendation.is_file():
        print(recommendation.read_text(encoding="utf-8").replace("**", "").strip())
    print(f"table: {layout.efficiency / 'efficiency.csv'}")
    print(f"report: {landing_page(out, design)}")
    return 0


def add_efficiency(sub: argparse._SubParsersAction) -> None:
    """Add the ``efficiency`` subcommand to the command line's subparsers."""
    p = sub.add_parser("efficiency", help="σ²_u's ESS per second for every parameterization × sampler (notebook 08)")
    p.add_argument("--out", default=str(RESULTS), metavar="DIR",
                   help="results folder: <DIR>/efficiency/efficiency.csv, the executed notebook and its page")
    p.add_argument("--quick", action="store_true",
                   help="two seeds, two parameterizations, nutpie and Metropolis, few draws: a quick look")
    add_data(p)
    p.set_defaults(func=cmd_efficiency)
