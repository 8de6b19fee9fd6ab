"""Builders for the report tests: executed notebooks and a results folder with known numbers.

The results folder has the study's layout and file formats (posterior files are ArviZ DataTrees, one
an old flat file; notebook 05's tables come from its own summary functions) but made-up numbers: the
tests check that the landing page shows exactly what the files hold, not what a study would find.
"""

from __future__ import annotations

import base64
import functools
import io
import json
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd

from partclust.inference.runs import RUN_FILES, file_record

NASTY = "<script>alert('x')</script> & \"quoted\""
SEEDS = {"single": (1, 2, 3), "per_condition": (1, 2)}
FAKE_SHA = "ab" * 32
PARAMS = {
    "single": ["b0", "b1", "s2e", "s2u", "u[grp-A]", "u[grp B]"],
    "per_condition": ["b0", "b1", "s2e_control", "s2e_treated", "s2u"],
}


# --------------------------------------------------------------------------------------------------
# the fake results tree (also used by test_report_browser.py)


@functools.cache
def _png_base64() -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2), dpi=50)
    ax.plot([0, 1, 2], [0.4, 0.1, 0.3])
    ax.set_title("σ²_u by seed")
    ax.set_xlabel("seed")
    ax.set_ylabel("posterior mean")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def executed_notebook(title: str, code: str = "fig = plot_s2u(seeds)", finding: str | None = None) -> nbformat.NotebookNode:
    """A notebook as papermill leaves it: a heading, code, and outputs including an inline PNG (and, with
    ``finding``, an output recorded as the notebook's finding, as ``show_finding`` leaves it)."""
    from partclust.reporting.findings import FINDING_KEY

    v4 = nbformat.v4
    nb = v4.new_notebook()
    nb.cells = [
        v4.new_markdown_cell(f"# {title}\n\nWhich question this answers, with `code` and *emphasis*."),
        v4.new_code_cell("seed = 1", execution_count=1, metadata={"tags": ["parameters"]}),
        v4.new_code_cell(code, execution_count=2, outputs=[
            v4.new_output("stream", name="stdout", text="sampling 4 chains\n"),
            v4.new_output("display_data", data={"image/png": _png_base64(), "text/plain": "<Figure 150x100>"}),
            v4.new_output("execute_result", execution_count=2,
                          data={"text/plain": "0.4", "text/html": "<table><tr><td>0.4</td></tr></table>"}),
        ]),
    ]
    if finding is not None:
        nb.cells.append(v4.new_code_cell("show_finding(text)", execution_count=3, outputs=[
            v4.new_output("display_data", data={"text/markdown": f"**Finding.** {finding}",
                                                "text/plain": "<IPython.core.display.Markdown object>"},
                          metadata={FINDING_KEY: finding}),
        ]))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _mc_error(model: str, rng: np.random.Generator) -> pd.DataFrame:
    params = PARAMS[model]
    n = len(params)
    df = pd.DataFrame({
        "param": params,
        "n_seeds": len(SEEDS[model]) * 10,
        "mean_of_means": rng.normal(0, 1, n) * 10.0 ** rng.integers(-4, 3, n),
        "sd_of_means": rng.uniform(1e-4, 0.05, n),
        "rms_mcse": rng.uniform(1e-4, 0.05, n),
        "calibration_ratio": rng.uniform(0.6, 1.6, n),
        "ratio_lo": rng.uniform(0.3, 0.6, n),
        "ratio_hi": rng.uniform(1.6, 2.4, n),
        "mean_z_exact": rng.normal(0, 1, n),
    })
    df.loc[df["param"] == "s2e", ["calibration_ratio", "ratio_lo", "ratio_hi"]] = [1.9, 1.2, 2.9]  # misses 1
    df.loc[df["param"] == "b1", "calibration_ratio"] = np.nan  # a missing value is shown, not invented
    df.loc[df["param"] == "s2u", "mean_of_means"] = 0.4123456789
    return df


def _comparison(model: str, mc: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    from partclust.evaluation.compare import MIN_SEEDS_FOR_SPREAD, z_critical

    n = int(mc["n_seeds"].iloc[0])  # the threshold compare_all gives: Bonferroni over the exact rows, t with S - 1 df
    z_crit = z_critical(2 * len(mc), df=n - 1 if n >= MIN_SEEDS_FOR_SPREAD else np.inf)
    rows = []
    for param, fit in zip(mc["param"], mc["mean_of_means"]):
        for stat in ("mean", "sd"):
            exact = fit + rng.normal(0, 1e-3)
            se = 1e-3
            verdict = "real difference" if param == "b0" else "consistent with Monte Carlo error"
            rows.append({"reference": "exact", "param": param, "statistic": stat, "reference_value": exact,
                         "fit_value": fit, "fit_se": se * 0.9, "difference": fit - exact, "se": se,
                         "z": (fit - exact) / se, "z_crit": z_crit, "verdict": verdict})
        rows.append({"reference": "sas", "param": param, "statistic": "mean", "reference_value": np.nan,
                     "fit_value": fit, "fit_se": np.nan, "difference": np.nan, "se": np.nan, "z": np.nan,
                     "verdict": "not comparable"})
    return pd.DataFrame(rows)


def write_posterior(run: Path, model: str, seed: int, flat: bool = False) -> None:
    """A ``posterior.nc`` with made-up draws: a DataTree with posterior and sample_stats groups (the
    layout runs write), or with ``flat`` the posterior alone at the root (files written before)."""
    import xarray as xr

    rng = np.random.default_rng(seed)
    names = [p for p in PARAMS[model] if not p.startswith("u[")]
    post = xr.Dataset({p: (("chain", "draw"), rng.gamma(3.0, 0.13, (2, 250)) if p == "s2u"
                           else rng.normal(0.0, 1.0, (2, 250))) for p in names},
                      coords={"chain": [0, 1], "draw": np.arange(250)})
    if flat:
        post.to_netcdf(run / "posterior.nc", engine="netcdf4")
        return
    stats = xr.Dataset({"energy": (("chain", "draw"), rng.normal(300, 3, (2, 250))),
                        "diverging": (("chain", "draw"), np.zeros((2, 250), bool))}, coords=post.coords)
    tree = xr.DataTree.from_dict({"/posterior": post, "/sample_stats": stats})
    tree.attrs.update({"model": model, "seed": seed, "data_sha256": FAKE_SHA})
    tree.to_netcdf(run / "posterior.nc", engine="netcdf4")


def write_why_tables(results: Path, data_sha256: str, model: str = "single") -> None:
    """Notebook 05's tables (``why/``) as its own summary functions write them, from made-up runs."""
    from partclust.files import write_json
    from partclust.studies import s2u as why

    folder = results / "why"
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"statistic": ["posterior mean", "posterior median", "posterior mode", "REML estimate"],
                  "value": [0.405, 0.334, 0.233, 0.258]}).to_csv(folder / "skew.csv", index=False)

    def runs(config, sampler, param, means, mcses, ess, effects):
        return [{"config": config, "sampler": sampler, "parameterization": param, "n_effects": effects, "seed": k,
                 "chains": 1, "draws": 2000, "tune": 0, "total_draws": 2000, "mean": m, "sd": 0.3, "mcse_mean": s,
                 "ess_bulk": e, "gate_passed": True, "divergences": 0, "sample_s": 1.0, "wall_s": 1.0}
                for k, (m, s, e) in enumerate(zip(means, mcses, ess))]

    rows = (runs("NUTS centered", "nutpie", "centered", [0.400, 0.405, 0.410], [0.005] * 3, [800] * 3, 10)
            + runs("Metropolis sas_singletons", "metropolis", "sas_singletons", [0.25, 0.40, 0.55], [0.03] * 3,
                   [5] * 3, 110))
    why.mixing_summary(pd.DataFrame(rows)).to_csv(folder / "mixing.csv", index=False)
    pd.DataFrame([
        {"trap": "correct", "verdict": "reference", "fit_mean": 0.405, "fit_se": 0.004, "exact_mean": 0.405,
         "z": np.nan, "z_crit": np.nan, "exact_difference": np.nan},
        {"trap": "gamma on the SD", "verdict": why.MOVES, "fit_mean": 0.54, "fit_se": 0.005, "exact_mean": 0.541,
         "z": 21.2, "z_crit": 2.24, "exact_difference": 0.136},
        {"trap": "inverse-gamma on the variance", "verdict": why.NO_MOVE, "fit_mean": 0.407, "fit_se": 0.005,
         "exact_mean": 0.404, "z": 0.3, "z_crit": 2.24, "exact_difference": -0.001},
    ]).to_csv(folder / "prior_traps.csv", index=False)
    write_json(folder / "settings.json", {"model": model, "data_sha256": data_sha256, "target_mcse": 0.005})


def make_results(root: Path, *, models=("single", "per_condition"), study_json: bool = True,
                 failed: list | None = None, data_sha256: str = FAKE_SHA, why_tables: bool = False) -> Path:
    """A results tree shaped like the study's, with every part present unless told otherwise."""
    rng = np.random.default_rng(3)
    results = root / "results"
    for model in models:
        for seed in SEEDS[model]:
            run = results / "runs" / model / f"seed-{seed}"
            run.mkdir(parents=True)
            nbformat.write(executed_notebook(f"Fit the {model} model, seed {seed}",
                                             finding=f"{model} seed {seed}: σ²_u 0.4{seed}"), run / "02_fit.ipynb")
            pd.DataFrame({"param": PARAMS[model], "mean": 0.0, "sd": 1.0, "mcse_mean": 0.01}).to_csv(run / "summary.csv",
                                                                                      index=False)
            write_posterior(run, model, seed, flat=seed == 3)
            (run / "run.json").write_text(json.dumps({  # written last, listing its files as a fit does
                "settings": {"model": model, "seed": seed},
                "data": {"sha256": data_sha256},
                "convergence": {"passed": seed != 2, "reason": "" if seed != 2 else "failed: r_hat (r_hat_max=1.02)"},
                "files": {name: file_record(run / name) for name in RUN_FILES},
            }))
        mc = _mc_error(model, rng)
        (results / "study" / model).mkdir(parents=True)
        mc.to_csv(results / "study" / model / "mc_error.csv", index=False)
        (results / "comparison").mkdir(parents=True, exist_ok=True)
        _comparison(model, mc, rng).to_csv(results / "comparison" / f"{model}.csv", index=False)
        nbformat.write(executed_notebook(f"Monte Carlo error: {model}", finding=f"calibration of {model} looks fine"),
                       results / "study" / f"04_monte_carlo_{model}.ipynb")
        nbformat.write(executed_notebook(f"Comparison with every reference: {model}"),
                       results / "comparison" / f"03_compare_{model}.ipynb")
    (results / "study").mkdir(parents=True, exist_ok=True)
    (results / "comparison").mkdir(parents=True, exist_ok=True)
    nbformat.write(executed_notebook("Why does σ²_u differ?", finding="skewness survives"),
                   results / "study" / "05_why_s2u_differed.ipynb")
    nbformat.write(executed_notebook("The data", finding="200 subjects " + NASTY), results / "study" / "01_data.ipynb")
    if why_tables:
        write_why_tables(results, data_sha256)
    if study_json:
        (results / "study" / "study.json").write_text(json.dumps({
            "settings": {"models": list(models), "seeds": [1, 2, 3], "draws": 2000, "tune": 1000, "chains": 4, "workers": 0,
                         "sas_program": "", "step": 0, "priors": []},
            "versions": {"python": "3.12.1", "pymc": "5.99"},
            "data": {"path": "/data/run1.csv", "sha256": data_sha256},
            "date": "2025-01-02T03:04:05+0000",
            "wall_s": 3725.5,
            "stages_s": {"fits_s": 3000.25, "render_s": 12.5},
            "earlier_invocations": {"2025-01-01 10:00:00 UTC": "wall 88.0 s; 6 run(s) fitted, 0 reused"},
            "prebuilt": {},
            "runs": [{"model": m, "seed": k, "status": "done"} for m in models for k in SEEDS[m]],
            "note": NASTY,
        }))
    if failed is not None:
        (results / "study" / "failed.json").write_text(json.dumps(failed))
    return results


FAILED = [{"model": "single", "seed": 2, "error": "SamplingError: " + NASTY}]


