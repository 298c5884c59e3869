"""`?`: every key of the console, generated from :mod:`logconsole.tui.actions`, and the filter fields."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from logconsole.store import filter as flt
from logconsole.tui.actions import bindings, help_rows

INTRO = (
    "logconsole - keyboard-only investigation console.  Every action is also in the command palette "
    "(Ctrl+P).  Filter language: field:value (actor, action, outcome, ip, resource, since, until, "
    "marked, tag, note, ...), -field:value negates, OR, parentheses, bare words search the full text."
)


def _filter_rows() -> list[tuple[str, str, str]]:
    """The filter language's fields with their help."""
    rows = []
    for name in flt.field_names():
        spec = flt.field_spec(name)
        label = name + ":" + (" (" + ", ".join(a + ":" for a in spec.aliases) + ")" if spec.aliases else "")
        rows.append(("Filter fields (/)", label, spec.help or ""))
    rows.append(("Filter fields (/)", "extra.KEY:", "a format-specific field (extra.serial:1234)"))
    return rows


def help_table() -> Group:
    """One titled key table per context, then the filter fields."""
    sections: dict[str, list[tuple[str, str]]] = {}
    for ctx, keys, desc in help_rows() + _filter_rows():
        sections.setdefault(ctx, []).append((keys, desc))
    width = 14  # fixed: a long key list never reflows the descriptions
    parts = []
    for ctx, rows in sections.items():
        parts.append(Text(ctx, style="bold underline"))
        t = Table(box=None, show_header=False, padding=(0, 1), expand=True)
        t.add_column(style="bold", width=width, overflow="fold")
        t.add_column(ratio=1)
        for keys, desc in rows:
            t.add_row(Text(keys), Text(desc))
        parts.append(t)
        parts.append(Text(""))
    return Group(*parts)


class HelpScreen(Screen[None]):
    BINDINGS = bindings("HelpScreen")

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-scroll"):
            yield Static(Text(INTRO), id="help-intro")
            yield Static(help_table(), id="help-table")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#help-scroll").focus()

    def action_close(self) -> None:
        self.dismiss(None)
