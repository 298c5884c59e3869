"""Findings: what the investigator concluded, and the events that prove it.  No Textual here.

A finding has an id, a title, a severity (``info``/``low``/``medium``/``high``/
``critical``), a narrative (Markdown typed by the investigator), a position (the
order the investigator gave the findings) and its events, which are the union of

* **attached events** (``finding_events``): e.g. the events marked in the
  timeline when the finding was made.  Like annotations, they are keyed by
  the event's content ``(dedup, raw_sha256)``, not by ``events.id``, so a
  finding survives re-ingesting its files; ``event_id`` is a hint only;
* **a saved filter** (``findings.query``): all events matching it, evaluated
  when the finding is read.  ``query_now_us`` pins "now" for relative times
  (``since:24h``) to the moment the finding was made, so the same finding
  always means the same events.

Tables: ``findings``, ``finding_events``.  The API below takes a connection
(writes: inside ``engine.begin()``).  Filter field ``finding:N`` (events of
finding N; ``finding:*`` events of any finding) is registered with the filter
language on import.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy import Engine, event
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from logconsole.store.schema import events, metadata, sources

SEVERITIES = ("info", "low", "medium", "high", "critical")
#: most severe first
SEVERITY_RANK = {s: i for i, s in enumerate(reversed(SEVERITIES))}

findings = Table(
    "findings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("position", Integer, nullable=False),
    Column("title", Text, nullable=False),
    Column("severity", String, nullable=False, default="medium"),
    Column("narrative", Text),
    Column("query", Text),  # a filter (logconsole.store.filter); None: attached events only
    Column("query_now_us", BigInteger),  # "now" for relative times in the query
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
)

finding_events = Table(
    "finding_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("finding_id", Integer, ForeignKey("findings.id", ondelete="CASCADE"), nullable=False),
    Column("dedup", BigInteger, nullable=False),
    Column("raw_sha256", String(64), nullable=False),
    Column("event_id", Integer),  # hint: events.id when attached
    Column("added_us", BigInteger, nullable=False),
    UniqueConstraint("finding_id", "dedup", "raw_sha256", name="uq_finding_events"),
    Index("ix_finding_events_key", "dedup", "raw_sha256"),
)


class FindingError(ValueError):
    """A finding request that cannot be carried out (unknown id, bad severity, bad query)."""


def _now_us() -> int:
    return int(time.time() * 1_000_000)


def check_severity(sev: str) -> str:
    s = (sev or "").strip().lower()
    if s not in SEVERITIES:
        raise FindingError(f"severity must be one of {', '.join(SEVERITIES)}, not {sev!r}")
    return s


def check_title(title: str) -> str:
    t = " ".join((title or "").split())
    if not t:
        raise FindingError("a finding needs a title")
    if len(t) > 300:
        raise FindingError("title longer than 300 characters")
    return t


def check_query(query: str | None, now_us: int | None = None):
    """Compile *query* (raises FindingError with the position on a bad filter)."""
    from logconsole.store.filter import FilterError, compile_filter

    try:
        return compile_filter(query, now_us=now_us)
    except FilterError as exc:
        raise FindingError(f"query: {exc}") from None


# ------------------------------------------------------------------ writes
def create_finding(
    conn,
    title: str,
    *,
    severity: str = "medium",
    narrative: str | None = None,
    query: str | None = None,
    event_ids: list[int] | None = None,
    now_us: int | None = None,
) -> int:
    """Create a finding; returns its id.  *event_ids* are attached by content key."""
    title = check_title(title)
    severity = check_severity(severity)
    now = now_us if now_us is not None else _now_us()
    query = (query or "").strip() or None
    if query is not None:
        check_query(query, now)
    pos = (conn.execute(select(func.max(findings.c.position))).scalar() or 0) + 1
    fid = conn.execute(
        insert(findings).values(
            position=pos, title=title, severity=severity, narrative=(narrative or "").strip() or None,
            query=query, query_now_us=now if query else None, created_us=now, updated_us=now,
        )
    ).inserted_primary_key[0]
    if event_ids:
        attach_events(conn, fid, event_ids)
    return fid


def update_finding(
    conn,
    finding_id: int,
    *,
    title: str | None = None,
    severity: str | None = None,
    narrative: str | None = None,
    query: str | None = None,
    clear_query: bool = False,
) -> None:
    get_finding_row(conn, finding_id)
    vals: dict[str, Any] = {"updated_us": _now_us()}
    if title is not None:
        vals["title"] = check_title(title)
    if severity is not None:
        vals["severity"] = check_severity(severity)
    if narrative is not None:
        vals["narrative"] = narrative.strip() or None
    if clear_query:
        vals["query"] = None
        vals["query_now_us"] = None
    elif query is not None:
        q = query.strip() or None
        now = _now_us()
        if q is not None:
            check_query(q, now)
        vals["query"] = q
        vals["query_now_us"] = now if q else None
    conn.execute(update(findings).where(findings.c.id == finding_id).values(**vals))


def delete_finding(conn, finding_id: int) -> None:
    get_finding_row(conn, finding_id)
    conn.execute(delete(finding_events).where(finding_events.c.finding_id == finding_id))
    conn.execute(delete(findings).where(findings.c.id == finding_id))
    _renumber(conn)


def _renumber(conn) -> None:
    ids = [r[0] for r in conn.execute(select(findings.c.id).order_by(findings.c.position, findings.c.id))]
    for i, fid in enumerate(ids, start=1):
        conn.execute(update(findings).where(findings.c.id == fid).values(position=i))


def move_finding(conn, finding_id: int, new_position: int) -> None:
    """Move a finding to 1-based *new_position* (clamped); the others keep their order."""
    get_finding_row(conn, finding_id)
    ids = [r[0] for r in conn.execute(select(findings.c.id).order_by(findings.c.position, findings.c.id))]
    ids.remove(finding_id)
    pos = max(1, min(new_position, len(ids) + 1))
    ids.insert(pos - 1, finding_id)
    for i, fid in enumerate(ids, start=1):
        conn.execute(update(findings).where(findings.c.id == fid).values(position=i))


def attach_events(conn, finding_id: int, event_ids: list[int]) -> int:
    """Attach events (by id) to a finding; returns how many were new."""
    get_finding_row(conn, finding_id)
    ids = sorted({int(i) for i in event_ids})
    found: dict[int, tuple[int, str]] = {}
    for i in range(0, len(ids), 900):
        for r in conn.execute(
            select(events.c.id, events.c.dedup, events.c.raw_sha256).where(events.c.id.in_(ids[i:i + 900]))
        ):
            found[r.id] = (r.dedup, r.raw_sha256)
    missing = [i for i in ids if i not in found]
    if missing:
        shown = ", ".join(str(m) for m in missing[:10])
        raise FindingError(f"no event with id {shown}" + (" ..." if len(missing) > 10 else ""))
    now = _now_us()
    added = 0
    for eid in ids:
        dedup, sha = found[eid]
        res = conn.execute(
            sqlite_insert(finding_events)
            .values(finding_id=finding_id, dedup=dedup, raw_sha256=sha, event_id=eid, added_us=now)
            .on_conflict_do_nothing()
        )
        added += res.rowcount or 0
    return added


def detach_events(conn, finding_id: int, event_ids: list[int]) -> int:
    """Detach events (by current id); returns how many were removed."""
    get_finding_row(conn, finding_id)
    removed = 0
    for r in conn.execute(select(events.c.dedup, events.c.raw_sha256).where(events.c.id.in_(list(event_ids)))).all():
        res = conn.execute(
            delete(finding_events).where(
                finding_events.c.finding_id == finding_id,
                finding_events.c.dedup == r.dedup,
                finding_events.c.raw_sha256 == r.raw_sha256,
            )
        )
        removed += res.rowcount or 0
    return removed


# ------------------------------------------------------------------ reads
def get_finding_row(conn, finding_id: int) -> dict[str, Any]:
    r = conn.execute(select(findings).where(findings.c.id == finding_id)).first()
    if r is None:
        raise FindingError(f"no finding {finding_id} (see `logconsole finding list`)")
    return dict(r._mapping)


def _attached_clause(finding_id: int | None):
    """events.id IN (events attached to the finding / to any finding)."""
    e2 = events.alias("fe_ev")
    j = finding_events.join(e2, and_(e2.c.dedup == finding_events.c.dedup, e2.c.raw_sha256 == finding_events.c.raw_sha256))
    q = select(e2.c.id).select_from(j)
    if finding_id is not None:
        q = q.where(finding_events.c.finding_id == finding_id)
    return events.c.id.in_(q)


def finding_where(row: dict[str, Any]):
    """The SQLAlchemy condition selecting a finding's events (attached OR its query).

    A saved filter that no longer compiles (e.g. a field was renamed since) does
    not break readers: the finding keeps its attached events and
    ``row["query_error"]`` says why the filter was left out.
    """
    parts = [_attached_clause(row["id"])]
    if row.get("query"):
        try:
            parts.append(check_query(row["query"], row.get("query_now_us")).where)
        except FindingError as exc:
            row["query_error"] = str(exc)
    return or_(*parts)


def finding_event_ids(conn, finding_id: int) -> list[int]:
    """Current event ids of a finding in report order (time, source path, line, record index, sha)."""
    row = get_finding_row(conn, finding_id)
    q = (
        select(events.c.id)
        .select_from(events.join(sources, sources.c.id == events.c.source_id))
        .where(finding_where(row))
        .order_by(*REPORT_ORDER)
    )
    return [r[0] for r in conn.execute(q)]


#: deterministic event order for findings and reports: (time, source, record)
REPORT_ORDER = (events.c.ts_us, sources.c.path, events.c.line, events.c.rec_index, events.c.raw_sha256, events.c.id)


def missing_attached(conn, finding_id: int) -> int:
    """Attached events whose record is no longer in the index."""
    e2 = events.alias("fe_ev2")
    j = finding_events.outerjoin(e2, and_(e2.c.dedup == finding_events.c.dedup, e2.c.raw_sha256 == finding_events.c.raw_sha256))
    return conn.execute(
        select(func.count()).select_from(j).where(finding_events.c.finding_id == finding_id, e2.c.id.is_(None))
    ).scalar_one()


def list_findings(conn, *, with_counts: bool = True) -> list[dict[str, Any]]:
    """Every finding in the investigator's order, with ``events`` (count), ``attached``, ``first_us``/``last_us``."""
    rows = [dict(r._mapping) for r in conn.execute(select(findings).order_by(findings.c.position, findings.c.id))]
    if with_counts:
        for d in rows:
            where = finding_where(d)
            cnt, first, last = conn.execute(
                select(func.count(), func.min(events.c.ts_us), func.max(events.c.ts_us)).where(where)
            ).one()
            d["events"] = cnt
            d["first_us"] = first
            d["last_us"] = last
            d["attached"] = conn.execute(
                select(func.count()).select_from(finding_events).where(finding_events.c.finding_id == d["id"])
            ).scalar_one()
            d["missing"] = missing_attached(conn, d["id"])
    return rows


def severity_sorted(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Most severe first, then the investigator's order."""
    return sorted(rows, key=lambda d: (SEVERITY_RANK.get(d["severity"], 99), d["position"], d["id"]))


# ------------------------------------------------------------------ filter field
def register_filter_fields() -> bool:
    """Register ``finding:N`` with the filter language (idempotent; see annotations.py)."""
    import sys

    mod = sys.modules.get("logconsole.store.filter")
    if mod is not None and not hasattr(mod, "register_field"):
        return False
    from logconsole.store import filter as flt

    if "finding" not in flt.FIELDS:
        flt.register_field("finding", _build_finding_field, "events of a finding (finding:3), attached or by its query")
    return True


def _build_finding_field(v, ctx):
    """``finding:N``: the events attached to finding N or matching its saved query.

    Attached events are a subquery; the saved query is compiled in when a
    resolver is installed (:func:`install_resolver`, done by the CLI commands
    and the findings screen when they open an index), since compiling a filter
    has no connection of its own."""
    from logconsole.store.filter import FilterError

    s = v.text.strip()
    if s == "*" and not v.quoted:
        parts = [_attached_clause(None)]
        resolver = QUERY_RESOLVER[0]
        for q, now in (resolver(None) or []) if resolver is not None else []:
            try:
                parts.append(check_query(q, now).where)
            except FindingError:
                pass
        return or_(*parts)
    try:
        fid = int(s)
    except ValueError:
        raise FilterError(f"finding: takes a finding id (finding:3) or *, not {v.text!r}", v.position) from None
    parts = [_attached_clause(fid)]
    resolver = QUERY_RESOLVER[0]
    if resolver is not None and fid not in _RESOLVING:
        found = resolver(fid)
        if found is not None and found[0]:
            _RESOLVING.add(fid)  # a query that names its own finding must not recurse
            try:
                parts.append(check_query(found[0], found[1]).where)
            except FindingError:
                pass
            finally:
                _RESOLVING.discard(fid)
    return or_(*parts)


_RESOLVING: set[int] = set()


#: ``[fn(finding_id) -> (query, query_now_us) | None; fn(None) -> [(query, now), ...]]``: set by :func:`install_resolver`;
#: by default the saved query is read from the index this process opened last.
QUERY_RESOLVER: list[Any] = [None]
_LAST_DB: list[str | None] = [None]


@event.listens_for(Engine, "connect")
def _remember_index(dbapi_conn, _record) -> None:
    """Remember the file of the last index opened (for ``finding:N`` in any command)."""
    try:
        cur = dbapi_conn.cursor()
        rows = cur.execute("PRAGMA database_list").fetchall()
        cur.close()
        path = next((r[2] for r in rows if r[1] == "main"), None)
        if path:
            _LAST_DB[0] = path
    except Exception:  # pragma: no cover - not sqlite3
        pass


def _read_queries(path: str, fid: int | None):
    """Saved queries straight from the index file (read-only; never creates a file)."""
    import os
    import sqlite3
    from urllib.parse import quote

    if not path or not os.path.exists(path):
        return None
    try:
        con = sqlite3.connect(f"file:{quote(os.path.abspath(path))}?mode=ro", uri=True)
        try:
            if fid is None:
                return [tuple(r) for r in con.execute(
                    "SELECT query, query_now_us FROM findings WHERE query IS NOT NULL "
                    "AND query NOT LIKE '%finding:%' ORDER BY id")]
            r = con.execute("SELECT query, query_now_us FROM findings WHERE id = ?", (fid,)).fetchone()
        finally:
            con.close()
    except sqlite3.Error:
        return None
    return (r[0], r[1]) if r else None


#: the index pinned by :func:`install_resolver` (else the one opened last)
_PINNED_DB: list[str | None] = [None]


def _resolve(fid: int | None):
    import os

    pinned = _PINNED_DB[0]
    path = pinned if pinned and os.path.exists(pinned) else _LAST_DB[0]
    return _read_queries(path, fid) if path else None


QUERY_RESOLVER[0] = _resolve


def install_resolver(engine) -> None:
    """Let ``finding:N`` read finding N's saved query from *engine*'s index (the CLI and the console call this)."""
    db = engine.url.database
    if db and db != ":memory:":
        _PINNED_DB[0] = db
    QUERY_RESOLVER[0] = _resolve


__all__ = [
    "REPORT_ORDER",
    "SEVERITIES",
    "SEVERITY_RANK",
    "FindingError",
    "attach_events",
    "check_query",
    "check_severity",
    "create_finding",
    "delete_finding",
    "detach_events",
    "finding_event_ids",
    "finding_events",
    "finding_where",
    "findings",
    "get_finding_row",
    "install_resolver",
    "list_findings",
    "missing_attached",
    "move_finding",
    "register_filter_fields",
    "severity_sorted",
    "update_finding",
]

register_filter_fields()
