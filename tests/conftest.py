"""Shared fixtures: the real dataset (never committed) and generated designs (builders in ``helpers.py``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import unbalanced_frame

from partclust.layout import REPO_ROOT

SHARED_COPY = REPO_ROOT.parent / "shared" / "data" / "run1.csv"
CASES = REPO_ROOT.parent / "shared" / "cases"


def pytest_configure(config):
    """One compile cache for the whole session (kernels and child processes inherit it), never results/."""
    import tempfile

    from partclust.inference.compiled import CACHE_ENV

    if not os.environ.get(CACHE_ENV):
        os.environ[CACHE_ENV] = config._partclust_cache = tempfile.mkdtemp(prefix="partclust-compile-cache-")


# Seconds each of the suite's longest tests took in a full run on two xdist workers (a loaded 2-core machine).
# Only the order of the collection depends on them: see ``pytest_collection_modifyitems``.
LONGEST: dict[str, float] = {
    "tests/studies/test_sensitivity.py::test_each_exact_posterior_matches_nuts_on_a_generated_design": 394,
    "tests/inference/test_compiled.py::test_warm_cache_same_draws_stale_and_corrupt_entries_rebuilt": 261,
    "tests/runner/test_study.py::test_failed_seed_is_recorded_and_a_rerun_redoes_only_it": 234,
    "tests/runner/test_translate_cli.py::test_study_of_a_program": 182,
    "tests/runner/test_study.py::test_a_truncated_run_is_refused_by_compare_and_redone_by_the_study": 165,
    "tests/studies/test_model_choice.py::test_psis_loo_matches_exact_leave_one_out[per_condition]": 150,
    "tests/runner/test_your_trial.py::test_your_trial_notebook_under_papermill": 100,
    "tests/runner/test_study.py::test_sigterm_then_rerun_keeps_finished_seeds": 132,
    "tests/runner/test_your_trial.py::test_fit_then_compare_a_formula_model": 127,
    "tests/runner/test_faults.py::test_a_full_disk_fails_in_one_line_and_a_rerun_after_freeing_space_completes": 126,
    "tests/studies/test_efficiency.py::test_a_small_grid_reuses_the_mixing_study_and_matches_the_exact_mean": 119,
    "tests/runner/test_questions_notebooks.py::test_residual_model_notebook_on_the_real_trial": 118,
    "tests/runner/test_study.py::test_dask_scheduler_on_localhost": 114,
    "tests/runner/test_questions_program.py::test_quick_efficiency_of_a_program": 113,
    "tests/runner/test_study.py::test_a_hanging_run_or_a_dead_kernel_fails_that_run_only[fit_hangs_for_one_seed.ipynb-timed out-60.0]": 106,
    "tests/runner/test_faults.py::test_a_study_where_no_run_converges_says_so": 94,
    "tests/inference/test_compiled.py::test_fresh_processes_cold_then_warm_give_the_same_draws": 89,
    "tests/inference/test_compiled.py::test_second_publisher_keeps_the_first_entry": 84,
    "tests/inference/test_fit.py::test_fit_notebook_on_unbalanced_design": 84,
    "tests/translate/test_fit_translated.py::test_the_project_program_fit_equals_the_exact_posterior": 82,
    "tests/studies/test_model_choice.py::test_psis_loo_matches_exact_leave_one_out[single]": 30,
    "tests/runner/test_study.py::test_a_hanging_run_or_a_dead_kernel_fails_that_run_only[fit_kernel_dies_for_one_seed.ipynb-died-900.0]": 73,
    "tests/runner/test_translate_cli.py::test_fit_then_compare_a_program": 66,
    "tests/evaluation/test_compare.py::test_a_shift_is_flagged_and_no_shift_is_not_for_any_number_of_seeds[20]": 62,
    "tests/evaluation/test_compare.py::test_nuts_matches_exact_and_a_wrong_prior_does_not": 57,
    "tests/inference/test_fit.py::test_same_seed_same_summary_and_run_record": 52,
    "tests/runner/test_calibrate.py::test_killed_command_reruns_only_missing_replicates": 48,
    "tests/evaluation/test_compare.py::test_synthetic_sas_output_consistent_and_shifted[per_condition]": 47,
    "tests/runner/test_calibration_notebooks.py::test_design_notebook_runs_a_small_grid": 46,
    "tests/translate/test_notebook_translate.py::test_notebook_07_with_a_program_and_synthetic_outpost": 38,
    "tests/studies/test_s2u.py::test_mixing_study_tiny_run": 36,
    "tests/data/test_identity.py::test_cli_fit_on_run1_with_lf_endings_then_compare_keeps_the_published_reference": 36,
    "tests/reporting/test_report.py::test_landing_page_answers_first_then_figures_then_every_analysis": 35,
    "tests/runner/test_calibration_notebooks.py::test_sbc_notebook_runs_a_small_exact_sbc": 32,
    "tests/reporting/test_report_browser.py::test_report_reads_like_a_person_reads_it": 28,
    "tests/references/test_sas.py::test_notebook_03_shows_a_banner_for_refused_sas_output": 27,
    "tests/references/test_exact_family.py::test_three_variances_refine_and_draws_agree": 24,
    "tests/studies/test_sbc.py::test_nutpie_replicates_thin_rank_and_reuse_the_compiled_model": 22,
    "tests/runner/test_cache.py::test_execute_cached_reuses_until_an_input_changes": 21,
    "tests/runner/test_your_trial.py::test_the_real_partially_nested_trial": 20,
    "tests/evaluation/test_compare.py::test_synthetic_sas_output_consistent_and_shifted[single]": 18,
    "tests/inference/test_fit_outcome.py::test_swapped_outcome_gives_the_draws_of_a_fresh_compile": 17,
    "tests/translate/test_model.py::test_the_project_program_is_the_builtin_model[sas_singletons-1-single]": 17,
    "tests/evaluation/test_compare.py::test_a_shift_is_flagged_and_no_shift_is_not_for_any_number_of_seeds[3]": 14,
    "tests/references/test_sas.py::test_cli_study_refuses_inconsistent_sas_output_before_any_fit": 14,
    "tests/test_architecture.py::test_light_commands_do_not_import_pymc[reml]": 12,
    "tests/references/test_sas.py::test_cross_check_consistent_and_capitalization": 12,
    "tests/reporting/test_summary.py::test_answer_numbers_are_the_csvs_and_the_exact_posterior": 12,
    "tests/translate/test_model.py::test_the_project_program_is_the_builtin_model[centered-2-per_condition]": 12,
    "tests/translate/test_model.py::test_the_project_program_is_the_builtin_model[sas_singletons-2-per_condition]": 11,
    "tests/test_architecture.py::test_light_imports_do_not_load_pymc": 11,
}


def pytest_collection_modifyitems(config, items):
    """On xdist workers, longest tests first, spread so that each worker's share takes about as long.

    ``--dist worksteal`` hands worker k the k-th consecutive share of the collection and lets an idle
    worker take the tail of another's queue. A long test that starts last makes the whole run wait for it,
    so the known-long tests (:data:`LONGEST`) are dealt out greedily (the longest first, each to the share
    with the least work so far) at the head of the shares, and every other test keeps its order behind
    them. Tests of a module with a module-scoped fixture stay together (the fixture is then built once).
    Without xdist (or with one worker) the order is left as collected.
    """
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
    if workers < 2 or len(items) < workers:
        return

    def grouped(item) -> bool:
        defs = getattr(item, "_fixtureinfo", None)
        defs = defs.name2fixturedefs.values() if defs else ()
        return any(d and d[-1].scope in ("module", "class", "package") for d in defs)

    units: list[list] = []  # a unit runs on one worker, in order
    by_module: dict = {}
    for item in items:
        if grouped(item):
            key = item.nodeid.split("::")[0]
            if key not in by_module:
                by_module[key] = []
                units.append(by_module[key])
            by_module[key].append(item)
        else:
            units.append([item])
    weight = [sum(LONGEST.get(i.nodeid, 0.0) for i in u) for u in units]
    # the shares xdist's worksteal scheduler hands out: len(pending) // workers_left, in order
    sizes, left = [], len(items)
    for k in range(workers):
        sizes.append(left // (workers - k))
        left -= sizes[-1]
    shares: list[list] = [[] for _ in range(workers)]
    load, count = [0.0] * workers, [0] * workers
    order = sorted(range(len(units)), key=lambda u: -weight[u])  # stable: equal weights keep their order
    for u in order:
        room = [k for k in range(workers) if count[k] + len(units[u]) <= sizes[k]]
        if not room:
            k = max(range(workers), key=lambda k: sizes[k] - count[k])
        elif weight[u]:
            k = min(room, key=lambda k: load[k])
        else:  # the rest fill the shares in collection order
            k = room[0]
        shares[k].append(units[u])
        load[k] += weight[u]
        count[k] += len(units[u])
    items[:] = [item for share in shares for unit in share for item in unit]


def pytest_unconfigure(config):
    """Remove the session's compile cache."""
    import shutil

    made = getattr(config, "_partclust_cache", None)
    if made:
        shutil.rmtree(made, ignore_errors=True)
        os.environ.pop("PARTCLUST_CACHE_DIR", None)


def _run1() -> Path:
    env = os.environ.get("RUN1_CSV")
    for cand in (env, SHARED_COPY, REPO_ROOT / "data" / "run1.csv"):
        if cand and Path(cand).is_file():
            return Path(cand).resolve()
    raise RuntimeError(
        "run1.csv not found: set RUN1_CSV to a local copy (CI uses ../shared/data/run1.csv)."
    )


@pytest.fixture(scope="session")
def run1_path() -> Path:
    return _run1()


@pytest.fixture(scope="session")
def run1_design(run1_path):
    from partclust.data import load_design

    return load_design(run1_path)


@pytest.fixture
def unbalanced_csv(tmp_path) -> Path:
    path = tmp_path / "unbalanced.csv"
    unbalanced_frame().to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def case():
    """A failing input from ``../shared/cases/`` by file name (the test is skipped when it is absent)."""

    def get(name: str) -> Path:
        path = CASES / name
        if not path.is_file():
            pytest.skip(f"{path} not found: the shared cases folder lies beside the repository")
        return path

    return get
