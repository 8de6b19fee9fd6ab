"""Compiling ahead: the entry the driver builds is the one the fit then loads (same key), and nothing is built twice."""

from __future__ import annotations

from helpers import unbalanced_frame

from partclust.data import validate
from partclust.inference import FitSettings
from partclust.inference.prebuild import prebuild
from partclust.runner.study import prebuild_models
from partclust.studies.seeds import StudySettings


def test_a_prebuilt_entry_is_what_the_fit_loads(tmp_path, monkeypatch):
    from partclust.inference import compiled, fit

    design = validate(unbalanced_frame(seed=23), source="generated")
    settings = FitSettings(model="single", seed=4, draws=200, tune=200, chains=2)
    cache = tmp_path / "cache"
    first = prebuild(design, settings, cache)
    assert first["source"] == "built" and first["error"] == "" and (cache / first["key"] / "manifest.json").is_file()
    again = prebuild(design, FitSettings(model="single", seed=99, draws=50, tune=50, chains=4), cache)
    assert again["source"] == "present" and again["key"] == first["key"]  # seed and sizes are not the model
    other = prebuild(design, FitSettings(model="single", seed=4, parameterization="centered"), cache)
    assert other["key"] != first["key"]
    assert prebuild(design, FitSettings(model="single", seed=4, sampler="metropolis"), cache)["source"] == "not-nutpie"
    monkeypatch.setenv(compiled.CACHE_ENV, str(cache))
    compiled.clear_memory()
    result = fit(design, settings, log_likelihood=False)
    assert result.timings["compile_source"] == "disk"  # loaded what the driver built: the keys agree


def test_prebuild_models_skips_finished_models_and_other_fit_notebooks(tmp_path, run1_design):
    from helpers import write_exact_run

    study = StudySettings(models=("single",), seeds=(1,), draws=400, tune=300, chains=2, out=str(tmp_path))
    write_exact_run(study.layout.run_dir("single", 1), run1_design, "single", 1,
                    settings=study.fit_settings("single", 1))
    assert prebuild_models(study, run1_design.source, run1_design.content_sha256, str(tmp_path / "c")) == {}
    other = StudySettings(models=("per_condition",), seeds=(1,), out=str(tmp_path), fit_notebook="elsewhere.ipynb")
    assert prebuild_models(other, run1_design.source, run1_design.content_sha256, str(tmp_path / "c")) == {}
    assert not (tmp_path / "c").exists()
