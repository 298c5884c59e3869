"""The `:` SQL prompt: read-only SQL over the documented views, results in a table.

Statements run through :func:`logconsole.store.readonly_sql.open_readonly` (a
read-only connection on SQLite, read-only transactions on PostgreSQL) in a thread worker,
at most :data:`ROW_LIMIT` rows.  ``Esc`` cancels a running statement, and
otherwise closes the prompt; an error shows its position and puts the cursor
there.  ``Enter`` on a result row that has an event ``id`` (or ``event_id``)
dismisses with ``id:N`` (the timeline shows that event).  Every value is inert
text.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from logconsole.store.readonly_sql import (
    PostgresReadOnlySql,
    ReadOnlySql,
    SqlCancelled,
    SqlError,
    SqlResult,
    open_readonly,
    views_help,
)
from logconsole.store.sanitize import one_line
from logconsole.tui.actions import bindings
from logconsole.tui.cells import middle_cut
from logconsole.tui.widgets.filter_bar import QuietInput

ROW_LIMIT = 1000
CELL_W = 40  # widest column, in cells; longer values keep both ends


def views_line() -> str:
    return "views: " + "; ".join(f"{v['view']}({', '.join(v['columns'][:6])}…)" for v in views_help())


class SqlScreen(Screen[str | None]):
    """Type a SELECT, Enter runs it; Esc cancels a running one or goes back."""

    BINDINGS = bindings("SqlScreen")
    DEFAULT_CSS = """
    SqlScreen #sql-row { height: 1; }
    SqlScreen #sql-prompt { width: 2; height: 1; }
    SqlScreen #sql-input { height: 1; border: none; padding: 0; width: 1fr; }
    SqlScreen #sql-status { height: 1; padding: 0 1; background: $panel; }
    SqlScreen #sql-status.-error { color: $text-error; text-style: bold; }
    SqlScreen DataTable { height: 1fr; }
    """

    def __init__(self, db_path: str, *, initial: str = "") -> None:
        super().__init__()
        self.db_path = db_path
        self.initial = initial
        self.sql: ReadOnlySql | PostgresReadOnlySql | None = None
        self.running = False
        self.result: SqlResult | None = None

    def compose(self) -> ComposeResult:
        from textual.containers import Horizontal

        with Horizontal(id="sql-row"):
            yield Static(Text(":"), id="sql-prompt")
            yield QuietInput(value=self.initial, placeholder="SELECT action, count(*) FROM events GROUP BY 1 ORDER BY 2 DESC",
                             id="sql-input")
        yield Static(Text(one_line(views_line(), 400), no_wrap=True, overflow="ellipsis"), id="sql-status")
        yield DataTable(id="sql-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_unmount(self) -> None:
        if self.sql is not None:
            self.sql.cancel()
            self.sql.close()

    def _status(self, text: str, error: bool = False) -> None:
        st = self.query_one("#sql-status", Static)
        st.update(Text(one_line(text, 400), no_wrap=True, overflow="ellipsis"))
        st.set_class(error, "-error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        statement = event.value.strip()
        if not statement or self.running:
            self.app.bell()
            return
        self.running = True
        self._status("running… (Esc cancels)")
        self._run(statement)

    @work(thread=True, exclusive=True, group="sql", exit_on_error=False)
    def _run(self, statement: str) -> None:
        try:
            if self.sql is None:
                self.sql = open_readonly(self.db_path, time_limit=60)
            res = self.sql.run(statement, limit=ROW_LIMIT)
        except SqlError as exc:
            self.app.call_from_thread(self._failed, exc)
            return
        self.app.call_from_thread(self._show, res)

    def _failed(self, exc: SqlError) -> None:
        self.running = False
        if not self.is_mounted:
            return
        if isinstance(exc, SqlCancelled):
            self._status(f"✗ {exc.message}", error=True)
            return
        self._status(f"✗ {exc}", error=True)
        if exc.position is not None:
            inp = self.query_one(Input)
            inp.focus()
            inp.cursor_position = exc.position

    def _show(self, res: SqlResult) -> None:
        self.running = False
        if not self.is_mounted:
            return
        self.result = res
        table = self.query_one(DataTable)
        table.clear(columns=True)
        widths = [max([len(c)] + [len(one_line(_text(r[i]), CELL_W + 1)) for r in res.rows[:200]])
                  for i, c in enumerate(res.columns)]
        for i, c in enumerate(res.columns):
            table.add_column(Text(middle_cut(c, CELL_W)), width=max(3, min(CELL_W, widths[i])), key=f"c{i}")
        for j, r in enumerate(res.rows):
            table.add_row(*[_cell(v) for v in r], key=f"r{j}")
        more = f" (limit {res.limit:,}: more rows not shown)" if res.truncated else ""
        took = f" in {res.seconds:.1f} s" if res.seconds >= 0.1 else ""  # (a snapshot stays stable)
        self._status(f"{len(res.rows):,} row(s){took}{more}"
                     + (" · Enter on a row opens its event" if self._id_column() is not None else ""))
        if res.rows:
            table.focus()

    def _id_column(self) -> int | None:
        if self.result is None:
            return None
        for name in ("id", "event_id"):
            if name in self.result.columns:
                if name == "id" and not {"time", "action", "actor"} <= set(self.result.columns):
                    continue  # an id of something else (a finding, a source)
                return self.result.columns.index(name)
        return None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        col = self._id_column()
        table = self.query_one(DataTable)
        if col is None or self.result is None or not self.result.rows:
            self.app.bell()
            return
        value = self.result.rows[table.cursor_row][col]
        if isinstance(value, int):
            self.dismiss(f"id:{value}")
        else:
            self.app.bell()

    def action_edit(self) -> None:
        self.query_one(Input).focus()

    def action_cancel_or_back(self) -> None:
        if self.running and self.sql is not None:
            self.sql.cancel()
            return
        self.dismiss(None)


def _text(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bytes):
        return v.hex()
    return str(v)


def _cell(v: Any) -> Text:
    s = middle_cut(_text(v), CELL_W)
    if v is None:
        return Text(s, style="dim")
    return Text(s, justify="right" if isinstance(v, (int, float)) else "left")
