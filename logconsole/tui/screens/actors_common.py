"""Styles and helpers shared by the actors screen and the actor detail."""

from __future__ import annotations

from typing import Any

from rich.text import Text


STATE_STYLE = {
    "used": "green",
    "unused": "yellow",
    "unknown": "cyan",
    "used_not_granted": "bold red",
    "denied": "magenta",
}
SORT_LABELS = {
    "overprivilege": "over-privilege (unused/granted)", "events": "events", "denied": "denied attempts",
    "findings": "findings", "unused": "unused permissions", "granted": "granted permissions",
    "last_seen": "last seen", "name": "name",
}
BAR_WIDTH = 12


#: terminal width from which the actors list shows every column
WIDE = 130


def tail(name: str, width: int) -> str:
    """Shorten from the left: ARNs and service-account names end with the part that matters."""
    return name if len(name) <= width else "…" + name[-(width - 1):]


def used_bar(used: int, granted: int | None, width: int = BAR_WIDTH) -> Text:
    """``████········`` : the share of granted permissions that were used."""
    if not granted:
        return Text(("no grants" if width >= 9 else "-").ljust(width), style="dim")
    n = max(0, min(width, round(width * used / granted)))
    if used and n == 0:
        n = 1
    t = Text()
    t.append("█" * n, style="green")
    t.append("·" * (width - n), style="yellow")
    return t


def window_from_filter(text: str) -> tuple[int | None, int | None]:
    """The ``since:``/``until:`` terms of the timeline's filter, as the privilege window."""
    import re

    from logconsole.analysis.privileges.actors import window_us

    def term(name: str) -> str | None:
        m = re.search(rf'(?:^|[\s(]){name}:("[^"]*"|\S+)', text)
        return m.group(1).strip('"').rstrip(")") if m else None

    try:
        return window_us(term("since"), term("until"))
    except Exception:  # an unparsable term: the whole index
        return None, None


def evidence_filter(view: Any, finding: dict[str, Any]) -> str:
    """Filter for a finding's evidence events, or for the actor when it has none."""
    from logconsole.analysis.privileges.actors import timeline_filter

    ids = [int(i) for i in finding.get("events") or []][:50]
    if not ids:
        return timeline_filter(view)
    if len(ids) == 1:
        return f"id:{ids[0]}"
    return "(" + " OR ".join(f"id:{i}" for i in ids) + ")"
