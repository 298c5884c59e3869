"""`?`: every key of the console, generated from :mod:`logconsole.tui.keymap`.

Keys of the histogram and facet widgets (built by tui-analytics) are read from
their ``BINDINGS`` when those widgets are installed, so the help never lies.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from logconsole.tui import optional
from logconsole.tui.keymap import bindings, help_rows, key_label

INTRO = (
    "logconsole - keyboard-only investigation console.  Every action is also in the command palette "
    "(Ctrl+P).  Filter language: field:value (actor, action, outcome, ip, resource, since, until, "
    "marked, tag, note, ...), -field:value negates, OR, parentheses, bare words search the full text."
)


def _widget_rows() -> list[tuple[str, str, str]]:
    rows = []
    for title, cls in (("Histogram (focused)", optional.Histogram), ("Facets (focused)", optional.FacetPanel)):
        if cls is None:
            continue
        for b in getattr(cls, "BINDINGS", []):
            key = b.key if hasattr(b, "key") else b[0]
            desc = b.description if hasattr(b, "description") else (b[2] if len(b) > 2 else "")
            rows.append((title, key_label(key), desc or ""))
    return rows


def help_table() -> Table:
    t = Table(box=None, show_header=False, padding=(0, 1), expand=True)
    t.add_column(no_wrap=True, style="bold", min_width=10)
    t.add_column(ratio=1)
    last = None
    for ctx, keys, desc in help_rows() + _widget_rows():
        if ctx != last:
            if last is not None:
                t.add_row(Text(""), Text(""))
            t.add_row(Text(ctx, style="bold underline"), Text(""))
            last = ctx
        t.add_row(Text(keys), Text(desc))
    return t


class HelpScreen(Screen[None]):
    BINDINGS = bindings("Help")

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-scroll"):
            yield Static(Text(INTRO), id="help-intro")
            yield Static(help_table(), id="help-table")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#help-scroll").focus()

    def action_close(self) -> None:
        self.dismiss(None)
