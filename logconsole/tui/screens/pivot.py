"""The pivot screen (`P` from the timeline): a two-field count table for the current filter.

Rows are one field's values, columns another's (or a time bucket: ``hour``,
``day``, ``time:15m``), cells the number of matching events; the largest rows
and columns are shown and the rest is summed into ``other``.  ``Enter`` on a
cell dismisses with the filter that selects the cell's events, which the
timeline ANDs onto the current filter (a drill-down); ``r``/``c`` change the
row/column field, ``x`` swaps them.  Counting is :func:`logconsole.store.pivot.pivot`
in a thread worker; every label is inert text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from sqlalchemy import Engine
from textual import work
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from logconsole.store import pivot as pv
from logconsole.store.sanitize import one_line
from logconsole.tui.actions import bindings
from logconsole.tui.cells import middle_cut
from logconsole.tui.screens.prompt import PromptScreen

#: widest row label and column header, in cells
ROW_LABEL_W = 28
COL_W = 12


class PivotScreen(Screen[str | None]):
    """Counts of the current filter's events by two fields; Enter drills into a cell."""

    BINDINGS = bindings("PivotScreen")
    DEFAULT_CSS = """
    PivotScreen #pivot-crumbs { height: 1; padding: 0 1; background: $panel; }
    PivotScreen #pivot-title { height: 1; padding: 0 1; }
    PivotScreen DataTable { height: 1fr; }
    """

    def __init__(self, engine: Engine, where: Any = None, *, filter_text: str = "",
                 breadcrumb: Sequence[str] | None = None, row: str = "actor", col: str = "action") -> None:
        super().__init__()
        self.engine = engine
        self.where = where
        self.filter_text = filter_text
        self.breadcrumb = list(breadcrumb or [])
        self.row_field = row
        self.col_field = col
        self.table_: pv.PivotTable | None = None

    def compose(self) -> ComposeResult:
        crumbs = " › ".join(one_line(c, 40) for c in (self.breadcrumb or ["all events"])[-3:])
        yield Static(Text(crumbs + " › pivot", no_wrap=True, overflow="ellipsis"), id="pivot-crumbs")
        yield Static(Text("counting…"), id="pivot-title")
        yield DataTable(id="pivot-table", cursor_type="cell", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self._count()

    @work(thread=True, exclusive=True, group="pivot", exit_on_error=False)
    def _count(self) -> None:
        try:
            with self.engine.connect() as conn:
                t = pv.pivot(conn, self.row_field, self.col_field, self.where, max_rows=200, max_cols=12)
        except pv.PivotError as exc:
            self.app.call_from_thread(self._error, str(exc))
            return
        self.app.call_from_thread(self._show, t)

    def _error(self, message: str) -> None:
        self.query_one("#pivot-title", Static).update(Text("✗ " + one_line(message, 300), style="bold red"))

    def _show(self, t: pv.PivotTable) -> None:
        if not self.is_mounted:
            return
        self.table_ = t
        table = self.query_one(DataTable)
        table.clear(columns=True)
        table.add_column(Text(middle_cut(f"{t.row.name} \\ {t.col.name}", ROW_LABEL_W)), width=ROW_LABEL_W, key="row")
        for i, c in enumerate(t.cols):
            table.add_column(Text(middle_cut(t.col.label(c), COL_W), justify="right"), width=COL_W, key=f"c{i}")
        if t.other_cols:
            table.add_column(Text(f"+{t.other_cols} other", justify="right"), width=COL_W, key="other")
        table.add_column(Text("total", justify="right"), width=9, key="total")
        for j, r in enumerate(t.rows):
            cells = [Text(middle_cut(t.row.label(r), ROW_LABEL_W))]
            cells += [_count_cell(t.count(r, c)) for c in t.cols]
            if t.other_cols:
                cells.append(_count_cell(t.other_col_totals.get(r, 0)))
            cells.append(Text(f"{t.row_totals[r]:,}", justify="right", style="bold"))
            table.add_row(*cells, key=f"r{j}")
        if t.other_rows:
            cells = [Text(f"+{t.other_rows} other", style="dim")]
            cells += [_count_cell(t.other_row_totals.get(c, 0)) for c in t.cols]
            if t.other_cols:
                cells.append(_count_cell(t.other_other))
            cells.append(Text(f"{t.total - sum(t.row_totals.values()):,}", justify="right", style="bold"))
            table.add_row(*cells, key="other")
        n_r = len(t.rows) + t.other_rows
        n_c = len(t.cols) + t.other_cols
        self.query_one("#pivot-title", Static).update(Text(
            f"{t.total:,} events: {n_r:,} {t.row.name} × {n_c:,} {t.col.name} · Enter drills into a cell · "
            "r/c change the fields · x swaps", no_wrap=True, overflow="ellipsis"))
        if t.rows:
            table.move_cursor(row=0, column=1)

    def _cell(self) -> tuple[Any, Any] | None:
        t = self.table_
        if t is None:
            return None
        table = self.query_one(DataTable)
        r, c = table.cursor_coordinate
        if not (0 <= r < len(t.rows)) or not (1 <= c <= len(t.cols)):
            return None  # a label, an "other" or a total
        return t.rows[r], t.cols[c - 1]

    def action_drill(self) -> None:
        cell = self._cell()
        if cell is None or self.table_ is None:
            self.app.bell()
            return
        self.dismiss(pv.cell_filter(self.table_, *cell))

    def on_data_table_cell_selected(self, event: DataTable.CellSelected) -> None:
        event.stop()
        self.action_drill()

    def _ask(self, which: str) -> None:
        def validate(text: str) -> str | None:
            try:
                pv.dimension(text)
            except pv.PivotError as exc:
                return str(exc)
            return None

        def done(value: str | None) -> None:
            if not value or not value.strip():
                return
            if which == "row":
                self.row_field = value.strip()
            else:
                self.col_field = value.strip()
            self.query_one("#pivot-title", Static).update(Text("counting…"))
            self._count()

        current = self.row_field if which == "row" else self.col_field
        self.app.push_screen(PromptScreen(f"Pivot {which}s by:", value=current, validate=validate,
                                          hint="a field (actor, action, ip, outcome, resource, extra.KEY …) "
                                               "or a time bucket (hour, day, time:15m)"), done)

    def action_set_row(self) -> None:
        self._ask("row")

    def action_set_col(self) -> None:
        self._ask("column")

    def action_swap(self) -> None:
        self.row_field, self.col_field = self.col_field, self.row_field
        self._count()

    def action_back(self) -> None:
        self.dismiss(None)


def _count_cell(n: int) -> Text:
    return Text(f"{n:,}" if n else "·", justify="right", style="" if n else "dim")
