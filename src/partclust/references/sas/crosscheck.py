"""Whether a PROC MCMC PostSumInt table agrees with the OUTPOST draws it claims to summarise."""

from __future__ import annotations

import pandas as pd

from partclust.references.sas.ods import DEFAULT_MCSE_UNITS, SasOutput

__all__ = ["cross_check_status"]


def cross_check_status(output: SasOutput, mcse_units: float = DEFAULT_MCSE_UNITS) -> dict[str, object]:
    """Run :meth:`SasOutput.cross_check` when a PostSumInt table is present; summarise the outcome.

    Parameters
    ----------
    output : SasOutput
    mcse_units : float
        Tolerance in MCSEs (plus the printed rounding).

    Returns
    -------
    dict
        ``ran`` (a PostSumInt table was there), ``passed`` (None when not run), ``compared`` and
        ``discrepancies`` (counts of statistics), and ``message``: one sentence naming the files and
        the first discrepancy when it failed, else "".
    """
    if "postsumint" not in output.tables:
        return {"ran": False, "passed": None, "compared": 0, "discrepancies": 0, "message": ""}
    rows = output.cross_check(mcse_units=mcse_units, all_rows=True)
    bad = rows[~rows["ok"].astype(bool)]
    status: dict[str, object] = {"ran": True, "passed": bad.empty, "compared": len(rows),
                                 "discrepancies": len(bad), "message": ""}
    if not bad.empty:
        first = bad.iloc[0]
        if pd.notna(first.get("sas")) and pd.notna(first.get("ours")):
            what = (f"chain {int(first['chain']) + 1}, {first['param']} {first['stat']}: PostSumInt "
                    f"{first['sas']:.6g}, the draws {first['ours']:.6g}")
        else:
            what = f"chain {int(first['chain']) + 1}, {first['param']}: {first['note']}"
        tables = ", ".join(str(p) for p in output.table_files.get("postsumint", ()))
        posts = ", ".join(str(p) for p in output.sample.files)
        status["message"] = (
            f"the PostSumInt table ({tables}) disagrees with the OUTPOST draws ({posts}): {len(bad)} of "
            f"{len(rows)} checks fail (first: {what}; tolerance {mcse_units:g} MCSE + rounding). The two files "
            "come from different PROC MCMC runs or were edited: export both from the same run."
        )
    return status
