"""The virtual event list: a Line API ScrollView over a :class:`TimelineQuery`.

Only the visible rows are rendered; rows come from the query's keyset page
cache, so the list scrolls over millions of events without holding them.  All
log text is made inert (``sanitize.one_line``) and drawn as plain Segments -
nothing from a record is ever parsed as markup or sent as a terminal escape.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget

from logconsole.ingest.formats import facts_of
from logconsole.util.timeparse import format_us
from logconsole.store.highlight import HighlightTerm, match_spans
from logconsole.store.sanitize import one_line
from logconsole.store.timeline import TimelineQuery, TimelineRow
from logconsole.tui.actions import bindings
from logconsole.tui.cells import middle_cut

#: the flag column's "!" (a Sigma rule matched the event), by the most severe level
HIT_COLOURS = {"critical": "bright_red", "high": "red", "medium": "yellow", "low": "cyan", "informational": "blue"}

#: (column id, header label, filter field) of every column the list can show.
COLUMNS: list[tuple[str, str, str | None]] = [
    ("ts_us", "time (UTC)", None),
    ("actor", "actor", "actor"),
    ("action", "action", "action"),
    ("resource", "resource", "resource"),
    ("outcome", "out", "outcome"),
    ("src_ip", "source IP", "ip"),
    ("format", "format", "format"),
    ("service", "service", "service"),
]
LABELS = {c: label for c, label, _ in COLUMNS}
FIELDS = {c: f for c, _, f in COLUMNS}
#: the columns shown, in order, when no preset or saved choice applies (a view mixing formats)
DEFAULT_COLUMNS = ("ts_us", "actor", "action", "resource", "outcome", "src_ip", "format")

SHORT_LABELS = {"format": "fmt", "src_ip": "IP", "resource": "res", "action": "act", "service": "svc"}

#: columns of fixed width: time, outcome, a full IPv4 address (IPv6 is shortened in the middle)
FIXED_WIDTHS = {"ts_us": 20, "outcome": 4, "src_ip": 15, "service": 12}
FLEX_COLUMNS = ("actor", "action", "resource")
#: who gets room first: full action names, then the actor, then the resource
FLEX_PRIORITY = ("action", "actor", "resource")
DEFAULT_WANTS = {"action": 16, "actor": 20, "resource": 60}
WANT_CAP = 60
MIN_W = 4
MAX_WRAP_LINES = 3


@dataclass(frozen=True)
class ColumnLayout:
    cols: tuple[str, ...]  # the shown columns, in order
    widths: tuple[int, ...]  # one per shown column

    @property
    def total(self) -> int:
        return LEAD + sum(self.widths) + len(self.widths)


@dataclass(frozen=True)
class ColumnState:
    """What the investigator chose for a view: shown columns in order, widths and wrapped columns."""

    cols: tuple[str, ...] = DEFAULT_COLUMNS
    widths: tuple[tuple[str, int], ...] = ()  # set with - / +
    wrap: tuple[str, ...] = ()

    def as_json(self) -> dict:
        return {"cols": list(self.cols), "widths": dict(self.widths), "wrap": list(self.wrap)}

    @classmethod
    def from_json(cls, d: dict) -> ColumnState:
        cols = tuple(c for c in d.get("cols", ()) if c in LABELS) or DEFAULT_COLUMNS
        widths = tuple((c, int(w)) for c, w in dict(d.get("widths") or {}).items() if c in LABELS and 1 <= int(w) <= 200)
        wrap = tuple(c for c in d.get("wrap", ()) if c in cols)
        return cls(cols, widths, wrap)


#: cells before the first column: the mark flag (``*`` marked, ``+`` annotated) and the integrity glyph
LEAD = 2
#: integrity glyphs: distinct shapes, so they read without colour (16 colours, NO_COLOR)
INTEGRITY_GLYPH = {"verified": "✓", "tampered": "✗", "unverified": " "}


def layout_columns(width: int, wants: dict[str, int] | None = None, state: ColumnState | None = None) -> ColumnLayout:
    """Column widths for a list *width* cells wide (80 columns is the minimum we design for).

    Time, outcome, source IP (a full IPv4 address) and format have fixed widths;
    actor, action and resource share the rest: full action names first, then
    the actor, the resource takes what is left (values longer than their column
    are shortened in the middle).  *wants* (the widest value of each in a sample
    of the current rows) lets a column that needs little give room to the
    others.  Widths the investigator set (*state*) are kept as they are.
    """
    state = state or ColumnState()
    cols = state.cols
    user = dict(state.widths)
    fmt_w = 12 if width >= 130 else (9 if width >= 100 else 5)
    fixed: dict[str, int] = {}
    for c in cols:
        if c in user:
            fixed[c] = user[c]
        elif c in FIXED_WIDTHS:
            fixed[c] = FIXED_WIDTHS[c]
        elif c == "format":
            fixed[c] = fmt_w
    flex_cols = [c for c in FLEX_PRIORITY if c in cols and c not in fixed]
    flex = max(MIN_W * len(flex_cols), width - LEAD - sum(fixed.values()) - len(cols))
    want = {c: max(MIN_W, min(WANT_CAP, (wants or DEFAULT_WANTS).get(c, DEFAULT_WANTS[c]))) for c in flex_cols}
    got: dict[str, int] = {}
    left = flex
    for i, c in enumerate(flex_cols):  # in priority order: each up to its need, never all the room
        rest = len(flex_cols) - i - 1
        share = left if not rest else int(left * (0.55 if i == 0 else 0.6))
        got[c] = max(MIN_W, min(want[c], share, left - MIN_W * rest))
        left -= got[c]
    if left > 0 and flex_cols:  # everyone is satisfied: the spare room goes to resource, then actor
        last = flex_cols[-1]
        first = "actor" if "actor" in flex_cols and last != "actor" else last
        got[last] += left - left // 3
        got[first] += left // 3
    widths = tuple(fixed.get(c, got.get(c, MIN_W)) for c in cols)
    return ColumnLayout(cols, widths)


def _p90(values: list[int]) -> int:
    """What nine values in ten need: one outlier (a hostile or runaway value) does not take the room."""
    v = sorted(values)
    return v[min(len(v) - 1, (len(v) * 9) // 10)] if v else 0


def fit(value: str, width: int) -> str:
    """*value* made one inert line, cut with an ellipsis and padded to *width* cells."""
    s = one_line(value)
    if cell_len(s) > width:
        return set_cell_size(s, max(0, width - 1)) + "…"
    return set_cell_size(s, width)


def fit_middle(value: str, width: int) -> str:
    """*value* made one inert line, shortened in the middle (both ends of an ARN or a path stay) and
    padded to *width* cells."""
    return set_cell_size(middle_cut(value, width), width)


def wrap_lines(value: str, width: int, lines: int) -> list[str]:
    """*value* (one inert line) in *lines* pieces of *width* cells; the last piece keeps the end."""
    s = one_line(value)
    out = []
    for _ in range(lines - 1):
        if cell_len(s) <= width:
            break
        piece = set_cell_size(s, width)
        out.append(piece)
        s = s[len(piece):]
    out.append(fit_middle(s, width))
    return [set_cell_size(x, width) for x in out] + [" " * width] * (lines - len(out))


def short_actor(actor: str | None) -> str:
    """Display form of an actor: ARNs lose their ``arn:aws:iam::ACCOUNT:`` prefix."""
    if not actor:
        return "-"
    if actor.startswith("arn:"):
        parts = actor.split(":", 5)
        if len(parts) == 6:
            res = parts[5]
            kind, _, rest = res.partition("/")
            return rest or res if kind in ("user", "assumed-role", "role", "federated-user") else res
    for prefix, short in (("system:serviceaccount:", "sa:"), ("system:node:", "node:")):
        if actor.startswith(prefix) and len(actor) > len(prefix):
            return short + actor[len(prefix):]
    return actor


def short_resource(resource: str | None) -> str:
    if not resource:
        return "-"
    if resource.startswith("arn:"):
        parts = resource.split(":", 5)
        if len(parts) == 6:
            return f"{parts[2]}:{parts[5]}" if parts[2] else parts[5]
    return resource


OUTCOME_LABEL = {"success": "ok", "failure": "FAIL"}

def format_label(fmt: str) -> str:
    """The narrow format column's label: the parser's ``facts.short_label`` (the detail
    shows the full name); a format no parser of this version has is shown as stored."""
    facts = facts_of(fmt)
    return facts.short_label if facts is not None else fmt


def cell_text(row: TimelineRow, col: str, *, narrow: bool = False) -> str:
    """The display text of a cell."""
    if col == "ts_us":
        return format_us(row.ts_us, precision="s")
    if col == "actor":
        return short_actor(row.actor)
    if col == "resource":
        return short_resource(row.resource)
    if col == "outcome":
        return OUTCOME_LABEL.get(row.outcome or "", "?")
    if col == "format" and narrow:
        return format_label(row.format)
    v = getattr(row, col)
    return "-" if v in (None, "") else str(v)


def cell_value(row: TimelineRow, col: str) -> str | None:
    """The full value of a cell (for copying and drill-down)."""
    if col == "ts_us":
        return format_us(row.ts_us)
    v = getattr(row, col)
    return None if v is None else str(v)


class EventHeader(Widget):
    """The column header above the list (the current column is highlighted)."""

    COMPONENT_CLASSES = {"event-header--current"}
    column: reactive[int] = reactive(1)
    layout_: reactive[ColumnLayout] = reactive(lambda: layout_columns(80))

    def render(self) -> Text:
        lay = self.layout_
        t = Text(" " * (LEAD + 1), no_wrap=True, overflow="crop")
        cur = self.get_component_rich_style("event-header--current", partial=True)
        for i, (col, w) in enumerate(zip(lay.cols, lay.widths)):
            label = LABELS[col]
            if cell_len(label) > w:
                label = SHORT_LABELS.get(col, label)
            t.append(fit(label, w), style=cur if i == self.column else "")
            t.append(" ")
        return t


class EventList(ScrollView, can_focus=True):
    """Virtual list of timeline rows with a row cursor and a column cursor."""

    BINDINGS = bindings("EventList")
    COMPONENT_CLASSES = {
        "event-list--cursor",
        "event-list--cell",
        "event-list--failure",
        "event-list--flag",
        "event-list--empty",
        "event-list--stale",
        "event-list--match",
        "event-list--tampered",
        "event-list--verified",
        "event-list--marker",
    }

    cursor: reactive[int] = reactive(0, always_update=True)
    column: reactive[int] = reactive(1)

    class Highlighted(Message):
        def __init__(self, row: TimelineRow | None, offset: int) -> None:
            super().__init__()
            self.row = row
            self.offset = offset

    class LayoutChanged(Message):
        """The column widths changed (new width or new rows); the header follows."""

    class Selected(Message):
        def __init__(self, row: TimelineRow) -> None:
            super().__init__()
            self.row = row

    class ColumnsChanged(Message):
        """The investigator changed the columns (the screen remembers the choice)."""

        def __init__(self, state: ColumnState) -> None:
            super().__init__()
            self.state = state

    class ColumnPickRequested(Message):
        """`C`: choose a column to show (the screen offers the hidden ones)."""

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.query_: TimelineQuery | None = None
        self.row_count = 0
        #: (dedup, raw_sha256) -> (marked, has note/tags); set by the screen
        self.flags: dict[tuple[int, str], tuple[bool, bool]] = {}
        #: event id -> the most severe Sigma level of its rule hits (None: no hit); set by the screen
        self.hit_level: Callable[[int], str | None] | None = None
        self._hit_cache: dict[int, str | None] = {}
        self.empty_message = "No events."
        self.loading_message = "loading…"
        #: the rows on screen belong to the previous filter (a new one is loading)
        self.stale = False
        #: the filter's free-text and field terms: matches are highlighted (set by the screen)
        self.terms: list[HighlightTerm] = []
        self._style_cache: dict[str, Style] | None = None
        self.wants: dict[str, int] | None = None
        self.columns = ColumnState()
        self._layout: tuple[int, ColumnLayout] | None = None

    # ---------------------------------------------------------------- data
    def set_query(self, query: TimelineQuery | None, count: int, cursor: int = 0,
                  sample: list[TimelineRow] | None = None, top: int | None = None) -> None:
        """Show *query* (*count* rows); *sample* rows size the flexible columns; *top*: first row shown."""
        self.query_ = query
        self.row_count = count
        self.stale = False
        if sample:
            self.wants = {c: _p90([cell_len(one_line(cell_text(r, c))) for r in sample]) for c in LABELS}
        self._layout = None
        self.virtual_size = Size(self.size.width, max(count, 0) * self.row_h)
        if top is not None and top <= cursor < top + self.page_height:
            top = max(0, min(top, max(0, count - self.page_height)))
            self.scroll_to(y=top * self.row_h, animate=False, immediate=True)
        self._move(cursor, center=True)
        self.refresh()

    def set_stale(self, stale: bool) -> None:
        """Mark the rows on screen as the previous filter's until the new ones arrive."""
        if stale != self.stale:
            self.stale = stale
            self.refresh()

    def set_flags(self, flags: dict[tuple[int, str], tuple[bool, bool]]) -> None:
        self.flags = flags
        self._hit_cache.clear()
        self.refresh()

    def _hit(self, event_id: int) -> str | None:
        if self.hit_level is None:
            return None
        if event_id not in self._hit_cache:
            if len(self._hit_cache) > 20_000:
                self._hit_cache.clear()
            try:
                self._hit_cache[event_id] = self.hit_level(event_id)
            except Exception:  # a locked index: no mark now, the next paint asks again
                return None
        return self._hit_cache[event_id]

    @property
    def layout(self) -> ColumnLayout:
        width = self.scrollable_content_region.width or self.size.width or 80
        if self._layout is None or self._layout[0] != width:
            old = self._layout[1] if self._layout else None
            self._layout = (width, layout_columns(width, self.wants, self.columns))
            if self._layout[1] != old:
                self.post_message(self.LayoutChanged())
        return self._layout[1]

    @property
    def current_row(self) -> TimelineRow | None:
        if self.query_ is None or not self.row_count:
            return None
        return self.query_.row(self.cursor)

    @property
    def column_id(self) -> str:
        cols = self.columns.cols
        return cols[min(self.column, len(cols) - 1)]

    # ---------------------------------------------------------------- columns
    @property
    def row_h(self) -> int:
        """Lines per row: 1, or up to MAX_WRAP_LINES when a shown column wraps."""
        if not self.columns.wrap:
            return 1
        lay = self.layout
        need = 1
        for c, w in zip(lay.cols, lay.widths):
            if c in self.columns.wrap:
                want = (self.wants or {}).get(c, w * MAX_WRAP_LINES)
                need = max(need, -(-want // max(1, w)))
        return max(1, min(MAX_WRAP_LINES, need))

    def set_columns(self, state: ColumnState, *, notify: bool = False) -> None:
        """Show *state*'s columns (the screen restores a saved or preset choice)."""
        cur = self.column_id if self.columns.cols else None
        self.columns = state
        self._layout = None
        if cur in state.cols:
            self.column = state.cols.index(cur)
        else:
            self.column = min(self.column, len(state.cols) - 1)
        self.virtual_size = Size(self.size.width, max(self.row_count, 0) * self.row_h)
        self._move(self.cursor)
        self.refresh()
        self.post_message(self.LayoutChanged())
        if notify:
            self.post_message(self.ColumnsChanged(state))

    def _change(self, **kw) -> None:
        from dataclasses import replace

        self.set_columns(replace(self.columns, **kw), notify=True)

    def action_column_hide(self) -> None:
        cols = self.columns.cols
        if len(cols) <= 1:
            self.app.bell()
            return
        col = self.column_id
        self._change(cols=tuple(c for c in cols if c != col), wrap=tuple(c for c in self.columns.wrap if c != col))

    def show_column(self, col: str) -> None:
        """Show *col* right of the current column."""
        if col in self.columns.cols or col not in LABELS:
            return
        cols = list(self.columns.cols)
        cols.insert(self.column + 1, col)
        self._change(cols=tuple(cols))
        self.column = cols.index(col)

    def action_column_pick(self) -> None:
        self.post_message(self.ColumnPickRequested())

    def action_column_move(self, delta: int) -> None:
        cols = list(self.columns.cols)
        i = self.column
        j = i + delta
        if not 0 <= j < len(cols):
            self.app.bell()
            return
        cols[i], cols[j] = cols[j], cols[i]
        self._change(cols=tuple(cols))
        self.column = j

    def action_column_resize(self, delta: int) -> None:
        col = self.column_id
        lay = self.layout
        w = dict(zip(lay.cols, lay.widths))[col]
        widths = dict(self.columns.widths)
        widths[col] = max(MIN_W, min(200, w + delta))
        self._change(widths=tuple(widths.items()))

    def action_column_wrap(self) -> None:
        col = self.column_id
        wrap = self.columns.wrap
        self._change(wrap=tuple(c for c in wrap if c != col) if col in wrap else (*wrap, col))

    # ---------------------------------------------------------------- movement
    @property
    def page_height(self) -> int:
        return max(1, self.scrollable_content_region.height // self.row_h)

    def _move(self, offset: int, *, center: bool = False) -> None:
        offset = max(0, min(offset, self.row_count - 1)) if self.row_count else 0
        h = self.page_height
        rh = self.row_h
        top = int(self.scroll_y) // rh
        if center and not (top <= offset < top + h):
            top = max(0, offset - h // 2)
        elif offset < top:
            top = offset
        elif offset >= top + h:
            top = offset - h + 1
        top = max(0, min(top, max(0, self.row_count - h)))
        if top * rh != int(self.scroll_y):
            self.scroll_to(y=top * rh, animate=False, immediate=True)
        self.cursor = offset

    def move_to(self, offset: int, *, center: bool = True) -> None:
        self._move(offset, center=center)

    def watch_cursor(self, old: int, new: int) -> None:
        # only the two rows whose cursor state changed (a scroll repaints everything anyway)
        rh = self.row_h
        self.refresh_lines(old * rh, rh)
        self.refresh_lines(new * rh, rh)
        self.post_message(self.Highlighted(self.current_row, new))

    def watch_column(self) -> None:
        self.refresh()
        self.post_message(self.Highlighted(self.current_row, self.cursor))

    def action_cursor_up(self) -> None:
        self._move(self.cursor - 1)

    def action_cursor_down(self) -> None:
        self._move(self.cursor + 1)

    def action_page_up(self) -> None:
        h, rh = self.page_height, self.row_h
        top = int(self.scroll_y) // rh
        self.scroll_to(y=max(0, top - h) * rh, animate=False, immediate=True)
        self._move(self.cursor - h)

    def action_page_down(self) -> None:
        h, rh = self.page_height, self.row_h
        top = int(self.scroll_y) // rh
        self.scroll_to(y=min(max(0, self.row_count - h), top + h) * rh, animate=False, immediate=True)
        self._move(self.cursor + h)

    def action_first(self) -> None:
        self._move(0)

    def action_last(self) -> None:
        self._move(self.row_count - 1)

    def action_column_left(self) -> None:
        self.column = max(0, self.column - 1)

    def action_column_right(self) -> None:
        self.column = min(len(self.columns.cols) - 1, self.column + 1)

    def action_open_event(self) -> None:
        row = self.current_row
        if row is not None:
            self.post_message(self.Selected(row))

    def on_click(self, event: events.Click) -> None:
        offset = (int(self.scroll_y) + event.y) // self.row_h
        if 0 <= offset < self.row_count:
            if offset == self.cursor and event.chain >= 2:
                self.action_open_event()
            self._move(offset)

    def on_resize(self, event: events.Resize) -> None:
        self.virtual_size = Size(self.size.width, self.row_count * self.row_h)
        self._move(self.cursor)

    # ---------------------------------------------------------------- rendering
    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style_cache = None

    def _on_focus(self, event: events.Focus) -> None:
        super()._on_focus(event)
        self.refresh()

    def _on_blur(self, event: events.Blur) -> None:
        super()._on_blur(event)
        self.refresh()

    def _styles(self) -> dict[str, Style]:
        """Rich styles of the component classes (computed once per style change, not per line)."""
        if self._style_cache is None:
            self._style_cache = {"base": self.rich_style}
            for name in ("cursor", "cell", "failure", "flag", "empty", "stale", "match", "tampered", "verified", "marker"):
                self._style_cache[name] = self.get_component_rich_style(f"event-list--{name}")
        return self._style_cache

    def integrity_of(self, event_id: int) -> str | None:
        """The event's integrity when the query knows it (a timeline with trust), else None."""
        lookup = getattr(self.query_, "integrity", None)
        return lookup(event_id) if lookup is not None else None

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        st = self._styles()
        base = st["base"]
        rh = self.row_h
        line = int(self.scroll_y) + y
        offset, sub = divmod(line, rh)
        if self.query_ is None or offset >= self.row_count:
            if y == 0 and self.row_count == 0:
                # before the first rows arrive say so, not "no events match"
                msg = self.loading_message if self.query_ is None or self.stale else self.empty_message
                return Strip([Segment(fit(" " + msg, width), base + st["empty"])]).adjust_cell_length(width, base)
            return Strip.blank(width, base)
        try:
            row = self.query_.row(offset)
        except Exception as exc:  # e.g. the database is locked by a writer: show it, retry on next paint
            msg = f" ({exc.__class__.__name__}: row {offset + 1} not readable now; Ctrl+R reloads)"
            return Strip([Segment(fit(msg, width), base + st["empty"])]).adjust_cell_length(width, base)
        if row is None:
            return Strip.blank(width, base)
        return self._render_row(row, offset == self.cursor, width, base, sub, rh)

    def _render_marker(self, row: TimelineRow, is_cursor: bool, width: int, base: Style) -> Strip:
        """A gap or logging-stopped interval: one rule across the list with what is missing."""
        st = self._styles()
        style = base + st["marker"] + (st["cursor"] if is_cursor else Style())
        text = f" {format_us(row.ts_us, precision='s')} ─── {getattr(row, 'marker', '')} ───"
        return Strip([Segment(fit("~ " + text, width), style)]).adjust_cell_length(width, style)

    def _render_row(self, row: TimelineRow, is_cursor: bool, width: int, base: Style, sub: int = 0,
                    rh: int = 1) -> Strip:
        if row.id < 0:
            return self._render_marker(row, is_cursor, width, base)
        lay = self.layout
        st = self._styles()
        style = base
        if row.outcome == "failure":
            style = style + st["failure"]
        if self.stale:
            style = style + st["stale"]
        integrity = self.integrity_of(row.id)
        if integrity == "tampered":
            style = style + st["tampered"]
        if is_cursor:
            style = style + st["cursor"]
        cell_style = style + st["cell"] if is_cursor and self.has_focus else style
        marked, annotated = self.flags.get((row.dedup, row.raw_sha256), (False, False))
        level = None if marked else self._hit(row.id)
        flag = "*" if marked else ("!" if level else ("+" if annotated else " "))
        if sub:
            flag, level = " ", None
        flag_style = style + st["flag"] if flag != " " else style
        if level:  # a Sigma rule matched: "!" in the level's colour
            flag_style = style + Style(color=HIT_COLOURS.get(level, "cyan"), bold=True)
        glyph = INTEGRITY_GLYPH.get(integrity or "unverified", " ")
        segs = [Segment(flag, flag_style),
                Segment(glyph, style + st["verified"] if integrity == "verified" else style)]
        for i, (col, w) in enumerate(zip(lay.cols, lay.widths)):
            field = FIELDS[col]
            segs.append(Segment(" ", style))
            cs = cell_style if i == self.column else style
            if col in self.columns.wrap and rh > 1:
                text = wrap_lines(cell_text(row, col), w, rh)[sub]
                spans = match_spans(text, [t for t in self.terms if t.kind != "value"]) if self.terms else []
            elif sub:
                segs.append(Segment(" " * w, cs))
                continue
            else:
                text = self.cell_display(row, col, w)
                spans = self.cell_matches(row, col, field, w) if self.terms else []
            if not spans:
                segs.append(Segment(text, cs))
                continue
            pos = 0
            for start, end in spans:
                if start > pos:
                    segs.append(Segment(text[pos:start], cs))
                segs.append(Segment(text[start:end], cs + st["match"]))
                pos = end
            if pos < len(text):
                segs.append(Segment(text[pos:], cs))
        return Strip(segs).adjust_cell_length(width, style)

    def cell_matches(self, row: TimelineRow, col: str, field: str | None, width: int) -> list[tuple[int, int]]:
        """Spans of the filter's matches in the cell as drawn *width* cells wide (cut at the ellipsis)."""
        shown = self.cell_display(row, col, width).rstrip()
        spans = match_spans(shown, [t for t in self.terms if t.kind != "value"])
        values = [t for t in self.terms if t.kind == "value"]
        if field is not None and values:
            full = cell_value(row, col)
            if match_spans(full, values, field=field):  # field:value terms mark the whole cell
                spans = [(0, len(shown))]
        return spans

    @staticmethod
    def cell_display(row: TimelineRow, col: str, width: int) -> str:
        """The cell as drawn: *width* cells, long values shortened in the middle."""
        text = cell_text(row, col, narrow=width < 10)
        if col in ("ts_us", "outcome", "format"):
            return fit(text, width)
        return fit_middle(text, width)

    def row_matches(self, row: TimelineRow) -> bool:
        """Whether a match of the filter shows in one of the row's cells."""
        lay = self.layout
        return any(self.cell_matches(row, col, FIELDS[col], w) for col, w in zip(lay.cols, lay.widths))

    def set_terms(self, terms: list[HighlightTerm]) -> None:
        self.terms = terms
        self.refresh()
