"""Facets: the top values of actor, action, source IP, outcome and resource.

A Line API ScrollView: one header line per facet (``Actor  42 distinct``) and
its top values (count, percentage, a bar).  ``↑``/``↓`` move between values,
``Enter`` posts :class:`FacetPanel.DrillDown` (the timeline adds the filter
term); ``F`` (Shift+F) posts :class:`FacetPanel.FrequencyRequested` for the
facet under the cursor (the screen opens the whole frequency table).  Counting
runs in a thread worker; every value is made inert (``sanitize.one_line``) and
drawn as plain segments, never as markup.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from rich.cells import set_cell_size
from rich.segment import Segment
from rich.style import Style
from sqlalchemy import true
from textual import work
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from logconsole.store import aggregates
from logconsole.tui.cells import fit_value
from logconsole.tui.actions import bindings

MOUNT_DELAY_S = 0.3  # first count after mounting
DEBOUNCE_S = 0.04  # wait this long after a filter change before counting


@dataclass(frozen=True)
class FacetLine:
    kind: str  # "header" | "value" | "more" | "blank"
    column: str
    text: str = ""
    value: str | None = None
    count: int = 0
    percent: float = 0.0
    peak: int = 0


class FacetPanel(ScrollView, can_focus=True):
    """Top values per facet for the filter in :attr:`where`."""

    DEFAULT_CSS = """
    FacetPanel {
        width: 36;
        height: 1fr;
        background: $surface;
        scrollbar-size-vertical: 1;
    }
    FacetPanel:focus { background: $boost; }
    FacetPanel > .facets--header { text-style: bold; color: $accent; }
    FacetPanel > .facets--count { color: $text-muted; }
    FacetPanel > .facets--bar { color: $primary; }
    FacetPanel > .facets--cursor { text-style: reverse; }
    FacetPanel > .facets--empty { color: $text-muted; text-style: italic; }
    """

    COMPONENT_CLASSES = {"facets--header", "facets--count", "facets--bar", "facets--cursor", "facets--empty"}

    BINDINGS = bindings("FacetPanel")

    class DrillDown(Message):
        """Filter to events whose *field* equals *value* (None: the field is empty)."""

        def __init__(self, panel: FacetPanel, field: str, value: str | None) -> None:
            super().__init__()
            self.panel = panel
            self.field = field  # the events column: actor, action, src_ip, outcome, resource, ...
            self.value = value

        @property
        def control(self) -> FacetPanel:
            return self.panel

        @property
        def term(self) -> str:
            """The filter term, e.g. ``actor:"arn:aws:iam::1:user/x"`` (quoted per the filter language)."""
            return aggregates.drill_term(self.field, self.value)

    class FrequencyRequested(Message):
        """Shift+F: the whole frequency table of *field* for the panel's filter (the screen opens it)."""

        def __init__(self, panel: FacetPanel, field: str) -> None:
            super().__init__()
            self.panel = panel
            self.field = field

        @property
        def control(self) -> FacetPanel:
            return self.panel

    class Updated(Message):
        def __init__(self, panel: FacetPanel) -> None:
            super().__init__()
            self.panel = panel

    where = reactive(None, always_update=True, layout=False)
    cursor = reactive(0)

    def __init__(self, engine, where=None, *, columns=aggregates.DEFAULT_FACETS, limit: int = 5,
                 name=None, id=None, classes=None, disabled=False) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self.engine = engine
        self.columns = tuple(aggregates.canonical_column(c) for c in columns)
        self.limit = limit
        self.set_reactive(FacetPanel.where, where if where is not None else true())
        self.lines: list[FacetLine] = [FacetLine("blank", "", "counting…")]
        self.busy = False
        self._stale = False
        self._shown: dict[str, aggregates.FrequencyPage] = {}  # the pages on screen, per column
        self.total: int | None = None

    # ------------------------------------------------------------------ data

    def on_mount(self) -> None:
        # the host usually sets ``where`` as soon as its own first page is on screen, which
        # cancels this; waiting keeps the first count off the timeline's first paint
        self.refresh_data(MOUNT_DELAY_S)

    def watch_where(self, _old, _new) -> None:
        if self.is_mounted:
            self.refresh_data()

    def refresh_data(self, delay: float | None = None) -> None:
        """(Re)count for the current filter after *delay* seconds (default :data:`DEBOUNCE_S`)."""
        if not self.display:
            self._stale = True  # hidden: count when shown (on_show)
            return
        self._stale = False
        self.busy = True
        self.refresh()
        self._compute(self.where, delay)

    def on_show(self) -> None:
        if self._stale:
            self.refresh_data()

    @work(exclusive=True, group="facets")
    async def _compute(self, where, delay: float | None = None) -> None:
        """Count each facet on the low-priority aggregates thread, showing each as it arrives.

        A newer filter cancels this worker, which interrupts the running query.
        """
        await asyncio.sleep(DEBOUNCE_S if delay is None else delay)  # the timeline's query goes first; fast changes coalesce
        results: dict[str, aggregates.FrequencyPage] = {}
        for col in self.columns:
            job = aggregates.submit(self.engine, lambda conn, col=col: aggregates.frequency(conn, where, col, self.limit, 0))
            try:
                results[col] = await asyncio.wrap_future(job.future)
            except asyncio.CancelledError:
                job.cancel()
                raise
            except aggregates.Interrupted:
                return
            self._apply(dict(results), len(results) == len(self.columns))

    def _apply(self, results: dict[str, aggregates.FrequencyPage], done: bool) -> None:
        keep = self._cursor_key()
        lines: list[FacetLine] = []
        for col in self.columns:
            page = results.get(col)
            label = aggregates.LABELS.get(col, col)
            stale = page is None
            if stale:
                # not recounted yet: keep showing the previous filter's values, marked as such
                page = self._shown.get(col)
                if page is None:
                    lines.append(FacetLine("header", col, f"{label}  counting…"))
                    continue
            else:
                self._shown[col] = page
                self.total = page.total
            distinct = f"{page.distinct:,} value" + ("" if page.distinct == 1 else "s")
            lines.append(FacetLine("header", col, f"{label}  {distinct}" + ("  (updating…)" if stale else "")))
            if not page.rows:
                lines.append(FacetLine("blank", col, "no events"))
            for r in page.rows:
                lines.append(FacetLine("value", col, value=r.value, count=r.count, percent=r.percent, peak=page.max_count))
            if page.distinct > len(page.rows):
                lines.append(FacetLine("more", col, f"+{page.distinct - len(page.rows):,} more (F: all)"))
            lines.append(FacetLine("blank", col))
        self.lines = lines
        self.virtual_size = Size(self.size.width, len(lines))
        values = self._value_rows()
        idx = next((i for i in values if (self.lines[i].column, self.lines[i].value) == keep), None)
        if idx is None:
            idx = next((i for i in values if self.lines[i].column == (keep[0] if keep else None)), None)
        self.cursor = idx if idx is not None else (values[0] if values else 0)
        if done:
            self.busy = False
            self.post_message(self.Updated(self))
        self.refresh()

    def _value_rows(self) -> list[int]:
        return [i for i, ln in enumerate(self.lines) if ln.kind == "value"]

    def _cursor_key(self):
        if 0 <= self.cursor < len(self.lines) and self.lines[self.cursor].kind == "value":
            ln = self.lines[self.cursor]
            return (ln.column, ln.value)
        return None

    @property
    def current(self) -> FacetLine | None:
        if 0 <= self.cursor < len(self.lines) and self.lines[self.cursor].kind == "value":
            return self.lines[self.cursor]
        return None

    # --------------------------------------------------------------- actions

    def watch_cursor(self, old: int, new: int) -> None:
        self.refresh()
        # keep the facet's header in view when on its first value
        top = new - 1 if new > 0 and self.lines[new - 1].kind == "header" else new
        self.scroll_to_region(Region(0, top, 1, new - top + 1), animate=False, force=True)

    def action_move(self, delta: int) -> None:
        values = self._value_rows()
        if not values:
            return
        if self.cursor not in values:
            self.cursor = values[0]
            return
        i = values.index(self.cursor)
        self.cursor = values[max(0, min(len(values) - 1, i + delta))]

    def action_edge(self, end: int) -> None:
        values = self._value_rows()
        if values:
            self.cursor = values[-1] if end else values[0]

    def action_drill(self) -> None:
        cur = self.current
        if cur is not None:
            self.post_message(self.DrillDown(self, cur.column, cur.value))

    def action_frequency(self) -> None:
        col = self.current.column if self.current else (self.columns[0] if self.columns else None)
        if col:
            self.post_message(self.FrequencyRequested(self, col))

    # ------------------------------------------------------------- rendering

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(name, partial=True)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        idx = scroll_y + y
        width = self.scrollable_content_region.width
        base = self.rich_style
        if idx >= len(self.lines) or width <= 0:
            return Strip.blank(width, base)
        ln = self.lines[idx]
        if ln.kind == "header":
            segs = [Segment(set_cell_size(ln.text, width), base + self._style("facets--header"))]
        elif ln.kind in ("blank", "more"):
            segs = [Segment(set_cell_size(("  " + ln.text) if ln.text else "", width), base + self._style("facets--empty"))]
        else:
            count = f"{ln.count:,}".rjust(len(f"{ln.peak:,}"))
            pct = f"{ln.percent:3.0f}%" if ln.percent >= 1 or ln.percent == 0 else " <1%"
            bar_w = 6 if width >= 34 else 0
            val_w = max(4, width - 2 - len(count) - 1 - len(pct) - 1 - (bar_w + 1 if bar_w else 0))
            segs = [Segment("  " + fit_value(ln.value, val_w, ln.column) + " ", base)]
            segs.append(Segment(count + " " + pct, base + self._style("facets--count")))
            if bar_w:
                filled = max(1, round(bar_w * ln.count / ln.peak)) if ln.peak else 0
                segs.append(Segment(" " + "■" * filled + " " * (bar_w - filled), base + self._style("facets--bar")))
            if idx == self.cursor:
                cur = self._style("facets--cursor")
                segs = [Segment(s.text, (s.style or base) + cur) for s in segs]
        strip = Strip(segs).adjust_cell_length(width, base)
        return strip
