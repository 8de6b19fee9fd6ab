"""SAS program text that remembers where every character came from, comments removed, split into statements.

A :class:`SourceText` is a string plus, for each character, the line of the file it was written on and
the macro call that produced it (0: open code). Macro expansion (:mod:`partclust.translate.macros`)
keeps both, so a statement produced by ``%partclust(model=single)`` is still reported at the line where
it is written, with the call that made it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from partclust.errors import SpecError

__all__ = ["SourceText", "Statement", "normalise_space", "read_source", "split_statements", "strip_comments"]

_WS = re.compile(r"\s+")


def normalise_space(text: str) -> str:
    """Write runs of white space (line ends included) as one blank, ends stripped."""
    return _WS.sub(" ", text).strip()


@dataclass(frozen=True, eq=False)
class SourceText:
    """Text with, per character, its line in the file (1-based) and the index of the macro call that made it.

    Attributes
    ----------
    text : str
    lines : numpy.ndarray
        int32, shape (len(text),).
    contexts : numpy.ndarray
        int32, shape (len(text),): index into ``calls`` (0 = open code).
    calls : list of str
        ``calls[k]`` describes macro call k, e.g. ``"%partclust(model=single) at line 187"``; shared by slices.
    path : str
        The file (for messages).
    """

    text: str
    lines: np.ndarray
    contexts: np.ndarray
    calls: list[str] = field(default_factory=lambda: [""])
    path: str = "<text>"

    @classmethod
    def from_text(cls, text: str, path: str = "<text>") -> SourceText:
        r"""Line numbers counted in ``text`` itself (after normalising line ends to ``\n``)."""
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        newlines = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32) == ord("\n")
        lines = (np.concatenate([[0], np.cumsum(newlines)[:-1]]) + 1 if text else np.zeros(0)).astype(np.int32)
        return cls(text, lines, np.zeros(len(text), dtype=np.int32), [""], path)

    def __len__(self) -> int:
        """Return the number of characters."""
        return len(self.text)

    def slice(self, start: int, stop: int | None = None) -> SourceText:
        """Return the characters ``start:stop`` with their lines and contexts."""
        stop = len(self.text) if stop is None else stop
        return SourceText(self.text[start:stop], self.lines[start:stop], self.contexts[start:stop], self.calls,
                          self.path)

    def line_at(self, pos: int) -> int:
        """Return the file line of character ``pos`` (clipped to the text; 0 for empty text)."""
        if len(self.lines) == 0:
            return 0
        return int(self.lines[min(max(pos, 0), len(self.lines) - 1)])

    def first_line(self) -> int:
        """Return the line of the first non-blank character (else of the first character)."""
        m = re.search(r"\S", self.text)
        return self.line_at(m.start() if m else 0)

    def call_at(self, pos: int) -> str:
        """Return the macro call that produced character ``pos`` ("" in open code)."""
        if len(self.contexts) == 0:
            return ""
        return self.calls[int(self.contexts[min(max(pos, 0), len(self.contexts) - 1)])]

    @staticmethod
    def join(parts: list[SourceText], calls: list[str], path: str) -> SourceText:
        """Concatenate pieces that share ``calls``."""
        if not parts:
            return SourceText("", np.zeros(0, np.int32), np.zeros(0, np.int32), calls, path)
        return SourceText("".join(p.text for p in parts), np.concatenate([p.lines for p in parts]).astype(np.int32),
                          np.concatenate([p.contexts for p in parts]).astype(np.int32), calls, path)

    def literal(self, text: str, line: int, context: int) -> SourceText:
        """Make new text (e.g. a macro variable's value) attributed to one line and call."""
        n = len(text)
        return SourceText(text, np.full(n, line, np.int32), np.full(n, context, np.int32), self.calls, self.path)


def read_source(path: str | Path) -> SourceText:
    """Read a SAS program file (any line ending, UTF-8 or Latin-1).

    Raises
    ------
    SpecError
        When the file cannot be read.
    """
    from partclust.data.tables import decode_text

    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise SpecError(f"cannot read the SAS program {p}: {exc.strerror or exc}") from None
    return SourceText.from_text(decode_text(raw), str(p))


def _skip_quote(text: str, k: int) -> int:
    """Index just after the quoted string opening at ``k`` (a doubled quote stays inside); len(text) if unclosed."""
    q = text[k]
    end = text.find(q, k + 1)
    while end >= 0 and end + 1 < len(text) and text[end + 1] == q:
        end = text.find(q, end + 2)
    return len(text) if end < 0 else end + 1


def strip_comments(src: SourceText) -> SourceText:
    """Blank out ``/* … */`` comments (quoted strings are left alone), keeping line ends and positions.

    Raises
    ------
    SpecError
        For a comment that is never closed, naming its line.
    """
    text = src.text
    out = list(text)
    k, n = 0, len(text)
    while k < n:
        c = text[k]
        if c in "'\"":
            k = _skip_quote(text, k)
        elif text.startswith("/*", k):
            end = text.find("*/", k + 2)
            if end < 0:
                raise SpecError(f"{src.path}, line {src.line_at(k)}: a /* comment is never closed with */")
            for j in range(k, end + 2):
                if out[j] != "\n":
                    out[j] = " "
            k = end + 2
        else:
            k += 1
    return SourceText("".join(out), src.lines, src.contexts, src.calls, src.path)


@dataclass(frozen=True, eq=False)
class Statement:
    """One SAS statement: its text without the terminating semicolon, and where it came from.

    Attributes
    ----------
    source : SourceText
        The statement's characters (without ``;``).
    line : int
        The line of its first non-blank character.
    call : str
        The macro call that produced it ("" in open code).
    """

    source: SourceText
    line: int
    call: str

    @property
    def text(self) -> str:
        """The statement as written (inner line ends and runs of blanks kept)."""
        return self.source.text.strip()

    @property
    def display(self) -> str:
        """The statement on one line, with its semicolon."""
        return normalise_space(self.source.text) + ";"

    @property
    def first_word(self) -> str:
        """Its first word, lower-case ("" if it starts otherwise)."""
        m = re.match(r"\s*([A-Za-z_][A-Za-z_0-9]*)", self.source.text)
        return m.group(1).lower() if m else ""

    @property
    def where(self) -> str:
        """``line N`` (and the macro call, when one made it)."""
        return f"line {self.line}" + (f" (in {self.call})" if self.call else "")


def split_statements(src: SourceText) -> list[Statement]:
    """Split text (comments already removed) into statements at semicolons outside quotes.

    Statement comments (``* …;``) are dropped; text after the last semicolon is a last statement if not blank.
    """
    out: list[Statement] = []
    text = src.text
    start = 0
    k = 0
    n = len(text)
    while k < n:
        c = text[k]
        if c in "'\"":
            k = _skip_quote(text, k)
            continue
        if c == ";":
            _add_statement(out, src, start, k)
            start = k + 1
        k += 1
    _add_statement(out, src, start, n)
    return out


def _add_statement(out: list[Statement], src: SourceText, start: int, stop: int) -> None:
    piece = src.slice(start, stop)
    m = re.search(r"\S", piece.text)
    if m is None or piece.text[m.start()] == "*":
        return
    out.append(Statement(piece, piece.line_at(m.start()), piece.call_at(m.start())))
