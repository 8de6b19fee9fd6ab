"""Command line: ``partclust validate | fit | exact | reml | compare | study``.

Bad input exits with code 2 and one sentence naming the problem, never a traceback; a failed
computation exits with 1 and says where the details are.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from partclust.data import DataError, load_design
from partclust.model import PARAMETERIZATIONS, RESIDUALS

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


def _add_data(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", metavar="PATH", default=None,
                   help="run1.csv (default: $RUN1_CSV, then data/run1.csv, then the pinned download)")


def cmd_validate(args: argparse.Namespace) -> int:
    design = load_design(args.data)
    print(design.describe())
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    from partclust.fit import FitSettings
    from partclust.notebook import FIT_NOTEBOOK, execute

    settings = FitSettings(
        model=args.model, parameterization=args.parameterization, seed=args.seed, draws=args.draws,
        tune=args.tune, chains=args.chains, sampler=args.sampler, target_accept=args.target_accept,
    )
    design = load_design(args.data)  # validate before starting a kernel: bad data fails fast
    out = Path(args.out).resolve()
    params = {**settings.__dict__, "data_path": design.source, "output_dir": str(out),
              "make_plots": not args.no_plots}
    print(f"fitting {settings.model} ({settings.parameterization}, {settings.sampler}, seed {settings.seed}) → {out}")
    executed = execute(FIT_NOTEBOOK, out / FIT_NOTEBOOK, params, progress=sys.stderr.isatty())
    record = json.loads((out / "run.json").read_text())
    gate = record["convergence"]
    print(f"executed notebook: {executed}")
    print(f"convergence gate: {'passed' if gate['passed'] else gate['reason']}")
    print(f"summary: {out / 'summary.csv'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
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
    p.add_argument("--sampler", choices=("nutpie", "pymc", "metropolis"), default="nutpie")
    p.add_argument("--target-accept", type=float, default=0.9)
    p.add_argument("--no-plots", action="store_true", help="skip trace and rank plots")
    p.add_argument("--out", required=True, metavar="DIR")
    _add_data(p)
    p.set_defaults(func=cmd_fit)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from partclust.fit import FitError
    from partclust.notebook import NotebookError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (DataError, FitError) as exc:
        print(f"partclust {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except NotebookError as exc:
        print(f"partclust {args.command}: failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"partclust {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
