"""Fitting untrusted values into a fixed number of terminal cells (inert, one line)."""

from __future__ import annotations

from rich.cells import cell_len, set_cell_size
from rich.text import Text

from logconsole.store.sanitize import one_line

#: Columns whose meaningful part is at the end (ARNs, paths): cut on the left.
LEFT_CUT = {"actor", "actor_uid", "resource", "session", "user_agent"}
NONE_LABEL = "(empty)"


def fit_value(value: str | None, width: int, column: str) -> str:
    """An inert, one-line rendition of *value* exactly *width* cells wide."""
    if width <= 0:
        return ""
    left = column in LEFT_CUT
    if value is not None and len(value) > 4 * width + 8:
        # never escape or measure more than can be shown (values may be megabytes)
        value = ("\u2026" + value[-4 * width:]) if left else (value[: 4 * width] + "\u2026")
    s = NONE_LABEL if value is None else (one_line(value) or '""')
    if cell_len(s) > width:
        if left and width > 1:
            # keep the tail: "…user/alice"
            tail = s.lstrip("\u2026")
            while tail and cell_len(tail) > width - 1:
                tail = tail[max(1, (cell_len(tail) - (width - 1)) // 2):]
            return set_cell_size("…" + tail, width)
        return set_cell_size(s, max(0, width - 1)) + "…"
    return set_cell_size(s, width)


def middle_cut(value: str | None, width: int) -> str:
    """*value* as one inert line of at most *width* cells; a longer one keeps both ends
    (``arn:aws:iam::1111…:role/Admin``), so ARNs and paths stay recognisable."""
    s = one_line(value or "")
    if cell_len(s) <= width:
        return s
    if width <= 1:
        return set_cell_size(s, width)
    head_w = (width - 1) // 2
    tail_w = width - 1 - head_w
    head = set_cell_size(s, head_w)
    tail = s[-tail_w:] if tail_w else ""
    while cell_len(tail) > tail_w:
        tail = tail[1:]
    return head + "…" + tail


MATCH_STYLE = "bold underline on yellow"  # reads in 16 colours and with NO_COLOR


def highlighted(text: str, spans: list[tuple[int, int]], style: str = MATCH_STYLE) -> Text:
    """*text* (already inert) as Rich Text with *spans* styled as matches."""
    t = Text(text)
    for start, end in spans:
        if start < len(text):
            t.stylize(style, start, min(end, len(text)))
    return t


def distinct_labels(paths: list[str], width: int) -> list[str]:
    """Labels for *paths* that tell them apart in *width* cells: the directories they all share are
    left out (``…/``) and what remains is shortened in the middle, so each keeps its own end."""
    if not paths:
        return []
    split = [p.split("/") for p in paths]
    common = 0
    if len(paths) > 1:
        for parts in zip(*[s[:-1] for s in split]):
            if len(set(parts)) != 1:
                break
            common += 1
    out = []
    for s in split:
        rest = "/".join(s[common:])
        out.append(middle_cut(("…/" if common else "") + rest, width))
    return out
