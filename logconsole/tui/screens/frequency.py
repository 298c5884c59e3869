"""The frequency table (VisiData's Shift+F): values of one column by count.

``FrequencyScreen(engine, where, column, breadcrumb)`` shows every distinct
value of *column* among the events matching *where*: value, count, percentage
and a bar.  The table is virtual (Line API): rows are fetched in pages by a
thread worker (``aggregates.frequency`` with LIMIT/OFFSET), so a column with a
million distinct values scrolls like one with ten.

``Enter`` dismisses the screen with the drill-down filter term for the value
under the cursor (``actor:"arn:aws:iam::1:user/x"``, or ``-actor:*`` for the
empty value); ``q``/``Esc`` dismiss it with ``None``.  The breadcrumb (the drill
stack the caller passes) is shown on top.  All values are inert text.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from sqlalchemy import true
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Static

from logconsole.store import aggregates
from logconsole.store.sanitize import one_line
from logconsole.tui.widgets.frequency_table import FrequencyTable
from logconsole.tui.actions import bindings


def breadcrumb_text(breadcrumb: Sequence[str] | str | Text | None, column: str) -> Text:
    """``all events › actor:"x" › frequency of action`` as inert Rich Text.

    *breadcrumb* is the caller's drill stack: filter texts (oldest first), one
    string, or a ready-made (already inert) Rich ``Text``.
    """
    if isinstance(breadcrumb, Text):
        t = breadcrumb.copy()
        t.no_wrap, t.overflow = True, "ellipsis"
        t.append(" › ", style="dim")
        t.append(f"frequency of {aggregates.LABELS.get(column, column)}", style="bold")
        return t
    if breadcrumb is None:
        crumbs: list[str] = []
    elif isinstance(breadcrumb, str):
        crumbs = [breadcrumb] if breadcrumb else []
    else:
        crumbs = [c for c in breadcrumb if c]
    while crumbs and crumbs[0] == "all events":  # the caller's stack may start with the root
        crumbs = crumbs[1:]
    t = Text(no_wrap=True, overflow="ellipsis")
    # the newest crumbs matter most: at most the last 4, each cut to 28 cells
    shown = crumbs[-4:]
    head = ["all events"] + (["…"] if len(crumbs) > len(shown) else [])
    for i, c in enumerate(head + [one_line(c, 28) for c in shown]):
        if i:
            t.append(" › ", style="dim")
        t.append(c)
    t.append(" › ", style="dim")
    t.append(f"frequency of {aggregates.LABELS.get(column, column)}", style="bold")
    return t


class FrequencyScreen(Screen[str | None]):
    """Values of *column* for *where*; dismisses with a filter term (Enter) or None (q/Esc)."""

    DEFAULT_CSS = """
    FrequencyScreen { layout: vertical; }
    FrequencyScreen > #freq-crumbs { height: 1; padding: 0 1; background: $panel; }
    FrequencyScreen > #freq-title { height: 1; padding: 0 1; color: $text-muted; }
    """

    BINDINGS = bindings("FrequencyScreen")

    def __init__(self, engine, where=None, column: str = "actor", breadcrumb: Sequence[str] | str | Text | None = None,
                 *, filter_text: str | None = None, name=None, id=None, classes=None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.engine = engine
        self.where = where if where is not None else true()
        try:
            self.column = aggregates.canonical_column(column)
            self.error: str | None = None
        except KeyError as exc:  # e.g. the time column: say so instead of failing
            self.column = column
            self.error = str(exc.args[0])
        if breadcrumb is None and filter_text:
            breadcrumb = [filter_text]
        self.breadcrumb = breadcrumb
        #: the row chosen with Enter (None until then)
        self.selected: aggregates.FrequencyRow | None = None

    def compose(self) -> ComposeResult:
        yield Static(breadcrumb_text(self.breadcrumb, self.column), id="freq-crumbs")
        if self.error:
            yield Static(Text(f"No frequency table: {self.error}. q goes back."), id="freq-title")
        else:
            yield Static(Text("counting…"), id="freq-title")
            yield FrequencyTable(self.engine, self.where, self.column, id="freq-table")
        yield Footer()

    def on_mount(self) -> None:
        for table in self.query(FrequencyTable):
            table.focus()

    @property
    def table(self) -> FrequencyTable:
        return self.query_one(FrequencyTable)

    def on_frequency_table_counted(self, msg: FrequencyTable.Counted) -> None:
        label = aggregates.LABELS.get(self.column, self.column)
        v = "value" if msg.distinct == 1 else "values"
        e = "event" if msg.total == 1 else "events"
        self.query_one("#freq-title", Static).update(
            Text(f"{label}: {msg.distinct:,} distinct {v} in {msg.total:,} matching {e}")
        )

    def action_drill(self) -> None:
        row = self.table.current if not self.error else None
        if row is None:
            self.app.bell()
            return
        self.selected = row
        self.dismiss(aggregates.drill_term(self.column, row.value))

    def action_back(self) -> None:
        self.dismiss(None)
