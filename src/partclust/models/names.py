"""Parameter names and their labels for tables and plots."""

from __future__ import annotations

from partclust.validate import check_residual

__all__ = ["residual_names", "scalar_names", "PARAM_LABELS", "param_label"]

PARAM_LABELS: dict[str, str] = {
    "b0": "b₀", "b1": "b₁", "s2u": "σ²_u", "s2e": "σ²_e", "s2e_control": "σ²_e,control",
    "s2e_treated": "σ²_e,treated",
}


def residual_names(residual: str) -> tuple[str, ...]:
    """Names of the residual-variance parameters: ``("s2e",)`` or ``("s2e_control", "s2e_treated")``.

    Raises
    ------
    SpecError
        For a residual structure other than ``single`` or ``per_condition``.
    """
    check_residual(residual)
    return ("s2e",) if residual == "single" else ("s2e_control", "s2e_treated")


def scalar_names(residual: str) -> tuple[str, ...]:
    """Names of the scalar parameters, in the order tables show them: b0, b1, s2u, residual(s)."""
    return ("b0", "b1", "s2u") + residual_names(residual)


def param_label(param: str) -> str:
    """Return a reader's label for a parameter name (``s2u`` → ``σ²_u``; unknown names unchanged)."""
    return PARAM_LABELS.get(param, param)
