"""The convergence gate across a study's runs: read the run records, count what passed, say it in one sentence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["run_records", "gate_tally", "gate_sentence"]


def run_records(run_dirs) -> list[dict[str, Any]]:
    """Read the ``run.json`` records of run folders (folders without a readable one are left out)."""
    import json

    from partclust.inference.runs import RUN_JSON

    out = []
    for d in run_dirs:
        try:
            out.append(json.loads((Path(d) / RUN_JSON).read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return out


def gate_tally(records) -> dict[str, Any]:
    """How many runs passed the convergence gate and which checks failed how often.

    Parameters
    ----------
    records : iterable of dict
        Run records (``run.json``), each with a ``convergence`` entry
        (:func:`~partclust.inference.summary.convergence_gate`).

    Returns
    -------
    dict
        ``n`` runs, ``passed`` runs, ``failed_checks`` (check → number of runs failing it, most
        frequent first) and ``worst`` (over all runs: largest R-hat, smallest bulk and tail ESS, most
        divergences).
    """
    records = [r for r in records if isinstance(r, dict) and isinstance(r.get("convergence"), dict)]
    failed: dict[str, int] = {}
    worst = {"r_hat_max": float("-inf"), "ess_bulk_min": float("inf"), "ess_tail_min": float("inf"),
             "divergences": 0}
    for r in records:
        gate = r["convergence"]
        for check, ok in (gate.get("checks") or {}).items():
            if not ok:
                failed[check] = failed.get(check, 0) + 1
        w = {k: float(v) for k, v in (gate.get("worst") or {}).items() if v is not None and v == v}  # NaN dropped
        worst["r_hat_max"] = max(worst["r_hat_max"], w.get("r_hat_max", float("-inf")))
        worst["ess_bulk_min"] = min(worst["ess_bulk_min"], w.get("ess_bulk_min", float("inf")))
        worst["ess_tail_min"] = min(worst["ess_tail_min"], w.get("ess_tail_min", float("inf")))
        worst["divergences"] = max(worst["divergences"], int(w.get("divergences", 0)))
    return {"n": len(records), "passed": sum(bool(r["convergence"].get("passed")) for r in records),
            "failed_checks": dict(sorted(failed.items(), key=lambda kv: -kv[1])), "worst": worst}


_CHECK_WORDS = {"r_hat": ("R-hat above its limit", "largest R-hat {r_hat_max:.3f}"),
                "ess_bulk": ("bulk ESS too small", "smallest bulk ESS {ess_bulk_min:.0f}"),
                "ess_tail": ("tail ESS too small", "smallest tail ESS {ess_tail_min:.0f}"),
                "divergences": ("divergent transitions", "up to {divergences} divergences")}


def gate_sentence(records) -> str:
    """One sentence: "k of N runs passed the convergence gate (thresholds)", with the failing checks.

    Used by the aggregate notebook and the study's last lines, so a study whose runs all failed the
    gate says so and why instead of showing an empty headline.

    Parameters
    ----------
    records : iterable of dict
        Run records (``run.json``).
    """
    from partclust.inference.summary import gate_description

    t = gate_tally(records)
    text = f"{t['passed']} of {t['n']} runs passed the convergence gate ({gate_description()})"
    if t["failed_checks"]:
        parts = []
        finite = {k: v for k, v in t["worst"].items() if abs(v) != float("inf")}
        for check, count in t["failed_checks"].items():
            words, worst = _CHECK_WORDS.get(check, (check, ""))
            try:
                detail = f", {worst.format(**finite)}" if worst else ""
            except KeyError:  # not computable (e.g. R-hat of one chain)
                detail = ", not computable"
            parts.append(f"{words} in {count} run(s){detail}")
        text += "; failing checks: " + "; ".join(parts)
    return text + "."
