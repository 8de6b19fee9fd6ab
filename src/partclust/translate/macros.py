"""The SAS macro language subset PROC MCMC programs use, expanded before the statements are read.

Supported: ``%LET``; ``&name`` and ``&name.`` references (resolved in double quotes, not in single
quotes); ``%MACRO name(positional, keyword=default, …); … %MEND;`` and calls ``%name(…)`` (keyword and
positional arguments, nested calls); ``%IF condition %THEN action; [%ELSE action;]`` where an action
is ``%DO; … %END;`` or one statement; ``%LOCAL``, ``%GLOBAL``, ``%PUT`` (ignored), ``%RETURN``,
``%*`` comments; the functions ``%EVAL``, ``%LENGTH``, ``%UPCASE``, ``%LOWCASE``, ``%STR``,
``%NRSTR``, ``%QUOTE``, ``%BQUOTE``. Conditions are evaluated as ``%EVAL`` does (``sasmacro.lark``):
integers compare as numbers, other operands as text.

Refused, naming the line: iterative ``%DO`` loops, ``%GOTO``, ``%INCLUDE``, indirect references
(``&&name``), a macro defined inside a macro. A condition that cannot be evaluated here (it calls
``%SYSFUNC``, say) is refused only if one of its branches holds a PROC MCMC step or a ``%LET``;
otherwise neither branch can affect a PROC MCMC step and both are skipped. A reference to an
undefined macro variable is left as written (SAS warns likewise); it is an error only if it ends up
inside a PROC MCMC step.

Length: over 400 lines because it is one scanner that executes the macro statements in file order
(statements, macro calls, %IF extents and functions share its position, scopes and line map); the %EVAL
arithmetic is apart, in :mod:`partclust.translate.macro_eval`.

Every character of the result keeps the line it was written on (a macro's body: the line inside the
definition) and the call that produced it, so messages name the line the user wrote.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from partclust.errors import SpecError
from partclust.translate.macro_eval import evaluate_condition, truth
from partclust.translate.source import SourceText, normalise_space

__all__ = ["MacroResult", "evaluate_condition", "expand_macros"]

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_MACRO_WORD = re.compile(r"%(" + _NAME + r")")
_REF = re.compile(r"&(&*)(" + _NAME + r")(\.?)")
_FUNCTIONS = {"eval", "length", "upcase", "lowcase", "str", "nrstr", "quote", "bquote", "nrquote", "nrbquote",
              "superq", "sysevalf", "unquote"}
_UNRESOLVABLE_FUNCTIONS = {"sysfunc", "qsysfunc", "scan", "qscan", "substr", "qsubstr", "index", "sysget",
                           "symexist", "sysmexecname", "sysprod", "verify", "cmpres", "left", "trim"}
_REFUSED = {"goto": "%GOTO jumps", "include": "%INCLUDE (paste the included file into the program instead)",
            "window": "%WINDOW", "display": "%DISPLAY", "input": "%INPUT", "abort": "%ABORT",
            "syscall": "%SYSCALL", "sysexec": "%SYSEXEC", "copy": "%COPY", "symdel": "%SYMDEL"}
_STATEMENT_KEYWORDS = {"let", "macro", "mend", "if", "then", "else", "do", "end", "local", "global", "put", "return",
                       "to", "by", "while", "until"}


class _Unresolvable(Exception):
    """A macro expression this translator cannot evaluate (e.g. ``%SYSFUNC``); carries the line."""

    def __init__(self, what: str, line: int):
        super().__init__(what)
        self.what = what
        self.line = line


class _Return(Exception):
    """``%RETURN``: leave the macro being executed."""


@dataclass
class _Macro:
    name: str
    positional: list[str]
    keyword: dict[str, str]
    body: SourceText
    line: int


@dataclass
class MacroResult:
    """The expanded program and what the expansion noticed.

    Attributes
    ----------
    source : SourceText
        The program with macro statements executed and references resolved.
    undefined : dict of str to int
        Undefined macro variables left as written, and the first line each appears on.
    notes : list of str
        Skipped constructs (branches whose condition could not be evaluated, unresolved macro calls).
    """

    source: SourceText
    undefined: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class _Expander:
    """Executes the macro language over a :class:`SourceText`; see the module docstring."""

    def __init__(self, src: SourceText):
        self.src = src
        self.calls = src.calls
        self.macros: dict[str, _Macro] = {}
        self.scopes: list[dict[str, str]] = [{}]
        self.undefined: dict[str, int] = {}
        self.notes: list[str] = []
        self.depth = 0
        self.in_condition = False

    # ---- helpers -------------------------------------------------------------------------------
    def where(self, s: SourceText, pos: int) -> str:
        call = s.call_at(pos)
        return f"{s.path}, line {s.line_at(pos)}" + (f" (in {call})" if call else "")

    def lookup(self, name: str) -> str | None:
        key = name.lower()
        for scope in reversed(self.scopes):
            if key in scope:
                return scope[key]
        return None

    def assign(self, name: str, value: str) -> None:
        key = name.lower()
        for scope in reversed(self.scopes):
            if key in scope:
                scope[key] = value
                return
        self.scopes[-1][key] = value

    @staticmethod
    def skip_ws(text: str, k: int) -> int:
        while k < len(text) and text[k].isspace():
            k += 1
        return k

    @staticmethod
    def find_semicolon(text: str, k: int) -> int:
        """Index of the next ``;`` outside quotes and parentheses (len(text) if none)."""
        depth = 0
        n = len(text)
        while k < n:
            c = text[k]
            if c in "'\"":
                end = text.find(c, k + 1)
                k = n if end < 0 else end + 1
                continue
            if c == "(":
                depth += 1
            elif c == ")":
                depth = max(depth - 1, 0)
            elif c == ";" and depth == 0:
                return k
            k += 1
        return n

    @staticmethod
    def match_paren(text: str, k: int) -> int:
        """Index just after the ``)`` closing the ``(`` at ``k`` (quotes respected); -1 if none."""
        depth = 0
        n = len(text)
        while k < n:
            c = text[k]
            if c in "'\"":
                end = text.find(c, k + 1)
                if end < 0:
                    return -1
                k = end + 1
                continue
            if c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
                if depth == 0:
                    return k + 1
            k += 1
        return -1

    def keyword_at(self, text: str, k: int) -> str | None:
        m = _MACRO_WORD.match(text, k)
        return m.group(1).lower() if m else None

    # ---- extents (without executing) -----------------------------------------------------------
    def end_of_do_block(self, s: SourceText, k: int) -> tuple[int, int]:
        """From just after ``%DO;``: (start of the matching ``%END``, index after its ``;``)."""
        text = s.text
        depth = 1
        j = k
        n = len(text)
        while j < n:
            c = text[j]
            if c in "'":
                end = text.find(c, j + 1)
                j = n if end < 0 else end + 1
                continue
            if c == "%":
                kw = self.keyword_at(text, j)
                if kw == "do":
                    depth += 1
                elif kw == "end":
                    depth -= 1
                    if depth == 0:
                        after = self.skip_ws(text, j + 4)
                        if after < n and text[after] == ";":
                            after += 1
                        return j, after
                if kw:
                    j += 1 + len(kw)
                    continue
            j += 1
        raise SpecError(f"{self.where(s, k)}: a %DO block is never closed with %END")

    def action_extent(self, s: SourceText, k: int) -> tuple[int, int, int, int]:
        """Find the action after ``%THEN``/``%ELSE`` at ``k``: (content start, content end, resume index, is_block)."""
        text = s.text
        k = self.skip_ws(text, k)
        if self.keyword_at(text, k) == "do":
            after = self.skip_ws(text, k + 3)
            if after < len(text) and text[after] == ";":
                start = after + 1
                end, resume = self.end_of_do_block(s, start)
                return start, end, resume, 1
            # an iterative %DO: its extent is still a block up to %END
            semi = self.find_semicolon(text, k)
            end, resume = self.end_of_do_block(s, semi + 1)
            return k, resume, resume, 2
        kw = self.keyword_at(text, k)
        if kw == "if":
            stop = self.if_extent(s, k)
            return k, stop, stop, 0
        semi = self.find_semicolon(text, k)
        stop = min(semi + 1, len(text))
        return k, stop, stop, 0

    def if_extent(self, s: SourceText, k: int) -> int:
        """Index after a whole ``%IF … %THEN … [%ELSE …]`` starting at ``k``."""
        text = s.text
        then = self.find_then(s, k + 3)
        _, _, resume, _ = self.action_extent(s, then + 5)
        j = self.skip_ws(text, resume)
        if self.keyword_at(text, j) == "else":
            _, _, resume, _ = self.action_extent(s, j + 5)
        return resume

    def find_then(self, s: SourceText, k: int) -> int:
        text = s.text
        m = re.compile(r"%then\b", re.IGNORECASE).search(text, k)
        if m is None:
            raise SpecError(f"{self.where(s, k)}: %IF without %THEN")
        return m.start()

    # ---- execution -----------------------------------------------------------------------------
    def expand(self, s: SourceText, *, resolve: bool = True) -> list[SourceText]:
        """Execute the macro language in ``s``; returns the produced text pieces."""
        out: list[SourceText] = []
        text = s.text
        n = len(text)
        k = 0
        plain = 0

        def flush(upto: int) -> None:
            if upto > plain:
                out.append(s.slice(plain, upto))

        while k < n:
            c = text[k]
            if c == "'":
                end = text.find("'", k + 1)
                k = n if end < 0 else end + 1
                continue
            if c == "&" and resolve:
                m = _REF.match(text, k)
                if m is None:
                    k += 1
                    continue
                flush(k)
                if m.group(1):
                    raise SpecError(f"{self.where(s, k)}: indirect macro references ({m.group(0)}) are not supported")
                value = self.lookup(m.group(2))
                if value is None:
                    self.undefined.setdefault(m.group(2), s.line_at(k))
                    out.append(s.slice(k, m.end()))
                else:
                    out.append(s.literal(value, s.line_at(k), int(s.contexts[k])))
                k = plain = m.end()
                continue
            if c == "%":
                if text.startswith("%*", k):
                    flush(k)
                    k = plain = min(self.find_semicolon(text, k) + 1, n)
                    continue
                kw = self.keyword_at(text, k)
                if kw is None:
                    k += 1
                    continue
                flush(k)
                k = self.macro_word(s, k, kw, out, resolve)
                plain = k
                continue
            k += 1
        flush(n)
        return out

    def text_of(self, s: SourceText, *, resolve: bool = True) -> str:
        return "".join(p.text for p in self.expand(s, resolve=resolve))

    def macro_word(self, s: SourceText, k: int, kw: str, out: list[SourceText], resolve: bool) -> int:
        """Execute the macro statement, function or call at ``k``; returns where scanning resumes."""
        text = s.text
        n = len(text)
        after = k + 1 + len(kw)
        if kw == "let":
            semi = self.find_semicolon(text, after)
            body = text[after:semi]
            m = re.match(r"\s*(" + _NAME + r")\s*=", body)
            if m is None:
                raise SpecError(f"{self.where(s, k)}: %LET needs a name and =, e.g. %let nmc = 20000;")
            value = self.text_of(s.slice(after + m.end(), semi))
            self.assign(m.group(1), value.strip())
            return min(semi + 1, n)
        if kw in ("local", "global"):
            semi = self.find_semicolon(text, after)
            names = self.text_of(s.slice(after, semi)).split()
            scope = self.scopes[-1] if kw == "local" else self.scopes[0]
            for name in names:
                scope.setdefault(name.lower(), "")
            return min(semi + 1, n)
        if kw == "put":
            return min(self.find_semicolon(text, after) + 1, n)
        if kw == "return":
            if self.depth == 0:
                raise SpecError(f"{self.where(s, k)}: %RETURN outside a macro")
            raise _Return()
        if kw == "macro":
            return self.define(s, k, after)
        if kw == "mend":
            raise SpecError(f"{self.where(s, k)}: %MEND without %MACRO")
        if kw == "if":
            return self.run_if(s, k, out)
        if kw == "do":
            raise SpecError(f"{self.where(s, k)}: %DO outside %IF … %THEN (open-code %DO loops are not supported)")
        if kw in ("then", "else", "end"):
            raise SpecError(f"{self.where(s, k)}: %{kw.upper()} without a matching %IF or %DO")
        if kw in _REFUSED:
            raise SpecError(f"{self.where(s, k)}: {_REFUSED[kw]} is not supported by the translator")
        if kw in _FUNCTIONS or kw in _UNRESOLVABLE_FUNCTIONS:
            j = self.skip_ws(text, after)
            if j >= n or text[j] != "(":
                raise SpecError(f"{self.where(s, k)}: %{kw.upper()} needs parentheses")
            close = self.match_paren(text, j)
            if close < 0:
                raise SpecError(f"{self.where(s, k)}: %{kw.upper()}( is never closed")
            if kw in _UNRESOLVABLE_FUNCTIONS:
                if self.in_condition:
                    raise _Unresolvable(f"%{kw.upper()}", s.line_at(k))
                self.notes.append(f"line {s.line_at(k)}: %{kw.upper()} cannot be evaluated here; left as written")
                out.append(s.slice(k, close))
                return close
            inner = s.slice(j + 1, close - 1)
            value = self.function(kw, inner, s, k)
            out.append(s.literal(value, s.line_at(k), int(s.contexts[k])))
            return close
        if kw.lower() in self.macros:
            return self.call(s, k, after, self.macros[kw.lower()], out)
        # an undefined macro: SAS warns "apparent invocation not resolved" and leaves the text
        self.notes.append(f"line {s.line_at(k)}: %{kw} is not a macro defined in this file; left as written")
        out.append(s.slice(k, after))
        return after

    def function(self, kw: str, inner: SourceText, s: SourceText, k: int) -> str:
        if kw in ("nrstr", "superq"):
            return inner.text if kw == "nrstr" else (self.lookup(inner.text.strip()) or "")
        value = self.text_of(inner)
        if kw in ("str", "quote", "bquote", "nrquote", "nrbquote", "unquote"):
            return value
        if kw == "length":
            return str(len(value))
        if kw == "upcase":
            return value.upper()
        if kw == "lowcase":
            return value.lower()
        try:
            return evaluate_condition(value, floating=(kw == "sysevalf"))
        except SpecError as exc:
            raise SpecError(f"{self.where(s, k)}: {exc}") from None

    def define(self, s: SourceText, k: int, after: int) -> int:
        text = s.text
        m = re.compile(r"\s*(" + _NAME + r")").match(text, after)
        if m is None:
            raise SpecError(f"{self.where(s, k)}: %MACRO needs a name")
        name = m.group(1)
        j = self.skip_ws(text, m.end())
        positional: list[str] = []
        keyword: dict[str, str] = {}
        if j < len(text) and text[j] == "(":
            close = self.match_paren(text, j)
            if close < 0:
                raise SpecError(f"{self.where(s, k)}: the parameter list of %MACRO {name} is never closed")
            for part in _split_args(text[j + 1:close - 1]):
                pm = re.fullmatch(r"\s*(" + _NAME + r")\s*(=(.*))?", part, re.DOTALL)
                if pm is None:
                    raise SpecError(f"{self.where(s, k)}: cannot read the parameter {part.strip()!r} of %MACRO {name}")
                if pm.group(2) is not None:
                    keyword[pm.group(1).lower()] = pm.group(3).strip()
                elif keyword:
                    raise SpecError(f"{self.where(s, k)}: %MACRO {name}: positional parameter {pm.group(1)} "
                                    "after a keyword parameter")
                else:
                    positional.append(pm.group(1).lower())
            j = close
        semi = self.find_semicolon(text, j)
        body_start = semi + 1
        mend = re.compile(r"%(macro|mend)\b", re.IGNORECASE)
        mm = mend.search(text, body_start)
        while mm is not None and _in_single_quote(text, body_start, mm.start()):
            mm = mend.search(text, mm.end())
        if mm is None:
            raise SpecError(f"{self.where(s, k)}: %MACRO {name} has no %MEND")
        if mm.group(1).lower() == "macro":
            raise SpecError(f"{self.where(s, mm.start())}: a macro defined inside a macro is not supported")
        end = min(self.find_semicolon(text, mm.end()) + 1, len(text))
        self.macros[name.lower()] = _Macro(name, positional, keyword, s.slice(body_start, mm.start()), s.line_at(k))
        return end

    def call(self, s: SourceText, k: int, after: int, macro: _Macro, out: list[SourceText]) -> int:
        text = s.text
        j = self.skip_ws(text, after)
        args_text = None
        resume = after
        if j < len(text) and text[j] == "(" and (macro.positional or macro.keyword):
            close = self.match_paren(text, j)
            if close < 0:
                raise SpecError(f"{self.where(s, k)}: the arguments of %{macro.name}( are never closed")
            args_text = s.slice(j + 1, close - 1)
            resume = close
        local: dict[str, str] = {p: "" for p in macro.positional}
        for key, default in macro.keyword.items():
            local[key] = self.text_of(s.literal(default, s.line_at(k), int(s.contexts[k]))).strip()
        shown = f"%{macro.name}" + (f"({normalise_space(args_text.text)})" if args_text is not None else "")
        if args_text is not None:
            pos = 0
            offset = 0
            for part in _split_args(args_text.text):
                piece = args_text.slice(offset, offset + len(part))
                offset += len(part) + 1
                km = re.match(r"\s*(" + _NAME + r")\s*=", part)
                if km and km.group(1).lower() in macro.keyword or km and km.group(1).lower() in macro.positional:
                    local[km.group(1).lower()] = self.text_of(piece.slice(km.end())).strip()
                elif part.strip() == "" and not macro.positional:
                    continue
                else:
                    if pos >= len(macro.positional):
                        raise SpecError(f"{self.where(s, k)}: %{macro.name} has no parameter for the argument "
                                        f"{part.strip()!r} (parameters: "
                                        f"{', '.join(macro.positional + [kk + '=' for kk in macro.keyword])})")
                    local[macro.positional[pos]] = self.text_of(piece).strip()
                    pos += 1
        self.calls.append(f"{shown} at line {s.line_at(k)}")
        context = len(self.calls) - 1
        body = SourceText(macro.body.text, macro.body.lines, macro.body.contexts.copy(), self.calls, s.path)
        body.contexts[:] = context
        if self.depth > 50:
            raise SpecError(f"{self.where(s, k)}: macros call each other more than 50 deep")
        self.scopes.append(local)
        self.depth += 1
        try:
            out.extend(self.expand(body))
        except _Return:
            pass
        finally:
            self.scopes.pop()
            self.depth -= 1
        return resume

    def run_if(self, s: SourceText, k: int, out: list[SourceText]) -> int:
        text = s.text
        then = self.find_then(s, k + 3)
        t_start, t_end, resume, t_block = self.action_extent(s, then + 5)
        e = None
        j = self.skip_ws(text, resume)
        if self.keyword_at(text, j) == "else":
            e = self.action_extent(s, j + 5)
            resume = e[2]
        try:
            self.in_condition = True
            try:
                cond = self.text_of(s.slice(k + 3, then))
            finally:
                self.in_condition = False
            holds = truth(evaluate_condition(cond), self.where(s, k))
        except _Unresolvable as exc:
            branches = text[t_start:t_end] + ("" if e is None else text[e[0]:e[1]])
            if re.search(r"\bproc\s+mcmc\b|%let\b", branches, re.IGNORECASE):
                raise SpecError(f"{self.where(s, k)}: the %IF condition uses {exc.what}, which the translator cannot "
                                "evaluate, and a branch holds a PROC MCMC step or a %LET") from None
            self.notes.append(f"line {s.line_at(k)}: %IF condition uses {exc.what}; both branches skipped (no "
                              "PROC MCMC step in them)")
            return resume
        except SpecError as exc:
            raise SpecError(f"{self.where(s, k)}: {exc}") from None
        chosen = (t_start, t_end, t_block) if holds else (None if e is None else (e[0], e[1], e[3]))
        if chosen is not None:
            start, end, block = chosen
            if block == 2:
                raise SpecError(f"{self.where(s, start)}: iterative %DO loops (%DO i = … %TO …, %DO %WHILE, "
                                "%DO %UNTIL) are not supported")
            out.extend(self.expand(s.slice(start, end)))
        return resume


def _in_single_quote(text: str, start: int, pos: int) -> bool:
    return text[start:pos].count("'") % 2 == 1


def _split_args(text: str) -> list[str]:
    """Split at commas outside parentheses and quotes."""
    parts, depth, start, k, n = [], 0, 0, 0, len(text)
    while k < n:
        c = text[k]
        if c in "'\"":
            end = text.find(c, k + 1)
            k = n if end < 0 else end + 1
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(text[start:k])
            start = k + 1
        k += 1
    parts.append(text[start:])
    return parts


def expand_macros(src: SourceText) -> MacroResult:
    """Execute the macro language of a program whose ``/* */`` comments are already blanked.

    Parameters
    ----------
    src : SourceText

    Returns
    -------
    MacroResult

    Raises
    ------
    SpecError
        For a construct the module docstring lists as refused, or malformed macro code, naming the line.
    """
    ex = _Expander(src)
    pieces = ex.expand(src)
    return MacroResult(SourceText.join(pieces, ex.calls, src.path), ex.undefined, ex.notes)
