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

import asyncio
from collections.abc import Sequence

from rich.cells import set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from sqlalchemy import true
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Footer, Static

from logconsole.store import aggregates
from logconsole.store.sanitize import one_line
from logconsole.tui.widgets.facets import fit_value

PAGE = 500
#: Up to this many distinct values, the whole table is fetched after its first page.
PREFETCH_ALL = 50_000
BAR = "■"


class FrequencyTable(ScrollView, can_focus=True):
    """Virtual table over ``aggregates.frequency`` pages."""

    DEFAULT_CSS = """
    FrequencyTable { height: 1fr; background: $surface; }
    FrequencyTable > .frequency--header { text-style: bold; background: $panel; }
    FrequencyTable > .frequency--count { color: $text; }
    FrequencyTable > .frequency--pct { color: $text-muted; }
    FrequencyTable > .frequency--bar { color: $primary; }
    FrequencyTable > .frequency--cursor { text-style: reverse bold; }
    FrequencyTable > .frequency--empty { color: $text-muted; text-style: italic; }
    FrequencyTable > .frequency--loading { color: $text-muted; }
    """
    COMPONENT_CLASSES = {
        "frequency--header", "frequency--count", "frequency--pct", "frequency--bar", "frequency--cursor",
        "frequency--empty", "frequency--loading",
    }
    BINDINGS = [
        Binding("up,k", "move(-1)", "Up", show=False),
        Binding("down,j", "move(1)", "Down", show=False),
        Binding("pageup,ctrl+u", "page(-1)", "Page up", show=False),
        Binding("pagedown,ctrl+d", "page(1)", "Page down", show=False),
        Binding("home,g", "edge(0)", "First", show=False),
        Binding("end,G", "edge(1)", "Last", show=False),
    ]

    class Loaded(Message):
        """A page arrived (tests wait for it)."""

        def __init__(self, table: FrequencyTable, page: int) -> None:
            super().__init__()
            self.table = table
            self.page = page

    cursor = reactive(0)

    def __init__(self, engine, where, column: str, *, id=None) -> None:
        super().__init__(id=id)
        self.engine = engine
        self.where = where
        self.column = aggregates.canonical_column(column)
        self.pages: dict[int, list[aggregates.FrequencyRow]] = {}
        self.pending: set[int] = set()
        self.total: int | None = None  # matching events
        self.distinct: int | None = None
        self.max_count = 0

    # ------------------------------------------------------------------ data

    def on_mount(self) -> None:
        self._fetch(0)

    def _fetch(self, page: int) -> None:
        if page in self.pages or page in self.pending:
            return
        self.pending.add(page)
        self._load(page)

    @work(group="frequency-pages")
    async def _load(self, page: int, rows: int = PAGE) -> None:
        job = aggregates.submit(
            self.engine, lambda conn: aggregates.frequency(conn, self.where, self.column, rows, page * PAGE)
        )
        try:
            res = await asyncio.wrap_future(job.future)
        except asyncio.CancelledError:  # the screen closed: stop counting
            job.cancel()
            raise
        except aggregates.Interrupted:
            return
        self._store(page, res)

    def _store(self, page: int, res: aggregates.FrequencyPage) -> None:
        # a response may span several pages (see below): file each under its own number
        for i in range(0, max(1, len(res.rows)), PAGE):
            self.pending.discard(page + i // PAGE)
            self.pages.setdefault(page + i // PAGE, res.rows[i: i + PAGE])
        first = self.distinct is None
        self.total, self.distinct, self.max_count = res.total, res.distinct, res.max_count
        if first:
            self.virtual_size = Size(self.size.width, self.distinct + 1)  # + the header line
            self.screen.post_message(FrequencyScreen.Counted(self.total, self.distinct))
            if PAGE < self.distinct <= PREFETCH_ALL:
                # every further page would cost a whole GROUP BY again: fetch the rest in one go,
                # so that scrolling and End are instant afterwards
                rest = list(range(1, -(-self.distinct // PAGE)))
                self.pending.update(rest)
                self._load(1, self.distinct - PAGE)
        self.refresh()
        self.post_message(self.Loaded(self, page))

    def row(self, index: int) -> aggregates.FrequencyRow | None:
        rows = self.pages.get(index // PAGE)
        if rows is None:
            self._fetch(index // PAGE)
            return None
        i = index % PAGE
        return rows[i] if i < len(rows) else None

    # --------------------------------------------------------------- cursor

    def _visible_rows(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def validate_cursor(self, value: int) -> int:
        n = self.distinct or 0
        return max(0, min(value, n - 1)) if n else 0

    def watch_cursor(self, _old: int, new: int) -> None:
        # line 0 is the sticky header; row i is at virtual line i + 1
        self.scroll_to_region(Region(0, new, 1, 2), animate=False, force=True)
        self.refresh()

    def action_move(self, delta: int) -> None:
        self.cursor += delta

    def action_page(self, direction: int) -> None:
        self.cursor += direction * self._visible_rows()

    def action_edge(self, end: int) -> None:
        self.cursor = (self.distinct or 1) - 1 if end else 0

    # ------------------------------------------------------------- rendering

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(name, partial=True)

    def _layout(self, width: int) -> tuple[int, int, int, int]:
        count_w = max(5, len(f"{self.max_count:,}"))
        pct_w = 6
        bar_w = max(0, min(40, (width - count_w - pct_w - 4) // 3))
        value_w = max(8, width - count_w - pct_w - bar_w - 4)
        return value_w, count_w, pct_w, bar_w

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        value_w, count_w, pct_w, bar_w = self._layout(width)
        if y == 0:  # sticky header
            label = aggregates.LABELS.get(self.column, self.column)
            text = (
                set_cell_size(label, value_w) + " " + "count".rjust(count_w) + " " + "%".rjust(pct_w) + "  "
                + set_cell_size("", bar_w)
            )
            return Strip([Segment(text, base + self._style("frequency--header"))]).adjust_cell_length(width, base)
        _, scroll_y = self.scroll_offset
        index = scroll_y + y - 1
        if self.distinct is None:
            if y == 1:
                return Strip([Segment("  counting…", base + self._style("frequency--loading"))]).adjust_cell_length(width, base)
            return Strip.blank(width, base)
        if self.distinct == 0:
            if y == 1:
                return Strip([Segment("  no events match the filter", base + self._style("frequency--empty"))]).adjust_cell_length(width, base)
            return Strip.blank(width, base)
        if index >= self.distinct:
            return Strip.blank(width, base)
        r = self.row(index)
        if r is None:
            return Strip([Segment("  …", base + self._style("frequency--loading"))]).adjust_cell_length(width, base)
        vstyle = base + (self._style("frequency--empty") if r.value is None else Style())
        pct = f"{r.percent:.1f}%" if r.percent >= 0.1 else "<0.1%"
        filled = 0
        if bar_w and self.max_count:
            filled = max(1, round(bar_w * r.count / self.max_count))
        segs = [
            Segment(fit_value(r.value, value_w, self.column) + " ", vstyle),
            Segment(f"{r.count:,}".rjust(count_w) + " ", base + self._style("frequency--count")),
            Segment(pct.rjust(pct_w) + "  ", base + self._style("frequency--pct")),
            Segment(BAR * filled + " " * (bar_w - filled), base + self._style("frequency--bar")),
        ]
        if index == self.cursor:
            cur = self._style("frequency--cursor")
            segs = [Segment(s.text, (s.style or base) + cur) for s in segs]
        return Strip(segs).adjust_cell_length(width, base)

    def on_resize(self, _event) -> None:
        if self.distinct is not None:
            self.virtual_size = Size(self.size.width, self.distinct + 1)

    @property
    def current(self) -> aggregates.FrequencyRow | None:
        if not self.distinct:
            return None
        return self.row(self.cursor)


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

    BINDINGS = [
        Binding("enter", "drill", "Drill down", show=True),
        Binding("escape,q", "back", "Back", show=True),
    ]

    class Counted(Message):
        def __init__(self, total: int, distinct: int) -> None:
            super().__init__()
            self.total = total
            self.distinct = distinct

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

    def on_frequency_screen_counted(self, msg: FrequencyScreen.Counted) -> None:
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
