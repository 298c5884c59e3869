"""Keeping untrusted text inert on a terminal and in JSON.

Log values and file names are attacker-controlled.  A terminal interprets
C0/C1 control characters (``ESC ] 0 ; title BEL`` renames the window, ``OSC
52`` writes the clipboard, ``CSI`` moves the cursor), and Unicode format
characters hide or reorder text (``ad\\u200bmin`` shows as ``admin``; a
right-to-left override turns ``exe.txt`` around).  This module defines that
set once (:data:`UNSAFE`) and three ways to neutralise it:

* :func:`visible` - escapes that show what is there (``\\x1b``, ``\\u200b``);
* :func:`json_dumps` - JSON whose strings escape every such character
  (``json`` escapes only C0), so the JSON is the same data and still inert;
* :class:`TerminalGuard` - a text stream wrapper the CLI installs on a
  stdout/stderr that is a terminal: whatever a command prints (any output
  format: table, CSV, JSON lines, messages naming files) passes through
  :func:`visible`.  Output to files and pipes is left byte-exact.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any

#: C0 (but tab and newline), DEL, C1, soft hyphen, Arabic letter mark, Mongolian
#: vowel separator, zero-width space/joiners, LRM/RLM, line/paragraph separators,
#: bidi embeddings/overrides/isolates, word joiner and invisible operators, BOM,
#: interlinear annotation controls
UNSAFE_CLASS = ("\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e"
                "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb")
UNSAFE = re.compile(f"[{UNSAFE_CLASS}]")
#: the same plus tab and newline (for one-line cells)
UNSAFE_ALL = re.compile(f"[\t\n{UNSAFE_CLASS}]")
#: what ``json`` leaves unescaped of UNSAFE (it escapes C0 itself)
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f"
                          "\ufeff\ufff9-\ufffb]")


def _esc(m: re.Match[str]) -> str:
    c = ord(m.group(0))
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def visible(text: str, *, keep_newlines: bool = True) -> str:
    """*text* with every unsafe character shown as an escape (tab/newline kept unless asked)."""
    return (UNSAFE if keep_newlines else UNSAFE_ALL).sub(_esc, text)


def _json_esc(m: re.Match[str]) -> str:
    return f"\\u{ord(m.group(0)):04x}"


def json_dumps(obj: Any, **kw: Any) -> str:
    """``json.dumps`` (``ensure_ascii=False`` by default) with every unsafe character
    escaped as ``\\uXXXX``: the same JSON value, inert on a terminal."""
    kw.setdefault("ensure_ascii", False)
    return _JSON_UNSAFE.sub(_json_esc, json.dumps(obj, **kw))


class TerminalGuard(io.TextIOBase):
    """Wraps a text stream that is a terminal: everything written is made
    :func:`visible` (newlines and tabs kept).  ``write_control`` is for the
    program's own control sequences (a progress line's ``\\r\\x1b[2K``)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, s: str) -> int:
        self._stream.write(visible(s))
        return len(s)

    def write_control(self, s: str) -> None:
        self._stream.write(s)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._stream, "encoding", "utf-8")

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self._stream, "errors", None)

    def writable(self) -> bool:
        return True


def write_control(stream: Any, s: str) -> None:
    """Write the program's own control sequence, bypassing a :class:`TerminalGuard`."""
    getattr(stream, "write_control", stream.write)(s)


def guard_terminal_streams() -> None:
    """Install :class:`TerminalGuard` on ``sys.stdout``/``sys.stderr`` where they are terminals."""
    import sys

    for name in ("stdout", "stderr"):
        s = getattr(sys, name)
        try:
            tty = s is not None and s.isatty() and not isinstance(s, TerminalGuard)
        except (AttributeError, ValueError):
            tty = False
        if tty:
            setattr(sys, name, TerminalGuard(s))
