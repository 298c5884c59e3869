"""A last line of defence: no control character from any widget ever reaches the terminal.

Every widget of the console draws log text through ``sanitize`` and Rich
``Text``; but some values travel into places we do not render ourselves (the
filter input after a drill-down on a value that contains ``ESC``, Textual's
own widgets).  :class:`InertFilter` is a Textual line filter installed on
the app: it replaces C0/C1 controls, DEL and the bidi/line-separator controls
in every painted segment by a visible symbol (``␛`` for ESC, ``␇`` for BEL,
``�`` for the rest) and keeps each line's cell length, so layout never shifts.
"""

from __future__ import annotations

import re

from rich.cells import cell_len
from rich.segment import Segment
from textual.color import Color
from textual.filter import LineFilter

_CTRL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _symbol(m: re.Match[str]) -> str:
    c = ord(m.group(0))
    if c < 0x20:
        return chr(0x2400 + c)  # Control Pictures: ␀ .. ␟
    if c == 0x7F:
        return "\u2421"  # ␡
    return "\ufffd"


def visible_controls(text: str) -> str:
    return _CTRL.sub(_symbol, text)


class InertFilter(LineFilter):
    """Replace control characters in painted segments by visible symbols (same line length)."""

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        if not any(not seg.control and _CTRL.search(seg.text) for seg in segments):
            return segments
        length = sum(cell_len(seg.text) for seg in segments if not seg.control)
        out = [
            seg if seg.control or not _CTRL.search(seg.text) else Segment(visible_controls(seg.text), seg.style)
            for seg in segments
        ]
        return list(Segment.adjust_line_length(out, length))
