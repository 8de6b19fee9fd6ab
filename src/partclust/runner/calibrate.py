"""``partclust sbc`` and ``partclust simulate``: the calibration studies from start to end, on Dask.

Each command builds its replicates (:mod:`partclust.studies.sbc`, :mod:`partclust.studies.simulation`),
runs the missing ones through the replicate engine (:mod:`partclust.runner.calibration`), tabulates every
kept replicate, draws the figures and executes its notebook (11 or 12) on the tables::

    <out>/sbc/         replicates/<model>/rep-<k>.json, ranks.csv, uniformity.csv, sbc.json, failed.json,
                       rank_histograms.png, ecdf_difference.png, 11_sbc.ipynb
    <out>/simulation/  replicates/<cell>/rep-<k>.json, summaries.csv, coverage.csv, simulation.json,
                       failed.json, coverage.png, bias.png, 12_design_simulation.ipynb
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from partclust.config import NOTEBOOK_FILES, package_versions
from partclust.files import folder_lock, write_csv, write_json, write_with
from partclust.layout import RESULTS, ResultsLayout
from partclust.runner.calibration import Engine, Replicate, ReplicateOutcome, progress_bar, read_replicates, run_replicates
from partclust.studies.sbc import SBCSettings, fractional_ranks, ranks_table, sbc_replicate, uniformity
from partclust.studies.simulation import DEFAULT_GRID, Grid, coverage_table, read_grid, simulation_replicate

__all__ = ["CalibrationResult", "run_sbc", "run_simulation", "sbc_replicates", "simulation_replicates",
           "cmd_sbc", "cmd_simulate"]


@dataclass
class CalibrationResult:
    """What a calibration command produced: its tables, the replicate outcomes and where it wrote."""

    folder: Path
    tables: dict[str, pd.DataFrame]
    outcomes: list[ReplicateOutcome] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def failed(self) -> list[ReplicateOutcome]:
        """Replicates that failed in this run."""
        return [o for o in self.outcomes if o.status == "failed"]


def _key(record: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()[:16]


def sbc_replicates(design: Any, settings: SBCSettings, folder: Path) -> list[Replicate]:
    """One :class:`Replicate` per model × replicate, kept under ``folder/replicates/<model>/``."""
    return [Replicate(f"{m}/{k}", str(folder / "replicates" / m / f"rep-{k:05d}.json"), m, sbc_replicate,
                      (design, settings, m, k)) for m in settings.models for k in range(settings.replicates)]


def simulation_replicates(grid: Grid, replicates: int, seed: int, sampler: str, folder: Path) -> list[Replicate]:
    """One :class:`Replicate` per cell × replicate, kept under ``folder/replicates/<cell>/``."""
    return [Replicate(f"{c.name}/{k}", str(folder / "replicates" / c.name / f"rep-{k:05d}.json"), c.name,
                      simulation_replicate, (c, grid, k, seed, sampler)) for c in grid.cells for k in range(replicates)]


def _save(fig: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)


def _record(folder: Path, name: str, settings: dict, design: dict, outcomes: list[ReplicateOutcome],
            wall_s: float) -> None:
    counts = {s: sum(o.status == s for o in outcomes) for s in ("done", "skipped", "failed")}
    write_json(folder / name, {"settings": settings, "data": design, "versions": package_versions(),
                               "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "wall_s": round(wall_s, 2),
                               "replicates": counts})


def run_sbc(design: Any, settings: SBCSettings, out: str | Path = RESULTS, engine: Engine = Engine(),
            progress: Callable | None = None, client: Any = None, figures: bool = True) -> CalibrationResult:
    """Run (or resume) an SBC and write ``<out>/sbc/``: ranks, uniformity, figures, records.

    Parameters
    ----------
    design : Design or ModelData
        The fixed design simulated on (run1's by default in the command), or data read through the
        specification ``settings.spec`` names.
    settings : SBCSettings
    out : path
        The results folder.
    engine : Engine
    progress : callable, optional
        ``progress(outcome, k, n)`` per replicate.
    client : dask.distributed.Client, optional
    figures : bool
        Draw ``rank_histograms.png`` and ``ecdf_difference.png``.

    Returns
    -------
    CalibrationResult
        ``tables``: ``ranks`` (:data:`~partclust.studies.sbc.RANK_COLUMNS`) and ``uniformity``.

    Raises
    ------
    StudyError
        When no replicate could be kept, or the scheduler cannot be reached.
    SpecError
        When a prior is improper (nothing can be simulated from it).
    FolderInUse
        When another SBC writes into the folder.
    """
    from partclust.errors import StudyError

    import numpy as np

    from partclust.models.model_data import ModelData, builtin_data
    from partclust.models.simulate import draw_parameters

    for m in settings.models:  # an improper prior is refused here, not once per replicate on the workers
        draw_parameters(design if isinstance(design, ModelData) else builtin_data(design, m, settings.sim_priors),
                        np.random.default_rng(0))
    t0 = time.perf_counter()
    folder = ResultsLayout(out).sbc
    with folder_lock(folder, "an SBC"):
        reps = sbc_replicates(design, settings, folder)
        key = _key(settings.record())
        outcomes = run_replicates(reps, key, folder, engine, progress, client)
        results = read_replicates(reps, key)
        if not results:
            raise StudyError(f"no SBC replicate finished; see {folder / 'failed.json'}")
        ranks = ranks_table(results)
        tests = uniformity(ranks, settings.bins, settings.alpha, settings.seed)
        write_csv(folder / "ranks.csv", ranks)
        write_csv(folder / "uniformity.csv", tests)
        if figures:
            from partclust.reporting.plots.calibration import ecdf_differences, rank_histograms

            _save(rank_histograms(ranks, settings.bins), folder / "rank_histograms.png")
            _save(ecdf_differences(ranks.assign(pit=fractional_ranks(ranks, settings.seed))),
                  folder / "ecdf_difference.png")
        wall = time.perf_counter() - t0
        _record(folder, "sbc.json", settings.record() | {"replicates": settings.replicates},
                {"path": design.source, "sha256": design.sha256,
                 "model": design.spec.text() if isinstance(design, ModelData) else ", ".join(settings.models)},
                outcomes, wall)
    return CalibrationResult(folder, {"ranks": ranks, "uniformity": tests}, outcomes, wall)


def run_simulation(grid: Grid, replicates: int, seed: int = 2016, sampler: str = "nutpie", out: str | Path = RESULTS,
                   engine: Engine = Engine(), progress: Callable | None = None, client: Any = None,
                   figures: bool = True) -> CalibrationResult:
    """Run (or resume) the design-level simulation and write ``<out>/simulation/``.

    Parameters
    ----------
    grid : Grid
    replicates : int
        Replicates per cell (≥ 1).
    seed : int
    sampler : {"nutpie", "exact"}
    out : path
    engine : Engine
    progress, client, figures
        As for :func:`run_sbc` (figures: ``coverage.png``, ``bias.png``).

    Returns
    -------
    CalibrationResult
        ``tables``: ``summaries`` (one row per replicate × model × parameter) and ``coverage``
        (:data:`~partclust.studies.simulation.COVERAGE_COLUMNS`).

    Raises
    ------
    StudyError
        For replicates < 1, when no replicate could be kept, or the scheduler cannot be reached.
    """
    from partclust.errors import StudyError

    if not isinstance(replicates, int) or replicates < 1:
        raise StudyError(f"replicates (--replicates) must be a whole number ≥ 1; got {replicates!r}")
    t0 = time.perf_counter()
    folder = ResultsLayout(out).simulation
    with folder_lock(folder, "a design simulation"):
        reps = simulation_replicates(grid, replicates, seed, sampler, folder)
        record = {"grid": grid.record(), "seed": seed, "sampler": sampler}
        outcomes = run_replicates(reps, _key(record), folder, engine, progress, client)
        results = read_replicates(reps, _key(record))
        if not results:
            raise StudyError(f"no simulation replicate finished; see {folder / 'failed.json'}")
        summaries = pd.DataFrame([r for res in results for r in res["rows"]])
        coverage = coverage_table(summaries, grid.cells)
        write_csv(folder / "summaries.csv", summaries)
        write_csv(folder / "coverage.csv", coverage)
        if figures:
            from partclust.reporting.plots.calibration import bias_plot, coverage_plot

            _save(coverage_plot(coverage), folder / "coverage.png")
            _save(bias_plot(coverage), folder / "bias.png")
        wall = time.perf_counter() - t0
        _record(folder, "simulation.json", record | {"replicates": replicates, "grid_file": grid.source}, {},
                outcomes, wall)
    return CalibrationResult(folder, {"summaries": summaries, "coverage": coverage}, outcomes, wall)


def _sigterm_as_interrupt() -> None:
    import signal

    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not in the main thread
        pass


def _notebook(name: str, out: Path, folder: Path, params: dict[str, Any]) -> None:
    """Execute the command's notebook on its tables, render it to HTML and list it on the landing page.

    The landing page (``reports/index.html``) is rebuilt so that it links the notebook with its finding;
    when that fails (e.g. no dataset for its σ²_u answer) the notebook's own page still stands and the
    reason is printed.
    """
    from partclust.errors import PartclustError
    from partclust.reporting.render import render_notebooks
    from partclust.runner.notebooks import execute
    from partclust.runner.study import landing_page

    target = folder / NOTEBOOK_FILES[name]
    execute(NOTEBOOK_FILES[name], target, params, progress=False)
    page = render_notebooks(out, [target])[0]
    print(f"notebook: {target}\nreport: {page}")
    try:
        print(f"landing page: {landing_page(out, None)}")
    except PartclustError as exc:
        # the summary page reads the study's dataset (RUN1_CSV); sbc and simulate take no --data
        print(f"landing page not rebuilt (this command's own page above is complete): {str(exc).rstrip('.')}.")


def cmd_sbc(args: argparse.Namespace) -> int:
    """Run ``partclust sbc``; exit 1 when a replicate failed or a parameter's ranks are not uniform."""
    from partclust.runner.args import load_checked
    from partclust.validate import check_output_dir

    check_output_dir("--out", args.out)  # before the data, the workers and any replicate

    models, spec_json = tuple(args.models), ""
    if args.formula or args.prior or args.residual_by:
        from partclust.errors import SpecError
        from partclust.runner.args import model_data_of, spec_of
        from partclust.translate import spec_key

        if not args.formula and len(models) != 1:
            raise SpecError("--prior without --formula needs one built-in model: --models single or per_condition")
        args.model = None if args.formula else models[0]
        spec = spec_of(args)
        design = model_data_of(args, spec)
        models, spec_json = (spec.name,), spec_key(spec) or "{}"
    else:
        design = load_checked(args.data)
    settings = SBCSettings(models=models, replicates=args.replicates, seed=args.seed, sampler=args.sampler,
                           draws=args.draws, tune=args.tune, chains=args.chains, rank_draws=args.rank_draws,
                           bins=args.bins, spec=spec_json)
    engine = Engine(args.workers, args.scheduler or "")
    _sigterm_as_interrupt()
    bar, update = progress_bar(len(settings.models) * settings.replicates)
    try:
        result = run_sbc(design, settings, args.out, engine, update)
    finally:
        bar.close()
    tests = result.tables["uniformity"]
    print(tests.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    bad = tests[~tests["uniform"]]
    print(f"SBC ({settings.sampler}, {settings.replicates} replicates per model): "
          + ("ranks uniform for every parameter by both tests" if bad.empty else
             f"NOT uniform: {', '.join(sorted(set(bad['model'] + ' ' + bad['parameter'])))}")
          + f"; {len(result.failed)} replicate(s) failed → {result.folder}")
    if not args.no_notebook:
        out = Path(args.out).resolve()
        _notebook("sbc", out, result.folder, {"results_dir": str(out), "run_missing": False})
    return 1 if (result.failed or not bad.empty) else 0


def cmd_simulate(args: argparse.Namespace) -> int:
    """Run ``partclust simulate``; exit 1 when a replicate failed."""
    from partclust.validate import check_output_dir

    check_output_dir("--out", args.out)  # before the grid, the workers and any replicate
    grid = read_grid(args.grid or DEFAULT_GRID)
    engine = Engine(args.workers, args.scheduler or "")
    _sigterm_as_interrupt()
    bar, update = progress_bar(len(grid.cells) * args.replicates)
    try:
        result = run_simulation(grid, args.replicates, args.seed, args.sampler, args.out, engine, update)
    finally:
        bar.close()
    cov = result.tables["coverage"]
    b1 = cov[cov["parameter"] == "b1"][["cell", "model", "coverage", "coverage_mcse", "n"]]
    print(b1.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"{len(grid.cells)} cells × {args.replicates} replicates; {len(result.failed)} failed → {result.folder}")
    if not args.no_notebook:
        out = Path(args.out).resolve()
        _notebook("design_simulation", out, result.folder, {"results_dir": str(out), "run_missing": False})
    return 1 if result.failed else 0
