"""The landing page's content: the answer's numbers are the CSVs', its sentences follow them, the list of
analyses follows the notebook registry, and a notebook's finding travels in its executed copy."""

from __future__ import annotations

import json

import matplotlib
import nbformat
import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom
from helpers_report import NASTY, SEEDS, executed_notebook, make_results

matplotlib.use("Agg")

from partclust.config import NOTEBOOK_FILES  # noqa: E402
from partclust.errors import ReportError  # noqa: E402
from partclust.evaluation.compare import z_critical  # noqa: E402
from partclust.inference.runs import read_posterior  # noqa: E402
from partclust.references.exact import exact_posterior  # noqa: E402
from partclust.reporting import analyses, sentences, summary  # noqa: E402
from partclust.reporting.findings import FINDING_KEY, notebook_findings, show_finding  # noqa: E402


@pytest.fixture(scope="module")
def answered(tmp_path_factory, run1_design):
    results = make_results(tmp_path_factory.mktemp("answer"), data_sha256=run1_design.sha256, why_tables=True)
    return results, summary.study_answer(results, run1_design)


def _s2u_row(results, model):
    cmp = pd.read_csv(results / "comparison" / f"{model}.csv")
    return cmp[(cmp["reference"] == "exact") & (cmp["param"] == "s2u") & (cmp["statistic"] == "mean")].iloc[0]


def test_answer_numbers_are_the_csvs_and_the_exact_posterior(answered, run1_design):
    results, answer = answered
    assert list(answer.models) == ["single", "per_condition"]  # the study record's order
    for model, a in answer.models.items():
        row = _s2u_row(results, model)
        n = a.numbers
        assert (n["fit_value"], n["fit_se"], n["z"], n["verdict"]) == (row["fit_value"], row["fit_se"], row["z"],
                                                                        row["verdict"])
        mc = pd.read_csv(results / "study" / model / "mc_error.csv")
        s2u = mc.set_index("param").loc["s2u"]
        assert (n["ratio"], n["ratio_lo"], n["ratio_hi"]) == (s2u["calibration_ratio"], s2u["ratio_lo"],
                                                               s2u["ratio_hi"])
        assert n["n_params"] == len(mc)
        assert n["n_ratio_consistent"] == int(((mc["ratio_lo"] <= 1) & (mc["ratio_hi"] >= 1)).sum())
        ex = exact_posterior(run1_design, model)
        assert n["exact_mean"] == ex.table.set_index("param").loc["s2u", "mean"] and n["exact_mode"] == ex.s2u_mode
        # the histogram pools the converged runs only (seed 2 failed the gate), old flat files included
        seeds = [s for s in SEEDS[model] if s != 2]
        expected = np.concatenate([read_posterior(results / "runs" / model / f"seed-{s}")["s2u"].values.ravel()
                                   for s in seeds])
        np.testing.assert_array_equal(a.draws, expected)


def test_pooled_draws_are_the_study_seeds_only(tmp_path, run1_design):
    """A seed folder left by an earlier study (not in study.json's seed list) is not pooled; ``seeds`` narrows it."""
    import shutil

    results = make_results(tmp_path, models=("single",), data_sha256=run1_design.sha256)
    runs = results / "runs" / "single"
    shutil.copytree(runs / "seed-1", runs / "seed-7")  # converged, same data: only the seed list keeps it out
    record = json.loads((runs / "seed-7" / "run.json").read_text())
    record["settings"]["seed"] = 7
    (runs / "seed-7" / "run.json").write_text(json.dumps(record))

    def draws(*seeds):
        return np.concatenate([read_posterior(runs / f"seed-{s}")["s2u"].values.ravel() for s in seeds])

    recorded = summary.study_answer(results, run1_design).models["single"]  # study.json: seeds 1, 2, 3
    np.testing.assert_array_equal(recorded.draws, draws(1, 3))
    given = summary.study_answer(results, run1_design, seeds=[3]).models["single"]
    np.testing.assert_array_equal(given.draws, draws(3))
    assert (runs / "seed-7").is_dir()


def test_sentences_quote_the_numbers(answered):
    results, answer = answered
    verdict, calibration, why = answer.sentences()
    assert verdict.startswith("**No: PyMC's σ²_u agrees with the exact posterior within Monte Carlo error**")
    for model in ("single", "per_condition"):
        row = _s2u_row(results, model)
        assert f"PyMC {row['fit_value']:.4f} ± {row['fit_se']:.4f}" in verdict
        assert f"z = {row['z']:+.2f} (threshold ±{row['z_crit']:.2f})" in verdict
    n = answer.models["single"].numbers
    assert n["z_crit"] == pytest.approx(z_critical(n["m_exact"], df=n["n_seeds"] - 1))
    assert "weak check" not in verdict + calibration  # 30 seeds here
    assert f"exact mean {n['exact_mean']:.4f} (median {n['exact_median']:.4f}, mode {n['exact_mode']:.4f})" in verdict
    assert "is the spread actually seen across seeds" in calibration
    assert (f"{n['n_ratio_consistent']} of {n['n_params']} parameters' intervals contain 1 for the single residual "
            f"(if the MCSE is right, about {0.05 * n['n_params']:.1f} of {n['n_params']} miss 1 by chance, and up to "
            f"{int(binom.ppf(0.95, n['n_params'], 0.05))} in 95 % of studies)") in calibration
    assert "**skewness**" in why and "0.405, 0.334 and 0.233" in why
    assert "**mixing**" in why and "110 effects" in why and "30.0×" in why  # SD 0.15 against 0.005
    assert "**prior traps**: 1 of 2" in why and "gamma on the SD 0.541" in why
    assert answer.markdown() == " ".join([verdict, calibration, why])


def test_few_seeds_are_called_a_weak_check_and_twenty_are_not():
    from partclust.evaluation.mc_error import ratio_interval

    def answer(seeds):
        lo, hi = ratio_interval(1.0, seeds)
        numbers = {"n_seeds": seeds, "m_exact": 14, "z_crit": z_critical(14, df=seeds - 1), "ratio": 1.0,
                   "verdict": "consistent with Monte Carlo error",
                   "ratio_lo": lo, "ratio_hi": hi, "n_params": 7, "n_ratio_consistent": 7}
        return summary.ModelAnswer("single", numbers, None, float("nan"), np.ones(4), mc=pd.DataFrame())

    assert sentences._few_seeds_caveat([answer(20)]) == ""
    assert "weak check" not in sentences.calibration_sentence({"single": answer(20)})
    caveat = sentences._few_seeds_caveat([answer(3)])
    assert ("With 3 seeds the SE is itself uncertain" in caveat and "Student t with 2 degrees of freedom" in caveat
            and f"With 20 seeds the threshold would be ±{z_critical(14, df=19):.2f}, " in caveat
            and "whose SE is the spread of only 3, is not to be read against it." in caveat)  # no false comparison
    assert "With 3 seeds these intervals are wide" in sentences.calibration_sentence({"single": answer(3)})


def test_a_real_difference_and_a_miscalibrated_mcse_are_said(answered, tmp_path, run1_design):
    results, _ = answered
    cmp = pd.read_csv(results / "comparison" / "single.csv")
    cmp.loc[(cmp["reference"] == "exact") & (cmp["param"] == "s2u"), "verdict"] = "real difference"
    other = make_results(tmp_path, models=("single",), data_sha256=run1_design.sha256)
    cmp.to_csv(other / "comparison" / "single.csv", index=False)
    mc = pd.read_csv(other / "study" / "single" / "mc_error.csv")
    mc.loc[mc["param"] == "s2u", ["calibration_ratio", "ratio_lo", "ratio_hi"]] = [2.5, 1.6, 4.1]
    mc.loc[mc["param"] == "s2e", ["calibration_ratio", "ratio_lo", "ratio_hi"]] = [1.1, 0.7, 1.8]
    mc.to_csv(other / "study" / "single" / "mc_error.csv", index=False)
    # σ²_u's interval alone misses 1: no more than chance gives (up to 1 of the 6 intervals in 95 % of studies)
    calibration = summary.study_answer(other, run1_design).sentences()[1]
    assert calibration.startswith("The Monte Carlo standard error each fit reports shows no clear sign of being wrong")
    assert "σ²_u's interval misses 1, but no more intervals miss it than chance explains." in calibration
    mc[["calibration_ratio", "ratio_lo", "ratio_hi"]] = [2.5, 1.6, 4.1]  # every interval misses 1: not chance
    mc.to_csv(other / "study" / "single" / "mc_error.csv", index=False)
    verdict, calibration, why = summary.study_answer(other, run1_design).sentences()
    assert verdict.startswith("**Yes, for the single residual model: PyMC's σ²_u differs")
    assert "is not the spread seen across seeds:" in calibration and "2.50 (95 % interval 1.60–4.10)" in calibration
    assert "every model" not in calibration and "chance explains" not in calibration  # one model: nothing singled out
    assert "notebook 05, not available here" in why and "skew.csv" in why
    record = other / "study" / "study.json"  # a study run with --no-why: the page says so, and what runs 05
    study = json.loads(record.read_text())
    study["settings"]["why_notebook"] = False
    record.write_text(json.dumps(study))
    why = summary.study_answer(other, run1_design).sentences()[2]
    assert "not available here (this study ran with --no-why" in why
    assert f"`partclust why --out {other}` runs it" in why


def test_without_runs_the_answer_says_so(tmp_path, run1_design):
    answer = summary.study_answer(tmp_path, run1_design, ["single"])
    sentences = answer.sentences()
    assert sentences[0].startswith("**Not answered yet: no converged PyMC run was compared.**")
    assert len(sentences) == 2  # no calibration without seeds; the why sentence says what is missing
    fig = summary.s2u_density_figure(answer)
    assert fig._suptitle.get_text() == "σ²_u: the exact posterior density"
    assert summary.calibration_figure(answer) is None


def test_why_tables_of_another_dataset_are_not_used(answered, tmp_path, run1_design):
    results = make_results(tmp_path, models=("single",), data_sha256=run1_design.sha256, why_tables=True)
    settings = results / "why" / "settings.json"
    settings.write_text(json.dumps({**json.loads(settings.read_text()), "data_sha256": "0" * 64}))
    why = summary.study_answer(results, run1_design).sentences()[-1]
    assert "computed from another dataset" in why


def test_figures_have_a_panel_per_model_with_labels(answered):
    _, answer = answered
    for fig in (summary.s2u_density_figure(answer), summary.calibration_figure(answer)):
        axes = [ax for ax in fig.axes if ax.get_title()]
        assert len(axes) == 2
        assert all(ax.get_xlabel() for ax in axes) and fig._suptitle is not None
    density = summary.s2u_density_figure(answer).axes[0]
    labels = [t.get_text() for t in density.get_legend().get_texts()]
    assert labels[0].startswith("PyMC draws") and "exact posterior density" in labels
    assert any(x.startswith("exact mean") for x in labels) and any(x.startswith("REML") for x in labels)
    import matplotlib.pyplot as plt

    plt.close("all")


def test_the_calibration_legend_covers_no_parameters_interval(answered):
    """The grey band's legend sits in a row of its own, under the last parameter (it hid u[10]'s bar)."""
    _, answer = answered
    fig = summary.calibration_figure(answer)
    fig.canvas.draw()
    for ax, a in zip([ax for ax in fig.axes if ax.get_title()], answer.models.values()):
        box = ax.get_legend().get_window_extent()
        mc = a.mc
        for k, (lo, hi) in enumerate(zip(mc["ratio_lo"], mc["ratio_hi"])):
            y = len(mc) - 1 - k
            (x0, y0), (x1, _) = ax.transData.transform([(lo, y), (hi, y)])
            crosses = box.x0 <= x1 and x0 <= box.x1 and box.y0 - 3 <= y0 <= box.y1 + 3
            assert not crosses, f"{a.model}: the legend covers {mc['param'].iloc[k]}'s interval"
    import matplotlib.pyplot as plt

    plt.close("all")


def test_the_list_of_analyses_follows_the_registry(answered, tmp_path):
    results, _ = answered
    text = analyses.analyses_markdown(results)
    for role, file in NOTEBOOK_FILES.items():
        if role != "summary":
            assert file[:2] + " · " in text or "not run by this study" in text, file  # every notebook listed
    assert "(page not rendered)" in text and "](" not in text  # nothing rendered yet: no dead links
    assert "200 subjects &lt;script&gt;" in text and NASTY not in text

    # a notebook added to the registry appears, with its finding once the study ran it
    registry = {**NOTEBOOK_FILES, "formula": "06_model_formula.ipynb"}
    text = analyses.analyses_markdown(results, registry)
    assert "**06_model_formula** — not run by this study; open `notebooks/06_model_formula.ipynb`" in text
    nbformat.write(executed_notebook("A formula front end", finding="the formula model equals the SAS model"),
                   results / "study" / "06_model_formula.ipynb")
    from partclust.reporting.render import render_all

    render_all(results)
    text = analyses.analyses_markdown(results, registry)
    assert "[**06_model_formula**](study/06_model_formula.html) — the formula model equals the SAS model" in text
    assert "[single](study/04_monte_carlo_single.html) — calibration of single looks fine" in text
    assert "[single seed-1](runs/single/seed-1/02_fit.html) — single seed 1: σ²_u 0.41" in text


def test_notebooks_left_out_by_no_why_are_listed_as_such(tmp_path, run1_design):
    results = make_results(tmp_path, models=("single",), data_sha256=run1_design.sha256)
    record = results / "study" / "study.json"
    study = json.loads(record.read_text())
    study["settings"]["why_notebook"] = False
    record.write_text(json.dumps(study))
    (results / "study" / NOTEBOOK_FILES["why"]).unlink()  # as a --no-why study leaves it: never run
    lines = {line.split("**")[1]: line for line in analyses.analyses_markdown(results).splitlines()
             if line.startswith("- **")}
    why = next(line for title, line in lines.items() if title.startswith("05"))
    assert "left out: this study ran with `--no-why`" in why and f"`partclust why --out {results}` runs it" in why
    for number in ("08", "09", "10"):
        line = next(line for title, line in lines.items() if title.startswith(number))
        assert "left out: this study ran with `--no-why`" in line and "a study without `--no-why` runs it" in line
    others = [line for title, line in lines.items() if title[:2] in ("11", "12")]
    assert others and all("not run by this study" in line for line in others)  # not a --no-why notebook


def test_many_runs_are_listed_by_their_first_copy(tmp_path, monkeypatch):
    results = make_results(tmp_path, models=("single",))
    monkeypatch.setattr(analyses, "MAX_LISTED", 2)
    text = analyses.analyses_markdown(results)
    assert "3 executed copies, the first of each of 1 folders shown" in text
    assert "single seed-1" in text and "single seed-3" not in text
    assert "and 2 more, each linked in the runs table below" in text


def test_show_finding_records_one_line_in_the_output_metadata():
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    InteractiveShell.instance()  # display() publishes through a shell, as in a kernel
    try:
        with capture_output() as captured:
            show_finding("σ²_u is 0.40")
    finally:
        InteractiveShell.clear_instance()
    (out,) = captured.outputs
    assert out.metadata == {FINDING_KEY: "σ²_u is 0.40"}
    assert out.data["text/markdown"] == "**Finding.** σ²_u is 0.40"
    for bad in ("", "two\nlines"):
        with pytest.raises(ReportError, match="one non-empty line"):
            show_finding(bad)


def test_notebook_findings_reads_them_back_and_names_a_bad_file(tmp_path):
    nb = executed_notebook("x", finding="first")
    nb.cells.append(nbformat.v4.new_code_cell("", outputs=[nbformat.v4.new_output(
        "display_data", data={"text/plain": "y"}, metadata={FINDING_KEY: "second"})]))
    nbformat.write(nb, tmp_path / "a.ipynb")
    assert notebook_findings(tmp_path / "a.ipynb") == ["first", "second"]
    nbformat.write(executed_notebook("none"), tmp_path / "b.ipynb")
    assert notebook_findings(tmp_path / "b.ipynb") == []
    (tmp_path / "c.ipynb").write_text("{oops")
    with pytest.raises(ReportError, match="c.ipynb"):
        notebook_findings(tmp_path / "c.ipynb")
    (tmp_path / "d.ipynb").write_text('{"nbformat": 3, "worksheets": []}')
    with pytest.raises(ReportError, match="d.ipynb: not an nbformat 4 notebook"):
        notebook_findings(tmp_path / "d.ipynb")


def test_a_study_of_the_researchers_own_model_is_answered_by_its_findings(tmp_path):
    """A formula study's landing page names the formula and quotes each model's notebook-04 finding."""
    results = tmp_path / "results"
    (results / "study").mkdir(parents=True)
    (results / "study" / "study.json").write_text(json.dumps({
        "settings": {"models": ["formula"], "seeds": [1, 2, 3], "formula": "y ~ treat + (0 + treat | coach)",
                     "residual_by": "treat", "sas_program": ""},
        "data": {"path": "trial.csv"}}))
    nbformat.write(executed_notebook("Monte Carlo error: formula", finding="σ²_u 0.41 ± 0.01, consistent"),
                   results / "study" / "04_monte_carlo_formula.ipynb")
    text = summary.own_model_markdown(results)
    assert "`y ~ treat + (0 + treat | coach)`" in text and "per level of `treat`" in text
    assert "3 seed(s)" in text and "**formula**: σ²_u 0.41 ± 0.01, consistent" in text
    (results / "study" / "study.json").write_text(json.dumps({"settings": {"models": ["single"], "formula": "",
                                                                          "sas_program": ""}}))
    assert summary.own_model_markdown(results) is None  # run1's built-in models: the σ²_u answer applies
