"""Making untrusted log text inert.

Log records are attacker-controlled.  Before any of it reaches a terminal, a
Rich/Textual renderable or Markdown, it passes through one of these:

* :func:`inert` - for terminals and Textual: every C0/C1 control character, DEL,
  and the Unicode bidi/line/paragraph separators are replaced by a visible
  escape (``\\x1b`` becomes ``\\x1b`` spelled out), so ANSI/OSC sequences can
  never be interpreted.  (Rich markup must additionally be kept out by using
  ``rich.text.Text`` objects, never markup strings - that is a TUI concern.)
* :func:`one_line` - :func:`inert` plus newline/tab folding, for table cells.
"""

from __future__ import annotations

import re

from logconsole.util.termsafe import UNSAFE, UNSAFE_ALL

# C0, DEL, C1, and the Unicode characters that hide, join, reorder or break text
# (zero-width, bidi, line separators: logconsole.util.termsafe.UNSAFE)
_CTRL = UNSAFE_ALL
_CTRL_KEEP_NL = UNSAFE


def _esc(m: re.Match[str]) -> str:
    c = ord(m.group(0))
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def inert(text: str | None, *, keep_newlines: bool = False) -> str:
    """Replace control characters by visible escapes (optionally keep ``\\n`` and ``\\t``)."""
    if not text:
        return "" if text is None else text
    pat = _CTRL_KEEP_NL if keep_newlines else _CTRL
    if keep_newlines:
        text = text.replace("\r\n", "\n")
    return pat.sub(_esc, text)


def one_line(text: str | None, limit: int | None = None) -> str:
    """A single inert line: newlines become ``⏎``, tabs a space."""
    if not text:
        return ""
    s = inert(text.replace("\r\n", "\n").replace("\n", "⏎").replace("\t", " "))
    if limit is not None and len(s) > limit:
        s = s[: max(0, limit - 1)] + "…"
    return s
