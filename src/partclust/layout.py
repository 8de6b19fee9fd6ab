"""Every location the project reads or writes: the repository's folders and the results layout.

Paths resolve from this file (the repository root) or from an explicit results folder, never from the
current directory. :class:`ResultsLayout` is the one owner of the tree under ``results/``::

    runs/<model>/seed-<k>/          one fit: 02_fit.ipynb, posterior.nc, summary.csv, run.json
    runs/interactive/<name>/        fits run from JupyterLab or ``partclust fit`` without --out
    study/study.json, failed.json   what the multi-seed study ran, and which runs failed
    study/<model>/mc_error.csv      Monte Carlo error across seeds
    study/<notebook>.ipynb          executed study notebooks (data, aggregate per model, why)
    comparison/<model>.csv          the pooled comparison with every reference
    comparison/<notebook>.ipynb     executed comparison notebooks (one per model)
    references/<key>/               reference tables with their provenance sidecars
    why/                            the σ²_u investigation's tables
    efficiency/efficiency.csv       parameterization × sampler efficiency (notebook 08)
    model_choice/                   which residual model: PSIS-LOO, REML test, variance ratio (notebook 09)
    sensitivity/                    σ²_u under alternative priors (notebook 10)
    sbc/                            simulation-based calibration: replicates/, ranks.csv, uniformity.csv, figures
    simulation/                     the design-level simulation: replicates/, coverage.csv, figures
    failed/<model>/seed-<k>/        executed notebooks of failed runs, kept for reading
    reports/                        rendered HTML pages and index.html
    cache/compiled/<key>/           compiled log densities, one per model structure (see
                                    partclust.inference.compiled); safe to delete
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["REPO_ROOT", "NOTEBOOKS", "SAS_REFERENCE", "SAS_OUTPUT", "RESULTS", "ResultsLayout"]

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO_ROOT / "notebooks"
SAS_REFERENCE = REPO_ROOT / "sas_reference"
SAS_OUTPUT = SAS_REFERENCE / "output"
RESULTS = REPO_ROOT / "results"


@dataclass(frozen=True)
class ResultsLayout:
    """The results tree rooted at ``root`` (default: the repository's ``results/``)."""

    root: Path = RESULTS

    def __post_init__(self) -> None:
        """Accept a string for ``root``: store it as a :class:`~pathlib.Path`."""
        object.__setattr__(self, "root", Path(self.root))

    # runs
    def runs(self, model: str) -> Path:
        """Folder holding one model's seed runs."""
        return self.root / "runs" / model

    def run_dir(self, model: str, seed: int) -> Path:
        """One model × seed run of the study."""
        return self.runs(model) / f"seed-{int(seed)}"

    def seed_runs(self, model: str, seeds: Iterable[int] = ()) -> list[Path]:
        """Return a model's seed folders that exist, in seed order (temporary folders excluded).

        Parameters
        ----------
        model : str
        seeds : iterable of int
            Only these seeds' folders (a study's seed list: folders left by earlier studies with other
            seeds are not among them); empty: every seed folder.
        """
        base = self.runs(model)
        if not base.is_dir():
            return []
        wanted = {int(s) for s in seeds}
        dirs = [p for p in base.glob("seed-*") if p.is_dir() and p.name[5:].isdigit()
                and (not wanted or int(p.name[5:]) in wanted)]
        return sorted(dirs, key=lambda p: int(p.name[5:]))

    def other_seed_runs(self, model: str, seeds: Iterable[int]) -> list[Path]:
        """Return the seed folders of a model outside ``seeds`` (left by an earlier study); [] without seeds."""
        seeds = list(seeds)
        wanted = self.seed_runs(model, seeds)
        return [p for p in self.seed_runs(model) if p not in wanted] if seeds else []

    def interactive_run(self, name: str) -> Path:
        """Where a fit started by hand writes when no output folder is given."""
        return self.root / "runs" / "interactive" / name

    def failed_run(self, model: str, seed: int) -> Path:
        """Where a failed run's executed notebook is kept."""
        return self.root / "failed" / model / f"seed-{int(seed)}"

    # study
    @property
    def study(self) -> Path:
        """Folder of study-level records and notebooks."""
        return self.root / "study"

    @property
    def study_record(self) -> Path:
        """``study/study.json``: settings, versions, data checksum, timings, outcomes."""
        return self.study / "study.json"

    @property
    def failed_record(self) -> Path:
        """``study/failed.json``: the runs that failed, with their errors."""
        return self.study / "failed.json"

    def study_notebook(self, name: str) -> Path:
        """Return where an executed study-level notebook goes: ``study/<name>``."""
        return self.study / name

    def mc_error_csv(self, model: str) -> Path:
        """Return the Monte Carlo error table of one model: ``study/<model>/mc_error.csv``."""
        return self.study / model / "mc_error.csv"

    def comparison_csv(self, model: str) -> Path:
        """Return the pooled comparison of one model with every reference: ``comparison/<model>.csv``."""
        return self.root / "comparison" / f"{model}.csv"

    def comparison_notebook(self, name: str) -> Path:
        """Return where an executed comparison notebook goes."""
        return self.root / "comparison" / name

    def references(self, key: str) -> Path:
        """Return the folder of one dataset × model's reference tables and sidecars.

        ``key`` is ``<data-sha12>-<model>`` (:func:`~partclust.references.store.reference_key`).
        """
        return self.root / "references" / key

    @property
    def why(self) -> Path:
        """Tables of the σ²_u investigation (notebook 05)."""
        return self.root / "why"

    @property
    def efficiency(self) -> Path:
        """Tables of the efficiency study (notebook 08): ``efficiency/efficiency.csv`` and its runs."""
        return self.root / "efficiency"

    @property
    def model_choice(self) -> Path:
        """Tables of the residual-model choice (notebook 09)."""
        return self.root / "model_choice"

    @property
    def sensitivity(self) -> Path:
        """Tables of the σ²_u prior sensitivity (notebook 10)."""
        return self.root / "sensitivity"

    @property
    def sbc(self) -> Path:
        """Simulation-based calibration: ``replicates/<model>/rep-<k>.json``, ranks, uniformity, figures."""
        return self.root / "sbc"

    @property
    def simulation(self) -> Path:
        """The design-level simulation: ``replicates/<cell>/rep-<k>.json``, coverage, figures."""
        return self.root / "simulation"

    @property
    def compiled_cache(self) -> Path:
        """Compiled nutpie models, one folder per model structure (``cache/compiled``)."""
        return self.root / "cache" / "compiled"

    @property
    def reports(self) -> Path:
        """Rendered HTML pages."""
        return self.root / "reports"

    @property
    def index(self) -> Path:
        """The report's landing page."""
        return self.reports / "index.html"
