"""Builders for the report tests: executed notebooks and a results folder with known numbers."""

from __future__ import annotations

import base64
import functools
import io
import json
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd

NASTY = "<script>alert('x')</script> & \"quoted\""
SEEDS = {"single": (1, 2), "per_condition": (1,)}
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


def executed_notebook(title: str, code: str = "fig = plot_s2u(seeds)") -> nbformat.NotebookNode:
    """A notebook as papermill leaves it: a heading, code, and outputs including an inline PNG."""
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
    df.loc[df["param"] == "b1", "calibration_ratio"] = np.nan  # a missing value is shown, not invented
    df.loc[df["param"] == "s2u", "mean_of_means"] = 0.4123456789
    return df


def _comparison(model: str, mc: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for param, fit in zip(mc["param"], mc["mean_of_means"]):
        for stat in ("mean", "sd"):
            exact = fit + rng.normal(0, 1e-3)
            se = 1e-3
            verdict = "real difference" if param == "b0" else "consistent with Monte Carlo error"
            rows.append({"reference": "exact", "param": param, "statistic": stat, "reference_value": exact,
                         "fit_value": fit, "difference": fit - exact, "se": se, "z": (fit - exact) / se,
                         "verdict": verdict})
        rows.append({"reference": "sas", "param": param, "statistic": "mean", "reference_value": np.nan,
                     "fit_value": fit, "difference": np.nan, "se": np.nan, "z": np.nan,
                     "verdict": "not comparable"})
    return pd.DataFrame(rows)


def make_results(root: Path, *, models=("single", "per_condition"), study_json: bool = True,
                 failed: list | None = None) -> Path:
    """A results tree shaped like the study's, with every part present unless told otherwise."""
    rng = np.random.default_rng(3)
    results = root / "results"
    for model in models:
        for seed in SEEDS[model]:
            run = results / "runs" / model / f"seed-{seed}"
            run.mkdir(parents=True)
            nbformat.write(executed_notebook(f"Fit the {model} model, seed {seed}"), run / "02_fit.ipynb")
            (run / "run.json").write_text(json.dumps({
                "settings": {"model": model, "seed": seed},
                "convergence": {"passed": seed != 2, "reason": "" if seed != 2 else "failed: r_hat (r_hat_max=1.02)"},
            }))
            pd.DataFrame({"param": PARAMS[model], "mean": 0.0}).to_csv(run / "summary.csv", index=False)
            (run / "posterior.nc").write_bytes(b"\x89HDF\r\n")
        mc = _mc_error(model, rng)
        (results / "study" / model).mkdir(parents=True)
        mc.to_csv(results / "study" / model / "mc_error.csv", index=False)
        (results / "comparison").mkdir(parents=True, exist_ok=True)
        _comparison(model, mc, rng).to_csv(results / "comparison" / f"{model}.csv", index=False)
        nbformat.write(executed_notebook(f"Monte Carlo error: {model}"),
                       results / "study" / f"04_monte_carlo_{model}.ipynb")
    (results / "study").mkdir(parents=True, exist_ok=True)
    (results / "comparison").mkdir(parents=True, exist_ok=True)
    nbformat.write(executed_notebook("Why does σ²_u differ?"), results / "study" / "06_why_s2u.ipynb")
    nbformat.write(executed_notebook("Comparison with every reference"), results / "comparison" / "05_compare.ipynb")
    if study_json:
        (results / "study" / "study.json").write_text(json.dumps({
            "settings": {"models": list(models), "seeds": [1, 2, 3], "draws": 2000, "tune": 1000, "chains": 4},
            "versions": {"python": "3.12.1", "pymc": "5.99"},
            "data": {"path": "/data/run1.csv", "sha256": "ab" * 32},
            "date": "2025-01-02T03:04:05+0000",
            "wall_s": 3725.5,
            "stages_s": {"fits_s": 3000.25, "render_s": 12.5},
            "runs": [{"model": m, "seed": k, "status": "done"} for m in models for k in SEEDS[m]],
            "note": NASTY,
        }))
    if failed is not None:
        (results / "study" / "failed.json").write_text(json.dumps(failed))
    return results


FAILED = [{"model": "single", "seed": 2, "error": "SamplingError: " + NASTY}]


