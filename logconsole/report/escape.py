"""Making log-derived values inert in Markdown.

Every value that comes from a log (actor, resource, action, file path, error
message ...) goes through :func:`md` before it is written into the report:

1. :func:`logconsole.store.sanitize.one_line`: newlines become ``⏎``, tabs a
   space, and every C0/C1 control character, DEL and the Unicode bidi/line
   separators become a visible escape (``\\x1b``), so ANSI sequences and line
   breaks cannot split a table row or reach a terminal;
2. a backslash before every character Markdown (CommonMark + GFM tables,
   strikethrough, autolinks, and the ``$`` math of some renderers) could
   interpret anywhere in a line: ``\\ ` * _ [ ] < > | & ~ $``; a leading
   ``# + - =`` or ``1.`` list/heading marker; and the ``://`` of a bare URL
   and ``www.`` (GFM autolinks) - so no value can end a table cell, open a
   code span, emphasis, a link, an image, raw HTML or an entity.  CommonMark turns ``\\X`` back into ``X`` for any ASCII
   punctuation, so the rendered text is the value itself.

:func:`md_table` builds GitHub-flavoured tables whose every row has exactly
the header's number of cells.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from logconsole.store.sanitize import one_line

#: every ASCII punctuation character is escapable in CommonMark; these are the
#: ones that can start or end a construct (we escape them all, wherever they are)
_MD_MIN = re.compile(r"([\\`*_\[\]<>|&~$])")

DEFAULT_CELL_LIMIT = 200


def md(value: object, limit: int | None = DEFAULT_CELL_LIMIT) -> str:
    """A log-derived value as inert inline Markdown (one line, at most *limit* characters before escaping)."""
    if value is None:
        return ""
    # surrounding whitespace is trimmed (table cells drop it anyway; in running
    # text, leading spaces could start an indented code block)
    s = one_line(str(value), limit).strip()
    s = _MD_MIN.sub(r"\\\1", s)
    # a value that starts like a list item, heading, thematic break or block
    # quote is harmless inside a table cell, but not in running text: escape
    # a leading marker
    if s[:1] in ("+", "-", "=", "#"):
        s = "\\" + s
    elif re.match(r"\d{1,9}[.)](\s|$)", s):
        s = re.sub(r"^(\d+)([.)])", r"\1\\\2", s)
    # GFM autolinks (www., http://) need no brackets: break them with an escape
    s = re.sub(r"(?i)\b(https?|ftp)(:)(//)", r"\1\\\2\3", s)
    s = re.sub(r"(?i)\bwww\.", "www\\.", s)
    return s


def md_code(value: object, limit: int | None = DEFAULT_CELL_LIMIT) -> str:
    """A value shown as a code span that no content can close or break (one line).

    The fence is one backtick longer than the longest run inside, as CommonMark
    allows; pipes still need escaping inside table cells (GFM splits cells
    before parsing inlines), so use :func:`md` for table cells instead.
    """
    s = one_line("" if value is None else str(value), limit)
    runs = [len(m) for m in re.findall(r"`+", s)]
    fence = "`" * ((max(runs) if runs else 0) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") or not s.strip() else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def fenced(text: str, info: str = "") -> str:
    """A fenced code block that *text* cannot close (fence longer than any backtick run)."""
    runs = [len(m) for m in re.findall(r"`{3,}", text)]
    fence = "`" * max(3, (max(runs) + 1) if runs else 3)
    body = text if text.endswith("\n") else text + "\n"
    return f"{fence}{info}\n{body}{fence}\n"


def md_table(headers: Sequence[str], rows: Iterable[Sequence[str]], align: Sequence[str] | None = None) -> str:
    """A GFM table; cells must already be Markdown-safe (:func:`md`).  Empty cells stay empty."""
    n = len(headers)
    out = ["| " + " | ".join(headers) + " |"]
    seps = []
    for i in range(n):
        a = (align[i] if align and i < len(align) else "l")
        seps.append("---:" if a == "r" else ":---:" if a == "c" else "---")
    out.append("|" + "|".join(seps) + "|")
    for row in rows:
        cells = list(row)
        if len(cells) != n:
            raise ValueError(f"table row has {len(cells)} cells, header has {n}")
        out.append("| " + " | ".join(_cell_guard(c) for c in cells) + " |")
    return "\n".join(out) + "\n"


def _cell_guard(cell: str) -> str:
    """Last line of defence: a cell can never contain a raw newline or an unescaped pipe."""
    s = cell.replace("\r", " ").replace("\n", " ")
    # an unescaped | (not preceded by a backslash that is itself unescaped) gets escaped
    return re.sub(r"(?<!\\)((?:\\\\)*)\|", r"\1\\|", s)


# a code span opens with a whole backtick run and closes with a run of the same length (CommonMark
# 6.1): "``<a>`" is no code span, its "<" must be escaped
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)")


def _escape_lt_outside_code(line: str) -> str:
    out, pos = [], 0
    for m in _CODE_SPAN.finditer(line):
        out.append(line[pos:m.start()].replace("<", "\\<"))
        out.append(m.group(0))
        pos = m.end()
    out.append(line[pos:].replace("<", "\\<"))
    return "".join(out)


def narrative_block(text: str | None) -> str:
    """The investigator's Markdown narrative, kept as written but unable to swallow the report.

    Control characters are made visible, raw HTML blocks are neutralised (the
    report renders in tools that would run them), and an unclosed code fence
    is closed so the sections after it still render.
    """
    if not text or not text.strip():
        return "_No narrative._\n"
    from logconsole.store.sanitize import inert

    s = inert(text.strip(), keep_newlines=True)
    s = s.replace("\t", "    ")
    lines = s.split("\n")
    out = []
    fence: str | None = None
    for line in lines:
        m = re.match(r"^ {0,3}(`{3,}|~{3,})(.*)$", line)
        if m:
            mark, rest = m.group(1), m.group(2)
            if fence is not None:
                if mark[0] == fence[0] and len(mark) >= len(fence) and not rest.strip():
                    fence = None  # the closing fence
                out.append(line)
                continue
            if not (mark[0] == "`" and "`" in rest):  # a backtick fence's info string has no backtick
                fence = mark
                out.append(line)
                continue
        if fence is not None:
            out.append(line)
            continue
        if fence is None:
            # escape '<' outside code spans so no HTML tag or comment can form
            line = _escape_lt_outside_code(line)
            # a heading in the narrative must not outrank the report's own sections
            line = re.sub(r"^ {0,3}(#{1,3})(\s)", lambda mm: "####" + mm.group(2), line)
        out.append(line)
    if fence is not None:
        out.append(fence)
    return "\n".join(out) + "\n"
