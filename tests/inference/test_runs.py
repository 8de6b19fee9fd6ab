"""A run is complete only when every file run.json lists is there, whole, and parses."""

from __future__ import annotations

import json

import pytest
from helpers import write_exact_run

from partclust.errors import FitError
from partclust.inference import POSTERIOR_NC, RUN_JSON, SUMMARY_CSV, is_complete, read_run, verify_run
from partclust.inference.settings import FitSettings


@pytest.fixture
def run(tmp_path, run1_design):
    settings = FitSettings(model="single", seed=3, draws=500, tune=100, chains=2)
    write_exact_run(tmp_path / "r", run1_design, settings=settings)
    return tmp_path / "r", settings


def test_a_written_run_lists_its_files_and_verifies(run, run1_design):
    d, settings = run
    record = verify_run(d)
    assert set(record["files"]) == {POSTERIOR_NC, SUMMARY_CSV}
    assert record["files"][SUMMARY_CSV]["bytes"] == (d / SUMMARY_CSV).stat().st_size
    assert record["data"]["content_sha256"] == run1_design.content_sha256
    assert is_complete(d, settings, run1_design.content_sha256)
    assert not list(d.glob(".*.part"))  # no temporary file left behind


@pytest.mark.parametrize("name", [SUMMARY_CSV, POSTERIOR_NC])
def test_a_truncated_file_makes_the_run_incomplete(run, run1_design, name):
    d, settings = run
    raw = (d / name).read_bytes()
    (d / name).write_bytes(raw[: len(raw) // 2])
    assert not is_complete(d, settings, run1_design.content_sha256)
    with pytest.raises(FitError, match=rf"not a complete run: {name} has [\d,]+ bytes.*truncated"):
        read_run(d)


def test_a_changed_file_of_the_same_size_is_caught(run):
    d, _ = run
    text = (d / SUMMARY_CSV).read_text()
    (d / SUMMARY_CSV).write_text(text.replace("s2u", "s2v", 1))
    with pytest.raises(FitError, match="SHA-256 mismatch"):
        read_run(d)


@pytest.mark.parametrize("damage, fragment", [
    (lambda d: (d / RUN_JSON).unlink(), "run.json missing"),
    (lambda d: (d / RUN_JSON).write_text('{"settings": '), "run.json cannot be read"),
    (lambda d: (d / POSTERIOR_NC).unlink(), "posterior.nc missing"),
    (lambda d: _drop_files(d), "lists no file checksums"),
])
def test_every_other_fault_is_named(run, damage, fragment):
    d, _ = run
    damage(d)
    with pytest.raises(FitError, match=fragment):
        read_run(d)


def test_a_file_that_matches_its_checksum_must_still_parse(run):
    """run.json could record a file that was already bad: the parse check catches it."""
    from partclust.inference.runs import file_record

    d, _ = run
    (d / POSTERIOR_NC).write_bytes(b"not netCDF at all")
    record = json.loads((d / RUN_JSON).read_text())
    record["files"][POSTERIOR_NC] = file_record(d / POSTERIOR_NC)
    (d / RUN_JSON).write_text(json.dumps(record))
    with pytest.raises(FitError, match="posterior.nc does not parse"):
        read_run(d)


def _drop_files(d):
    record = json.loads((d / RUN_JSON).read_text())
    record.pop("files")
    (d / RUN_JSON).write_text(json.dumps(record))
