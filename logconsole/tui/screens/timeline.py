"""The timeline screen: filter bar, (histogram), event list, (facets), footer.

State: a *filter stack* (breadcrumb).  Applying a typed filter, a drill-down,
a histogram range or a pivot pushes a :class:`ViewState`; Escape / ``q`` pops
it and puts the cursor back on the event it was on.  Loading a filter (count +
first page) runs in a thread worker; the previous results stay on screen until
the new ones are ready, and an invalid filter never replaces them.

Messages handled from the widgets:
``Histogram.RangeSelected(start_us, end_us)`` -> adds ``since:/until:``;
``FacetPanel.DrillDown(field, value)`` -> adds ``field:"value"``;
``FacetPanel.FrequencyRequested(field)`` -> opens the frequency table.
The screens of :mod:`logconsole.tui.screen_list` (Actors ``A``, Integrity
``I``, Findings ``R``, Frequency ``Shift+F``) dismiss with a filter string or
None.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field

from rich.text import Text
from sqlalchemy import Engine
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer
from textual.worker import get_current_worker

from logconsole.util.timeparse import format_us
from logconsole.util.timeref import TimeRef, TimeSyntaxError, resolve_time
from logconsole.store import annotations as ann
from logconsole.store.aggregates import drill_term
from logconsole.store.filter import Filter, FilterError, compile_filter, compile_for
from logconsole.store.highlight import highlight_terms
from logconsole.ingest.formats import facts_of
from logconsole.store.db import meta_get, meta_set
from logconsole.store.sanitize import one_line
from logconsole.store.timeline import TimelineQuery, total_events
from logconsole.store.timeline_marks import MarkedTimelineQuery
from logconsole.tui.actions import bindings
from logconsole.tui.screen_list import SCREENS, ViewContext
from logconsole.tui.screen_stack import keep_screen
from logconsole.tui.screens.choice import ChoiceScreen
from logconsole.tui.widgets.event_list import DEFAULT_COLUMNS, LABELS, ColumnState, EventHeader, EventList, cell_value
from logconsole.tui.widgets.facets import FacetPanel
from logconsole.tui.widgets.filter_bar import FilterBar
from logconsole.tui.widgets.histogram import Histogram
from logconsole.tui.widgets.ingest_status import IngestStatusLine

FACETS_MIN_WIDTH = 140
MATCH_SCAN = 5_000  # events n/N look through before saying so
HISTOGRAM_MIN_HEIGHT = 30
ANCHOR_MIN_ROWS = 50_000
ANCHOR_DELAY = 1.0
_REL_JUMP = re.compile(r"^([+-])(\d+(?:\.\d+)?)([smhdw])$")
_UNIT_US = {"s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000, "d": 86_400_000_000, "w": 604_800_000_000}
#: while an ingest runs behind the console: how often it is asked how far it got, and at most
#: how often the histogram and facets are recounted as batches land
INGEST_POLL_S = 0.25
ANALYTICS_EVERY_S = 3.0
ROWS_EVERY_S = 0.75
INGESTING = "ingesting… the first events appear here as soon as they are written"
_TIME_TERM = re.compile(r'(?<!\S)(since|until):("(?:[^"\\]|\\.)*"|\S+)')


@dataclass
class ViewState:
    text: str
    label: str
    cursor_event: int | None = None  # event under the cursor when we left this view
    scroll_top: int | None = None  # first row on screen when we left this view
    #: the screen this view came from (e.g. the actor detail): Esc goes back to it, as it was
    origin: Screen | None = None
    origin_drill: bool = False
    extras: dict = field(default_factory=dict)


#: the breadcrumb's mark for a step ANDed onto the previous one
AND_MARK = "+ "


def combine(current: str, clause: str) -> str:
    """AND *clause* onto the filter *current* (parenthesised if it has a top-level OR)."""
    cur = current.strip()
    if not cur:
        return clause
    if re.search(r"(?<!\S)(OR|\|\|)(?!\S)", cur):
        cur = f"({cur})"
    return f"{cur} {clause}"


def with_time_range(current: str, start_us: int, end_us: int) -> str:
    """Replace the filter's top-level since:/until: (if simple) by a new range [start, end)."""
    cur = current
    if "(" not in cur and not re.search(r"(?<!\S)(OR|\|\|)(?!\S)", cur):
        cur = " ".join(_TIME_TERM.sub("", cur).split())
    return combine(cur, f"since:{format_us(start_us)} until:{format_us(max(start_us, end_us - 1))}")


def parse_jump(text: str, current_ts: int | None, start_us: int | None = None, end_us: int | None = None) -> int:
    """A jump target as :func:`logconsole.util.timeref.resolve_time` reads it: ISO 8601, a partial time
    (``01:18``, ``14 01:18``) completed from the current event and the view's range, or an offset from
    the current event (``+5m``, ``-2h``).  Raises ValueError naming the position."""
    s = text.strip()
    if not s:
        raise ValueError("type a time")
    if _REL_JUMP.match(s) and current_ts is None:
        raise ValueError("no current event to jump relative to")
    try:
        return resolve_time(s, TimeRef(anchor_us=current_ts, start_us=start_us, end_us=end_us))
    except TimeSyntaxError as exc:
        raise ValueError(f"col {exc.position + 1}: {exc.message} (e.g. 01:18, 14 01:18, -2h, 2020-09-14T01:19:40Z)") from None


class TimelineScreen(Screen[None]):
    BINDINGS = bindings("TimelineScreen")

    def __init__(self, engine: Engine, *, initial_filter: str = "") -> None:
        super().__init__()
        self.engine = engine
        self.initial_filter = initial_filter
        self.stack: list[ViewState] = []
        self.filter: Filter | None = None
        self.total = 0
        self.count: int | None = None
        self._gen = 0
        self._scroll_top: int | None = None
        self._col_key: str | None = None
        self._facets_user: bool | None = None
        self._histogram_user: bool | None = None
        #: the ingest behind the console (``logconsole open PATH...``), if any
        self._ingest_at_start = 0
        self._ingest_seen_errors = 0
        self._ingest_finished = False
        self._analytics_at = 0.0
        self._rows_at = 0.0
        self._live = False  # a reload because rows landed (no anchors, no "counting…")
        self._keep_row: int | None = None  # the cursor's row on screen, kept by a live reload

    # ---------------------------------------------------------------- layout
    def compose(self) -> ComposeResult:
        yield FilterBar(self.engine, id="filter-bar")
        analytics = getattr(self.app, "analytics", True)
        if analytics:
            yield Histogram(self.engine, id="histogram")
        with Horizontal(id="main"):
            with Vertical(id="list-pane"):
                yield EventHeader(id="event-header")
                yield EventList(id="events")
            if analytics:
                yield FacetPanel(self.engine, id="facets")
        if self.ingest_job is not None:
            yield IngestStatusLine(id="ingest-status")
        yield Footer()

    @property
    def ingest_job(self):
        """The :class:`~logconsole.workflows.background.BackgroundIngest` behind the console, or None."""
        return getattr(self.app, "ingest_job", None)

    @property
    def events(self) -> EventList:
        return self.query_one(EventList)

    @property
    def bar(self) -> FilterBar:
        return self.query_one(FilterBar)

    def _pane(self, wid: str):
        found = self.query(f"#{wid}")
        return found.first() if found else None

    def on_mount(self) -> None:
        self.total = total_events(self.engine)
        self.reload_flags()
        self.reload_history()
        self.events.empty_message = (
            "The index is empty." if self.total == 0 else "No events match this filter (Esc goes back)."
        )
        self.events.focus()
        self.stack = [ViewState(self.initial_filter, self.initial_filter or "all events")]
        self._apply_sizes()
        self._start_load(self.initial_filter, focus_event=None)
        if self.ingest_job is not None:
            self._ingest_at_start = self.total
            self._set_empty_message(running=True)
            self._poll_ingest()
            self.set_interval(INGEST_POLL_S, self._poll_ingest)

    def on_resize(self) -> None:
        self._apply_sizes()

    def _panes(self) -> list:
        """The focusable panes in Tab order: histogram, event list, facets (those shown)."""
        panes = [self._pane("histogram"), self.events, self._pane("facets")]
        return [w for w in panes if w is not None and w.display]

    def action_focus_pane(self, step: int) -> None:
        """Tab / Shift+Tab: the next / previous pane (the filter is reached with /)."""
        panes = self._panes()
        focused = self.focused
        i = panes.index(focused) if focused in panes else (panes.index(self.events) if step > 0 else 1)
        panes[(i + step) % len(panes)].focus()

    def _apply_sizes(self) -> None:
        facets = self._pane("facets")
        if facets is not None:
            facets.display = self._facets_user if self._facets_user is not None else self.size.width >= FACETS_MIN_WIDTH
        hist = self._pane("histogram")
        if hist is not None:
            hist.display = (
                self._histogram_user if self._histogram_user is not None else self.size.height >= HISTOGRAM_MIN_HEIGHT
            )
        if self.focused is not None and not self.focused.display:
            self.events.focus()  # a pane that was hidden while focused hands the keys to the list
        self.call_after_refresh(self._sync_header)

    def _sync_header(self) -> None:
        header = self.query_one(EventHeader)
        header.layout_ = self.events.layout
        header.column = self.events.column

    # ---------------------------------------------------------------- loading
    def breadcrumb(self) -> Text:
        t = Text(no_wrap=True, overflow="ellipsis")
        for i, v in enumerate(self.stack):
            if i:
                t.append(" › ", style="dim")
            t.append(one_line(v.label or "all events", 60), style="bold" if i == len(self.stack) - 1 else "")
        return t

    def breadcrumb_labels(self) -> list[str]:
        return [v.label or "all events" for v in self.stack]

    def apply_filter(self, text: str, *, label: str | None = None, push: bool = True,
                     focus_event: int | None = None, focus_time: int | None = None,
                     origin: Screen | None = None, origin_drill: bool = False) -> bool:
        """Apply *text*; on a FilterError keep the current results, show the error, return False."""
        text = text.strip()
        try:
            compile_filter(text)
        except FilterError as exc:
            self.bar.input.value = text
            self.notify(f"filter error: {exc}", severity="error", markup=False)
            return False
        cur = self.events.current_row
        if push:
            self.stack[-1].cursor_event = cur.id if cur else None
            self.stack[-1].scroll_top = int(self.events.scroll_y)
            self.stack.append(ViewState(text, label or text or "all events", origin=origin, origin_drill=origin_drill))
        else:
            self.stack[-1].text = text
            if label is not None:
                self.stack[-1].label = label
        if focus_event is None and focus_time is None and cur is not None:
            focus_event = cur.id  # stay on the same event when it still matches
            focus_time = cur.ts_us
        self._start_load(text, focus_event=focus_event, focus_time=focus_time)
        if text:
            with self.engine.begin() as conn:
                ann.add_history(conn, text)
            self.reload_history()
        return True

    def _start_load(self, text: str, *, focus_event: int | None, focus_time: int | None = None,
                    scroll_top: int | None = None) -> None:
        self._gen += 1
        self._scroll_top = scroll_top
        self.bar.set_applied(text, self.breadcrumb(), None, self.total)
        self.events.set_stale(True)
        self._live = False
        self._keep_row = None
        self._load(text, self._gen, focus_event, focus_time)

    @work(thread=True, exclusive=True, group="timeline-load", exit_on_error=False)
    def _load(self, text: str, gen: int, focus_event: int | None, focus_time: int | None,
              focus_end: bool = False) -> None:
        try:
            self._load_inner(text, gen, focus_event, focus_time, focus_end)
        except Exception as exc:  # a database error must not take the console down
            msg = f"could not load the timeline: {exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            self.app.call_from_thread(self._load_failed, gen, msg)

    def _load_failed(self, gen: int, message: str) -> None:
        if gen != self._gen:
            return
        shown = self.filter.text if self.filter else None
        if shown is not None and len(self.stack) > 1 and self.stack[-1].text != shown:
            self.stack.pop()  # the breadcrumb keeps describing what is on screen
        self.bar.set_applied(self.filter.text if self.filter else "", self.breadcrumb(), self.count, self.total)
        self.notify(one_line(message, 300), severity="error", markup=False, timeout=8)

    def _load_inner(self, text: str, gen: int, focus_event: int | None, focus_time: int | None,
                    focus_end: bool = False) -> None:
        with self.engine.connect() as conn:
            flt = compile_for(conn, text)  # finding:N reads the saved filters
        # "all events" was counted on mount already
        q = MarkedTimelineQuery(self.engine, flt.where,
                                known_count=self.total if flt.is_empty and self.total else None)
        n = q.count()
        cursor = 0
        if focus_event is not None:
            off = q.offset_of_event(focus_event)
            if off is not None:
                cursor = off
            elif focus_time is not None:
                cursor = q.offset_of_time(focus_time)
        elif focus_time is not None:
            cursor = q.offset_of_time(focus_time)
        if focus_end:
            cursor = n - 1
        cursor = max(0, min(cursor, n - 1))
        sample: list = []
        if n:
            # the rows around the cursor (warms the page) size the columns
            sample = q.rows(max(0, cursor - 50), 100)
        if get_current_worker().is_cancelled:
            return
        self.app.call_from_thread(self._install, gen, flt, q, n, cursor, sample)

    def _install(self, gen: int, flt: Filter, q: TimelineQuery, n: int, cursor: int, sample: list) -> None:
        if gen != self._gen:
            return
        live = self._live
        self.filter = flt
        self.count = q.event_count() if isinstance(q, MarkedTimelineQuery) else n  # markers are not events
        top = self._scroll_top
        if live and self._keep_row is not None:  # the cursor's event stays on the same screen row
            top = max(0, cursor - self._keep_row)
        with self.app.batch_update():  # rows and count change in the same frame
            self._apply_columns(sample)
            self.events.terms = highlight_terms(flt.text)
            self.events.set_query(q, n, cursor, sample=sample, top=top)
            self.bar.set_applied(flt.text, self.breadcrumb(), self.count, self.total)
        self._scroll_top = None
        self._live = False
        self._keep_row = None
        ingesting = self.ingest_job is not None and not self._ingest_finished
        if n >= ANCHOR_MIN_ROWS and not ingesting:  # after the first paint and the analytics, index the big result
            self.set_timer(ANCHOR_DELAY, lambda: self._build_anchors(gen, q))
        if live:
            self._refresh_analytics()
        else:
            for wid in ("histogram", "facets"):
                w = self._pane(wid)
                if w is not None:
                    w.where = flt.where
        self._sync_header()

    # ---------------------------------------------------------------- an ingest behind the console
    def _set_empty_message(self, *, running: bool) -> None:
        if running:
            self.events.empty_message = INGESTING if self.total == 0 else "No events match this filter yet (the ingest goes on)."
        else:
            self.events.empty_message = (
                "The index is empty: the ingest added no events (see its status line)." if self.total == 0
                else "No events match this filter (Esc goes back).")
        self.events.refresh()

    def _poll_ingest(self) -> None:
        job = self.ingest_job
        if job is None or self._ingest_finished:
            return
        self._count_live(job.status())

    @work(thread=True, exclusive=True, group="ingest-poll", exit_on_error=False)
    def _count_live(self, st) -> None:
        try:
            n = total_events(self.engine)
        except Exception:  # the writer holds a lock a moment: ask again at the next poll
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._ingest_polled, st, n)

    def _ingest_polled(self, st, n: int) -> None:
        line = self._pane("ingest-status")
        if line is not None:
            line.show(st, n, self._ingest_at_start)
        for err in st.errors[self._ingest_seen_errors:]:  # each error once, where the investigator looks
            self.notify(one_line(err, 600), title="ingest", severity="error", markup=False, timeout=30)
        self._ingest_seen_errors = len(st.errors)
        finished = st.returncode is not None
        now = time.monotonic()
        # the first rows at once, then at most every ROWS_EVERY_S (each reload reads a page)
        if finished or (n != self.total and (self.total == 0 or now - self._rows_at >= ROWS_EVERY_S)):
            self._rows_at = now
            self.total = n
            self.reload_live(final=finished)
        if finished:
            self._ingest_finished = True
            self._set_empty_message(running=False)
            self.reload_flags()
            self.notify(one_line(line.text if line is not None else "ingest ended", 400), title="ingest",
                        severity="error" if st.errors else "information", markup=False, timeout=10)
        elif n == 0:
            self._set_empty_message(running=True)

    def reload_live(self, *, final: bool = False) -> None:
        """Rows landed: show the new count and rows without moving the investigator's view (the
        event under the cursor stays on its screen row); on the first row the view stays at the
        start of the timeline, on the last row it follows the end.  *final*: the ingest ended (its steps too): a full reload."""
        ev = self.events
        row = ev.current_row
        # on the first row the view stays at the start, on the last (of several) it follows the end
        at_start = ev.row_count == 0 or ev.cursor == 0
        at_end = not at_start and ev.cursor >= ev.row_count - 1
        self._gen += 1
        self._live = True
        self._keep_row = None
        focus_event = None
        if row is not None and not at_start and not at_end:
            focus_event = row.id
            self._keep_row = ev.cursor - int(ev.scroll_y) // ev.row_h
        self._scroll_top = 0 if at_start else None
        if final:
            self._analytics_at = 0.0
        self._load(self.current_text, self._gen, focus_event, row.ts_us if focus_event is not None and row else None,
                   at_end)

    def _refresh_analytics(self) -> None:
        """Recount the histogram and facets, at most every :data:`ANALYTICS_EVERY_S` while rows land."""
        now = time.monotonic()
        if now - self._analytics_at < ANALYTICS_EVERY_S:
            return
        self._analytics_at = now
        for wid in ("histogram", "facets"):
            w = self._pane(wid)
            if w is not None:
                if self.filter is not None and w.where is not self.filter.where:
                    w.where = self.filter.where
                else:
                    w.refresh_data()

    # ---------------------------------------------------------------- columns
    def _columns_key(self, sample: list) -> str:
        formats = {r.format for r in sample}
        return f"console.columns.timeline.{formats.pop()}" if len(formats) == 1 else "console.columns.timeline"

    def _preset(self, key: str) -> ColumnState:
        """The format's columns (its parser's facts) for a one-format view, else every default column."""
        fmt = key.removeprefix("console.columns.timeline").lstrip(".")
        if not fmt:
            return ColumnState(DEFAULT_COLUMNS)
        facts = facts_of(fmt)
        if facts is not None and facts.columns:
            return ColumnState(tuple(c for c in facts.columns if c in LABELS))
        return ColumnState(tuple(c for c in DEFAULT_COLUMNS if c != "format"))

    def _apply_columns(self, sample: list) -> None:
        """The columns for this view: the investigator's saved choice, else the format's preset."""
        if not sample:
            return
        key = self._columns_key(sample)
        if key == self._col_key:
            return
        self._col_key = key
        with self.engine.connect() as conn:
            saved = meta_get(conn, key)
        state = self._preset(key)
        if saved:
            try:
                state = ColumnState.from_json(json.loads(saved))
            except (ValueError, TypeError, AttributeError):
                pass
        if state != self.events.columns:
            self.events.set_columns(state)

    @on(EventList.ColumnsChanged)
    def _on_columns_changed(self, event: EventList.ColumnsChanged) -> None:
        if self._col_key is None:
            return
        with self.engine.begin() as conn:  # remembered in the index, per view
            meta_set(conn, self._col_key, json.dumps(event.state.as_json()))
        self._sync_header()

    @on(EventList.ColumnPickRequested)
    def _on_column_pick(self) -> None:
        hidden = [c for c in LABELS if c not in self.events.columns.cols]
        items = [(f"show {LABELS[c]}", c) for c in hidden] + [("reset to this format's columns", "=reset")]

        def done(choice: str | None) -> None:
            if choice == "=reset":
                if self._col_key is not None:
                    self.events.set_columns(self._preset(self._col_key), notify=True)
            elif choice:
                self.events.show_column(choice)
            self.events.focus()

        self.app.push_screen(ChoiceScreen("Columns", items), done)

    @work(thread=True, exclusive=True, group="timeline-anchors", exit_on_error=False)
    def _build_anchors(self, gen: int, q: TimelineQuery) -> None:
        if gen != self._gen:
            return
        try:
            q.build_anchors(min_rows=ANCHOR_MIN_ROWS)
        except Exception:  # best effort: paging falls back to OFFSET from the nearest known key
            pass

    def reload_flags(self) -> None:
        with self.engine.connect() as conn:
            flags = ann.annotation_flags(conn)
        self.events.hit_level = self._hit_level
        self.events.set_flags(flags)

    def _hit_level(self, event_id: int) -> str | None:
        """The most severe Sigma level of the event's rule hits (the list's "!" mark)."""
        from logconsole.store.detections import hit_level

        with self.engine.connect() as conn:
            return hit_level(conn, event_id)

    def reload_history(self) -> None:
        with self.engine.connect() as conn:
            self.bar.set_history(ann.history(conn))

    @property
    def current_text(self) -> str:
        return self.stack[-1].text if self.stack else ""

    # ---------------------------------------------------------------- messages
    @on(FilterBar.Applied)
    def _on_filter_applied(self, event: FilterBar.Applied) -> None:
        self.events.focus()
        if event.text == self.current_text:
            return
        self.apply_filter(event.text)

    @on(FilterBar.Cancelled)
    def _on_filter_cancelled(self) -> None:
        self.bar.set_applied(self.current_text, self.breadcrumb(), self.count, self.total)
        self.events.focus()

    @on(EventList.Selected)
    def _on_selected(self, event: EventList.Selected) -> None:
        if event.row.id < 0:  # a marker row: what is missing here, and the evidence
            self.notify(one_line(getattr(event.row, "detail", "") or "", 600), title=getattr(event.row, "marker", ""),
                        timeout=12)
            return
        self.open_detail(event.row.id)

    @on(EventList.LayoutChanged)
    def _on_layout_changed(self) -> None:
        self._sync_header()

    @on(EventList.Highlighted)
    def _on_highlighted(self, event: EventList.Highlighted) -> None:
        header = self.query_one(EventHeader)
        if header.column != self.events.column:
            header.column = self.events.column
        self.bar.set_position(event.offset + 1 if event.row is not None else None)

    def _histogram_range(self, start_us: int, end_us: int) -> None:
        self.apply_filter(with_time_range(self.current_text, start_us, end_us),
                          label=AND_MARK + f"{format_us(start_us, precision='s')} → {format_us(end_us, precision='s')}")

    def _drill(self, column: str, value) -> None:
        clause = drill_clause(column, value)
        self.apply_filter(combine(self.current_text, clause), label=AND_MARK + clause)

    def on_histogram_range_selected(self, message) -> None:
        message.stop()
        self._histogram_range(message.start_us, message.end_us)

    def on_facet_panel_drill_down(self, message) -> None:
        message.stop()
        self._drill(message.field, message.value)

    def on_facet_panel_frequency_requested(self, message: FacetPanel.FrequencyRequested) -> None:
        message.stop()
        self.action_open_screen("frequency", column=message.field)

    # ---------------------------------------------------------------- detail
    def open_detail(self, event_id: int) -> None:
        from logconsole.tui.screens.detail import EventDetailScreen

        self.app.push_screen(EventDetailScreen(self.engine, event_id, step=self._step, highlight=self.current_text),
                             self._after_detail)

    def _step(self, delta: int) -> int | None:
        ev = self.events
        nxt = ev.cursor + delta
        while 0 <= nxt < ev.row_count and (ev.query_ is None or (r := ev.query_.row(nxt)) is None or r.id < 0):
            nxt += 1 if delta > 0 else -1  # marker rows are not events: step over them
        if not (0 <= nxt < ev.row_count):
            return None
        ev.move_to(nxt)
        row = ev.current_row
        return row.id if row else None

    def _after_detail(self, result) -> None:
        self.reload_flags()
        if result is None:
            return
        add = getattr(result, "add", False)
        text = combine(self.current_text, result.filter) if add else result.filter
        self.apply_filter(text, label=(AND_MARK if add else "") + result.label, focus_event=result.focus_event)

    # ---------------------------------------------------------------- actions
    def action_focus_filter(self) -> None:
        inp = self.bar.input
        inp.focus()
        inp.cursor_position = len(inp.value)

    def action_back(self) -> None:
        if len(self.stack) <= 1:
            if self.current_text:
                self.notify("at the first view (q quits)", markup=False)
            return
        left = self.stack.pop()
        prev = self.stack[-1]
        self._start_load(prev.text, focus_event=prev.cursor_event, scroll_top=prev.scroll_top)
        self.events.focus()
        if left.origin is not None:  # back to the screen this view came from, as it was
            self._push_subscreen(left.origin, left.origin_drill)

    def action_back_or_quit(self) -> None:
        if len(self.stack) <= 1:
            self.app.exit()
        else:
            self.action_back()

    def action_open_event(self) -> None:
        self.events.action_open_event()

    def action_jump_time(self) -> None:
        from logconsole.tui.screens.prompt import PromptScreen

        row = self.events.current_row
        cur_ts = row.ts_us if row else None
        q, n = self.events.query_, self.events.row_count
        first = q.row(0) if q is not None and n else None
        last = q.row(n - 1) if q is not None and n else None
        span = (first.ts_us if first else None, last.ts_us if last else None)  # the view's range

        def validate(s: str) -> str | None:
            try:
                parse_jump(s, cur_ts, *span)
            except ValueError as exc:
                return str(exc)
            return None

        def done(value: str | None) -> None:
            if value is None:
                return
            try:
                ts = parse_jump(value, cur_ts, *span)
            except ValueError as exc:
                self.notify(str(exc), severity="error", markup=False)
                return
            q = self.events.query_
            if q is None or not self.events.row_count:
                return
            off = min(q.offset_of_time(ts), self.events.row_count - 1)
            self.events.move_to(off)
            self.events.focus()

        self.app.push_screen(
            PromptScreen("Jump to time (UTC)", value=format_us(cur_ts, precision="s") if cur_ts else "",
                         hint="01:18, 14 01:18, 2020-09-14T01:19:40Z; relative to this event: +5m, -2h",
                         validate=validate),
            done,
        )

    def _require_row(self):
        row = self.events.current_row
        if row is None:
            self.app.bell()
        return row

    def action_next_match(self, direction: int) -> None:
        """n / N: the next / previous event whose cells show a match of the filter's terms."""
        ev = self.events
        q = ev.query_
        if q is None or not ev.row_count:
            return
        if not ev.terms:
            self.notify("the filter has no words or values to match (n/N jump between matches)", markup=False,
                        timeout=3)
            return
        off = ev.cursor
        for _ in range(MATCH_SCAN):
            off += direction
            if not 0 <= off < ev.row_count:
                break
            row = q.row(off)
            if row is not None and ev.row_matches(row):
                ev.move_to(off)
                return
        else:
            self.notify(f"no match shown in the next {MATCH_SCAN:,} events", markup=False, timeout=3)
            return
        self.notify("no further match" if direction > 0 else "no earlier match", markup=False, timeout=2)

    def action_toggle_mark(self) -> None:
        row = self._require_row()
        if row is None:
            return
        with self.engine.begin() as conn:
            on_ = ann.toggle_mark(conn, row.id)
        self.reload_flags()
        self.notify("bookmarked" if on_ else "bookmark removed", markup=False, timeout=2)

    def action_edit_note(self) -> None:
        row = self._require_row()
        if row is not None:
            self.app.edit_note(row.id, self.reload_flags)

    def action_add_tag(self) -> None:
        row = self._require_row()
        if row is not None:
            self.app.edit_tag(row.id, self.reload_flags)

    def _goto_mark(self, forward: bool) -> None:
        row = self.events.current_row
        q = self.events.query_
        if row is None or q is None:
            return
        key = q.neighbour_key(row.key, ann.marked_clause(), forward=forward)
        if key is None:
            self.notify("no further bookmark in this view" if forward else "no earlier bookmark in this view",
                        markup=False, timeout=2)
            return
        self.events.move_to(q.offset_of_key(key))

    def action_next_mark(self) -> None:
        self._goto_mark(True)

    def action_prev_mark(self) -> None:
        self._goto_mark(False)

    def action_marks(self) -> None:
        from logconsole.tui.screens.marks import MarksScreen

        self.app.push_screen(MarksScreen(self.engine), self.goto_event)

    def goto_event(self, event_id: int | None) -> None:
        """Put the cursor on *event_id*; if the current filter hides it, show all events around it."""
        self.reload_flags()
        if event_id is None:
            return
        q = self.events.query_
        off = q.offset_of_event(event_id) if q is not None else None
        if off is not None:
            self.events.move_to(off)
            self.events.focus()
            return
        self.apply_filter("", label="all events", focus_event=event_id)

    def action_open_screen(self, name: str, column: str | None = None) -> None:
        """Open a screen of :data:`~logconsole.tui.screen_list.SCREENS` over the current view."""
        entry = SCREENS[name]
        row = self.events.current_row
        if column is None and name == "pivot":
            column = self.events.column_id
        screen = entry.build(ViewContext(self.engine, self.filter.where if self.filter else None,
                                         self.current_text, self.breadcrumb_labels(), column,
                                         event_id=row.id if row else None, db_path=getattr(self.app, "db_path", "")))
        self._push_subscreen(screen, entry.drill, entry.title)

    def _push_subscreen(self, screen: Screen, drill: bool, title: str = "") -> None:
        """Push *screen*; the filter it dismisses with becomes a new view that remembers it (Esc returns)."""
        title = title or getattr(screen, "_pivot_title", "")
        screen._pivot_title = title  # type: ignore[attr-defined]

        def done(result) -> None:
            self.reload_flags()
            self.events.focus()
            if not result:
                keep_screen(self.app, screen, False)
                return
            keep_screen(self.app, screen, True)
            text = str(result)
            if drill:
                ok = self.apply_filter(combine(self.current_text, text), label=AND_MARK + text, origin=screen,
                                       origin_drill=drill)
            else:
                ok = self.apply_filter(text, label=f"{title}: {text}" if title else text, origin=screen)
            if not ok:
                keep_screen(self.app, screen, False)

        if screen.is_mounted and not screen.is_running:  # closed before it ran: cannot be shown again
            return
        keep_screen(self.app, screen, True)  # kept from the start: the result arrives after the pop
        self.app.push_screen(screen, done)

    def action_frequency(self) -> None:
        col = self.events.column_id
        if col == "ts_us":
            self.notify("the time column has no frequency table; use the histogram (H)", markup=False)
            return
        self.action_open_screen("frequency", column=col)

    def action_export(self) -> None:
        from logconsole.tui.screens.export import ExportScreen

        self.app.push_screen(ExportScreen(self.engine, filter_text=self.current_text))

    def action_marks_to_finding(self) -> None:
        from logconsole.tui.screens.findings import add_marked_to_finding

        add_marked_to_finding(self.app, self.engine)

    def action_toggle_facets(self) -> None:
        w = self._pane("facets")
        if w is None:
            self.notify("no facet panel in this console", severity="warning", markup=False)
            return
        self._facets_user = not w.display
        self._apply_sizes()

    def action_toggle_histogram(self) -> None:
        w = self._pane("histogram")
        if w is None:
            self.notify("no histogram in this console", severity="warning", markup=False)
            return
        self._histogram_user = not w.display
        self._apply_sizes()

    def action_copy_cell(self) -> None:
        row = self._require_row()
        if row is None:
            return
        col = self.events.column_id
        v = cell_value(row, col)
        if v is None:
            self.notify("empty cell", markup=False, timeout=2)
            return
        self.app.copy_value(v, LABELS[col])

    def action_copy_raw(self) -> None:
        row = self._require_row()
        if row is None:
            return
        from logconsole.store.queries import get_event

        with self.engine.connect() as conn:
            ev = get_event(conn, row.id)
        if ev:
            self.app.copy_value(ev["raw"], "raw record")

    def action_save_view(self) -> None:
        from logconsole.tui.screens.prompt import PromptScreen

        text = self.current_text

        def done(name: str | None) -> None:
            if not name or not name.strip():
                return
            with self.engine.begin() as conn:
                ann.save_view(conn, name, text)
            self.notify(f"saved view {one_line(name, 40)}", markup=False, timeout=2)

        self.app.push_screen(
            PromptScreen("Save the current filter as a view named:", placeholder="e.g. alice-failures",
                         hint=one_line(f"filter: {text or '(all events)'}", 200)),
            done,
        )

    def action_views(self) -> None:
        from logconsole.tui.screens.views import ViewsScreen

        def done(v) -> None:
            if v is not None:
                name, text = v
                self.apply_filter(text, label=f"view {name}")

        self.app.push_screen(ViewsScreen(self.engine), done)

    def apply_view(self, name: str, text: str) -> None:
        self.apply_filter(text, label=f"view {name}")

    def action_reload(self) -> None:
        self.total = total_events(self.engine)
        self.reload_flags()
        row = self.events.current_row
        self._start_load(self.current_text, focus_event=row.id if row else None)
        self.notify(f"reloaded: {self.total:,} events in the index", markup=False, timeout=2)

    def action_help(self) -> None:
        self.app.action_help()

    # ---------------------------------------------------------------- trust: verify, grants, re-run
    def action_verify_path(self) -> None:
        from logconsole.tui.screens.prompt import PromptScreen
        from logconsole.workflows.trust import parse_verify_request

        def validate(text: str) -> str | None:
            try:
                parse_verify_request(text)
            except ValueError as exc:
                return str(exc)
            return None

        def done(text: str | None) -> None:
            if text:
                self._trust_job("verify", text)

        self.app.push_screen(PromptScreen(
            "Verify (PATH ... [key=value ...])", placeholder="app/audit.jsonl  or  bucket/ public_keys=keys.json",
            hint="options: public_keys, pubkey, hash_field, prev_field, canon, hmac_key_file, expected_end, "
                 "start_time, end_time", validate=validate), done)

    def action_import_grants(self) -> None:
        from logconsole.tui.screens.prompt import PromptScreen

        def done(text: str | None) -> None:
            if text:
                self._trust_job("grants", text.strip())

        self.app.push_screen(PromptScreen("Import a grants file", placeholder="grants/authorization-details.json",
                                          hint="aws iam get-account-authorization-details output, RBAC YAML or "
                                               "a logconsole policy file"), done)

    def action_rerun_trust(self) -> None:
        self._trust_job("rerun", "")

    @work(thread=True, exclusive=True, group="timeline-trust", exit_on_error=False)
    def _trust_job(self, what: str, text: str) -> None:
        from logconsole.workflows import trust

        try:
            if what == "verify":
                paths, opts = trust.parse_verify_request(text)
                results = trust.verify_paths(self.engine, paths, opts)
                msg = "; ".join(f"{r.path.rsplit('/', 1)[-1]}: {r.status}" for r in results) or "nothing verified"
            elif what == "grants":
                r = trust.import_grants(self.engine, text)
                msg = (f"{r.file.rsplit('/', 1)[-1]}: {r.format}, "
                       + (f"already imported (snapshot {r.snapshot_id})" if r.already
                          else f"imported as snapshot {r.snapshot_id}"))
            else:
                results, grants = trust.rerun(self.engine)
                msg = f"re-ran {len(results)} verification(s) and {len(grants)} grants import(s)"
        except Exception as exc:  # a bad path or file: say it, keep the console
            self.app.call_from_thread(self.notify, one_line(f"{what}: {exc}", 300), severity="error", markup=False,
                                      timeout=10)
            return
        self.app.call_from_thread(self._trust_done, msg)

    def _trust_done(self, msg: str) -> None:
        self.notify(one_line(msg, 300), markup=False, timeout=8)
        self.action_reload()  # integrity glyphs and markers follow the new results


def drill_clause(column: str, value) -> str:
    """The filter clause for "column == value" (None -> the column is absent)."""
    return drill_term(column, None if value is None else str(value))
