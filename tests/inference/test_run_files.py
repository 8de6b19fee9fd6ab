"""``posterior.nc`` is a complete ArviZ DataTree: ArviZ's energy plot and PSIS-LOO work on a run's own file."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from partclust.inference import (POSTERIOR_NC, FitSettings, file_record, fit, is_complete, read_posterior, read_run, read_trace,
                                 write_run)

SMALL = dict(draws=300, tune=300, chains=2)


@pytest.fixture(scope="module")
def run_dir(run1_design, tmp_path_factory):
    settings = FitSettings(model="per_condition", seed=11, **SMALL)
    out = tmp_path_factory.mktemp("run")
    write_run(out, fit(run1_design, settings, cores=1), run1_design)
    return out


def test_groups_coordinates_and_attributes(run_dir, run1_design):
    tree = read_trace(run_dir)
    assert {"posterior", "sample_stats", "log_likelihood", "observed_data"} <= set(tree.children)
    post = tree["posterior"]
    assert list(post["u"].coords["cluster"].values) == list(run1_design.clusters)
    assert post.sizes["chain"] == 2 and post.sizes["draw"] == 300
    obs = tree["observed_data"]
    assert list(obs["obs"].values) == list(run1_design.subject)
    np.testing.assert_array_equal(obs["y"].values, run1_design.y)
    assert tree["log_likelihood"]["y"].dims == ("chain", "draw", "obs")
    assert {"diverging", "energy"} <= set(tree["sample_stats"].data_vars)
    record, _ = read_run(run_dir)
    attrs = tree.attrs
    assert attrs["data_sha256"] == run1_design.sha256 == record["data"]["sha256"]
    assert int(attrs["data_n"]) == run1_design.n
    for key, value in record["settings"].items():
        assert attrs[key] == value, key


def test_log_likelihood_is_the_normal_density_of_each_observation(run_dir, run1_design):
    """Recomputed with scipy from the stored draws: y_i ~ N(b0 + (b1 + u_j)·Tx_i, σ²_e[arm])."""
    tree = read_trace(run_dir)
    post = tree["posterior"].to_dataset()
    d = run1_design
    u = post["u"].values[..., np.maximum(d.cluster_of_row, 0)]
    tx = d.treat.astype(float)
    mu = post["b0"].values[..., None] + (post["b1"].values[..., None] + u) * tx
    s2e = np.where(tx == 1.0, post["s2e_treated"].values[..., None], post["s2e_control"].values[..., None])
    expected = stats.norm.logpdf(d.y, mu, np.sqrt(s2e))
    np.testing.assert_allclose(tree["log_likelihood"]["y"].values, expected, rtol=1e-10, atol=1e-10)


def test_arviz_loo_and_energy_plot_on_the_file(run_dir, run1_design):
    import arviz as az
    import matplotlib

    matplotlib.use("Agg")
    tree = az.from_netcdf(run_dir / POSTERIOR_NC)
    loo = az.loo(tree)
    ll = tree["log_likelihood"]["y"].values.reshape(-1, run1_design.n)
    lppd = float(np.sum(np.log(np.mean(np.exp(ll), axis=0))))
    assert np.isfinite(loo.elpd) and loo.elpd < lppd  # leaving a point out can only lower its density
    # effective parameters: b0, b1, two variances, and 10 partially pooled cluster effects
    assert 3 < loo.p < 15
    assert loo.n_data_points == run1_design.n
    pc = az.plot_energy(tree, backend="matplotlib")
    assert pc.viz is not None
    import matplotlib.pyplot as plt

    plt.close("all")


def test_old_flat_files_are_still_read(run_dir, tmp_path):
    """Runs written before the DataTree layout hold the posterior alone at the file's root."""
    flat = tmp_path / "flat"
    flat.mkdir()
    for name in ("run.json", "summary.csv"):
        (flat / name).write_bytes((run_dir / name).read_bytes())
    posterior = read_posterior(run_dir)
    posterior.to_netcdf(flat / POSTERIOR_NC, engine="netcdf4")
    old = read_posterior(flat)
    xr.testing.assert_identical(old, posterior)
    tree = read_trace(flat)
    assert list(tree.children) == ["posterior"]
    xr.testing.assert_identical(tree["posterior"].to_dataset(), posterior)
    record = json.loads((flat / "run.json").read_text())
    assert not is_complete(flat, FitSettings(**record["settings"]), record["data"]["content_sha256"])  # bytes changed
    record["files"][POSTERIOR_NC] = file_record(flat / POSTERIOR_NC)  # as a run that wrote the flat file records it
    (flat / "run.json").write_text(json.dumps(record))
    assert is_complete(flat, FitSettings(**record["settings"]), record["data"]["content_sha256"])
