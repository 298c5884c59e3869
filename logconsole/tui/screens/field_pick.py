"""Pick one of an event's values (`f` on the event detail): filter by it, add it to the filter, or copy it.

Dismisses with a :class:`Pivot` (the filter the timeline applies) or None.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from logconsole.store.filter import term
from logconsole.store.sanitize import one_line
from logconsole.tui.actions import bindings

#: (label, event key) rows of the fields table, in order
FIELD_ROWS = [
    ("time", "ts_us"), ("time as written", "ts_raw"), ("format", "format"), ("service", "service"),
    ("action", "action"), ("outcome", "outcome"), ("error", "error_code"), ("actor", "actor"),
    ("actor type", "actor_type"), ("actor id", "actor_uid"), ("session", "session"),
    ("target user", "target_user"), ("source IP", "src_ip"), ("user agent", "user_agent"), ("host", "host"),
    ("resource", "resource"), ("account", "account"), ("region", "region"), ("record id", "record_id"),
    ("message", "message"),
]


@dataclass
class Pivot:
    """A new filter requested from the detail screen."""

    filter: str
    label: str
    focus_event: int | None = None
    add: bool = False  # True: AND it onto the current filter; False: replace the filter


#: event key -> filter field, for "filter by this value"
FILTER_FIELD = {
    "format": "format", "service": "service", "action": "action", "outcome": "outcome", "error_code": "error",
    "actor": "actor", "actor_type": "actor_type", "actor_uid": "actor_uid", "session": "session",
    "target_user": "target", "src_ip": "ip", "user_agent": "ua", "host": "host", "resource": "resource",
    "account": "account", "region": "region", "record_id": "record",
}


def field_choices(ev: dict) -> list[tuple[str, str, str]]:
    """(label, filter field, value) of every filterable value of the event, in display order."""
    out = []
    for label, key in FIELD_ROWS:
        field = FILTER_FIELD.get(key)
        v = ev.get(key)
        if field and v not in (None, ""):
            out.append((label, field, str(v)))
    for k in sorted(ev.get("extra") or {}):
        v = ev["extra"][k]
        if isinstance(v, (str, int)) and not isinstance(v, bool) and str(v) != "" and \
                re.fullmatch(r"[A-Za-z_][\w]*", str(k)):
            out.append((f"extra.{k}", f"extra.{k}", str(v)))
    return out



class FieldPickScreen(ModalScreen["Pivot | None"]):
    """Pick one of the event's values: Enter filters by it, + adds it to the filter, y copies it."""

    BINDINGS = bindings("FieldPickScreen")

    def __init__(self, choices: list[tuple[str, str, str]], event_id: int) -> None:
        super().__init__()
        self.choices = choices
        self.event_id = event_id

    def compose(self) -> ComposeResult:
        with Vertical(id="pick-box", classes="dialog"):
            yield Static(Text("Enter filter by it · + add it to the filter · y copy · Esc back", style="bold"))
            width = max((len(label) for label, _, _ in self.choices), default=8)
            options = []
            for i, (label, _, value) in enumerate(self.choices):
                t = Text(label.ljust(width) + "  ", style="bold")
                t.append(one_line(value, 300))
                options.append(Option(t, id=str(i)))
            yield OptionList(*options, id="pick-list")

    def on_mount(self) -> None:
        ol = self.query_one(OptionList)
        ol.focus()
        if self.choices:
            ol.highlighted = 0

    def _current(self) -> tuple[str, str, str] | None:
        ol = self.query_one(OptionList)
        return self.choices[ol.highlighted] if ol.highlighted is not None and self.choices else None

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_filter()

    def _pivot(self, add: bool) -> None:
        c = self._current()
        if c is not None:
            label, field, value = c
            clause = term(field, value)
            self.dismiss(Pivot(clause, clause if add else f"{label} {one_line(value, 40)}", self.event_id, add=add))

    def action_filter(self) -> None:
        self._pivot(False)

    def action_add(self) -> None:
        self._pivot(True)

    def action_copy(self) -> None:
        c = self._current()
        if c is not None:
            self.app.copy_value(c[2], c[0])

    def action_back(self) -> None:
        self.dismiss(None)
