"""The declarations of a PROC MCMC step: PROC MCMC options, PARMS, PRIOR, RANDOM, MODEL and MONITOR=.

:class:`DeclarationReader` turns their parse trees into the :mod:`~partclust.translate.program` records,
checking what SAS checks (every parameter has one prior, a prior names declared parameters, a wildcard
matches one) and refusing what the translator does not support, with the statement's line. The reader of
the whole step (:class:`~partclust.translate.reader.StepReader`) builds on it.
"""

from __future__ import annotations

import re
from typing import Any

from partclust.errors import SpecError
from partclust.models.priors import Prior, Reciprocal
from partclust.translate.program import (NORMAL_NAMES, ModelStatement, ParmsBlock, PriorStatement, RandomStatement,
                                         RefusedError, Row, Spread)
from partclust.translate.source import Statement

__all__ = ["DeclarationReader", "PROC_OPTIONS"]

_KEYWORD_ALIASES = {"m": "mean", "v": "var", "sp": "shape", "s": "scale", "is": "iscale"}
PROC_OPTIONS: dict[str, str] = {
    "data": "input data set", "outpost": "output data set of the posterior draws", "nmc": "MCMC iterations kept",
    "nbi": "burn-in iterations", "thin": "thinning", "seed": "random seed", "ntu": "tuning iterations per loop",
    "monitor": "quantities reported", "statistics": "summary statistics", "stats": "summary statistics",
    "diagnostics": "convergence diagnostics", "diag": "convergence diagnostics", "plots": "plots", "plot": "plots",
    "dic": "DIC", "propcov": "initial proposal covariance", "mintune": "minimum tuning loops",
    "maxtune": "maximum tuning loops", "nthreads": "threads", "accepttol": "acceptance tolerance",
    "targaccept": "target acceptance rate", "targaccepti": "target acceptance (independence sampler)",
    "tunewt": "tuning weight", "scale": "initial proposal scale", "init": "initial values",
    "autocorlag": "autocorrelation lags", "aclag": "autocorrelation lags", "mchistory": "sampling history",
    "simreport": "simulation report", "list": "program listing", "listcode": "compiled code listing",
    "trace": "execution trace", "maxindexprint": "printing", "maxsubvalueprint": "printing",
    "reobsinfo": "random-effect details", "alg": "sampling algorithm", "propdist": "sampling algorithm",
    "discrete": "discrete sampler", "nologdist": "log-density output", "postpred": "posterior predictive",
}
"""PROC MCMC options that say how SAS samples or reports; recorded, with no effect on the model."""
_REFUSED_OPTIONS = {"jointmodel": "JOINTMODEL changes how the likelihood is formed",
                    "missing": "MISSING= changes how missing values are handled",
                    "preddist": "posterior predictive output is not translated"}


class DeclarationReader:
    """Read the declarations of one step; :meth:`refuse` makes the one-line refusal naming a statement."""

    path: str = "<program>"
    step: Any = None

    def refuse(self, st: Statement | Row | int, what: str) -> RefusedError:
        """Return the error refusing statement ``st`` (or line) for ``what``: file, line, what, statement."""
        if isinstance(st, Statement):
            line, text = st.line, st.display
        elif isinstance(st, Row):
            line, text = st.line, st.sas
        else:
            line, text = st, ""
        shown = text if len(text) <= 100 else text[:97] + "…"
        return RefusedError(f"{self.path}, line {line}: {what}" + (f": {shown}" if shown else ""))

    # ---- PROC MCMC options -----------------------------------------------------------------------

    def proc_options(self, st: Statement, tree: Any) -> dict[str, Any]:
        """Read the PROC MCMC options (recorded); refuse those that change the model or are unknown."""
        out: dict[str, Any] = {}
        for opt in tree.children:
            name = str(opt.children[0]).lower()
            if name in _REFUSED_OPTIONS:
                raise self.refuse(st, f"the PROC MCMC option {name.upper()} is not supported ({_REFUSED_OPTIONS[name]})")
            if name not in PROC_OPTIONS:
                raise self.refuse(st, f"the PROC MCMC option {name.upper()} is not known to the translator")
            args = [c for c in opt.children[1:] if getattr(c, "data", None) == "option_args"]
            values = [c for c in opt.children[1:] if getattr(c, "data", None) != "option_args"]
            value: Any = _option_value(values[0]) if values else True
            if args:
                value = {"options": _option_items(args[0].children), "value": value}
            out[name] = value
        return out

    # ---- PARMS -----------------------------------------------------------------------------------

    def parms(self, st: Statement, tree: Any) -> ParmsBlock:
        """Read a PARMS statement: one sampling block, its initial values and options."""
        names: list[str] = []
        initial: list[float | None] = []
        options: list[str] = []
        for item in tree.children:
            if item.data == "parm_option":
                options.append(" ".join(str(t) for t in item.children))
                continue
            group = [str(t) for t in item.children[0].children]
            init = None
            for c in item.children[1:]:
                init = float(c.children[0]) * (-1 if c.data == "negative_initial" else 1)
            for n in group:
                if "[" in n:
                    raise self.refuse(st, f"array element {n} in PARMS (arrays are not supported)")
                names.append(n)
                initial.append(init)
        return ParmsBlock(tuple(names), tuple(initial), tuple(options), st.line)

    # ---- PRIOR -----------------------------------------------------------------------------------

    def priors(self, prior_sts: list[tuple[Statement, Any]], params: list[str]) -> tuple[dict[str, Prior], tuple]:
        """Read the PRIOR statements: every parameter gets exactly one prior; wildcards expand to PARMS names."""
        from partclust.translate.distributions import _distribution, _Symbolic

        by_lower = {p.lower(): p for p in params}
        given: dict[str, tuple[Prior, int]] = {}
        statements = []
        for st, tree in prior_sts:
            targets = tree.children[:-1]
            dist = _normalise_distribution(tree.children[-1])
            names: list[str] = []
            written: list[str] = []
            for t in targets:
                if getattr(t, "data", None) == "prefix":
                    pre = str(t.children[0])[:-1].lower()
                    written.append(pre + ":")
                    hit = [p for p in params if p.lower().startswith(pre)]
                    if not hit:
                        raise self.refuse(st, f"the wildcard {pre}: matches no parameter declared in PARMS")
                    names += hit
                else:
                    n = str(t)
                    written.append(n)
                    if n.lower() not in by_lower:
                        raise self.refuse(st, f"PRIOR names {n}, which no PARMS statement declares")
                    names.append(by_lower[n.lower()])
            family = str(dist.children[0]).lower()
            try:
                prior = _distribution(dist, names[0] if len(names) == 1 else None)
            except _Symbolic as exc:
                raise self.refuse(st, f"the prior's arguments use {exc}; priors whose arguments are parameters "
                                  "(hierarchical priors) are not supported") from None
            except SpecError as exc:
                raise self.refuse(st, f"{family}(): {_strip_prefix(str(exc))}") from None
            if isinstance(prior, Reciprocal) and len(names) > 1:
                raise self.refuse(st, "general(-log(v), lower=0) covers one parameter per PRIOR statement")
            for n in names:
                if n in given:
                    raise self.refuse(st, f"{n} already has a prior (line {given[n][1]})")
                given[n] = (prior, st.line)
            statements.append(PriorStatement(tuple(written), tuple(names), prior, st.line))
        missing = [p for p in params if p not in given]
        if missing:
            blk_line = prior_sts[0][0].line if prior_sts else self.step.line
            raise self.refuse(blk_line, f"parameter{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                              "ha" + ("ve" if len(missing) > 1 else "s") + " no PRIOR statement")
        return {p: given[p][0] for p in params}, tuple(statements)

    # ---- RANDOM and MODEL ------------------------------------------------------------------------

    def spread(self, st: Statement, dist: Any, what: str) -> Spread:
        """Read a ``normal(mean, var=|sd=|prec=)`` of a RANDOM or MODEL statement (its arguments as expressions)."""
        dist = _normalise_distribution(dist)
        family = str(dist.children[0]).lower()
        if family != "normal":
            raise self.refuse(st, f"the distribution {family}() in {what} is not supported (supported: normal)")
        pos, kw = [], {}
        for arg in dist.children[1:]:
            if arg is None:
                continue
            if arg.data == "keyword_argument":
                key = str(arg.children[0]).lower()
                if key in kw:
                    raise self.refuse(st, f"normal(): {key}= given twice")
                kw[key] = arg.children[1]
            else:
                if kw:
                    raise self.refuse(st, "normal(): a positional argument after a keyword argument")
                pos.append(arg.children[0])
        unknown = sorted(set(kw) - {"mean", "mu", "var", "sd", "prec"})
        if unknown:
            raise self.refuse(st, f"normal() has no option {unknown[0]}=; it takes mean=, var=, sd= or prec=")
        means = pos[:1] + [kw[k] for k in ("mean", "mu") if k in kw]
        spreads = [k for k in ("var", "sd", "prec") if k in kw]
        if len(pos) > 1:
            raise self.refuse(st, "normal(mean, var=|sd=|prec=): the spread must be named (var=, sd= or prec=)")
        if len(means) != 1:
            raise self.refuse(st, "normal() needs exactly one mean")
        if len(spreads) != 1:
            raise self.refuse(st, "normal() needs exactly one of var=, sd= and prec=")
        return Spread(means[0], spreads[0], kw[spreads[0]])

    def random(self, st: Statement, tree: Any, params: list[str]) -> RandomStatement:
        """Read a RANDOM statement: the effect, its normal distribution, SUBJECT= and the options kept."""
        name = str(tree.children[0])
        if "[" in name:
            raise self.refuse(st, f"array random effect {name} (arrays and mvn are not supported)")
        dist = self.spread(st, tree.children[1], "RANDOM")
        options: dict[str, Any] = {}
        for opt in tree.children[2:]:
            key = str(opt.children[0]).lower()
            value = _option_value(opt.children[1]) if len(opt.children) > 1 else True
            options[key] = value
        subject = options.pop("subject", None)
        if not isinstance(subject, str) or not subject:
            raise self.refuse(st, "RANDOM needs SUBJECT=column")
        if subject.lower() == "_obs_":
            raise self.refuse(st, "SUBJECT=_OBS_ (one effect per observation) is not supported")
        allowed = {"monitor", "initial", "init", "nooutpost", "namelen"}
        bad = sorted(set(options) - allowed)
        if bad:
            raise self.refuse(st, f"the RANDOM option {bad[0].upper()} is not supported (supported: SUBJECT=, "
                              "MONITOR=, INITIAL=, NOOUTPOST, NAMELEN=)")
        return RandomStatement(name, dist, subject, options, st.line)

    def model_statement(self, st: Statement, tree: Any) -> ModelStatement:
        """Read the MODEL statement: the outcome column and its normal distribution."""
        outcome = str(tree.children[0])
        dist = self.spread(st, tree.children[1], "MODEL")
        if len(tree.children) > 2:
            raise self.refuse(st, f"the MODEL option {str(tree.children[2].children[0]).upper()} is not supported")
        return ModelStatement(outcome, dist, st.line)

    # ---- MONITOR= ------------------------------------------------------------------------------------

    def derived(self, options: dict, params: list[str], rnames: list[str], assigned: list[str],
                st: Statement) -> tuple[str, ...]:
        """List the program variables that MONITOR= asks to report (derived quantities)."""
        mon = options.get("monitor")
        if mon is None or mon is True:
            return ()
        items = mon if isinstance(mon, list) else [mon]
        out = []
        lowered_params = {p.lower() for p in params}
        assigned_by_lower = {a.lower(): a for a in assigned}
        for item in items:
            name = str(item)
            low = name.lower()
            if low in ("_parms_", "_all_") or low in lowered_params or low in rnames:
                continue
            if low in assigned_by_lower:
                out.append(assigned_by_lower[low])
                continue
            raise self.refuse(st, f"MONITOR= lists {name}, which is neither a parameter, a random effect nor a "
                              "variable the program assigns")
        return tuple(out)


def _option_value(tree: Any) -> Any:
    kind = getattr(tree, "data", None)
    if kind == "option_number":
        return _number(str(tree.children[0]))
    if kind == "option_negative":
        return -_number(str(tree.children[0]))
    if kind == "option_name":
        return ".".join(str(t) for t in tree.children)
    if kind == "option_string":
        return str(tree.children[0])[1:-1]
    if kind == "option_list":
        return _option_items(tree.children)
    return str(tree)


def _option_items(items: list) -> list:
    out: list = []
    for it in items:
        kids = it.children
        if len(kids) == 1:
            tok = kids[0]
            out.append(_number(str(tok)) if getattr(tok, "type", "") == "NUMBER" else str(tok))
        else:
            out.append({str(kids[0]): _option_value(kids[1])})
    return out


def _number(text: str) -> float | int:
    x = float(text)
    return int(x) if x == int(x) and "." not in text and "e" not in text.lower() else x


def _normalise_distribution(dist: Any) -> Any:
    """SAS's aliases (``n``/``norm``/``gaussian``; ``m= v= sp= s= is=``) as the canonical names."""
    import lark

    name = str(dist.children[0])
    low = name.lower()
    new_name = lark.Token("NAME", "normal") if low in NORMAL_NAMES else dist.children[0]
    args = []
    for arg in dist.children[1:]:
        if arg is not None and arg.data == "keyword_argument":
            key = str(arg.children[0]).lower()
            if key in _KEYWORD_ALIASES:
                arg = lark.Tree("keyword_argument", [lark.Token("NAME", _KEYWORD_ALIASES[key]), arg.children[1]])
        args.append(arg)
    return lark.Tree(dist.data, [new_name] + args)


def _strip_prefix(msg: str) -> str:
    return re.sub(r"^\w+\(\): ", "", msg)
