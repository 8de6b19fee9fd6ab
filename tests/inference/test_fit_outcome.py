"""One compiled model per structure, the outcome swapped in: exactly the draws of a fresh compile."""

from __future__ import annotations

import numpy as np
import pytest

from partclust.inference import FitSettings
from partclust.inference.sample import fit_outcome
from partclust.models.simulate import draw_parameters, partially_nested_design, simulate_outcome, with_outcome


@pytest.mark.slow
def test_swapped_outcome_gives_the_draws_of_a_fresh_compile(monkeypatch):
    from partclust.inference import sample

    monkeypatch.setattr(sample, "_COMPILED", {})  # this process may have compiled the structure in another test
    md = partially_nested_design(4, 3, 6, "single")
    rng = np.random.default_rng(4)
    y1, y2 = (simulate_outcome(md, draw_parameters(md, rng), rng) for _ in range(2))
    settings = FitSettings(model="single", seed=9, draws=100, tune=100, chains=2)
    fresh = fit_outcome(with_outcome(md, y2), settings)  # compiled with y2 as its data
    other = fit_outcome(with_outcome(md, y1), settings)  # y1 swapped in
    back = fit_outcome(with_outcome(md, y2), settings)  # y2 swapped back in
    assert not fresh.timings["compile_cached"] and other.timings["compile_cached"] and back.timings["compile_cached"]
    for name in ("b0", "b1", "s2u", "s2e"):
        assert np.array_equal(back.posterior[name].values, fresh.posterior[name].values), name
    assert abs(float(other.posterior["b0"].mean()) - float(fresh.posterior["b0"].mean())) > 1e-6  # y1 was used


def test_only_nutpie_swaps():
    from partclust.errors import FitError

    md = partially_nested_design(3, 2, 4)
    with pytest.raises(FitError, match="nutpie"):
        fit_outcome(md, FitSettings(sampler="pymc"))
