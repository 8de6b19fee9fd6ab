"""Content-addressed reuse of executed notebooks: same inputs, no execution; any input changed, executed again."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from partclust.errors import NotebookError
from partclust.runner import cache

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "notebooks" / "counts_its_executions.ipynb"


def test_the_key_changes_with_each_input_and_only_then(tmp_path):
    nb = tmp_path / "n.ipynb"
    shutil.copy(FIXTURE, nb)
    run = tmp_path / "runs" / "run.json"
    run.parent.mkdir()
    run.write_text("{}")

    def key(params=None, sha="a" * 64, files=(run,), root=tmp_path):
        return cache.inputs_key(cache.inputs_manifest(nb, params or {"value": 1}, sha, files, root))

    base = key()
    assert key() == base  # deterministic
    assert key({"value": 2}) != base
    assert key(sha="b" * 64) != base
    assert key(files=()) != base
    run.write_text('{"seed": 1}')
    changed = key()
    assert changed != base
    nb.write_text(nb.read_text().replace("counts its executions", "counts"))
    assert key() != changed
    manifest = cache.inputs_manifest(nb, {"value": 1}, "a" * 64, [run, tmp_path / "gone.csv"], tmp_path)
    assert manifest["input_files"] == {"gone.csv": "missing", "runs/run.json": cache.file_sha256(run)}
    assert manifest["versions"]["partclust"] and len(manifest["partclust_source_sha256"]) == 64


@pytest.mark.slow
def test_execute_cached_reuses_until_an_input_changes(tmp_path):
    log = tmp_path / "log.txt"
    out = tmp_path / "out" / "n.ipynb"
    data = tmp_path / "input.csv"
    data.write_text("a\n1\n")

    def run(value=1, fail=False):
        return cache.execute_cached(FIXTURE, out, {"log_path": str(log), "value": value, "fail": fail}, "a" * 64,
                                    [data], tmp_path)

    assert run() is True and log.read_text() == "1\n"
    side = json.loads(cache.sidecar_path(out).read_text())
    assert side["inputs"]["input_files"] == {"input.csv": cache.file_sha256(data)}
    mtime = out.stat().st_mtime_ns
    assert run() is False and log.read_text() == "1\n" and out.stat().st_mtime_ns == mtime  # reused untouched
    assert run(value=2) is True and log.read_text() == "1\n2\n"  # a parameter changed
    data.write_text("a\n2\n")
    assert run(value=2) is True and log.read_text() == "1\n2\n2\n"  # a file it reads changed
    with pytest.raises(NotebookError, match="fixture failure"):
        run(value=3, fail=True)
    assert not cache.sidecar_path(out).exists()  # a failed execution is never reused
    with pytest.raises(NotebookError):
        run(value=3, fail=True)
    assert log.read_text().count("3") == 2
