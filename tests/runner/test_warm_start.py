"""A study's workers queue the fit's imports in their kernels only when fits are likely (some run folder is missing)."""

from __future__ import annotations

import pytest

from partclust.runner import dask as rdask
from partclust.runner.cli import main
from partclust.studies.seeds import StudySettings


class _Stop(Exception):
    pass


@pytest.mark.parametrize("done", [False, True])
def test_imports_are_queued_unless_every_run_folder_exists(tmp_path, monkeypatch, run1_path, done):
    seen = {}

    def fake_start(scheduler, n_workers, cache, imports=True):
        seen["imports"] = imports
        raise _Stop

    monkeypatch.setattr(rdask, "start_workers", fake_start)
    study = StudySettings(models=("single", "per_condition"), seeds=(1, 2), out=str(tmp_path))
    if done:
        for m in study.models:
            for s in study.seeds:
                study.layout.run_dir(m, s).mkdir(parents=True)
                (study.layout.run_dir(m, s) / "run.json").write_text("{}")
    with pytest.raises(_Stop):
        main(["study", "--seeds", "2", "--data", str(run1_path), "--out", str(tmp_path)])
    assert seen["imports"] is (not done)


def test_warm_kernel_passes_the_choice_to_the_kernel(monkeypatch):
    from partclust.runner import notebooks

    calls = []
    monkeypatch.setattr(notebooks, "start_kernel", lambda km, warm=True: calls.append(warm))
    monkeypatch.setattr(rdask, "_kernel_manager", lambda cache=None: object())
    assert rdask._warm_kernel("cache", False) == "" and rdask._warm_kernel("cache") == ""
    assert calls == [False, True]
