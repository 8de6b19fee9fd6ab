"""Which dataset is this: the canonical hash of the validated table, the byte hash beside it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import unbalanced_frame

from partclust.data import content_sha256, load_design, same_data, validate
from partclust.references import pymc2_reference
from partclust.references.published import PUBLISHED_DIR


def test_run1_with_lf_endings_is_run1(case, run1_design):
    lf = load_design(case("run1_lf.csv"))
    assert lf.sha256 != run1_design.sha256
    assert lf.content_sha256 == run1_design.content_sha256
    assert pymc2_reference(lf, "single").available
    assert pymc2_reference(lf, "single").table.equals(pymc2_reference(run1_design, "single").table)


def test_the_published_reference_records_run1s_canonical_hash(run1_design):
    """The value stored beside the published numbers is recomputed here from the data."""
    info = json.loads((PUBLISHED_DIR / "pymc2_2011.info.json").read_text())
    assert info["data"]["sha256"] == run1_design.sha256
    assert info["data"]["content_sha256"] == run1_design.content_sha256


def test_formatting_does_not_change_the_identity(tmp_path):
    df = unbalanced_frame()
    base = tmp_path / "base.csv"
    df.to_csv(base, index=False)
    variants = {
        "crlf": lambda: base.read_bytes().replace(b"\n", b"\r\n"),
        "columns_reordered": lambda: df[["y", "treat", "j", "i", "extra"]].to_csv(index=False).encode(),
        "no_extra_column": lambda: df.drop(columns="extra").to_csv(index=False).encode(),
        "padded": lambda: df.to_csv(index=False).replace(",", ", ").encode(),
        "y_with_trailing_zeros": lambda: df.to_csv(index=False, float_format="%.20f").encode(),
    }
    ref = load_design(base)
    for name, make in variants.items():
        path = tmp_path / f"{name}.csv"
        path.write_bytes(make())
        d = load_design(path)
        assert d.sha256 != ref.sha256, name
        if name == "y_with_trailing_zeros":  # 20 decimals round-trip the same doubles only if printed exactly
            assert np.array_equal(d.y, ref.y) == (d.content_sha256 == ref.content_sha256)
        else:
            assert d.content_sha256 == ref.content_sha256, name


def test_a_changed_value_or_row_order_is_other_data():
    df = unbalanced_frame().astype(str)
    ref = validate(df)
    changed = df.copy()
    changed.loc[3, "y"] = str(float(changed.loc[3, "y"]) + 1e-9)
    assert validate(changed).content_sha256 != ref.content_sha256
    assert validate(df.iloc[::-1].reset_index(drop=True)).content_sha256 != ref.content_sha256


def test_content_sha256_is_the_documented_form():
    """An independent computation of the canonical form documented in partclust.data.identity."""
    import hashlib

    h = hashlib.sha256(b"partclust-table-v1\n2\n")
    h.update(b"1\x002" + b"\x00\x01")
    h.update(b"a\x00b" + b"\x00\x01")
    h.update(bytes([1, 0]))
    h.update(np.array([0.5, 0.0], dtype="<f8").tobytes())
    assert content_sha256(["1", "2"], ["a", "b"], np.array([1, 0]), np.array([0.5, -0.0])) == h.hexdigest()


@pytest.mark.parametrize("recorded, expected", [
    ({"content_sha256": "c", "sha256": "x"}, True),
    ({"content_sha256": "other", "sha256": "b"}, False),  # the canonical hash decides when present
    ({"sha256": "b"}, True),  # an old record: the same file
    ({"sha256": "x"}, False),
    ({}, False),
])
def test_same_data(recorded, expected):
    assert same_data(recorded, "c", "b") is expected


@pytest.mark.slow
def test_cli_fit_on_run1_with_lf_endings_then_compare_keeps_the_published_reference(case, run1_path, tmp_path,
                                                                                  capsys):
    """End to end: a fit of run1 saved with LF endings is compared with the PyMC 2 (2011) numbers."""
    import pandas as pd

    from partclust.runner.cli import main

    lf = case("run1_lf.csv")
    run = tmp_path / "fit"
    assert main(["fit", "--model", "single", "--seed", "3", "--draws", "1000", "--tune", "500", "--no-plots",
                 "--data", str(lf), "--out", str(run)]) == 0
    for data in ([], ["--data", str(run1_path)]):  # the data the run recorded, and run1 with CR endings
        out = tmp_path / f"cmp{len(data)}.csv"
        assert main(["compare", "--model", "single", "--runs", str(run), *data, "--out", str(out)]) == 0
        cmp = pd.read_csv(out)
        pub = cmp[cmp.reference == "pymc2_2011"]
        assert len(pub) and (pub.loc[pub.statistic == "mean", "verdict"] != "not comparable").all()
    capsys.readouterr()
