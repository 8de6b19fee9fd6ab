"""The persistent compile cache: keys, stale and corrupt entries, publishing, and draws from a warm cache.

A stale entry (another model, other design shapes, other versions) must never be reused, a corrupt one
must be detected and rebuilt, and a seed must give the same draws whether its model was compiled in
this process or loaded from disk.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import unbalanced_frame

from partclust.data import validate
from partclust.inference import compiled
from partclust.inference.callbacks import initial_point_fn
from partclust.inference.graphkey import graph_key
from partclust.layout import REPO_ROOT, ResultsLayout
from partclust.models.pymc import build_model

DRAWS = dict(draws=150, tune=150, chains=2, progress_bar=False, cores=1)


def _design(**kw):
    return validate(unbalanced_frame(**kw), source="synthetic")


def _sample(model_compiled, seed=3):
    import nutpie

    trace = nutpie.sample(model_compiled, seed=seed, **DRAWS)
    return {k: np.asarray(v) for k, v in trace.posterior.data_vars.items()}


def _entries(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def test_key_follows_graph_shapes_data_and_versions():
    design = _design()
    single = build_model(design, "single")
    key = graph_key(single, extra={"v": 1})
    assert key is not None and len(key) == 64
    assert graph_key(build_model(design, "single"), extra={"v": 1}) == key  # a rebuilt model: same key
    assert graph_key(single, extra={"v": 2}) != key  # other versions
    assert graph_key(build_model(design, "per_condition"), extra={"v": 1}) != key  # other model
    assert graph_key(build_model(design, "single", "centered"), extra={"v": 1}) != key
    assert graph_key(build_model(_design(sizes=(3, 12, 5, 9, 2, 7)), "single"), extra={"v": 1}) != key  # shapes
    # the outcome is baked into the graph as a constant: other values, other key
    assert graph_key(build_model(_design(seed=8), "single"), extra={"v": 1}) != key


def test_cache_versions_name_every_compiler_and_the_machine():
    v = compiled.cache_versions()
    assert {"python", "numpy", "pytensor", "pymc", "numba", "llvmlite", "nutpie", "target", "format"} <= set(v)
    assert v["target"][0]  # the LLVM triple, e.g. x86_64-unknown-linux-gnu


def test_cache_folder_default_env_and_layout(tmp_path, monkeypatch):
    monkeypatch.delenv(compiled.CACHE_ENV, raising=False)
    assert compiled.cache_dir() == ResultsLayout().compiled_cache
    monkeypatch.setenv(compiled.CACHE_ENV, str(tmp_path))
    assert compiled.cache_dir() == tmp_path
    assert compiled.cache_dir(tmp_path / "x") == tmp_path / "x"
    assert ResultsLayout(tmp_path).compiled_cache == tmp_path / "cache" / "compiled"


@pytest.mark.slow
def test_warm_cache_same_draws_stale_and_corrupt_entries_rebuilt(tmp_path, monkeypatch):
    design = _design()
    model = build_model(design, "single")
    compiled.clear_memory()
    cold, rec = compiled.compile_model(model, tmp_path)
    assert rec["source"] == "compiled", rec
    (entry,) = _entries(tmp_path)
    assert entry.name == rec["key"]
    manifest = json.loads((entry / compiled.MANIFEST).read_text())
    assert manifest["key"] == rec["key"] and len(manifest["files"]) >= 4
    draws_cold = _sample(cold)

    compiled.clear_memory()
    warm, rec = compiled.compile_model(build_model(design, "single"), tmp_path)
    assert rec["source"] == "disk" and not rec["rebuilt"]
    draws_warm = _sample(warm)
    assert draws_cold.keys() == draws_warm.keys()
    for name in draws_cold:
        np.testing.assert_array_equal(draws_cold[name], draws_warm[name], err_msg=name)

    # other versions: another key, so the entry above is not even looked up, and a new one is built
    real = compiled.cache_versions()
    monkeypatch.setattr(compiled, "cache_versions", lambda: {**real, "numba": "0.0.0-other"})
    compiled.clear_memory()
    _, rec = compiled.compile_model(build_model(design, "single"), tmp_path)
    # (the child process that builds entries computes the real versions, so this one builds it itself)
    assert rec["source"] in ("compiled", "compiled-here") and rec["key"] != entry.name
    assert len(_entries(tmp_path)) == 2
    monkeypatch.setattr(compiled, "cache_versions", lambda: real)

    # an entry whose manifest records other versions under this key (e.g. copied from elsewhere)
    stale = {**manifest, "versions": {**manifest["versions"], "pytensor": "0.0.0-other"}}
    (entry / compiled.MANIFEST).write_text(json.dumps(stale))
    compiled.clear_memory()
    _, rec = compiled.compile_model(build_model(design, "single"), tmp_path)
    assert rec["source"] == "compiled" and "versions" in rec["rebuilt"]
    assert json.loads((entry / compiled.MANIFEST).read_text())["versions"] == manifest["versions"]

    # corrupt code: detected by its checksum, discarded and rebuilt, never loaded
    code = next(p for p in entry.iterdir() if p.suffix == ".nbc")
    code.write_bytes(code.read_bytes()[:-50] + b"x" * 50)
    compiled.clear_memory()
    again, rec = compiled.compile_model(build_model(design, "single"), tmp_path)
    assert rec["source"] == "compiled" and "checksum" in rec["rebuilt"]
    compiled.clear_memory()
    _, rec = compiled.compile_model(build_model(design, "single"), tmp_path)
    assert rec["source"] == "disk"
    # the rebuilt entry gives the draws of the first compile
    draws = _sample(again)
    np.testing.assert_array_equal(draws["s2u"], draws_cold["s2u"])


@pytest.mark.slow
def test_second_publisher_keeps_the_first_entry(tmp_path):
    """Two processes compiling one key: the second rename fails, the first entry stays complete and loads."""
    model = build_model(_design(), "per_condition")
    versions = compiled.cache_versions()
    key = graph_key(model, extra=versions)
    ipf = initial_point_fn(model)
    _, _, first = compiled._build(model, ipf, tmp_path, key, versions)
    before = {p.name: p.read_bytes() for p in (tmp_path / key).iterdir()}
    _, _, second = compiled._build(model, ipf, tmp_path, key, versions)
    assert first and not second
    assert {p.name: p.read_bytes() for p in (tmp_path / key).iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == [key]  # no temporary folder left behind
    compiled.clear_memory()
    _, rec = compiled.compile_model(model, tmp_path)
    assert rec["source"] == "disk"


CHILD = r"""
import json, sys
import numpy as np, nutpie
from partclust.data import load_design
from partclust.inference.compiled import compile_model
from partclust.models.pymc import build_model
model = build_model(load_design(sys.argv[1]), "single")
c, rec = compile_model(model, sys.argv[2])
trace = nutpie.sample(c, draws=150, tune=150, chains=2, seed=11, progress_bar=False, cores=1)
print(json.dumps({"source": rec["source"], "s2u": np.asarray(trace.posterior["s2u"]).ravel().tolist()}))
"""


@pytest.mark.slow
def test_fresh_processes_cold_then_warm_give_the_same_draws(run1_path, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}
    out = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", CHILD, str(run1_path), str(tmp_path)], env=env,
                              capture_output=True, text=True, timeout=900, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        out.append(json.loads(done.stdout.strip().splitlines()[-1]))
    assert [o["source"] for o in out] == ["compiled", "disk"]
    assert out[0]["s2u"] == out[1]["s2u"]


CHILD_WAITS = r"""
import json, sys
from partclust.data import load_design
from partclust.inference.compiled import compile_model
from partclust.models.pymc import build_model
model = build_model(load_design(sys.argv[1]), "single")
print("ready", flush=True)
c, rec = compile_model(model, sys.argv[2])
print(json.dumps({"source": rec["source"], "waited_s": rec.get("waited_s", 0.0)}), flush=True)
"""


@pytest.mark.slow
def test_a_process_waits_for_the_entry_another_is_building(run1_path, tmp_path):
    """While one process builds an entry (holding its build lock), another needing it waits and loads it."""
    from partclust.data import load_design

    model = build_model(load_design(run1_path), "single")
    versions = compiled.cache_versions()
    key = graph_key(model, extra=versions)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}
    with compiled.build_lock(tmp_path, key) as waited:
        assert waited < 1.0  # nobody else holds it
        child = subprocess.Popen([sys.executable, "-c", CHILD_WAITS, str(run1_path), str(tmp_path)], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "ready"  # the child built its model; it asks for the entry next
        _, _, published = compiled._build(model, initial_point_fn(model), tmp_path, key, versions)
        assert published
    out, err = child.communicate(timeout=600)
    assert child.returncode == 0, err[-2000:]
    rec = json.loads(out.strip().splitlines()[-1])
    assert rec["source"] == "disk" and rec["waited_s"] > 0.5, rec  # without the lock it would compile its own
    assert _entries(tmp_path) == [tmp_path / key]
