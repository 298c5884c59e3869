"""Event density over time for the current filter.

A Line API widget: one column per time bucket, stacked bars with failures at
the bottom.  Outcomes differ by colour *and* by glyph, so the chart reads in
16 colours and with ``NO_COLOR``:

* ``█`` (and the ``▁``..``▇`` eighths on top) successes,
* ``▒`` failures,
* ``░`` unknown outcome.

The counting runs in a thread worker (:mod:`logconsole.store.aggregates`,
SQL ``GROUP BY`` on the bucket number); the widget only draws.

Keys (when focused): ``←``/``→`` (``h``/``l``) move the bucket cursor,
``Home``/``End`` first/last bucket, ``+``/``=`` zoom in around the cursor,
``-`` zoom out, ``0`` back to the whole filter's time span, ``L`` toggles a
log scale (a quiet bucket stays visible next to a burst), ``space`` marks
the start then the end of a range, ``Enter`` selects the range (or the cursor's
bucket), ``Esc`` drops a half-marked range.  Selecting posts
:class:`Histogram.RangeSelected` with UTC µs bounds ``[start_us, end_us)``
(end exclusive: the end of the last selected bucket); the timeline turns it
into ``since:``/``until:`` terms (:attr:`RangeSelected.term`).
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from sqlalchemy import true
from textual import work
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from logconsole.util.timeparse import format_us
from logconsole.store import aggregates
from logconsole.tui.actions import bindings

GLYPH_SUCCESS = "█"
GLYPH_FAILURE = "▒"
GLYPH_UNKNOWN = "░"
_EIGHTHS = " ▁▂▃▄▅▆▇█"
_MIN_SPAN_US = 1_000  # zooming stops at 1 ms wide views
Y_AXIS = 7  # left margin: the count scale
MOUNT_DELAY_S = 0.3  # first count after mounting
DEBOUNCE_S = 0.04  # wait this long after a change before counting


def range_term(start_us: int, end_us: int) -> str:
    """``since:... until:...`` filter terms for the µs range ``[start_us, end_us)`` (exact, UTC).

    ``until:`` is inclusive in the filter language, so it names ``end_us - 1``.
    """
    last = max(start_us, end_us - 1)
    return f"since:{format_us(start_us)} until:{format_us(last)}"


def short_count(n: int) -> str:
    if n < 10_000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1000:.0f}k" if n >= 100_000 else f"{n / 1000:.1f}k"
    return f"{n / 1_000_000:.1f}M"


def width_label(width_us: int) -> str:
    s = width_us / 1_000_000
    for unit, secs in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if s >= secs and s % secs == 0:
            return f"{int(s // secs)}{unit}"
    if width_us >= 1000:
        return f"{width_us // 1000}ms"
    return f"{width_us}µs"


def axis_label(us: int, width_us: int) -> str:
    """A tick label precise enough for the bucket width, UTC (``Z``)."""
    full = format_us(us, precision="us")  # 2020-09-14T01:19:40.000000Z
    if width_us >= 86400 * 1_000_000:
        return full[:10]  # 2020-09-14
    if width_us >= 60 * 1_000_000:
        return full[5:16].replace("T", " ") + "Z"  # 09-14 01:19Z
    if width_us >= 1_000_000:
        return full[11:19] + "Z"  # 01:19:40Z
    return full[11:23] + "Z"  # 01:19:40.000Z


def tick_width(width_us: int, min_buckets: int) -> int:
    """A round tick interval (a multiple of the bucket width) at least *min_buckets* buckets wide."""
    for w in aggregates.NICE_WIDTHS:
        if w % width_us == 0 and w // width_us >= min_buckets:
            return w
    return width_us * min_buckets


@dataclass(frozen=True)
class HistogramData:
    start_us: int
    width_us: int
    buckets: list[aggregates.Bucket]
    full: tuple[int, int] | None  # time bounds of the whole filter (None: no events)

    @property
    def end_us(self) -> int:
        return self.start_us + self.width_us * len(self.buckets)


class Histogram(Widget, can_focus=True):
    """Stacked outcome histogram over time for the filter in :attr:`where`."""

    DEFAULT_CSS = """
    Histogram {
        height: 8;
        background: $surface;
    }
    Histogram:focus {
        background: $boost;
    }
    Histogram > .histogram--success { color: $success; }
    Histogram > .histogram--failure { color: $error; }
    Histogram > .histogram--unknown { color: $warning; }
    Histogram > .histogram--axis { color: $text-muted; }
    Histogram > .histogram--title { text-style: bold; }
    Histogram > .histogram--cursor { text-style: reverse; }
    Histogram > .histogram--selection { background: $primary 40%; }
    """

    COMPONENT_CLASSES = {
        "histogram--success", "histogram--failure", "histogram--unknown", "histogram--axis",
        "histogram--title", "histogram--cursor", "histogram--selection",
    }

    BINDINGS = bindings("Histogram")

    class RangeSelected(Message):
        """The user selected ``[start_us, end_us)``: UTC µs, end exclusive (whole buckets)."""

        def __init__(self, histogram: Histogram, start_us: int, end_us: int) -> None:
            super().__init__()
            self.histogram = histogram
            self.start_us = start_us
            self.end_us = end_us

        @property
        def control(self) -> Histogram:
            return self.histogram

        @property
        def term(self) -> str:
            """The filter terms for this range (``since:... until:...``)."""
            return range_term(self.start_us, self.end_us)

    class Updated(Message):
        """New counts are on screen (tests and benchmarks wait for this)."""

        def __init__(self, histogram: Histogram, data: HistogramData) -> None:
            super().__init__()
            self.histogram = histogram
            self.data = data

    #: The filter (a SQLAlchemy boolean over ``events``); set by the timeline.
    where = reactive(None, always_update=True, layout=False)
    #: The bucket under the cursor.
    cursor = reactive(0)
    #: Bar heights on a log scale (``L``): quiet buckets stay visible next to a burst.
    log_scale = reactive(False)

    def __init__(self, engine, where=None, *, name=None, id=None, classes=None, disabled=False) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self.engine = engine
        self.set_reactive(Histogram.where, where if where is not None else true())
        self.data: HistogramData | None = None
        self.view: tuple[int, int] | None = None  # (start, end) inclusive µs the user zoomed to; None = whole span
        self.mark_start: int | None = None  # bucket start (µs) of a half-marked range
        self.busy = False
        self._stale = False
        self._slots = 0  # bucket slots of the last request
        self._pending_cursor_us: int | None = None

    # ------------------------------------------------------------------ data

    def on_mount(self) -> None:
        # the host usually sets ``where`` as soon as its own first page is on screen, which
        # cancels this; waiting keeps the first count off the timeline's first paint
        self.refresh_data(MOUNT_DELAY_S)

    def watch_where(self, _old, _new) -> None:
        # a new filter shows its whole time span
        self.view = None
        self.mark_start = None
        self.refresh_data()

    def on_resize(self, _event) -> None:
        if self._slots != self._bucket_slots():
            self.refresh_data(MOUNT_DELAY_S if self.data is None else None)

    def _bucket_slots(self) -> int:
        return max(1, self.size.width - Y_AXIS)

    def refresh_data(self, delay: float | None = None) -> None:
        """(Re)count for the current filter after *delay* seconds (default :data:`DEBOUNCE_S`)."""
        if not self.is_mounted or self.size.width == 0:
            return
        if not self.display:
            self._stale = True  # hidden: count when shown (on_show)
            return
        self._stale = False
        self.busy = True
        self._slots = self._bucket_slots()
        self.refresh()
        self._compute(self.where, self.view, self._slots, delay)

    def on_show(self) -> None:
        if self._stale:
            self.refresh_data()

    @work(exclusive=True, group="histogram")
    async def _compute(self, where, view, slots: int, delay: float | None = None) -> None:
        """Count on the low-priority aggregates thread; a newer request cancels (interrupts) this one."""
        await asyncio.sleep(DEBOUNCE_S if delay is None else delay)  # let the timeline's own query go first; coalesce fast changes

        def count(conn) -> HistogramData:
            full = aggregates.time_bounds(conn, where)
            if full is None:
                return HistogramData(0, 1, [], None)
            lo, hi = view if view is not None else full
            start, width, n = aggregates.plan_buckets(lo, hi, slots)
            buckets = aggregates.histogram(conn, where, start, start + width * n, n, width=width)
            return HistogramData(start, width, buckets, full)

        job = aggregates.submit(self.engine, count)
        try:
            data = await asyncio.wrap_future(job.future)
        except asyncio.CancelledError:
            job.cancel()
            raise
        except aggregates.Interrupted:
            return
        self._apply(data)

    def _apply(self, data: HistogramData) -> None:
        old = self.data
        self.data = data
        self.busy = False
        if data.buckets:
            target = self._pending_cursor_us
            if target is None and old is not None and old.buckets and old.start_us <= self._cursor_us(old) < data.end_us:
                target = self._cursor_us(old)
            self._pending_cursor_us = None
            if target is not None and data.start_us <= target < data.end_us:
                self.cursor = (target - data.start_us) // data.width_us
            else:
                # start on the busiest bucket: that is where an investigator looks first
                self.cursor = max(range(len(data.buckets)), key=lambda i: data.buckets[i].total)
        else:
            self.cursor = 0
        self.refresh()
        self.post_message(self.Updated(self, data))

    def _cursor_us(self, data: HistogramData | None = None) -> int:
        d = data or self.data
        return d.start_us + self.cursor * d.width_us if d else 0

    # --------------------------------------------------------------- actions

    def validate_cursor(self, value: int) -> int:
        n = len(self.data.buckets) if self.data else 0
        return max(0, min(value, n - 1)) if n else 0

    def watch_cursor(self) -> None:
        self.refresh()

    def watch_log_scale(self) -> None:
        self.refresh()

    def action_toggle_log(self) -> None:
        self.log_scale = not self.log_scale

    def action_cursor(self, delta: int) -> None:
        self.cursor += delta

    def action_cursor_edge(self, end: int) -> None:
        self.cursor = (len(self.data.buckets) - 1) if (end and self.data) else 0

    def _zoom_to(self, lo: int, hi: int, cursor_us: int) -> None:
        """Show ``[lo, hi]``, slid (not shrunk) to stay inside the filter's own span."""
        full = self.data.full if self.data else None
        if full is not None:
            span = hi - lo
            if span >= full[1] - full[0]:
                self.view = None
            else:
                if lo < full[0]:
                    lo, hi = full[0], full[0] + span
                if hi > full[1]:
                    lo, hi = full[1] - span, full[1]
                self.view = (lo, hi)
        self._pending_cursor_us = cursor_us
        self.refresh_data()

    def action_zoom_in(self) -> None:
        if not self.data or not self.data.buckets:
            return
        lo, hi = self.view if self.view is not None else self.data.full
        span = hi - lo
        if span <= _MIN_SPAN_US:
            self.app.bell()
            return
        c = self._cursor_us() + self.data.width_us // 2
        new = max(_MIN_SPAN_US, span // 4)  # 4x closer: halving the bucket width twice
        lo2 = max(lo, c - new // 2)
        hi2 = min(hi, lo2 + new)
        lo2 = max(lo, hi2 - new)
        self._zoom_to(lo2, hi2, self._cursor_us())

    def action_zoom_out(self) -> None:
        if not self.data or not self.data.buckets:
            return
        if self.view is None:
            self.app.bell()  # already showing the filter's whole span
            return
        lo, hi = self.view
        span = max(1, hi - lo)
        c = (lo + hi) // 2
        self._zoom_to(c - span * 2, c + span * 2, self._cursor_us())

    def action_zoom_reset(self) -> None:
        if self.view is not None:
            self.view = None
            self._pending_cursor_us = self._cursor_us()
            self.refresh_data()

    def action_mark(self) -> None:
        if not self.data or not self.data.buckets:
            return
        here = self._cursor_us()
        if self.mark_start is None:
            self.mark_start = here
            self.refresh()
            return
        self._select(self.mark_start, here)

    def action_select(self) -> None:
        if not self.data or not self.data.buckets:
            return
        here = self._cursor_us()
        self._select(self.mark_start if self.mark_start is not None else here, here)

    def action_unmark(self) -> None:
        if self.mark_start is None:
            # let Escape reach the screen (its "back")
            from textual.actions import SkipAction

            raise SkipAction()
        self.mark_start = None
        self.refresh()

    def _select(self, a: int, b: int) -> None:
        lo, hi = min(a, b), max(a, b)
        width = self.data.width_us
        self.mark_start = None
        self.refresh()
        self.post_message(self.RangeSelected(self, lo, hi + width))

    # ------------------------------------------------------------- rendering

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(name, partial=True)

    def _status(self, width: int = 200) -> str:
        """The top line: the cursor's bucket, then (if they fit) the marked range and a hint."""
        d = self.data
        if d is None:
            return "Histogram: counting…"
        if d.full is None:
            return "Histogram: no events match the filter"
        b = d.buckets[self.cursor] if d.buckets else None
        text = ""
        if b is not None:
            text = f"{format_us(b.start_us)} +{width_label(d.width_us)}: {b.total:,} events"
            if b.failure:
                text += f", {b.failure:,} failed"
            if b.unknown:
                text += f", {b.unknown:,} unknown"
        extras = []
        if self.mark_start is not None:
            same_day = b is not None and format_us(self.mark_start)[:10] == format_us(b.start_us)[:10]
            start = format_us(self.mark_start)[11:] if same_day else format_us(self.mark_start)
            extras += [f" · range from {start}", " (space/Enter ends it, Esc drops it)"]
        elif self.view is not None:
            extras += [" · zoomed", " (- out, 0 all)"]
        elif b is not None:
            extras += [" · +/- zoom, space marks a range"]
        for e in extras:
            if len(text) + len(e) <= width:
                text += e
        return text

    def _bar_rows(self) -> int:
        return max(1, self.size.height - 2)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        if width <= 0:
            return Strip.blank(0)
        if y == 0:
            title = self._status(width - 3) + ("  …" if self.busy and self.data is not None else "")
            strip = Strip([Segment(title[:width], base + self._style("histogram--title"))])
            return strip.adjust_cell_length(width, base)
        rows = self._bar_rows()
        d = self.data
        if y == self.size.height - 1:
            return self._axis_line(width, base)
        if d is None or not d.buckets:
            return Strip.blank(width, base)
        row = y - 1  # 0 = top bar row
        level = rows - row  # 1..rows, counting from the bottom
        peak = max((b.total for b in d.buckets), default=0)
        segs: list[Segment] = []
        # y-axis: the peak count on the top row, 0 on the bottom row
        if row == 0:
            label = short_count(peak)
        elif row == rows - 1:
            label = "log" if self.log_scale and rows > 2 else "0"
        else:
            label = ""
        segs.append(Segment(label.rjust(Y_AXIS - 2) + " ┤" if row in (0, rows - 1) else " " * (Y_AXIS - 1) + "│",
                            base + self._style("histogram--axis")))
        sel = None
        if self.mark_start is not None:
            m = (self.mark_start - d.start_us) // d.width_us
            sel = (min(m, self.cursor), max(m, self.cursor))
        styles = {
            "s": base + self._style("histogram--success"),
            "f": base + self._style("histogram--failure"),
            "u": base + self._style("histogram--unknown"),
        }
        cur_style = self._style("histogram--cursor")
        sel_style = self._style("histogram--selection")
        for i, b in enumerate(d.buckets[: width - Y_AXIS]):
            ch, kind = self._cell(b, peak, rows, level, self.log_scale)
            style = styles[kind] if kind else base
            if i == self.cursor:
                style = style + cur_style
                if ch == " ":
                    ch = "·" if level == 1 else " "
            elif sel is not None and sel[0] <= i <= sel[1]:
                style = style + sel_style
            segs.append(Segment(ch, style))
        return Strip(segs).adjust_cell_length(width, base)

    @staticmethod
    def _cell(b: aggregates.Bucket, peak: int, rows: int, level: int, log: bool = False) -> tuple[str, str]:
        """Glyph and kind ('s','f','u' or '') of bar cell *level* (1 = bottom) for bucket *b*.

        Heights are proportional, in eighths of a cell: failures at the bottom,
        then unknown, then successes.  A cell shows the kind that fills most of
        it (by glyph and colour); the top cell of a bar is an eighth block.
        With *log*, the bar's height is ``log(1 + total)`` (so a quiet bucket next
        to a burst stays visible) and the outcomes share it in proportion.
        """
        if peak <= 0 or b.total <= 0:
            return " ", ""
        if log:
            height = rows * 8 * math.log1p(b.total) / math.log1p(peak)
            scale = height / b.total
        else:
            scale = rows * 8 / peak
        c_f = round(b.failure * scale)
        c_u = round((b.failure + b.unknown) * scale)
        c_t = max(1, round(b.total * scale))
        lo, hi = (level - 1) * 8, level * 8

        def overlap(a: int, z: int) -> int:
            return max(0, min(hi, z) - max(lo, a))

        f, u, sc = overlap(0, c_f), overlap(c_f, c_u), overlap(c_u, c_t)
        filled = f + u + sc
        if filled == 0:
            return " ", ""
        kind = "f" if f >= u and f >= sc else ("u" if u >= sc else "s")
        if filled == 8 or (kind != "s" and filled >= 4):
            return {"f": GLYPH_FAILURE, "u": GLYPH_UNKNOWN, "s": GLYPH_SUCCESS}[kind], kind
        return _EIGHTHS[filled], kind

    def _axis_line(self, width: int, base: Style) -> Strip:
        d = self.data
        axis = base + self._style("histogram--axis")
        if d is None or not d.buckets:
            return Strip([Segment("UTC".rjust(Y_AXIS - 1) + " ", axis)]).adjust_cell_length(width, base)
        n = min(len(d.buckets), width - Y_AXIS)
        cells = [" "] * n
        label_len = len(axis_label(d.start_us, d.width_us))
        tick = tick_width(d.width_us, label_len + 2)
        for i in range(n):
            t = d.start_us + i * d.width_us
            if t % tick:
                continue
            lab = axis_label(t, d.width_us)
            if i + len(lab) > n or any(c != " " for c in cells[max(0, i - 1): i + len(lab) + 1]):
                continue
            cells[i: i + len(lab)] = list(lab)
        sel = None
        if self.mark_start is not None:
            m = (self.mark_start - d.start_us) // d.width_us
            sel = (min(m, self.cursor), max(m, self.cursor))
        segs = [Segment("UTC".rjust(Y_AXIS - 1) + " ", axis)]
        for idx, ch in enumerate(cells):
            st = axis
            if idx == self.cursor:
                st = axis + self._style("histogram--cursor")
                if ch == " ":
                    ch = "^"
            elif sel is not None and sel[0] <= idx <= sel[1]:
                # the marked range is drawn, not only coloured (NO_COLOR)
                st = axis + self._style("histogram--selection")
                if ch == " ":
                    ch = "━"
            segs.append(Segment(ch, st))
        return Strip(segs).adjust_cell_length(width, base)
