"""A virtual table (Line API) of one column's values by count, fetched in pages by a worker."""

from __future__ import annotations

import asyncio

from rich.cells import set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import work
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from logconsole.store import aggregates
from logconsole.tui.cells import fit_value
from logconsole.tui.actions import bindings

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
    BINDINGS = bindings("FrequencyTable")

    class Loaded(Message):
        """A page arrived (tests wait for it)."""

        def __init__(self, table: FrequencyTable, page: int) -> None:
            super().__init__()
            self.table = table
            self.page = page

    class Counted(Message):
        """The first page arrived: how many events match and how many distinct values they have."""

        def __init__(self, total: int, distinct: int) -> None:
            super().__init__()
            self.total = total
            self.distinct = distinct

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
            self.post_message(self.Counted(self.total, self.distinct))
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
