"""Reading each event's ``integrity`` from the trust tables (written by
:func:`logconsole.analysis.chain.trust.refresh`).

``tampered``: the event's own record failed, or its whole file did; ``verified``: its
source was covered by an intact or consistent chain, digest or sequence and nothing
failed; ``unverified``: nothing covers it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, not_, or_, select

from logconsole.store.integrity_schema import event_trust, integrity_gaps, source_trust
from logconsole.store.schema import events

INTEGRITY = ("verified", "tampered", "unverified")


def _tampered() -> ColumnElement[bool]:
    return or_(events.c.id.in_(select(event_trust.c.event_id)),
               events.c.source_id.in_(select(source_trust.c.source_id).where(source_trust.c.status == "tampered")))


def _verified() -> ColumnElement[bool]:
    return and_(events.c.source_id.in_(select(source_trust.c.source_id).where(source_trust.c.status == "verified")),
                events.c.id.not_in(select(event_trust.c.event_id)))


def integrity_clause(value: str) -> ColumnElement[bool]:
    """The filter ``integrity:VALUE`` (one of :data:`INTEGRITY`); raises ValueError for another value."""
    v = value.strip().lower()
    if v == "tampered":
        return _tampered()
    if v == "verified":
        return _verified()
    if v == "unverified":
        return and_(not_(_tampered()), not_(_verified()))
    raise ValueError(f"integrity is one of {', '.join(INTEGRITY)}, not {value!r}")


def integrity_of(conn: Connection, rows: Iterable[tuple[int, int]]) -> dict[int, str]:
    """``{event id: integrity}`` for ``(event id, source id)`` pairs (a page of results)."""
    pairs = list(rows)
    if not pairs:
        return {}
    src = dict(conn.execute(select(source_trust.c.source_id, source_trust.c.status)).all())
    ids = [i for i, _s in pairs]
    bad: set[int] = set()
    for k in range(0, len(ids), 900):
        bad.update(r[0] for r in conn.execute(select(event_trust.c.event_id)
                                              .where(event_trust.c.event_id.in_(ids[k:k + 900]))))
    out = {}
    for eid, sid in pairs:
        st = src.get(sid)
        out[eid] = "tampered" if eid in bad or st == "tampered" else "verified" if st == "verified" else "unverified"
    return out


def event_integrity(conn: Connection, event_id: int, source_id: int) -> dict[str, Any]:
    """The integrity of one event and why (the detail view): status, failure kind, file, line,
    the original's hash of a modified record, or the verification that covered its source."""
    e = conn.execute(select(event_trust).where(event_trust.c.event_id == event_id)).first()
    if e is not None:
        return {"integrity": "tampered", "kind": e.kind, "file": e.file, "line": e.line, "detail": e.detail,
                "original_hash": e.original_hash}
    s = conn.execute(select(source_trust).where(source_trust.c.source_id == source_id)).first()
    if s is None:
        return {"integrity": "unverified", "detail": "no verification covers this event's source"}
    if s.status == "tampered":
        return {"integrity": "tampered", "kind": s.kind, "detail": s.detail, "scheme": s.scheme}
    return {"integrity": "verified", "scheme": s.scheme,
            "detail": f"its source was checked by the {s.scheme} verification and this record held"}


def gaps_between(conn: Connection, lo_us: int, hi_us: int) -> list[Any]:
    """Gap markers whose place on the timeline is within [lo_us, hi_us]."""
    return list(conn.execute(select(integrity_gaps).where(integrity_gaps.c.start_us >= lo_us,
                                                          integrity_gaps.c.start_us <= hi_us)
                             .order_by(integrity_gaps.c.start_us, integrity_gaps.c.id)))
