"""Figures of one fit: the model graph, trace and rank plots (ArviZ)."""

from __future__ import annotations

import shutil
from typing import Any

import matplotlib.pyplot as plt

__all__ = ["model_graph", "trace_plot", "rank_plot", "close_all"]


def model_graph(model) -> Any:
    """Draw the PyMC model graph (graphviz) where Graphviz's ``dot`` is installed, else return the model's text."""
    import pymc as pm

    if shutil.which("dot"):
        try:
            return pm.model_to_graphviz(model)
        except NotImplementedError:
            # PyMC finds each node's shape by evaluating it cheaply, which draws from the priors and cannot for
            # improper ones (Flat, HalfFlat: general(0), general(-log(v))); with PyTensor's shape inference the
            # shapes need no draw. Only the graph's drawing is affected, never a model.
            import pymc.model_graph as model_graph_module
            from pytensor.compile.mode import get_mode

            cheap = model_graph_module._cheap_eval_mode
            model_graph_module._cheap_eval_mode = get_mode("FAST_RUN")
            try:
                return pm.model_to_graphviz(model)
            finally:
                model_graph_module._cheap_eval_mode = cheap
    return model.str_repr() if hasattr(model, "str_repr") else str(model)


def trace_plot(trace, var_names: list[str]) -> plt.Figure:
    """Per-chain densities and traces (ArviZ)."""
    import arviz as az

    pc = az.plot_trace_dist(trace, var_names=var_names, backend="matplotlib")
    return _figure_of(pc, "Trace and per-chain density")


def rank_plot(trace, var_names: list[str], max_points: int = 500) -> plt.Figure:
    """Rank ECDF plots: chains that mix well stay inside the envelope.

    Thinned to about ``max_points`` draws per chain for the picture (the envelope's simulation is
    what makes this plot slow); the R-hat and ESS numbers use every draw.
    """
    import arviz as az

    n_draws = trace["posterior"].sizes["draw"]
    pc = az.plot_rank(trace, var_names=var_names, backend="matplotlib", thin=max(1, n_draws // max_points))
    return _figure_of(pc, "Rank ECDF per chain, minus the uniform: near 0 when the chains agree (p < α flags a chain)")


def _figure_of(pc, title: str) -> plt.Figure:
    fig = pc.viz["figure"].item() if "figure" in pc.viz else plt.gcf()
    # just above the highest panel with its own title and labels: ArviZ leaves the figure's top eighth empty, and a
    # title placed by a fraction of the height sat an inch above the panels of a tall figure
    renderer = fig.canvas.get_renderer()
    top = max((ax.get_tightbbox(renderer).y1 for ax in fig.axes), default=fig.bbox.height) / fig.bbox.height
    fig.suptitle(title, y=top + 0.1 / fig.get_figheight(), va="bottom")
    return fig


def close_all() -> None:
    """Free the figures already displayed (a study kernel runs many notebooks in one process)."""
    plt.close("all")
