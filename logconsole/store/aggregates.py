"""Aggregates over the event index: histogram buckets, facets, frequency tables.

Everything here is plain SQLAlchemy Core (no Textual): the console widgets call
these functions from workers, and headless commands can call them too.

``where`` is always a SQLAlchemy boolean expression over
:data:`logconsole.store.schema.events` (``compile_filter(text).where``, or
``sqlalchemy.true()`` for "everything").  The grouping is done by SQLite
(``GROUP BY`` on an integer bucket number or on the column), so nothing here
ever loads events into Python.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import case, func, literal, select, true
from sqlalchemy.sql.elements import ColumnElement, True_

from logconsole.store import dialect, schema

ev = schema.events

#: Columns that facets / frequency tables may group by, with their aliases.
FACET_COLUMNS: dict[str, str] = {
    name: name
    for name in (
        "actor", "action", "src_ip", "outcome", "resource", "service", "format", "error_code", "host",
        "account", "region", "actor_type", "actor_uid", "session", "target_user", "user_agent", "record_id",
    )
}
FACET_COLUMNS.update({"ip": "src_ip", "source_ip": "src_ip", "user": "actor", "error": "error_code"})

#: The facets the console shows by default, in order.
DEFAULT_FACETS = ("actor", "action", "src_ip", "outcome", "resource")

#: Human labels for columns.
LABELS = {
    "actor": "Actor", "action": "Action", "src_ip": "Source IP", "outcome": "Outcome", "resource": "Resource",
    "service": "Service", "format": "Format", "error_code": "Error code", "host": "Host", "account": "Account",
    "region": "Region", "actor_type": "Actor type", "actor_uid": "Actor ID", "session": "Session",
    "target_user": "Target user", "user_agent": "User agent", "record_id": "Record ID",
}

#: "Nice" bucket widths in µs, so that axis labels fall on round times.
_S = 1_000_000
NICE_WIDTHS = (
    1, 10, 100, 1_000, 10_000, 100_000,  # sub-second (rare, but tight zooms get there)
    _S, 2 * _S, 5 * _S, 10 * _S, 15 * _S, 30 * _S,
    60 * _S, 2 * 60 * _S, 5 * 60 * _S, 10 * 60 * _S, 15 * 60 * _S, 30 * 60 * _S,
    3600 * _S, 2 * 3600 * _S, 3 * 3600 * _S, 6 * 3600 * _S, 12 * 3600 * _S,
    86400 * _S, 2 * 86400 * _S, 7 * 86400 * _S, 14 * 86400 * _S, 30 * 86400 * _S,
    91 * 86400 * _S, 182 * 86400 * _S, 365 * 86400 * _S,
)


class Bucket(NamedTuple):
    """One histogram bucket: ``[start_us, start_us + width)``."""

    start_us: int
    success: int
    failure: int
    unknown: int

    @property
    def total(self) -> int:
        return self.success + self.failure + self.unknown


class FacetValue(NamedTuple):
    value: str | None  # None: the field is empty (NULL) on these events
    # the field shadows tuple.count on purpose (callers read .count; tests compare with tuples)
    count: int  # type: ignore[assignment]


@dataclass(frozen=True)
class FrequencyRow:
    value: str | None
    count: int
    percent: float  # of all matching events (NULLs included)


@dataclass(frozen=True)
class FrequencyPage:
    column: str
    total: int  # events matching ``where``
    distinct: int  # distinct values (NULL counts as one value)
    offset: int
    rows: list[FrequencyRow]
    max_count: int  # the largest count of any value (for bar scaling)


def column_for(name: str) -> ColumnElement:
    """The events column for a facet name (``actor``, ``ip``, ...); ``KeyError`` if not groupable."""
    try:
        return ev.c[FACET_COLUMNS[name]]
    except KeyError:
        raise KeyError(f"cannot group by {name!r}; choose one of {', '.join(sorted(set(FACET_COLUMNS.values())))}") from None


def canonical_column(name: str) -> str:
    column_for(name)
    return FACET_COLUMNS[name]


def _where(where) -> ColumnElement:
    return true() if where is None else where


def is_everything(where) -> bool:
    """True for "no filter" (``None`` or ``sqlalchemy.true()``)."""
    return where is None or isinstance(where, True_)


def _group_col(name: str, where):
    """The column to group by.

    Without a filter, grouping on an indexed column walks its (covering) index.
    With a filter that index walk turns into a random table lookup per event
    (7x slower at 1M events), so the column is kept out of index choice
    (:func:`logconsole.store.dialect.no_index`); the engine then scans (or uses
    the filter's own index) and sorts the groups.
    """
    col = ev.c[name]
    if is_everything(where):
        return col
    return dialect.no_index(col)


# ------------------------------------------------------------------ caching
#
# Facets and histograms of an unchanged index do not change: going back up the
# drill-down stack, or re-opening a frequency table, is answered from memory
# (only for filters over the events themselves, see :func:`_cacheable`).
# The key is the database, its newest event id and source count (an ingest
# changes them; both are O(1) lookups) and the compiled statement with its
# parameters.

_CACHE: OrderedDict = OrderedDict()
_CACHE_MAX = 128
_CACHE_LOCK = threading.Lock()


def _data_version(conn) -> tuple:
    max_id = conn.execute(select(func.max(ev.c.id))).scalar()
    n_sources = conn.execute(select(func.count()).select_from(schema.sources)).scalar()
    return (str(conn.engine.url), max_id, n_sources)


#: Tables that change only when events are ingested (the version key covers them).
#: (``meta``: free text reads the full-text watermark, which changes where an answer comes
#: from - the index or a scan - never the answer)
_STABLE_TABLES = {"events", "sources", "events_fts", "fts_terms", "meta"}


def _cacheable(stmt) -> bool:
    """Only statements over events/sources are cached: a filter on marks, tags or findings
    (other tables, changed by the investigator at any time) is always recounted."""
    from sqlalchemy.sql.util import find_tables

    try:
        tables = find_tables(stmt, check_columns=True, include_aliases=False, include_joins=False)
    except Exception:  # pragma: no cover - unusual constructs: do not cache
        return False
    from sqlalchemy.sql.expression import TableClause

    # subqueries and aliases are walked into by find_tables: only real tables matter
    return all(t.name in _STABLE_TABLES for t in tables if isinstance(t, TableClause))


def _cached_rows(conn, stmt) -> list:
    if not _cacheable(stmt):
        return conn.execute(stmt).all()
    compiled = stmt.compile(dialect=conn.dialect)
    try:
        key = (_data_version(conn), str(compiled), tuple(sorted(compiled.params.items())))
        hash(key)
    except TypeError:  # an unhashable parameter: do not cache
        return conn.execute(stmt).all()
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    rows = conn.execute(stmt).all()
    with _CACHE_LOCK:
        _CACHE[key] = rows
        while len(_CACHE) > _CACHE_MAX:
            _CACHE.popitem(last=False)
    return rows


def clear_cache() -> None:
    with _CACHE_LOCK:
        _CACHE.clear()


# --------------------------------------------------------------------- time


def time_bounds(conn, where=None) -> tuple[int, int] | None:
    """``(first_ts_us, last_ts_us)`` of the matching events, or None when nothing matches.

    Two separate queries so SQLite can answer each from an index edge
    (its min/max optimisation applies only to a lone aggregate).
    """
    w = _where(where)
    lo = conn.execute(select(func.min(ev.c.ts_us)).where(w)).scalar()
    if lo is None:
        return None
    hi = conn.execute(select(func.max(ev.c.ts_us)).where(w)).scalar()
    return int(lo), int(hi)


def nice_width(span_us: int, buckets: int) -> int:
    """The smallest "round" bucket width so that *span_us* fits in *buckets* buckets."""
    buckets = max(1, buckets)
    raw = max(1, math.ceil(max(1, span_us) / buckets))
    for w in NICE_WIDTHS:
        if w >= raw:
            return w
    years = math.ceil(raw / NICE_WIDTHS[-1])
    return years * NICE_WIDTHS[-1]


def plan_buckets(start_us: int, end_us: int, max_buckets: int) -> tuple[int, int, int]:
    """Align ``[start_us, end_us]`` to round buckets: returns ``(aligned_start, width, count)``.

    *end_us* is inclusive (the last event's time), the result covers it.
    ``count <= max_buckets``.
    """
    max_buckets = max(1, max_buckets)
    if end_us < start_us:
        start_us, end_us = end_us, start_us
    span = end_us - start_us + 1
    width = nice_width(span, max_buckets)
    while True:
        aligned = start_us - (start_us % width)
        count = (end_us - aligned) // width + 1
        if count <= max_buckets:
            return aligned, width, int(count)
        # alignment pushed us over by one bucket: take the next nice width
        width = nice_width(width * max_buckets + 1, max_buckets)


def histogram(conn, where, start_us: int, end_us: int, buckets: int, *, width: int | None = None) -> list[Bucket]:
    """Event counts per time bucket, split by outcome, for ``[start_us, end_us)``.

    The range is cut into *buckets* equal buckets of ``width`` µs (by default
    ``ceil((end-start)/buckets)``); every bucket is returned, empty ones as zeros.
    The counting is one ``GROUP BY (ts_us - start) / width`` in SQLite.
    """
    buckets = max(1, int(buckets))
    if end_us <= start_us:
        end_us = start_us + 1
    if width is None:
        width = max(1, math.ceil((end_us - start_us) / buckets))
    width = int(width)
    b = ((ev.c.ts_us - literal(start_us)) // literal(width)).label("b")  # integer division in SQLite
    in_range = (ev.c.ts_us >= start_us, ev.c.ts_us < end_us)
    out = [Bucket(start_us + i * width, 0, 0, 0) for i in range(buckets)]
    if is_everything(where):
        # No filter: totals from the time index alone, failures and unknowns
        # from the (outcome, time) index; successes are the rest.  Both scans
        # are index-only, no table row is read.
        totals = _cached_rows(conn, select(b, func.count()).where(*in_range).group_by(b))
        split = _cached_rows(
            conn,
            select(b, ev.c.outcome, func.count())
            .where(ev.c.outcome.in_(("failure", "unknown")), *in_range)
            .group_by(ev.c.outcome, b),
        )
        per: dict[int, list[int]] = {}
        for idx, n in totals:
            per[idx] = [int(n), 0, 0]
        for idx, outcome, n in split:
            per.setdefault(idx, [0, 0, 0])[1 if outcome == "failure" else 2] += int(n)
        for idx, (n, fail, unk) in per.items():
            if 0 <= idx < buckets:
                out[idx] = Bucket(start_us + idx * width, n - fail - unk, fail, unk)
        return out
    stmt = (
        select(
            b,
            func.sum(case((ev.c.outcome == "success", 1), else_=0)),
            func.sum(case((ev.c.outcome == "failure", 1), else_=0)),
            func.count(),
        )
        .where(_where(where))
        .where(*in_range)
        .group_by(b)
    )
    for idx, succ, fail, n in _cached_rows(conn, stmt):
        if 0 <= idx < buckets:
            succ, fail = int(succ or 0), int(fail or 0)
            out[idx] = Bucket(start_us + idx * width, succ, fail, int(n) - succ - fail)
    return out


# ------------------------------------------------------------------- facets


def count(conn, where=None) -> int:
    return int(conn.execute(select(func.count()).select_from(ev).where(_where(where))).scalar_one())


def facet(conn, where, column: str, limit: int = 10) -> list[FacetValue]:
    """The *limit* most frequent values of *column* among matching events (ties by value)."""
    return [FacetValue(r.value, r.count) for r in frequency(conn, where, column, limit, 0).rows]


def _grouped(where, name: str):
    """``SELECT k, v, n``: one row per distinct value of *name* among matching events.

    ``k`` is the grouping key, ``v`` the text when it is known without a lookup.
    Source IPs are grouped on the indexed 16-byte ``src_ip_key`` (so SQLite
    walks the index, not the table) and mapped back to their text afterwards,
    only for the rows of the page; values that are not addresses (CloudTrail's
    ``cloudtrail.amazonaws.com``, host names) have no key and are grouped on
    their text.
    """
    w = _where(where)
    if name == "src_ip":
        key = _group_col("src_ip_key", where)
        by_key = (
            select(key.label("k"), literal(None).label("v"), func.count().label("n"))
            .select_from(ev)
            .where(w, ev.c.src_ip_key.is_not(None))
            .group_by(key)
        )
        text_col = _group_col("src_ip", where)
        by_text = (
            select(literal(None).label("k"), text_col.label("v"), func.count().label("n"))
            .select_from(ev)
            .where(w, ev.c.src_ip_key.is_(None))
            .group_by(text_col)
        )
        return by_key.union_all(by_text).subquery("g")
    col = _group_col(name, where)
    return (
        select(col.label("k"), col.label("v"), func.count().label("n"))
        .select_from(ev)
        .where(w)
        .group_by(col)
        .subquery("g")
    )


def frequency(conn, where, column: str, limit: int = 100, offset: int = 0) -> FrequencyPage:
    """A page of the frequency table of *column*: values by descending count.

    Returns the total number of matching events, the number of distinct values
    (an empty field counts as one value, shown as None) and, per value, its
    count and percentage of the matching events.  One SQL statement: a
    ``GROUP BY`` with window functions for the totals; ties are broken by value
    (addresses in numeric order), empty (None) last.
    """
    name = canonical_column(column)
    limit = max(0, int(limit))
    offset = max(0, int(offset))
    g = _grouped(where, name)
    page = (
        select(
            g.c.k, g.c.v, g.c.n,
            func.count().over().label("distinct"),
            func.sum(g.c.n).over().label("total"),
            func.max(g.c.n).over().label("maxn"),
        )
        .order_by(g.c.n.desc(), g.c.k.is_(None), g.c.k.asc(), g.c.v.is_(None), g.c.v.asc())
        .limit(max(1, limit))
        .offset(offset)
        .subquery("p")
    )
    if name == "src_ip":
        lookup = select(ev.c.src_ip).where(ev.c.src_ip_key == page.c.k).limit(1).scalar_subquery()
        value: ColumnElement[Any] = case((page.c.k.is_(None), page.c.v), else_=lookup)
    else:
        value = page.c.v
    stmt = select(value.label("value"), page.c.n, page.c.distinct, page.c.total, page.c.maxn).order_by(
        page.c.n.desc(), page.c.k.is_(None), page.c.k.asc(), page.c.v.is_(None), page.c.v.asc()
    )
    rows = _cached_rows(conn, stmt)
    if not rows:
        if offset == 0:
            return FrequencyPage(name, 0, 0, 0, [], 0)
        first = frequency(conn, where, name, 1, 0)  # past the end: still report the totals
        return FrequencyPage(name, first.total, first.distinct, offset, [], first.max_count)
    total, distinct, maxn = int(rows[0].total), int(rows[0].distinct), int(rows[0].maxn)
    out = [
        FrequencyRow(r.value, int(r.n), (100.0 * int(r.n) / total) if total else 0.0)
        for r in (rows if limit else [])
    ]
    return FrequencyPage(name, total, distinct, offset, out, maxn)


def facets(conn, where, columns=DEFAULT_FACETS, limit: int = 5) -> dict[str, list[FacetValue]]:
    """Top values for several columns at once."""
    return {c: facet(conn, where, c, limit) for c in columns}


# ---------------------------------------------------------------- drill-down

#: events column -> the filter language's field name (``logconsole.store.filter``).
FILTER_FIELD = {
    "src_ip": "ip", "error_code": "error", "target_user": "target", "user_agent": "ua", "record_id": "record",
}


def filter_field(column: str) -> str:
    name = canonical_column(column)
    return FILTER_FIELD.get(name, name)


def quote_filter_value(value: str) -> str:
    """Always-quoted filter value: ``"..."`` with ``\\`` and ``"`` backslash-escaped (exact, no wildcards)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def drill_term(column: str, value: str | None) -> str:
    """The filter term selecting events whose *column* equals *value*.

    ``drill_term("actor", 'arn:aws:iam::1:user/x') == 'actor:"arn:aws:iam::1:user/x"'``;
    an empty field (None) becomes ``-actor:*`` (events where it is absent).
    """
    f = filter_field(column)
    if value is None:
        return f"-{f}:*"
    return f"{f}:{quote_filter_value(value)}"


# ------------------------------------------------------- background queries
#
# The console runs these aggregates while the investigator works: they must
# never slow down the timeline.  They go to ONE low-priority thread (so they
# queue instead of competing with each other for the 2 cores), and a query
# whose answer is no longer wanted (the filter changed again) is interrupted
# inside the engine (``dialect.interrupt``) instead of running to the end.

import os  # noqa: E402
from concurrent.futures import Future, ThreadPoolExecutor  # noqa: E402

#: How much nicer (Linux ``setpriority`` on the thread) the analytics thread is.
BACKGROUND_NICENESS = 10


class Interrupted(Exception):
    """The background query was cancelled before or while it ran."""


def _lower_priority() -> None:
    try:  # Linux: a thread is a task and has its own nice value
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + BACKGROUND_NICENESS))
    except (AttributeError, OSError):  # pragma: no cover - other platforms: plain priority
        pass


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="logconsole-aggregates",
                                       initializer=_lower_priority)
        return _POOL


class Job:
    """One background aggregate: ``future`` holds the result; :meth:`cancel` interrupts it."""

    def __init__(self, engine, fn) -> None:
        self._engine = engine
        self._fn = fn
        self._lock = threading.Lock()
        self._cancelled = False
        self._dbapi = None
        self.future: Future = _pool().submit(self._run)

    def _run(self):
        with self._lock:
            if self._cancelled:
                raise Interrupted()
        with self._engine.connect() as conn:
            with self._lock:
                if self._cancelled:
                    raise Interrupted()
                self._dbapi = conn.connection.dbapi_connection
            try:
                return self._fn(conn)
            except Exception as exc:
                if self._cancelled and dialect.of(self._engine).is_interrupt(exc):
                    raise Interrupted() from None
                raise
            finally:
                with self._lock:
                    self._dbapi = None

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            if self._dbapi is not None:
                try:
                    dialect.of(self._engine).interrupt(self._dbapi)
                except Exception:  # pragma: no cover - already closed
                    pass
        self.future.cancel()


def submit(engine, fn) -> Job:
    """Run ``fn(conn)`` on the low-priority aggregates thread; returns a :class:`Job`."""
    return Job(engine, fn)
