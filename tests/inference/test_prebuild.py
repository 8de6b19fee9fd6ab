"""Compiling ahead: the entry the driver would build is the one the fit loads (same key), and nothing is built twice."""

from __future__ import annotations

import shutil

from helpers import unbalanced_frame

from partclust.data import validate
from partclust.inference import FitSettings
from partclust.inference.prebuild import ensure_entry, prebuild
from partclust.runner.study import prebuild_models
from partclust.studies.seeds import StudySettings


def test_the_prebuilt_key_is_the_entry_the_fit_loads(tmp_path, monkeypatch):
    """A fit fills the session's compile cache; prebuild finds that very entry (its folder is the key), for any seed
    or size, and a copy of only that entry is what a fresh process's fit loads from another folder."""
    from partclust.inference import compiled, fit

    design = validate(unbalanced_frame(), source="generated")
    settings = FitSettings(model="single", seed=4, draws=200, tune=200, chains=2)
    fit(design, settings, log_likelihood=False)  # the suite's common model: usually loaded, compiled at most once
    session = compiled.cache_dir()
    found = prebuild(design, FitSettings(model="single", seed=99, draws=50, tune=50, chains=4), session)
    assert found["source"] == "present" and (session / found["key"] / "manifest.json").is_file()
    other = tmp_path / "only-this-entry"
    shutil.copytree(session / found["key"], other / found["key"])
    monkeypatch.setenv(compiled.CACHE_ENV, str(other))
    compiled.clear_memory()
    from partclust.inference import sample

    monkeypatch.setattr(sample, "_COMPILED", {})
    assert fit(design, settings, log_likelihood=False).timings["compile_source"] == "disk"


def test_ensure_entry_builds_a_missing_entry_once_and_records_a_failure(tmp_path, monkeypatch):
    from partclust.inference import compiled
    from partclust.inference.sample import model_for

    design = validate(unbalanced_frame(), source="generated")
    model = model_for(design, FitSettings(model="single", seed=1, parameterization="centered"))[0]
    monkeypatch.setenv(compiled.CACHE_ENV, str(tmp_path / "default"))  # nothing to copy from: every entry is built
    built = []

    def fake_child(model, root, key):  # what the child process publishes, without compiling
        built.append(key)
        (root / key).mkdir(parents=True)
        (root / key / compiled.MANIFEST).write_text("{}")
        return ""

    monkeypatch.setattr(compiled, "_build_in_child", fake_child)
    first = ensure_entry(model, tmp_path / "c")
    assert first["source"] == "built" and built == [first["key"]]
    assert ensure_entry(model, tmp_path / "c")["source"] == "present" and len(built) == 1
    noncentered = model_for(design, FitSettings(model="single", seed=1))[0]
    monkeypatch.setattr(compiled, "_build_in_child", lambda model, root, key: "RuntimeError: no compiler")
    failed = ensure_entry(noncentered, tmp_path / "c")
    assert failed["source"] == "failed" and failed["error"] == "RuntimeError: no compiler"
    assert failed["key"] != first["key"]  # the parameterization is part of the model's key
    assert prebuild(design, FitSettings(model="single", seed=4, sampler="metropolis"), tmp_path / "c")["source"] \
        == "not-nutpie"


def test_prebuild_models_skips_finished_models_and_other_fit_notebooks(tmp_path, run1_design):
    from helpers import write_exact_run

    study = StudySettings(models=("single",), seeds=(1,), draws=400, tune=300, chains=2, out=str(tmp_path))
    write_exact_run(study.layout.run_dir("single", 1), run1_design, "single", 1,
                    settings=study.fit_settings("single", 1))
    assert prebuild_models(study, run1_design, str(tmp_path / "c")) == {}
    other = StudySettings(models=("per_condition",), seeds=(1,), out=str(tmp_path), fit_notebook="elsewhere.ipynb")
    assert prebuild_models(other, run1_design, str(tmp_path / "c")) == {}
    assert not (tmp_path / "c").exists()


def test_a_study_cache_starts_from_the_default_cache_and_never_copies_a_corrupt_entry(tmp_path, monkeypatch):
    """`partclust fit` fills the default cache; a study with a cache of its own copies that entry instead of
    compiling, after checking its files; an entry failing its checksum is built afresh, never copied."""
    from partclust.inference import compiled, fit
    from partclust.inference.sample import model_for

    design = validate(unbalanced_frame(), source="generated")
    settings = FitSettings(model="single", seed=4, draws=200, tune=200, chains=2)
    fit(design, settings, log_likelihood=False)  # the suite's common model: in the session's cache
    model = model_for(design, settings)[0]
    key = ensure_entry(model, compiled.cache_dir())["key"]
    default = tmp_path / "default"
    shutil.copytree(compiled.cache_dir() / key, default / key)
    monkeypatch.setenv(compiled.CACHE_ENV, str(default))  # where `partclust fit` compiles
    built = []

    def fake_child(model, root, key):
        built.append(key)
        (root / key).mkdir(parents=True)
        (root / key / compiled.MANIFEST).write_text("{}")
        return ""

    monkeypatch.setattr(compiled, "_build_in_child", fake_child)
    copied = ensure_entry(model, tmp_path / "study" / "cache")
    assert copied["source"] == "copied" and copied["copied_from"] == str(default) and built == []
    manifest = compiled.check_entry(tmp_path / "study" / "cache" / key, key, compiled.cache_versions())
    assert manifest["key"] == key  # a complete entry, every file passing its checksum
    code = next(p for p in (default / key).iterdir() if p.suffix == ".nbc")
    code.write_bytes(code.read_bytes()[:-1] + bytes([code.read_bytes()[-1] ^ 1]))  # one bit flipped
    again = ensure_entry(model, tmp_path / "other-study" / "cache")
    assert again["source"] == "built" and built == [key]
