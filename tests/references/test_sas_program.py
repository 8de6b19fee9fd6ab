"""Reading PROC MCMC output of a translated program: the program's names for parameters and effects.

Every OUTPOST file here is synthetic (written at test time from generated numbers, ``synthetic`` in the name).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers_sas import make_fixture, postsumint_frame, stand_in_draws
from helpers_translate import PROGRAM_A, PROGRAM_B, intercept_table, program_data, trial_table

from partclust.layout import REPO_ROOT
from partclust.references.sas import SasOutputError, read_program_sas_output, read_sas_output
from partclust.translate.program_data import read_program_data
from partclust.translate.program import parse_program_text
from partclust.translate.translation import translate_file, translation_of

SAS_PROGRAM = REPO_ROOT / "sas_reference" / "partially_clustered.sas"
N = 300


def synthetic_outpost(path, translation, seed: int = 1, drop=(), extra=None) -> pd.DataFrame:
    """Generated numbers in OUTPOST's layout for a program: Iteration, parameters, derived, <effect>_<value>."""
    rng = np.random.default_rng(seed)
    cols = {"Iteration": np.arange(1, N + 1) * 10}
    for p in translation.program.parameters + translation.program.derived:
        cols[p] = rng.normal(1.0, 0.1, N)
    for name, e in translation.bound.effects.items():
        for label in e.sas_labels:
            cols[f"{name}_{label}"] = rng.normal(0, 1, N)
    cols["LogPost"] = rng.normal(-100, 1, N)
    frame = pd.DataFrame(cols).drop(columns=list(drop))
    for k, v in (extra or {}).items():
        frame[k] = v
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return frame


def test_a_random_intercept_program_reads_in_its_own_names(tmp_path):
    translation = translation_of(parse_program_text(PROGRAM_B), program_data(intercept_table()))
    folder = tmp_path / "synthetic_heights"
    frame = synthetic_outpost(folder / "outpost_synthetic.csv", translation)
    postsumint_frame(frame).to_csv(folder / "postsumint_synthetic.csv", index=False)
    out = read_program_sas_output([folder / "outpost_synthetic.csv"], translation)
    names = [r.name for r in translation.reported_names()]
    assert list(out.summary["param"]) == names
    assert names[:4] == ["b0", "bm", "s2f", "s2"] and names[4] == "f[fam0]"
    s = out.summary.set_index("param")
    assert s.at["f[fam3]", "mean"] == pytest.approx(frame["f_fam3"].mean())
    assert s.at["s2f", "sd"] == pytest.approx(frame["s2f"].std(ddof=1))
    assert out.cross_check().empty
    assert list(out.sample.log_density.data_vars) == ["LogPost"]


def test_untouched_effects_are_kept_apart_and_checked(tmp_path):
    translation = translation_of(parse_program_text(PROGRAM_A), program_data(trial_table()))
    folder = tmp_path / "synthetic_trial"
    frame = synthetic_outpost(folder / "outpost_synthetic.csv", translation)
    out = read_program_sas_output([folder / "outpost_synthetic.csv"], translation)
    assert list(out.posterior["u"].coords["coach"].values) == ["c1", "c2", "c3", "c4"]
    np.testing.assert_array_equal(out.sample.untouched["u"].values[0, :, 0], frame["u_0"].to_numpy())
    assert "effect" in out.posterior and "effect" in set(out.summary["param"])
    with pytest.raises(SasOutputError, match=r"u_0 missing \(0 of 4 effects of subjects in the data and 1 of 1 other subjects' effects\).*monitor=\(u\)"):
        synthetic_outpost(folder / "outpost_synthetic.csv", translation, drop=["u_0"])
        read_program_sas_output([folder / "outpost_synthetic.csv"], translation)
    with pytest.raises(SasOutputError, match=r"u_c9 match no value of coach"):
        synthetic_outpost(folder / "outpost_synthetic.csv", translation, extra={"u_c9": 0.0})
        read_program_sas_output([folder / "outpost_synthetic.csv"], translation)
    with pytest.raises(SasOutputError, match=r"parameter column\(s\) s2t missing for the <program> model"):
        synthetic_outpost(folder / "outpost_synthetic.csv", translation, drop=["s2t"])
        read_program_sas_output([folder / "outpost_synthetic.csv"], translation)
    (tmp_path / "empty_synthetic").mkdir()
    with pytest.raises(SasOutputError, match="no OUTPOST file in .*Export the OUTPOST= data set"):
        read_program_sas_output(tmp_path / "empty_synthetic", translation)


def test_the_project_program_reads_sas_output_as_the_builtin_reader_does(tmp_path, run1_path, run1_design):
    """The translated step 2 of partially_clustered.sas and the built-in per-condition reader: same summary."""
    draws = stand_in_draws(run1_design, "per_condition", n_draws=N, n_chains=2, seed=4)
    fx = make_fixture(tmp_path / "synthetic_pc", draws, run1_design, "per_condition")
    builtin = read_sas_output(list(fx.outpost), run1_design, "per_condition")
    translation = translate_file(SAS_PROGRAM, read_program_data(str(run1_path)), step=2)
    program = read_program_sas_output(list(fx.outpost), translation)
    pd.testing.assert_frame_equal(program.summary, builtin.summary)
    assert program.cross_check().empty
