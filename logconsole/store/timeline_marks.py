"""The timeline with trust: each event's integrity and marker rows where records are missing or
logging was stopped.

:class:`MarkedTimelineQuery` is a :class:`~logconsole.store.timeline.TimelineQuery` whose
rows also include a :class:`MarkerRow` for every gap (``integrity_gaps``) at its place:
before the record that follows a deletion, at the event that stopped logging.  Gaps are
few, so each keeps its position in the merged list (events before its key under the
filter, plus the markers before it) and an offset maps to an event offset by subtracting
the markers before it; the event pages stay the keyset pages of the base class.

A gap tied to an event (the record after a deletion, the ``StopLogging`` call) is shown
when that event matches the filter; a gap tied to no event (a deleted CloudTrail log
file) only on the unfiltered timeline.  :meth:`MarkedTimelineQuery.integrity` answers
``verified`` / ``tampered`` / ``unverified`` for the rows of the pages read.
"""

from __future__ import annotations

import bisect
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Engine, True_, and_, select

from logconsole.store.integrity_schema import integrity_gaps
from logconsole.store.schema import events
from logconsole.store.timeline import TimelineQuery, TimelineRow
from logconsole.store.trust import integrity_of


class MarkerRow(NamedTuple):
    """A row that is not an event: where records are missing or logging was stopped."""

    id: int  # minus the gap id
    ts_us: int
    actor: str | None
    action: str | None  # the marker text
    resource: str | None
    outcome: str | None
    src_ip: str | None
    format: str
    service: str | None
    dedup: int
    raw_sha256: str
    marker: str  # the marker text
    kind: str  # deleted | truncated | seq_gap | missing_file | logging_stopped | trail_deleted | log_cleared
    detail: str
    event_id: int | None

    @property
    def key(self) -> tuple[int, int]:
        return (self.ts_us, self.id)


def marker_text(g: Any) -> str:
    """``3 records deleted here (audit.jsonl)``, ``CloudTrail logging stopped until ...``."""
    from logconsole.util.timeparse import format_us

    name = (g.file or "").rsplit("/", 1)[-1]
    where = f" ({name})" if name else ""
    n = g.missing
    if g.kind == "deleted":
        what = f"{n} record{'s' if n != 1 else ''} deleted here" if n else "records deleted here"
        if g.target_id is not None and not n and name.endswith(".json.gz"):
            what = "log file deleted here"
        return what + where
    if g.kind == "truncated":
        return (f"{n} record{'s' if n != 1 else ''} cut from the end here" if n else "records cut from the end here") + where
    if g.kind == "seq_gap":
        return (f"{n} sequence number{'s' if n != 1 else ''} missing here" if n else "sequence numbers missing here") + where
    if g.kind == "missing_file":
        return f"a file of the log is missing here{where}"
    until = f" until {format_us(g.end_us)}" if g.end_us else " (not restarted)"
    if g.kind == "trail_deleted":
        return f"CloudTrail trail deleted{until}"
    if g.kind == "log_cleared":
        return "audit log cleared here: earlier records are gone"
    return f"logging stopped{until}"


class MarkedTimelineQuery(TimelineQuery):
    """Events plus marker rows, and each event's integrity (see the module docstring)."""

    def __init__(self, engine: Engine, where: ColumnElement[bool] | None = None, **kw: Any) -> None:
        super().__init__(engine, where, **kw)
        self._marks: list[tuple[int, MarkerRow]] | None = None  # (merged offset, row), in order
        self._integrity: dict[int, str] = {}
        self._events_only = False  # while the base class pages events, count() counts events

    # ---------------------------------------------------------------- markers
    def _marker_list(self) -> list[tuple[int, MarkerRow]]:
        with self._lock:
            if self._marks is not None:
                return self._marks
            unfiltered = isinstance(self.where, True_)
            with self.engine.connect() as conn:
                gaps = list(conn.execute(select(integrity_gaps).order_by(integrity_gaps.c.start_us,
                                                                         integrity_gaps.c.id)))
                tied = [g.event_id for g in gaps if g.event_id is not None]
                visible: set[int] = set()
                for k in range(0, len(tied), 500):
                    visible.update(r[0] for r in conn.execute(
                        select(events.c.id).where(and_(self.where, events.c.id.in_(tied[k:k + 500])))))
            rows = []
            for g in gaps:
                if (g.event_id is not None and g.event_id in visible) or (g.event_id is None and unfiltered):
                    text = marker_text(g)
                    rows.append(MarkerRow(-g.id, g.start_us, None, text, None, None, None, "marker", None, 0, "",
                                          text, g.kind, g.detail, g.event_id))
            rows.sort(key=lambda r: r.key)
            out = []
            offsets = super().offsets_of_keys([m.key for m in rows])  # one pass, not a count per marker
            for i, m in enumerate(rows):
                out.append((offsets[i] + i, m))
            self._marks = out
            return out

    def markers(self) -> list[MarkerRow]:
        return [m for _o, m in self._marker_list()]

    def event_count(self) -> int:
        """The events alone (what the status bar counts)."""
        return super().count()

    def count(self) -> int:
        if self._events_only:
            return super().count()
        return super().count() + len(self._marker_list())

    def _fetch(self, p: int) -> list[TimelineRow]:
        with self._lock:  # page() holds it already (re-entrant): the flag is this thread's
            self._events_only = True
            try:
                return super()._fetch(p)
            finally:
                self._events_only = False

    def row(self, offset: int) -> TimelineRow | None:
        if offset < 0:
            return None
        marks = self._marker_list()
        offsets = [o for o, _m in marks]
        i = bisect.bisect_left(offsets, offset)
        if i < len(marks) and offsets[i] == offset:
            return marks[i][1]  # type: ignore[return-value]
        return super().row(offset - i)

    def rows(self, offset: int, n: int) -> list[TimelineRow]:
        out = []
        for off in range(max(0, offset), min(offset + n, self.count())):
            r = self.row(off)
            if r is None:
                break
            out.append(r)
        return out

    def offset_of_key(self, key: tuple[int, int]) -> int:
        before = sum(1 for _o, m in self._marker_list() if m.key < tuple(key))
        return super().offset_of_key(key) + before

    # ---------------------------------------------------------------- integrity
    def _read(self, cond, *, skip: int, n: int, forward: bool) -> list[TimelineRow]:
        rows = super()._read(cond, skip=skip, n=n, forward=forward)
        if rows:
            ids = [r.id for r in rows]
            with self.engine.connect() as conn:
                pairs = list(conn.execute(select(events.c.id, events.c.source_id).where(events.c.id.in_(ids))))
                found = integrity_of(conn, [(i, s) for i, s in pairs])
            with self._lock:
                self._integrity.update(found)
        return rows

    def integrity(self, event_id: int) -> str | None:
        """``verified`` / ``tampered`` / ``unverified`` of an event on a page read, else None."""
        return self._integrity.get(event_id)

    def invalidate(self) -> None:
        super().invalidate()
        with self._lock:
            self._marks = None
            self._integrity.clear()
