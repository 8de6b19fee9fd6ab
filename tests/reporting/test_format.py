"""Numbers as a reader sees them: notebook tables without NaN or empty columns."""

from __future__ import annotations

import numpy as np
import pandas as pd

from partclust.reporting import shown


def test_shown_drops_empty_columns_and_prints_missing_cells_as_a_dash():
    table = pd.DataFrame({"exact": [0.123456, -1.0], "reml": [0.25, np.nan], "sas": [np.nan, np.nan],
                          "verdict": ["consistent", "real"]}, index=pd.Index(["s2u", "u[1]"], name="param"))
    html = shown(table).to_html()
    assert "sas" not in html  # no OUTPOST given: the column has nothing to show
    assert "NaN" not in html and "nan" not in html
    assert ">—</td>" in html  # REML has no cluster effect
    assert ">0.1235</td>" in html and ">-1.0000</td>" in html and ">0.2500</td>" in html
    assert 'class="dataframe"' in html  # styled as every other table on a page
    assert list(table.columns) == ["exact", "reml", "sas", "verdict"]  # the caller's table is left as it was


def test_shown_keeps_an_empty_table_as_it_is():
    html = shown(pd.DataFrame(columns=["exact", "this fit"])).to_html()
    assert "exact" in html and "this fit" in html


def test_shown_prints_whole_numbers_and_can_hide_row_numbers():
    table = pd.DataFrame({"r_hat": [1.00123], "ess_bulk": [5761.4243], "text": ["random u ~ normal(0, var=s2u) " * 3]})
    html = shown(table, whole=("ess_bulk", "absent"), index=False).to_html()
    assert ">5761</td>" in html and ">1.0012</td>" in html
    assert "random u ~ normal(0, var=s2u) " * 3 in html  # long text is not cut short
    assert 'class="row_heading' not in html  # no 0, 1, 2 … column


def test_shown_relabels_columns_says_yes_or_no_and_captions():
    table = pd.DataFrame({"calibration_ratio": [0.95], "ratio_consistent_with_1": [False]})
    html = shown(table, index=False, labels={"calibration_ratio": "calibration ratio (SD / RMS MCSE)"},
                 caption="Statistics that differ").to_html()
    assert ">calibration ratio (SD / RMS MCSE)</th>" in html and ">ratio_consistent_with_1</th>" in html
    assert ">no</td>" in html and "False" not in html
    assert "<caption>Statistics that differ</caption>" in html
