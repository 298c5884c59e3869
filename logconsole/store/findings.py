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

Tables: ``findings``, ``finding_events`` (:mod:`logconsole.store.findings_schema`).
The API below takes a connection (writes: inside ``engine.begin()``).  The
filter field ``finding:N`` (events of finding N; ``finding:*`` events of any
finding) is in :mod:`logconsole.store.filter_fields`; it compiles in the saved
filters the caller reads with :func:`saved_queries`.
"""

from __future__ import annotations

import time
from typing import Any

from collections.abc import Mapping

from sqlalchemy import and_, delete, func, insert, or_, select, update

from logconsole.store import dialect
from logconsole.store.filter import Filter, FilterError, SavedQuery, compile_filter, saved_queries
from logconsole.store.filter_fields import attached_clause
from logconsole.store.findings_schema import finding_events, findings
from logconsole.store.schema import events, sources
from logconsole.util.severity import SEVERITIES, SEVERITY_RANK

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


def check_query(query: str | None, now_us: int | None = None, saved: Mapping[int, SavedQuery] | None = None) -> Filter:
    """Compile *query* (raises FindingError with the position on a bad filter);
    *saved*: the findings' saved filters, for ``finding:N`` inside it."""
    try:
        return compile_filter(query, now_us=now_us, saved_queries=saved)
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
    dialect.of(conn).lock_for_append(conn, findings)  # two investigators adding at once: distinct positions
    pos = (conn.execute(select(func.max(findings.c.position))).scalar() or 0) + 1
    who = dialect.investigator(conn)
    fid = conn.execute(
        insert(findings).values(
            position=pos, title=title, severity=severity, narrative=(narrative or "").strip() or None,
            query=query, query_now_us=now if query else None, created_us=now, updated_us=now,
            created_by=who, updated_by=who,
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
    vals: dict[str, Any] = {"updated_us": _now_us(), "updated_by": dialect.investigator(conn)}
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
    dialect.of(conn).lock_for_append(conn, findings)
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
    dialect.of(conn).lock_for_append(conn, findings)
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
    who = dialect.investigator(conn)
    added = 0
    for eid in ids:
        dedup, sha = found[eid]
        added += dialect.of(conn).insert_ignore(
            conn, finding_events, {"finding_id": finding_id, "dedup": dedup, "raw_sha256": sha, "event_id": eid,
                                   "added_us": now, "added_by": who},
        )
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


def finding_where(row: dict[str, Any], saved: Mapping[int, SavedQuery] | None = None):
    """The SQLAlchemy condition selecting a finding's events (attached OR its query).

    *saved*: the findings' saved filters (:func:`saved_queries`), for a query
    that itself says ``finding:M``.  A saved filter that no longer compiles (e.g.
    a field was renamed since) does not break readers: the finding keeps its
    attached events and ``row["query_error"]`` says why the filter was left out.
    """
    parts = [attached_clause(row["id"])]
    if row.get("query"):
        others = {k: v for k, v in (saved or {}).items() if k != row["id"]}
        try:
            parts.append(check_query(row["query"], row.get("query_now_us"), others).where)
        except FindingError as exc:
            row["query_error"] = str(exc)
    return or_(*parts)


def finding_event_ids(conn, finding_id: int) -> list[int]:
    """Current event ids of a finding in report order (time, source path, line, record index, sha)."""
    row = get_finding_row(conn, finding_id)
    q = (
        select(events.c.id)
        .select_from(events.join(sources, sources.c.id == events.c.source_id))
        .where(finding_where(row, saved_queries(conn)))
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
        saved = saved_queries(conn)
        for d in rows:
            where = finding_where(d, saved)
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
    "finding_where",
    "get_finding_row",
    "list_findings",
    "missing_attached",
    "move_finding",
    "saved_queries",
    "severity_sorted",
    "update_finding",
]
