"""The reader of PROC MCMC output, on synthetic fixtures in SAS's layout (never real SAS numbers)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from helpers import unbalanced_frame
from helpers_sas import make_fixture, stand_in_draws

from partclust.data import sha256_of, validate
from partclust.references.sas import MIN_DRAWS_PER_CHAIN, SasOutputError, available, read_outpost, read_sas_output

N_DRAWS = 400


@pytest.fixture(scope="module")
def single_draws(run1_design):
    return stand_in_draws(run1_design, "single", n_draws=N_DRAWS, seed=11)


@pytest.fixture
def single_fixture(tmp_path, run1_design, single_draws):
    return make_fixture(tmp_path / "synthetic_single", single_draws, run1_design, "single")


def _rewrite(path, edit):
    """Apply ``edit`` (which returns a new frame, or changes cells and returns None) to a CSV file."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    changed = edit(frame)
    (frame if changed is None else changed).to_csv(path, index=False)


# ------------------------------------------------------------------------------------------
# round trip


@pytest.mark.parametrize("residual", ["single", "per_condition"])
def test_round_trip_names_shapes_and_labels(tmp_path, run1_design, residual):
    draws = stand_in_draws(run1_design, residual, n_draws=N_DRAWS, seed=3)
    fx = make_fixture(tmp_path, draws, run1_design, residual)
    assert all("synthetic" in p.name for p in fx.outpost + fx.postsumint)
    out = read_sas_output(fx.outpost, run1_design, residual)
    post = out.posterior

    residuals = {"s2e"} if residual == "single" else {"s2e_control", "s2e_treated"}
    expected = {"b0", "b1", "s2u", "u"} | residuals
    assert set(post.data_vars) == expected
    assert dict(post.sizes) == {"chain": 1, "draw": N_DRAWS, "cluster": run1_design.n_clusters}
    assert list(post["u"].coords["cluster"].values) == list(run1_design.clusters)
    for name in expected - {"u"}:
        np.testing.assert_array_equal(post[name].values, draws[name].values)
    # u_<j> is mapped by the subject value j, not by column position
    np.testing.assert_array_equal(post["u"].sel(cluster="7").values, draws["u"].sel(cluster="7").values)

    ctrl = out.sample.u_control
    assert ctrl.dims == ("chain", "draw", "control_cluster")
    assert list(ctrl.coords["control_cluster"].values) == list(run1_design.control_clusters)
    assert ctrl.sizes["control_cluster"] == 100
    assert not set(ctrl.coords["control_cluster"].values) & set(post["u"].coords["cluster"].values)
    assert set(out.sample.log_density.data_vars) == {"LogPrior", "LogLike", "LogPost"}
    assert out.sample.n_draws == N_DRAWS and out.sample.n_chains == 1
    assert out.sample.sha256[0] == sha256_of(fx.outpost[0])
    assert "postsumint" in out.tables and len(out.tables["postsumint"]) == 4 + (residual != "single") + 110


def test_summary_equals_numpy_on_the_draws(single_fixture, run1_design, single_draws):
    out = read_sas_output(single_fixture.outpost, run1_design, "single")
    summary = out.summary.set_index("param")
    assert len(summary) == 4 + run1_design.n_clusters
    flat = {n: single_draws[n].values.ravel() for n in ("b0", "b1", "s2u", "s2e")}
    for label in run1_design.clusters:
        flat[f"u[{label}]"] = single_draws["u"].sel(cluster=label).values.ravel()
    for name, x in flat.items():
        row = summary.loc[name]
        assert row["mean"] == pytest.approx(x.mean(), rel=1e-12, abs=1e-14)
        assert row["sd"] == pytest.approx(x.std(ddof=1), rel=1e-12)
        assert row["median"] == pytest.approx(np.quantile(x, 0.5), rel=1e-12, abs=1e-14)
        assert row["q2.5"] == pytest.approx(np.quantile(x, 0.025), rel=1e-12, abs=1e-14)
        assert row["q97.5"] == pytest.approx(np.quantile(x, 0.975), rel=1e-12, abs=1e-14)
        assert np.isfinite(row["mcse_mean"]) and row["ess_bulk"] > 100


def test_unbalanced_string_labels_map_by_name(tmp_path):
    design = validate(unbalanced_frame(), source="unbalanced")
    draws = stand_in_draws(design, "per_condition", n_draws=200, seed=5)
    fx = make_fixture(tmp_path, draws, design, "per_condition")
    post = read_outpost(fx.outpost, design, "per_condition")
    assert list(post.posterior["u"].coords["cluster"].values) == list(design.clusters)
    np.testing.assert_array_equal(post.posterior["u"].values, draws["u"].values)
    assert post.u_control.sizes["control_cluster"] == len(design.control_clusters)


def test_columns_in_any_order_and_case(single_fixture, run1_design, single_draws):
    path = single_fixture.outpost[0]
    frame = pd.read_csv(path, dtype=str)
    frame = frame[frame.columns[::-1]].rename(columns=str.upper)
    frame["EXTRA"] = "1"
    frame.to_csv(path, index=False)
    post = read_outpost(path, run1_design, "single")
    np.testing.assert_array_equal(post.posterior["b1"].values, single_draws["b1"].values)
    assert post.ignored_columns == ("EXTRA",)


# ------------------------------------------------------------------------------------------
# chains, directory layout, sas7bdat


def test_two_outpost_files_are_two_chains(tmp_path, run1_design):
    draws = stand_in_draws(run1_design, "single", n_draws=300, n_chains=2, seed=8)
    fx = make_fixture(tmp_path, draws, run1_design, "single")
    assert [p.name for p in fx.outpost] == ["outpost_synthetic_chain1.csv", "outpost_synthetic_chain2.csv"]
    out = read_sas_output(list(fx.outpost), run1_design, "single")
    assert out.posterior.sizes["chain"] == 2
    np.testing.assert_array_equal(out.posterior["s2u"].values, draws["s2u"].values)
    assert set(out.tables["postsumint"]["chain"]) == {0, 1}
    assert out.cross_check().empty
    assert np.isfinite(out.summary["r_hat"]).all()


def test_canonical_layout_and_available(tmp_path, run1_design, single_draws):
    root = tmp_path / "output"
    assert not available(root, "single")
    fx = make_fixture(root / "single", single_draws, run1_design, "single")
    # synthetic names are never taken for real output in the canonical layout
    assert not available(root, "single")
    with pytest.raises(SasOutputError, match="None is published"):
        read_sas_output(root, run1_design, "single")
    shutil.copy(fx.outpost[0], root / "single" / "outpost.csv")
    shutil.copy(fx.postsumint[0], root / "single" / "postsumint.csv")
    pd.DataFrame({"key": ["seed", "sysvlong"], "value": ["20110", "9.04.01M7P080520"]}).to_csv(
        root / "single" / "run_info.csv", index=False)
    assert available(root, "single") and not available(root, "per_condition")
    for source in (root, root / "single"):
        out = read_sas_output(source, run1_design, "single")
        assert out.sample.files == (root / "single" / "outpost.csv",)
        assert out.run_info["seed"] == "20110"
        assert out.table_files["postsumint"] == (root / "single" / "postsumint.csv",)
    assert out.provenance()["sha256"] == [sha256_of(root / "single" / "outpost.csv")]


def test_real_output_folder_holds_no_invented_numbers():
    from partclust.layout import SAS_OUTPUT

    files = [p.name for p in SAS_OUTPUT.rglob("*") if p.is_file()] if SAS_OUTPUT.is_dir() else []
    assert not [f for f in files if "synthetic" in f.lower()]


def test_sas7bdat_dispatches_to_read_sas(tmp_path, run1_design, single_fixture, monkeypatch, single_draws):
    target = tmp_path / "outpost.sas7bdat"
    target.write_bytes(b"stand-in")
    frame = pd.read_csv(single_fixture.outpost[0])
    calls = []

    def fake_read_sas(path, **kwargs):
        calls.append((path, kwargs.get("format")))
        return frame.copy()

    monkeypatch.setattr(pd, "read_sas", fake_read_sas)
    post = read_outpost(target, run1_design, "single")
    assert calls == [(target, "sas7bdat")]
    np.testing.assert_array_equal(post.posterior["b0"].values, single_draws["b0"].values)


def test_damaged_sas7bdat_raises(tmp_path, run1_design):
    bad = tmp_path / "outpost.sas7bdat"
    bad.write_bytes(b"\x00" * 2048)
    with pytest.raises(SasOutputError, match=r"outpost\.sas7bdat is not a readable SAS data set"):
        read_outpost(bad, run1_design, "single")


@pytest.mark.skip(reason="no sas7bdat writer is available here (pandas and pyreadstat only read the "
                         "format, and no real SAS file may be invented); dispatch is tested above")
def test_real_sas7bdat_round_trip():
    pass


# ------------------------------------------------------------------------------------------
# malformed output: every case raises SasOutputError naming the file, column and remedy


def test_missing_file(tmp_path, run1_design):
    with pytest.raises(SasOutputError, match=r"outpost\.csv does not exist.*partially_clustered\.sas"):
        read_outpost(tmp_path / "outpost.csv", run1_design, "single")


def test_missing_parameter(single_fixture, run1_design):
    path = single_fixture.outpost[0]
    _rewrite(path, lambda f: f.drop(columns=["s2u"]))
    with pytest.raises(SasOutputError, match=rf"{path.name}: parameter column\(s\) s2u missing.*MONITOR="):
        read_outpost(path, run1_design, "single")


def test_wrong_residual_model_is_named(tmp_path, run1_design):
    draws = stand_in_draws(run1_design, "per_condition", n_draws=200)
    fx = make_fixture(tmp_path, draws, run1_design, "per_condition")
    with pytest.raises(SasOutputError, match=r"s2e missing.*residual='per_condition'"):
        read_outpost(fx.outpost, run1_design, "single")


def test_missing_random_effect(single_fixture, run1_design):
    path = single_fixture.outpost[0]
    _rewrite(path, lambda f: f.drop(columns=["u_4"]))
    with pytest.raises(SasOutputError, match=r"u_4 missing \(1 of 10 treated cluster effects and 0 of 100 control singleton effects\).*monitor=\(u\)"):
        read_outpost(path, run1_design, "single")


def test_missing_control_singleton(single_fixture, run1_design):
    path = single_fixture.outpost[0]
    _rewrite(path, lambda f: f.drop(columns=["u_57"]))
    with pytest.raises(SasOutputError, match=r"u_57 missing \(0 of 10 treated cluster effects and 1 of 100 control singleton effects\)"):
        read_outpost(path, run1_design, "single")


def test_random_effect_of_another_dataset(single_fixture, run1_design):
    path = single_fixture.outpost[0]
    _rewrite(path, lambda f: f.insert(5, "u_999", "0.1"))
    with pytest.raises(SasOutputError, match=r"u_999 match no value of j"):
        read_outpost(path, run1_design, "single")


def test_unknown_layout(single_fixture, run1_design):
    path = single_fixture.postsumint[0]  # a summary table is not a sample
    with pytest.raises(SasOutputError, match=r"no recognisable parameter columns.*OUTPOST= data set"):
        read_outpost(path, run1_design, "single")


@pytest.mark.parametrize("cell", ["abc", ".", ""])
def test_non_numeric_cell(single_fixture, run1_design, cell):
    path = single_fixture.outpost[0]

    def edit(f):
        f.loc[9, "b1"] = cell

    _rewrite(path, edit)
    with pytest.raises(SasOutputError, match=rf"{path.name}: column b1 has non-numeric.*line\(s\) 11 "):
        read_outpost(path, run1_design, "single")


def test_sample_too_short(single_fixture, run1_design):
    path = single_fixture.outpost[0]
    _rewrite(path, lambda f: f.drop(index=range(MIN_DRAWS_PER_CHAIN - 1, len(f))))
    with pytest.raises(SasOutputError, match=rf"has {MIN_DRAWS_PER_CHAIN - 1} draws; at least "
                                             rf"{MIN_DRAWS_PER_CHAIN} per chain.*NMC="):
        read_outpost(path, run1_design, "single")


def test_empty_and_header_only(tmp_path, single_fixture, run1_design):
    empty = tmp_path / "outpost_empty.csv"
    empty.write_text("")
    with pytest.raises(SasOutputError, match="is empty"):
        read_outpost(empty, run1_design, "single")
    path = single_fixture.outpost[0]
    _rewrite(path, lambda f: f.drop(index=f.index))
    with pytest.raises(SasOutputError, match="header but no draws"):
        read_outpost(path, run1_design, "single")


def test_repeated_iterations(single_fixture, run1_design):
    path = single_fixture.outpost[0]

    def edit(f):
        f.loc[20, "Iteration"] = f.loc[19, "Iteration"]

    _rewrite(path, edit)
    with pytest.raises(SasOutputError, match=r"column Iteration is not strictly increasing"):
        read_outpost(path, run1_design, "single")


def test_chains_of_unequal_length_and_duplicates(tmp_path, run1_design):
    draws = stand_in_draws(run1_design, "single", n_draws=300, n_chains=2)
    fx = make_fixture(tmp_path, draws, run1_design, "single")
    with pytest.raises(SasOutputError, match="are the same file"):
        read_outpost([fx.outpost[0], fx.outpost[0]], run1_design, "single")
    _rewrite(fx.outpost[1], lambda f: f.drop(index=range(250, 300)))
    with pytest.raises(SasOutputError, match=r"different numbers of draws.*chain1.csv: 300.*chain2.csv: 250"):
        read_outpost(list(fx.outpost), run1_design, "single")


def test_bad_extension_and_residual(tmp_path, run1_design):
    odd = tmp_path / "outpost.txt"
    odd.write_text("x")
    with pytest.raises(SasOutputError, match="unknown file type"):
        read_outpost(odd, run1_design, "single")
    with pytest.raises(SasOutputError, match="residual must be one of"):
        read_outpost(odd, run1_design, "pooled")


def test_table_without_parameter_column(single_fixture, run1_design):
    _rewrite(single_fixture.postsumint[0], lambda f: f.rename(columns={"Parameter": "Name"}))
    with pytest.raises(SasOutputError, match=r"postsumint_synthetic\.csv: no Parameter column"):
        read_sas_output(single_fixture.outpost, run1_design, "single")


def test_cross_check_needs_postsumint(single_fixture, run1_design):
    single_fixture.postsumint[0].unlink()
    out = read_sas_output(single_fixture.outpost, run1_design, "single")
    assert out.tables == {}
    with pytest.raises(SasOutputError, match="no PostSumInt table"):
        out.cross_check()


# ------------------------------------------------------------------------------------------
# ODS cross-check


def test_cross_check_consistent_and_capitalization(single_fixture, run1_design):
    _rewrite(single_fixture.postsumint[0], lambda f: f.rename(columns=str.upper))
    out = read_sas_output(single_fixture.outpost, run1_design, "single")
    rows = out.cross_check(all_rows=True)
    assert len(rows) == 2 * (4 + 110)
    assert rows["ok"].all()
    assert out.cross_check().empty


def test_cross_check_flags_tampered_mean(single_fixture, run1_design):
    out0 = read_sas_output(single_fixture.outpost, run1_design, "single")
    mcse = out0.summary.set_index("param").loc["u[3]", "mcse_mean"]

    def edit(f):
        row = f.index[f["Parameter"] == "u_3"][0]
        f.loc[row, "Mean"] = f"{float(f.loc[row, 'Mean']) + 5 * mcse:.4f}"

    _rewrite(single_fixture.postsumint[0], edit)
    flagged = read_sas_output(single_fixture.outpost, run1_design, "single").cross_check()
    assert list(zip(flagged["param"], flagged["stat"])) == [("u_3", "mean")]
    assert flagged["z"].iloc[0] == pytest.approx(5.0, abs=0.1)


def test_cross_check_flags_count_and_unknown_parameter(single_fixture, run1_design):
    def edit(f):
        f.loc[0, "N"] = "399"
        f.loc[len(f)] = ["u_999", "400", "0.0", "1.0", "-1", "1"]

    _rewrite(single_fixture.postsumint[0], edit)
    flagged = read_sas_output(single_fixture.outpost, run1_design, "single").cross_check()
    assert set(flagged["stat"]) == {"n", "parameter"}
    assert "u_999" in set(flagged["param"])


def test_shifted_fixture_changes_s2u(tmp_path, run1_design, single_draws):
    fx = make_fixture(tmp_path, single_draws, run1_design, "single", shift_s2u=0.25)
    out = read_sas_output(fx.outpost, run1_design, "single")
    got = out.summary.set_index("param").loc["s2u", "mean"]
    assert got == pytest.approx(float(single_draws["s2u"].mean()) + 0.25, rel=1e-12)
    assert out.cross_check().empty
    with pytest.raises(ValueError, match="synthetic"):
        make_fixture(tmp_path, single_draws, run1_design, "single", name="real")


def test_cross_check_flags_missing_sas_value(single_fixture, run1_design):
    def edit(f):
        f.loc[f["Parameter"] == "b1", "StdDev"] = "."

    _rewrite(single_fixture.postsumint[0], edit)
    flagged = read_sas_output(single_fixture.outpost, run1_design, "single").cross_check()
    assert list(zip(flagged["param"], flagged["stat"])) == [("b1", "sd")]
    assert "is not a number" in flagged["note"].iloc[0]


def test_missing_effects_of_both_kinds_are_counted_apart(single_fixture, run1_design):
    path = single_fixture.outpost[0]
    _rewrite(path, lambda f: f.drop(columns=["u_2", "u_5", "u_57", "u_58", "u_59"]))
    with pytest.raises(SasOutputError, match=r"\(2 of 10 treated cluster effects and 3 of 100 control singleton effects\)"):
        read_outpost(path, run1_design, "single")


@pytest.mark.parametrize("column, value", [("s2u", "0"), ("s2e", "-0.25"), ("s2u", "-1e-300")])
def test_a_variance_draw_not_above_zero_is_refused_naming_the_line(single_fixture, run1_design, column, value):
    path = single_fixture.outpost[0]

    def edit(f):
        f.loc[6, column] = value  # data row 7: line 8 of the file (the header is line 1)

    _rewrite(path, edit)
    with pytest.raises(SasOutputError, match=rf"column {column} holds a variance draw ≤ 0 at line\(s\) 8 "):
        read_outpost(path, run1_design, "single")


def _canonical(root, fixture):
    """The fixture copied into the canonical layout (``<root>/single/outpost.csv`` + postsumint.csv)."""
    (root / "single").mkdir(parents=True)
    shutil.copy(fixture.outpost[0], root / "single" / "outpost.csv")
    shutil.copy(fixture.postsumint[0], root / "single" / "postsumint.csv")
    return root


def _tamper(path, param="s2u", by=0.05):
    def edit(f):
        row = f.index[f["Parameter"] == param][0]
        f.loc[row, "Mean"] = f"{float(f.loc[row, 'Mean']) + by:.4f}"

    _rewrite(path, edit)


def test_the_cross_check_runs_whenever_postsumint_is_there(tmp_path, single_fixture, run1_design):
    from partclust.references import sas_notice, sas_reference, sas_refused

    root = _canonical(tmp_path / "out", single_fixture)
    ok = sas_reference(run1_design, "single", root)
    assert ok.available and ok.provenance["cross_check"]["passed"] is True
    assert "agrees with the OUTPOST draws" in sas_notice(ok)
    _tamper(root / "single" / "postsumint.csv")
    bad = sas_reference(run1_design, "single", root)
    assert sas_refused(bad) and not bad.available
    assert "disagrees with the OUTPOST draws" in bad.unavailable_reason and "s2u mean" in bad.unavailable_reason
    assert sas_notice(bad).startswith("> ⚠ **SAS output refused")
    (root / "single" / "postsumint.csv").unlink()
    unchecked = sas_reference(run1_design, "single", root)
    assert unchecked.available and unchecked.provenance["cross_check"]["ran"] is False


def test_cli_compare_refuses_sas_output_that_disagrees_or_is_missing(tmp_path, single_fixture, run1_design,
                                                                   run1_path, capsys):
    from helpers import write_exact_run

    from partclust.runner.cli import main

    write_exact_run(tmp_path / "run", run1_design, seed=1)
    root = _canonical(tmp_path / "out", single_fixture)
    base = ["compare", "--model", "single", "--runs", str(tmp_path / "run"), "--data", str(run1_path),
            "--out", str(tmp_path / "cmp.csv")]
    assert main([*base, "--sas-output", str(root)]) == 0
    cmp = pd.read_csv(tmp_path / "cmp.csv")
    assert (cmp.loc[cmp.reference == "sas", "verdict"] != "not comparable").all()
    capsys.readouterr()
    _tamper(root / "single" / "postsumint.csv")
    (tmp_path / "cmp.csv").unlink()
    cases = [
        (root, "disagrees with the OUTPOST draws"),
        (tmp_path / "absent", "does not exist"),
        (tmp_path / "run", "no OUTPOST sample of the single model"),  # a folder without OUTPOST
        (tmp_path / "run" / "summary.csv", "no recognisable parameter columns"),  # a file that is not OUTPOST
    ]
    for source, fragment in cases:
        assert main([*base, "--sas-output", str(source)]) == 2, source
        err = capsys.readouterr().err
        assert fragment in err and err.count("\n") == 1, err
        assert not (tmp_path / "cmp.csv").exists()


def test_cli_study_refuses_inconsistent_sas_output_before_any_fit(tmp_path, single_fixture, run1_path,
                                                                 monkeypatch, capsys):
    from partclust.references import registry
    from partclust.runner.cli import main

    root = _canonical(tmp_path / "output", single_fixture)
    _tamper(root / "single" / "postsumint.csv")
    monkeypatch.setattr(registry, "SAS_OUTPUT", root)
    rc = main(["study", "--models", "single", "--seeds", "2", "--data", str(run1_path), "--out",
               str(tmp_path / "results")])
    assert rc == 2 and "SAS output refused" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_notebook_03_shows_a_banner_for_refused_sas_output(tmp_path, single_fixture, run1_design, run1_path):
    import json

    from helpers import write_exact_run

    from partclust.runner.notebooks import execute

    write_exact_run(tmp_path / "run", run1_design, seed=1)
    root = _canonical(tmp_path / "output", single_fixture)
    _tamper(root / "single" / "postsumint.csv")
    executed = execute("03_compare.ipynb", tmp_path / "03.ipynb",
                       {"model": "single", "run_dirs": [str(tmp_path / "run")], "data_path": str(run1_path),
                        "sas_output_dir": str(root)})
    text = json.dumps(json.loads(executed.read_text())["cells"])
    assert "SAS output refused" in text and "disagrees with the OUTPOST draws" in text
