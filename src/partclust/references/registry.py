"""The registry of references a fit is compared against, each with its provenance, looked up by name.

``exact``       quadrature posterior (no Monte Carlo error; :mod:`partclust.references.exact`)
``reml``        restricted maximum likelihood (:mod:`partclust.references.reml`): point estimates, not posterior
                statistics, so the engine shows them but calls them "not comparable"
``pymc2_2011``  the original PyMC 2 re-fit, printed as ``floor(mean*100)/100``: held as the interval
                [v, v + 0.01); published for run1 only
``sas``         PROC MCMC output in ``sas_reference/output/`` when a SAS user has put it there
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from partclust.data import Design, same_data
from partclust.errors import SasOutputError, SpecError
from partclust.inference.summary import MCSE_COLUMN, STATISTICS
from partclust.layout import SAS_OUTPUT
from partclust.models.checks import check_data
from partclust.references.base import Reference, reference_table
from partclust.references.published import load_published, published_info

__all__ = ["REFERENCE_NAMES", "exact_reference", "reml_reference", "pymc2_reference", "sas_reference",
           "program_references", "all_references", "get_reference", "side_by_side", "forest_table", "sas_refused",
           "refuse_inconsistent_sas", "sas_notice"]

REFERENCE_NAMES: tuple[str, ...] = ("exact", "reml", "pymc2_2011", "sas")
PYMC2_DRAWS = 1000


def _builtin_record(name: str) -> dict:
    from partclust.models.spec import builtin_spec

    return builtin_spec(name).record()


def exact_reference(design: Design, residual: str, posterior=None) -> Reference:
    """Return the exact posterior as a reference (se = 0 for every statistic)."""
    from partclust.references.exact import exact_posterior

    if posterior is None and isinstance(design, Design):  # data read through a spec were checked when read
        check_data(design, residual)
    post = posterior if posterior is not None else exact_posterior(design, residual)
    rows = []
    for _, r in post.table.iterrows():
        for stat in STATISTICS:
            value = r[stat]
            why = str(r.get("note", "") or "") or "not computed by the quadrature"
            rows.append({"param": r["param"], "statistic": stat, "value": value, "se": 0.0,
                         "note": "" if np.isfinite(value) else f"exact: {why}"})
    return Reference("exact", residual, reference_table(rows), dict(post.provenance))


def reml_reference(design: Design, residual: str) -> Reference:
    """REML estimates, shown beside the posterior means (a different quantity: never a verdict)."""
    from partclust.references.reml import reml

    if isinstance(design, Design):
        check_data(design, residual, priors=None)
    est = reml(design, residual)
    note = "REML is a point estimate (a restricted-likelihood maximum), not a posterior mean"
    rows = [{"param": r["param"], "statistic": "mean", "value": r["estimate"], "note": note}
            for _, r in est.table.iterrows()]
    provenance = {"method": "restricted maximum likelihood (partclust.references.reml)", "restricted_loglik": est.loglik,
                  "converged": est.converged, "s2u_on_boundary": est.s2u_on_boundary}
    return Reference("reml", residual, reference_table(rows), provenance)


def pymc2_reference(design: Design, residual: str, exact_sd: dict[str, float] | None = None) -> Reference:
    """Return the published PyMC 2 (2011) means as intervals [v, v + 0.01).

    Their own Monte Carlo error was not published. With 1,000 thinned draws it is at least
    sd/√1000 (what 1,000 independent draws would give), so that lower bound is used as their MCSE:
    a "real difference" verdict then still allows for the best case of their sampler.
    """
    info = published_info("pymc2_2011")
    provenance = {**info, "reference_se": "sd / sqrt(1000) (lower bound; exact posterior sd)"}
    spec = getattr(design, "spec", None)
    if spec is not None and not (spec.is_builtin and spec.record() == _builtin_record(spec.name)):
        return Reference("pymc2_2011", residual, reference_table([]), provenance, available=False,
                         unavailable_reason="the PyMC 2 (2011) values were published for the built-in run1 models "
                                            "with the SAS program's priors only")
    if not same_data(info["data"], getattr(design, "content_sha256", ""), design.sha256):
        return Reference("pymc2_2011", residual, reference_table([]), provenance, available=False,
                         unavailable_reason="the PyMC 2 (2011) values were published for run1 only")
    pub = load_published("pymc2_2011", "run1", residual)
    values = dict(pub["values"])
    for label, v in zip(design.clusters, pub["u"]):
        values[f"u[{label}]"] = v
    rows = []
    for param, v in values.items():
        sd = (exact_sd or {}).get(param, np.nan)
        rows.append({"param": param, "statistic": "mean", "value": v, "lo": v, "hi": round(v + 0.01, 10),
                     "se": sd / np.sqrt(PYMC2_DRAWS)})
    return Reference("pymc2_2011", residual, reference_table(rows), provenance)


def sas_reference(design: Design, residual: str, source: str | Path | list[Path] | None = None) -> Reference:
    """PROC MCMC output, summarized by our own code from its OUTPOST draws, when present.

    Whenever a PostSumInt table lies beside the OUTPOST file(s), SAS's own means and SDs are checked
    against the draws (:func:`~partclust.references.sas.cross_check_status`); a mismatch makes the
    reference unavailable with the reason, and the outcome is kept in ``provenance["cross_check"]``
    (commands refuse such output: :func:`refuse_inconsistent_sas`).

    Parameters
    ----------
    design : Design
    residual : {"single", "per_condition"}
    source : path or list of paths, optional
        None: ``sas_reference/output`` (absent output gives an unavailable reference saying so). A
        folder in the canonical layout, an OUTPOST file, or the OUTPOST files (one per chain) given
        explicitly must exist and hold an OUTPOST sample of the model.

    Raises
    ------
    SasOutputError
        When an explicitly given source does not exist or holds no OUTPOST of the model, or the
        files cannot be read (the message names the file and the fault).
    """
    from partclust.references import sas

    spec = getattr(design, "spec", None)
    if spec is not None and not spec.is_builtin:
        return Reference("sas", residual, reference_table([]), {}, available=False,
                         unavailable_reason="PROC MCMC output is read for the built-in run1 models only")
    if isinstance(source, (list, tuple)):
        result = sas.read_sas_output([Path(p) for p in source], design, residual)
    elif source not in (None, ""):
        out = Path(source)
        if not out.exists():
            raise SasOutputError(f"SAS output {out} does not exist. Give the folder that holds outpost.csv "
                                 "(or outpost.csv itself), or leave --sas-output out.")
        if out.is_file():
            result = sas.read_sas_output([out], design, residual)
        elif not sas.available(out, residual):
            raise SasOutputError(
                f"no OUTPOST sample of the {residual} model under {sas.model_dir(out, residual)} (expected "
                "outpost.csv or outpost.sas7bdat; see sas_reference/README.md). Give the folder SAS wrote, "
                "or leave --sas-output out."
            )
        else:
            result = sas.read_sas_output(out, design, residual)
    else:
        out = SAS_OUTPUT
        if not sas.available(out, residual):
            return Reference(
                "sas", residual, reference_table([]), {"output_dir": str(out)}, available=False,
                unavailable_reason=(f"no PROC MCMC output in {out}/{residual}: run "
                                    "sas_reference/partially_clustered.sas in SAS and copy its output there"),
            )
        result = sas.read_sas_output(out, design, residual)
    check = sas.cross_check_status(result)
    provenance = {**result.provenance(), "cross_check": check}
    if check["passed"] is False:
        return Reference("sas", residual, reference_table([]), provenance, available=False,
                         unavailable_reason=f"SAS output refused: {check['message']}")
    rows = []
    for _, r in result.summary.iterrows():
        for stat in STATISTICS:
            rows.append({"param": r["param"], "statistic": stat, "value": r[stat], "se": r[MCSE_COLUMN[stat]]})
    return Reference("sas", residual, reference_table(rows), provenance)


def sas_refused(reference: Reference) -> bool:
    """Whether a ``sas`` reference was refused because its PostSumInt disagrees with its OUTPOST draws."""
    return reference.name == "sas" and (reference.provenance.get("cross_check") or {}).get("passed") is False


def refuse_inconsistent_sas(references: Iterable[Reference] | Mapping[str, Reference]) -> None:
    """Raise when the SAS reference among ``references`` failed its PostSumInt cross-check.

    Raises
    ------
    SasOutputError
        With the cross-check's message (files and first discrepancy).
    """
    for ref in _as_list(references):
        if sas_refused(ref):
            raise SasOutputError(ref.unavailable_reason)


def sas_notice(reference: Reference) -> str:
    """One Markdown line for notebooks about the SAS reference: refused (a warning), absent, or ""."""
    if sas_refused(reference):
        return f"> ⚠ **{reference.unavailable_reason}** The SAS column stays empty until this is fixed."
    if not reference.available:
        return (f"> **No SAS output.** {reference.unavailable_reason}. The SAS column stays empty; see "
                "`sas_reference/README.md` for how to produce it.")
    check = reference.provenance.get("cross_check") or {}
    if check.get("ran"):
        return (f"SAS output: its PostSumInt table agrees with the OUTPOST draws ({check['compared']} checks "
                "of means and SDs).")
    return "SAS output: no PostSumInt table beside the OUTPOST draws, so they could not be cross-checked."


def all_references(design: Design, residual: str, sas_output_dir: str | Path | None = None,
                   exact_posterior=None) -> dict[str, Reference]:
    """Every reference for one model, keyed by name in the order of :data:`REFERENCE_NAMES`.

    Parameters
    ----------
    design : Design
    residual : {"single", "per_condition"}
    sas_output_dir : path, optional
        PROC MCMC output (default ``sas_reference/output``); absent output gives an unavailable
        ``sas`` reference saying so.
    exact_posterior : ExactPosterior, optional
        Reuse an exact posterior already computed.

    Returns
    -------
    dict of str to Reference
        ``{"exact": …, "reml": …, "pymc2_2011": …, "sas": …}``; look references up by name, never by position.
    """
    exact = exact_reference(design, residual, exact_posterior)
    sd = exact.table[exact.table["statistic"] == "sd"].set_index("param")["value"].to_dict()
    refs = [exact, reml_reference(design, residual), pymc2_reference(design, residual, sd),
            sas_reference(design, residual, sas_output_dir)]
    return {r.name: r for r in refs}


def get_reference(name: str, design: Design, residual: str, **kwargs) -> Reference:
    """One reference by name (``exact``, ``reml``, ``pymc2_2011`` or ``sas``).

    Raises
    ------
    SpecError
        For an unknown name.
    """
    builders = {"exact": exact_reference, "reml": reml_reference, "pymc2_2011": pymc2_reference,
                "sas": sas_reference}
    if name not in builders:
        raise SpecError(f"unknown reference {name!r}; known: {', '.join(REFERENCE_NAMES)}")
    return builders[name](design, residual, **kwargs)


def _as_list(references: Iterable[Reference] | Mapping[str, Reference]) -> list[Reference]:
    return list(references.values() if isinstance(references, Mapping) else references)


def side_by_side(references: Iterable[Reference] | Mapping[str, Reference], fit: pd.DataFrame,
                 statistic: str = "mean") -> pd.DataFrame:
    """One column per source (exact | reml | pymc2_2011 | sas | this fit) for one statistic, and this fit's SE."""
    cols = {}
    for ref in _as_list(references):
        t = ref.table[ref.table["statistic"] == statistic].set_index("param")["value"]
        cols[ref.name] = t if ref.available else pd.Series(dtype=float)
    f = fit[fit["statistic"] == statistic].set_index("param")
    cols["this fit"] = f["fit_value"]
    cols["SE of this fit"] = f["fit_se"]
    out = pd.DataFrame(cols).reindex(f.index)
    return out


def forest_table(references: Iterable[Reference] | Mapping[str, Reference], fit: pd.DataFrame,
                 fit_label: str = "this fit") -> pd.DataFrame:
    """Mean with 2.5–97.5 % interval per parameter and source, for a forest plot."""
    rows = []
    sources = [(r.name, r.table.rename(columns={"value": "v"})) for r in _as_list(references) if r.available]
    sources.append((fit_label, fit.rename(columns={"fit_value": "v"})))
    for name, t in sources:
        wide = t.pivot_table(index="param", columns="statistic", values="v", aggfunc="first", sort=False)
        for param, r in wide.iterrows():
            if pd.isna(r.get("mean", np.nan)):
                continue
            rows.append({"param": param, "source": name, "value": r["mean"],
                         "lo": r.get("q2.5", np.nan), "hi": r.get("q97.5", np.nan)})
    return pd.DataFrame(rows, columns=["param", "source", "value", "lo", "hi"])


def program_references(translation, sas_output: str | Path | list[Path] | None = None,
                       exact_posterior=None) -> dict[str, Reference]:
    """Build the references of a translated PROC MCMC program, in the program's names.

    ``exact`` and ``reml`` when the program is in the model family (else unavailable, saying why), ``sas``
    from the program's own OUTPOST files (a folder or the files) when given.

    Parameters
    ----------
    translation : Translation
        From :func:`partclust.translate.translate_file`.
    sas_output : path or list of paths, optional
        A folder holding the step's ``outpost.csv`` (and ``outpost_chain2.csv`` …), or the files.
    exact_posterior : ExactPosterior, optional
        Reuse an exact posterior already computed for ``translation.family.data``.

    Returns
    -------
    dict of str to Reference
        ``{"exact": …, "reml": …, "sas": …}``.
    """
    from partclust.references import sas

    model = translation.name
    family = translation.family
    refs: list[Reference] = []
    if family.member:
        from partclust.references.exact import exact_posterior as _exact
        from partclust.references.reml import reml

        post = exact_posterior if exact_posterior is not None else _exact(family.data)
        table = family.rename(post.table)
        rows = [{"param": r["param"], "statistic": stat, "value": r[stat], "se": 0.0,
                 "note": "" if np.isfinite(r[stat]) else (str(r.get("note") or "") or "not computed by the quadrature")}
                for _, r in table.iterrows() for stat in STATISTICS]
        refs.append(Reference("exact", model, reference_table(rows), dict(post.provenance)))
        est = reml(family.data)
        note = "REML is a point estimate (a restricted-likelihood maximum), not a posterior mean"
        rows = [{"param": family.program_name(str(r["param"])), "statistic": "mean", "value": r["estimate"],
                 "note": note} for _, r in est.table.iterrows()]
        refs.append(Reference("reml", model, reference_table(rows),
                              {"method": "restricted maximum likelihood (partclust.references.reml)",
                               "restricted_loglik": est.loglik, "converged": est.converged,
                               "s2u_on_boundary": est.s2u_on_boundary}))
    else:
        why = f"the program is not in the model family: {family.reason}"
        refs += [Reference(n, model, reference_table([]), {}, available=False, unavailable_reason=why)
                 for n in ("exact", "reml")]
    if sas_output is None:
        refs.append(Reference("sas", model, reference_table([]), {}, available=False,
                              unavailable_reason="no PROC MCMC output of this program was given (--sas-output)"))
    else:
        source = [Path(p) for p in sas_output] if isinstance(sas_output, (list, tuple)) else Path(sas_output)
        result = sas.read_program_sas_output(source, translation)
        rows = [{"param": r["param"], "statistic": stat, "value": r[stat], "se": r[MCSE_COLUMN[stat]]}
                for _, r in result.summary.iterrows() for stat in STATISTICS]
        refs.append(Reference("sas", model, reference_table(rows), dict(result.provenance())))
    return {r.name: r for r in refs}
