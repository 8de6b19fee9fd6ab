"""When two ids are one: numbers compare as numbers (as SAS and the SAS reader read them), text as text."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import unbalanced_frame

from partclust.data import DataError, load_design, normalize_label, normalize_labels, validate
from partclust.data.labels import label_sort
from partclust.references.sas.outpost import label_key
from partclust.runner.cli import main


@pytest.mark.parametrize("cell, canonical", [
    ("1", "1"), ("1.0", "1"), (" 01 ", "1"), ("+1", "1"), ("1e0", "1"), ("1.000", "1"), ("10", "10"),
    ("-0", "0"), ("0.0", "0"), ("-2.0", "-2"), ("1.50", "1.5"), ("2.5E-1", "0.25"), (".5", "0.5"),
    ("1e3", "1000"), ("grp-A", "grp-A"), ("a", "a"), ("A", "A"), ("nan", "nan"), ("inf", "inf"),
    ("1.0a", "1.0a"), ("Björn", "Björn"),
    # exact decimals: two long ids that a binary float would merge stay apart
    ("12345678901234567890", "12345678901234567890"), ("12345678901234567891", "12345678901234567891"),
    ("12345678901234567891.0", "12345678901234567891"),
])
def test_normalize_label(cell, canonical):
    assert normalize_label(cell) == canonical


def test_normalize_labels_matches_the_scalar_rule():
    cells = ["1", "1.0", "x", " 2 ", "2.50", "1", "-0", "007"]
    assert list(normalize_labels(cells)) == [normalize_label(c) for c in cells]
    assert list(normalize_labels(pd.Series(cells, dtype="str"))) == [normalize_label(c) for c in cells]


def test_label_sort_numbers_by_value_then_text():
    assert label_sort(["10", "9", "b", "1.5", "-1", "a"]) == ["-1", "1.5", "9", "10", "a", "b"]


def test_the_sas_reader_uses_the_same_rule():
    assert label_key("1.0") == label_key("1") == label_key("01") == "1"
    assert label_key("-3.0") == "-3"
    assert label_key("Grp A") == "grp_a"


def test_the_shared_ids_file_has_ten_clusters_as_run1(case, run1_design):
    d = load_design(case("ids_1_and_1.0.csv"))
    assert d.clusters == run1_design.clusters and d.n_clusters == 10
    assert d.cluster_sizes == run1_design.cluster_sizes
    np.testing.assert_array_equal(d.cluster_of_row, run1_design.cluster_of_row)
    assert d.content_sha256 == run1_design.content_sha256  # it is run1, written differently


def test_numeric_ids_written_two_ways_are_one_cluster_and_one_subject():
    df = unbalanced_frame().astype(str)
    df.loc[df.treat == "1", "j"] = df.loc[df.treat == "1", "j"].map({f"grp-{c}": str(k) for k, c in
                                                                  enumerate("ABCDEFG", start=1)})
    first = df.index[df.j == "2"]
    df.loc[first[:3], "j"] = "2.0"
    d = validate(df, source="two_ways.csv")
    assert d.n_clusters == 7 and "2.0" not in d.clusters
    # a subject id written as 1 and as 1.0 in one cluster is the same subject twice
    df.loc[first[0], "i"], df.loc[first[1], "i"] = "5", "5.0"
    with pytest.raises(DataError, match="duplicate subject ids"):
        validate(df, source="two_ways.csv")


def test_a_numeric_frame_is_read_like_text():
    """A notebook may pass numbers, not text: 1 and 1.0 are the same cluster there too."""
    df = unbalanced_frame()
    df["j"] = df["j"].astype("category").cat.codes.astype(float) + 1.0  # 1.0, 2.0, … and controls
    d = validate(df, source="numbers")
    assert all("." not in c for c in d.sas_clusters)


def test_cli_exact_on_ids_written_two_ways_equals_run1(case, run1_path, tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert main(["exact", "--model", "single", "--data", str(case("ids_1_and_1.0.csv")), "--out", str(a)]) == 0
    assert main(["exact", "--model", "single", "--data", str(run1_path), "--out", str(b)]) == 0
    ta, tb = pd.read_csv(a), pd.read_csv(b)
    assert list(ta["param"]) == list(tb["param"]) and "u[11]" not in set(ta["param"])
    pd.testing.assert_frame_equal(ta, tb)
