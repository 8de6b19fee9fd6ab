"""notebooks/07_translate.ipynb runs under papermill with a program, its data and its (synthetic) OUTPOST draws."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers import EXTERNAL, need_external
from helpers_translate import HEIGHTS_PROGRAM

from partclust.runner.notebooks import execute
from partclust.translate.translation import translate_file

HEIGHTS = EXTERNAL / "sas_doc_heights.csv"


@pytest.mark.slow
def test_notebook_07_with_a_program_and_synthetic_outpost(tmp_path):
    need_external(HEIGHTS)
    program = tmp_path / "heights.sas"
    program.write_text(HEIGHTS_PROGRAM)
    translation = translate_file(program, HEIGHTS)
    rng = np.random.default_rng(3)
    n = 400
    cols = {"Iteration": np.arange(1, n + 1)}
    for p in translation.program.parameters:
        cols[p] = rng.gamma(4.0, 1.0, n)
    for label in translation.bound.effects["gamma"].sas_labels:
        cols[f"gamma_{label}"] = rng.normal(0, 1, n)
    outpost = tmp_path / "sas_synthetic"
    outpost.mkdir()
    pd.DataFrame(cols).to_csv(outpost / "outpost.csv", index=False)
    out = tmp_path / "run"
    executed = execute("07_translate.ipynb", out / "07_translate.ipynb",
                       {"sas_program": str(program), "step": 0, "data_path": str(HEIGHTS), "seed": 2, "draws": 300,
                        "tune": 300, "chains": 2, "sas_output": str(outpost), "output_dir": str(out), "cores": 1})
    nb = json.loads(executed.read_text())
    text = "\n".join("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/markdown", ""))
                     for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", []))
    assert "Height ~ gf + (1 | Family)" in text and "`s2u` → `s2g`" in text
    assert "`sas`:" not in text  # the SAS reference was read
    record = json.loads((out / "run.json").read_text())
    assert record["sas_program"]["options"]["nmc"] == 50000
    assert list(pd.read_csv(out / "summary.csv")["param"])[:4] == ["b0", "b1", "s2", "s2g"]
