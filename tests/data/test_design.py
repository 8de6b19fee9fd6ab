"""Loading and validating the dataset: the real file, generated designs, and every malformed case."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
from helpers import unbalanced_frame

from partclust import data
from partclust.data import DataError, load_design, resolve_data_path, validate
from partclust.data import source as data_source


def test_run1_is_read_with_cr_line_endings(run1_path):
    raw = run1_path.read_bytes()
    assert b"\r" in raw and b"\n" not in raw  # the original, old-Mac bytes
    assert hashlib.sha256(raw).hexdigest() == data.DATA_SHA256
    d = load_design(run1_path)
    assert d.n == 200 and d.n_treated == 100 and d.n_control == 100
    assert d.clusters == tuple(str(k) for k in range(1, 11))
    assert set(d.cluster_sizes.values()) == {10}
    assert len(d.control_clusters) == 100 and len(d.sas_clusters) == 110
    assert d.sha256 == data.DATA_SHA256
    assert np.all(d.cluster_of_row[d.treat == 0] == -1)
    # y values survive intact: the first row of the file
    assert d.y[0] == pytest.approx(1.357179742)


def test_unbalanced_string_labels_shuffled_rows_extra_columns(unbalanced_csv):
    d = load_design(unbalanced_csv)
    df = unbalanced_frame()
    assert d.n_clusters == 7
    assert d.cluster_sizes == df[df.treat == 1].groupby("j").size().to_dict()
    # each row's cluster index maps back to its own label
    labels = np.array(d.clusters, dtype=object)[d.cluster_of_row[d.treat == 1]]
    assert list(labels) == list(df.loc[df.treat == 1, "j"])
    assert np.allclose(d.y, df["y"].to_numpy())


def test_design_is_frozen(run1_design):
    with pytest.raises(Exception):
        run1_design.y[0] = 5.0
    with pytest.raises(Exception):
        run1_design.clusters = ()


def _good() -> pd.DataFrame:
    return unbalanced_frame().astype(str)


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (lambda df: df.drop(columns="y"), "required column(s) y missing"),
        (lambda df: df.drop(columns=["treat", "j"]), "j, treat missing"),
        (lambda df: df.assign(y=df.y.where(df.index != 3, "abc")), "column y is non-numeric"),
        (lambda df: df.assign(y=df.y.where(df.index != 4, "nan")), "column y is non-numeric, NaN"),
        (lambda df: df.assign(y=df.y.where(df.index != 5, "")), "column y"),
        (lambda df: df.assign(y=df.y.where(df.index != 6, "inf")), "infinite"),
        (lambda df: df.assign(treat=df.treat.where(df.index != 2, "2")), "treat must be 0"),
        (lambda df: df.assign(treat=df.treat.where(df.index != 2, "yes")), "treat must be 0"),
        (lambda df: _duplicate_subject(df), "duplicate subject ids"),
        (lambda df: _mix_cluster(df), "contain both treated and control"),
        (lambda df: _treated_without_cluster(df), "treated subject(s) with a missing cluster id"),
        (lambda df: _one_cluster(df), "at least two treated clusters"),
        (lambda df: df[df.treat == "1"], "control (treat = 0) arm has no subjects"),
        (lambda df: df[df.treat == "0"], "treated (treat = 1) arm has no subjects"),
        (lambda df: df.iloc[:0], "no rows"),
    ],
)
def test_malformed_inputs_raise_clear_errors(mutate, fragment):
    df = mutate(_good()).reset_index(drop=True)
    with pytest.raises(DataError) as info:
        validate(df, source="bad.csv")
    msg = str(info.value)
    assert fragment in msg
    assert "bad.csv" in msg


def _duplicate_subject(df):
    df.loc[1, ["i", "j", "treat"]] = df.loc[0, ["i", "j", "treat"]].to_numpy()
    return df


def _mix_cluster(df):
    k = df.index[df.treat == "0"][0]
    df.loc[k, "j"] = df.loc[df.treat == "1", "j"].iloc[0]
    return df


def _treated_without_cluster(df):
    df.loc[df.index[df.treat == "1"][2], "j"] = "NA"
    return df


@pytest.mark.parametrize("placeholder", ["0", "", "NA", "."])
def test_controls_sharing_a_placeholder_are_unclustered(placeholder):
    """Real trials code every control with one id (0, blank, NA): accepted, never merged into one cluster."""
    df = _good()
    ctl = df.treat == "0"
    df.loc[ctl, "j"] = placeholder
    df.loc[ctl, "i"] = [f"c{k}" for k in range(int(ctl.sum()))]
    design = validate(df, source="trial.csv")
    good = validate(_good(), source="good.csv")
    assert design.clusters == good.clusters and (design.cluster_of_row[ctl.to_numpy()] == -1).all()
    if placeholder == "0":
        assert design.control_clusters == ("0",)
        assert "23 controls share placeholder 0 — treated as unclustered" in design.describe()
    else:
        assert design.control_clusters == () and (design.sas_cluster_of_row[ctl.to_numpy()] == -1).all()
        assert "23 controls have no cluster id — treated as unclustered" in design.describe()


def _one_cluster(df):
    df.loc[df.treat == "1", "j"] = "only"
    return df


def test_error_names_the_file_line(tmp_path):
    df = unbalanced_frame()
    df.loc[4, "y"] = np.nan
    p = tmp_path / "nan.csv"
    df.to_csv(p, index=False)
    with pytest.raises(DataError, match=r"line\(s\) 6\b"):
        load_design(p)


def test_missing_and_empty_files(tmp_path, monkeypatch):
    monkeypatch.delenv("RUN1_CSV", raising=False)
    with pytest.raises(DataError, match="does not exist"):
        resolve_data_path(tmp_path / "nope.csv")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="is empty"):
        load_design(empty)
    header_only = tmp_path / "header.csv"
    header_only.write_bytes(b"i,j,treat,y\r")
    with pytest.raises(DataError, match="no rows"):
        load_design(header_only)


def test_resolution_order(tmp_path, monkeypatch, run1_path):
    other = tmp_path / "other.csv"
    unbalanced_frame().to_csv(other, index=False)
    monkeypatch.setenv("RUN1_CSV", str(run1_path))
    assert resolve_data_path(other) == other.resolve()  # explicit path wins
    assert resolve_data_path(None) == run1_path.resolve()  # then the environment variable
    monkeypatch.setenv("RUN1_CSV", str(tmp_path / "missing.csv"))
    with pytest.raises(DataError, match="RUN1_CSV"):
        resolve_data_path(None)
    monkeypatch.delenv("RUN1_CSV")
    monkeypatch.setattr(data_source, "DEFAULT_DATA_PATH", other)
    assert resolve_data_path(None) == other  # then data/run1.csv


def test_unreadable_file_is_refused_before_reading(tmp_path, monkeypatch, run1_path):
    """A file the process may not read is named as such (root reads everything, so access is refused by hand)."""
    monkeypatch.setattr(data_source.os, "access", lambda path, mode: False)
    with pytest.raises(DataError, match="cannot read .*permission denied"):
        resolve_data_path(run1_path)


def test_download_checks_sha256(tmp_path, monkeypatch, run1_path):
    """The download path, served from a local file URL: good bytes land, bad bytes are deleted."""
    monkeypatch.delenv("RUN1_CSV", raising=False)
    dest = tmp_path / "data" / "run1.csv"
    monkeypatch.setattr(data_source, "DEFAULT_DATA_PATH", dest)
    monkeypatch.setattr(data_source, "DATA_URL", run1_path.as_uri())
    assert resolve_data_path(None) == dest
    assert data.sha256_of(dest) == data.DATA_SHA256
    dest.unlink()
    wrong = tmp_path / "tampered.csv"
    wrong.write_bytes(run1_path.read_bytes() + b"1,1,1,0.0\r")
    with pytest.raises(DataError, match="it was deleted"):
        data_source.download(dest, url=wrong.as_uri())
    assert not dest.exists() and not dest.with_suffix(".csv.part").exists()
    with pytest.raises(DataError, match="could not download"):
        data_source.download(dest, url=(tmp_path / "absent.csv").as_uri())
