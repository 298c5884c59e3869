"""Saved views (`v`): named filters stored in the index.  Dismisses with the filter text or None."""

from __future__ import annotations

from rich.text import Text
from sqlalchemy import Engine
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from logconsole.store import annotations as ann
from logconsole.store.sanitize import one_line
from logconsole.tui.actions import bindings


class ViewsScreen(Screen["tuple[str, str] | None"]):
    BINDINGS = bindings("ViewsScreen")

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine
        self.views: list[tuple[str, str]] = []

    def compose(self) -> ComposeResult:
        yield Static(Text("Saved views", style="bold"), id="views-title")
        yield OptionList(id="views-list")
        yield Footer()

    def on_mount(self) -> None:
        self.reload()
        self.query_one(OptionList).focus()

    def reload(self) -> None:
        ol = self.query_one(OptionList)
        ol.clear_options()
        with self.engine.connect() as conn:
            self.views = ann.list_views(conn)
        if not self.views:
            self.query_one("#views-title", Static).update(
                Text("Saved views: none yet - press s on the timeline to save the current filter", style="bold"))
        for i, (name, flt) in enumerate(self.views):
            t = Text(one_line(name, 40), style="bold")
            t.append("  ")
            t.append(one_line(flt or "(all events)", 200))
            ol.add_option(Option(t, id=str(i)))
        if self.views:
            ol.highlighted = 0

    def _current(self) -> tuple[str, str] | None:
        ol = self.query_one(OptionList)
        if ol.highlighted is None or not self.views:
            return None
        return self.views[ol.highlighted]

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        v = self._current()
        if v is not None:
            self.dismiss(v)

    def action_delete(self) -> None:
        v = self._current()
        if v is None:
            return
        with self.engine.begin() as conn:
            ann.delete_view(conn, v[0])
        self.app.notify(f"deleted view {one_line(v[0], 40)}", markup=False)
        self.reload()

    def action_back(self) -> None:
        self.dismiss(None)
