"""The command line of ``partclust sbc`` and ``partclust simulate``: their options, and nothing heavy.

The commands themselves (:mod:`partclust.runner.calibrate`) load NumPy, pandas and the samplers; this
module only describes the options, so that ``partclust --help`` stays fast.
"""

from __future__ import annotations

import argparse
from typing import Any

from partclust.config import RESIDUALS
from partclust.layout import RESULTS

__all__ = ["add_commands"]


def _cmd_sbc(args: argparse.Namespace) -> int:
    from partclust.runner.calibrate import cmd_sbc

    return cmd_sbc(args)


def _cmd_simulate(args: argparse.Namespace) -> int:
    from partclust.runner.calibrate import cmd_simulate

    return cmd_simulate(args)


def _engine_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=int, default=0, help="local worker processes (default 0: one per core)")
    p.add_argument("--scheduler", metavar="ADDRESS", default="", help="an existing Dask scheduler, e.g. tcp://host:8786")
    p.add_argument("--out", default=str(RESULTS), metavar="DIR", help="the results folder (default results/)")
    p.add_argument("--no-notebook", action="store_true", help="write the tables and figures only")


def add_commands(sub: Any) -> None:
    """Add the ``sbc`` and ``simulate`` subcommands to the ``partclust`` parser."""
    p = sub.add_parser("sbc", help="simulation-based calibration of the fit (notebook 11)")
    p.add_argument("--replicates", type=int, default=100, help="replicates per model (default 100)")
    p.add_argument("--models", nargs="+", choices=RESIDUALS, default=list(RESIDUALS),
                   help="residual structures to calibrate (default both)")
    p.add_argument("--sampler", choices=("nutpie", "exact"), default="nutpie",
                   help="nutpie (the study's fit, default) or exact (i.i.d. exact posterior draws: the control)")
    p.add_argument("--draws", type=int, default=2000, help="draws kept per chain of each replicate's fit (default 2000)")
    p.add_argument("--tune", type=int, default=1000, help="tuning steps per chain, discarded (default 1000)")
    p.add_argument("--chains", type=int, default=4, help="chains per fit (default 4)")
    p.add_argument("--rank-draws", type=int, default=99,
                   help="thin each posterior to this many draws, ranks 0…L (default 99; chains × draws must reach it)")
    p.add_argument("--bins", type=int, default=10, help="bins of the chi-square test and the histograms (default 10)")
    p.add_argument("--seed", type=int, default=2018, help="seed of the simulated data and of the fits (default 2018)")
    p.add_argument("--data", metavar="PATH", default=None, help="the design simulated on (default: run1)")
    g = p.add_argument_group("another model (default: the built-in models with the SAS program's priors)")
    g.add_argument("--formula", default=None, metavar='"Y ~ X + (0 + TX | G)"', help="a model of the family")
    g.add_argument("--residual-by", default=None, metavar="COLUMN")
    g.add_argument("--prior", action="append", default=[], metavar='"NAME ~ DIST"',
                   help="a proper prior in PROC MCMC syntax (repeatable); with one --models, for that built-in model")
    _engine_args(p)
    p.set_defaults(func=_cmd_sbc)

    p = sub.add_parser("simulate", help="design-level simulation: coverage and bias across designs (notebook 12)")
    p.add_argument("--grid", metavar="FILE.toml", default=None,
                   help="default: the grid shipped with the package (studies/grids/default.toml)")
    p.add_argument("--replicates", type=int, default=50, help="replicates per cell (default 50)")
    p.add_argument("--sampler", choices=("nutpie", "exact"), default="nutpie",
                   help="nutpie (default) or exact (i.i.d. exact posterior draws)")
    p.add_argument("--seed", type=int, default=2016, help="seed of the simulated trials and of the fits (default 2016)")
    _engine_args(p)
    p.set_defaults(func=_cmd_simulate)
