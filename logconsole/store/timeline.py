"""Paging the timeline: random access into a filtered, time-ordered event list.

The console shows events ordered by ``(ts_us, id)`` under the current filter.
It never holds all rows: :class:`TimelineQuery` answers "how many rows" and
"which rows are at offsets N..N+k" with keyset pages over the ``ix_events_ts``
index (``ts_us`` plus the implicit rowid, so the index covers the ordering).

How a page at offset N is found (``page_size`` rows per page, default 200):

* pages already fetched are kept in a small LRU cache (``cache_pages`` pages);
* every fetched page leaves an *anchor*: the ``(ts_us, id)`` key of its first
  row.  A page next to a cached page is read with a pure keyset condition
  (``(ts_us, id) > last key``, no OFFSET);
* otherwise the cheapest of four starting points is used: the nearest anchor
  before or after the page, the start of the list, or its end (reading
  backwards with ``ORDER BY ts_us DESC, id DESC``), and SQLite skips the
  remaining distance with OFFSET.  So Home/End/PgUp/PgDn cost one indexed
  read, and a jump to the middle of a million rows scans at most half the
  index once (measured: ~5-10 ms unfiltered, ~50-100 ms for a filter on an
  unindexed column, on a 2-core box; see ``benchmarks/bench_console.py``).
  For big results the console also calls :meth:`TimelineQuery.build_anchors`
  in the background: one window-function pass records an anchor every 1,000
  rows, after which any jump skips at most 1,000 index entries.

Nothing here imports Textual; the CLI and the TUI share it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Engine, and_, func, select, true, tuple_

from logconsole.store.schema import events

#: The columns a timeline row carries (what the list shows plus the keys the
#: console needs to find annotations).
ROW_COLUMNS = (
    events.c.id,
    events.c.ts_us,
    events.c.actor,
    events.c.action,
    events.c.resource,
    events.c.outcome,
    events.c.src_ip,
    events.c.format,
    events.c.service,
    events.c.dedup,
    events.c.raw_sha256,
)


class TimelineRow(NamedTuple):
    id: int
    ts_us: int
    actor: str | None
    action: str | None
    resource: str | None
    outcome: str | None
    src_ip: str | None
    format: str
    service: str | None
    dedup: int
    raw_sha256: str

    @property
    def key(self) -> tuple[int, int]:
        return (self.ts_us, self.id)


@dataclass
class PageStats:
    """Counters for tests and benchmarks."""

    queries: int = 0
    offset_rows_skipped: int = 0
    cache_hits: int = 0


def _key_col():
    return tuple_(events.c.ts_us, events.c.id)


class TimelineQuery:
    """Random access to ``events`` matching *where*, ordered by ``(ts_us, id)``.

    Thread-safe: the console counts in a worker thread and pages on the UI thread.
    """

    def __init__(
        self,
        engine: Engine,
        where: ColumnElement[bool] | None = None,
        *,
        page_size: int = 200,
        cache_pages: int = 32,
        known_count: int | None = None,
    ) -> None:
        self.engine = engine
        self.where = where if where is not None else true()
        self.page_size = page_size
        self.cache_pages = cache_pages
        self._count: int | None = known_count  # when the caller already counted
        self._pages: OrderedDict[int, list[TimelineRow]] = OrderedDict()
        self._anchors: dict[int, tuple[int, int]] = {}  # page index -> key of its first row
        self._lock = threading.RLock()
        self.stats = PageStats()

    # ------------------------------------------------------------------ counts
    def count(self) -> int:
        """Rows matching the filter (computed once, then cached)."""
        with self._lock:
            if self._count is None:
                with self.engine.connect() as conn:
                    self._count = int(
                        conn.execute(select(func.count()).select_from(events).where(self.where)).scalar_one()
                    )
            return self._count

    # ------------------------------------------------------------------ rows
    def row(self, offset: int) -> TimelineRow | None:
        """The row at *offset* (0-based) or None past the end."""
        if offset < 0:
            return None
        page = self.page(offset // self.page_size)
        i = offset % self.page_size
        return page[i] if i < len(page) else None

    def rows(self, offset: int, n: int) -> list[TimelineRow]:
        out: list[TimelineRow] = []
        off = max(0, offset)
        end = min(offset + n, self.count())
        while off < end:
            page = self.page(off // self.page_size)
            start = off % self.page_size
            take = page[start: start + (end - off)]
            if not take:
                break
            out.extend(take)
            off += len(take)
        return out

    def page(self, p: int) -> list[TimelineRow]:
        """Page *p* (rows ``p*page_size`` .. ``+page_size``)."""
        with self._lock:
            cached = self._pages.get(p)
            if cached is not None:
                self._pages.move_to_end(p)
                self.stats.cache_hits += 1
                return cached
            rows = self._fetch(p)
            self._pages[p] = rows
            if rows:
                self._anchors[p] = rows[0].key
            while len(self._pages) > self.cache_pages:
                self._pages.popitem(last=False)
            return rows

    def _fetch(self, p: int) -> list[TimelineRow]:
        ps = self.page_size
        total = self.count()
        start = p * ps
        if start >= total or p < 0:
            return []
        n = min(ps, total - start)
        key = _key_col()
        # Neighbours in the cache give an exact keyset with no OFFSET.
        prev = self._pages.get(p - 1)
        if prev and len(prev) == ps:
            return self._read(key > prev[-1].key, skip=0, n=n, forward=True)
        nxt = self._pages.get(p + 1)
        if nxt:
            return self._read(key < nxt[0].key, skip=0, n=n, forward=False)
        # Otherwise pick the cheapest starting point.
        best: tuple[int, Any, bool] = (start, None, True)  # (rows skipped, condition, forward)
        from_end = total - (start + n)
        if from_end < best[0]:
            best = (from_end, None, False)
        for q, akey in self._anchors.items():
            if q <= p:
                skip = (p - q) * ps
                if skip < best[0]:
                    best = (skip, key >= akey, True)
            else:
                skip = q * ps - (start + n)
                if skip < best[0]:
                    best = (skip, key < akey, False)
        skip, cond, forward = best
        return self._read(cond, skip=skip, n=n, forward=forward)

    def _read(self, cond, *, skip: int, n: int, forward: bool) -> list[TimelineRow]:
        where = self.where if cond is None else and_(self.where, cond)
        order = (events.c.ts_us, events.c.id) if forward else (events.c.ts_us.desc(), events.c.id.desc())
        stmt = select(*ROW_COLUMNS).where(where).order_by(*order).limit(n)
        if skip:
            stmt = stmt.offset(skip)
        with self.engine.connect() as conn:
            rows = [TimelineRow(*r) for r in conn.execute(stmt)]
        self.stats.queries += 1
        self.stats.offset_rows_skipped += skip
        if not forward:
            rows.reverse()
        return rows

    def build_anchors(self, every_pages: int = 5, min_rows: int = 50_000) -> int:
        """Record the key of every *every_pages*-th page start in one pass over the index.

        Afterwards any offset is at most ``every_pages * page_size`` rows from a
        known anchor, so scrollbar drags and jumps into the middle of millions of
        rows cost a short OFFSET instead of up to half the index.  One SQL pass
        (a window function, in SQLite's C code) - run it in a background thread.
        Skipped below *min_rows* (OFFSET is cheap there).  Returns anchors added.
        """
        n = self.count()
        if n < min_rows:
            return 0
        step = every_pages * self.page_size
        rn = func.row_number().over(order_by=(events.c.ts_us, events.c.id)).label("rn")
        inner = select(events.c.ts_us, events.c.id, rn).where(self.where).subquery()
        stmt = select(inner.c.rn, inner.c.ts_us, inner.c.id).where((inner.c.rn - 1) % step == 0)
        with self.engine.connect() as conn:
            found = {(int(r[0]) - 1) // self.page_size: (r[1], r[2]) for r in conn.execute(stmt)}
        with self._lock:
            before = len(self._anchors)
            self._anchors.update(found)
            return len(self._anchors) - before

    # ------------------------------------------------------------------ positions
    def offset_of_key(self, key: tuple[int, int]) -> int:
        """How many matching rows sort before *key* (= the offset of the first row >= key)."""
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(events).where(and_(self.where, _key_col() < tuple(key)))
                ).scalar_one()
            )

    def offsets_of_keys(self, keys: Sequence[tuple[int, int]]) -> list[int]:
        """:meth:`offset_of_key` of each of *keys* (in ascending order): one count per interval
        between two keys, so the events are counted once in all instead of once per key."""
        out: list[int] = []
        total = 0
        prev: tuple[int, int] | None = None
        with self.engine.connect() as conn:
            for key in keys:
                cond = _key_col() < tuple(key)
                if prev is not None:
                    if tuple(key) <= prev:  # the same key again (or out of order): no events between
                        out.append(total)
                        continue
                    cond = and_(cond, _key_col() >= prev)
                total += int(conn.execute(
                    select(func.count()).select_from(events).where(and_(self.where, cond))).scalar_one())
                out.append(total)
                prev = (key[0], key[1])
        return out

    def offset_of_time(self, ts_us: int) -> int:
        """Offset of the first row at or after *ts_us* (== count() when none)."""
        return self.offset_of_key((ts_us, -(2**62)))

    def offset_of_event(self, event_id: int) -> int | None:
        """Offset of event *event_id* under the filter, or None if it does not match."""
        with self.engine.connect() as conn:
            ts = conn.execute(
                select(events.c.ts_us).where(and_(self.where, events.c.id == event_id))
            ).scalar()
        if ts is None:
            return None
        return self.offset_of_key((ts, event_id))

    def neighbour_key(
        self, key: tuple[int, int], extra: ColumnElement[bool], *, forward: bool = True
    ) -> tuple[int, int] | None:
        """The first matching row also matching *extra* after (or before) *key*."""
        k = _key_col()
        cond = k > tuple(key) if forward else k < tuple(key)
        order = (events.c.ts_us, events.c.id) if forward else (events.c.ts_us.desc(), events.c.id.desc())
        with self.engine.connect() as conn:
            r = conn.execute(
                select(events.c.ts_us, events.c.id).where(and_(self.where, extra, cond)).order_by(*order).limit(1)
            ).first()
        return (r[0], r[1]) if r else None

    def invalidate(self) -> None:
        """Forget cached pages and the count (after an ingest added rows)."""
        with self._lock:
            self._count = None
            self._pages.clear()
            self._anchors.clear()


def total_events(engine: Engine) -> int:
    """All events in the index (the M of "N of M")."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(events)).scalar_one())


def time_bounds(engine: Engine, where: ColumnElement[bool] | None = None) -> tuple[int | None, int | None]:
    """(first ts_us, last ts_us) of the matching events."""
    w = where if where is not None else true()
    with engine.connect() as conn:
        lo = conn.execute(select(events.c.ts_us).where(w).order_by(events.c.ts_us).limit(1)).scalar()
        hi = conn.execute(select(events.c.ts_us).where(w).order_by(events.c.ts_us.desc()).limit(1)).scalar()
    return lo, hi
