"""Read queries over the index shared by the CLI, the console and reports."""

from __future__ import annotations

import json
from typing import Any
from collections.abc import Iterator

from sqlalchemy import ColumnElement, Connection, func, select, true

from logconsole.store import rawcodec
from logconsole.store.schema import events, quarantine, sources

#: the columns of a timeline/search row (everything but the raw record)
ROW_COLUMNS = [
    events.c.id, events.c.ts_us, events.c.format, events.c.service, events.c.action, events.c.outcome,
    events.c.error_code, events.c.actor, events.c.actor_type, events.c.actor_uid, events.c.session,
    events.c.target_user, events.c.src_ip, events.c.user_agent, events.c.host, events.c.resource,
    events.c.account, events.c.region, events.c.message, events.c.record_id, events.c.source_id,
    events.c.line, events.c.rec_index, events.c.raw_sha256,
]


def time_reference(conn: Connection, where: ColumnElement[bool] | None = None, *, anchor_us: int | None = None):
    """The time range of the events (matching *where*) as the reference partial
    times and offsets resolve against (:class:`logconsole.util.timeref.TimeRef`)."""
    from logconsole.util.timeref import TimeRef

    q = select(func.min(events.c.ts_us), func.max(events.c.ts_us))
    if where is not None:
        q = q.where(where)
    lo, hi = conn.execute(q).one()
    return TimeRef(anchor_us, lo, hi)


def count(conn: Connection, where: ColumnElement[bool] | None = None) -> int:
    q = select(func.count()).select_from(events)
    if where is not None:
        q = q.where(where)
    return conn.execute(q).scalar_one()


def search(
    conn: Connection,
    where: ColumnElement[bool] | None = None,
    *,
    limit: int | None = 100,
    descending: bool = False,
    after: tuple[int, int] | None = None,
    with_raw: bool = False,
) -> list[dict[str, Any]]:
    """Events matching *where* in (ts_us, id) order; *after* is a keyset cursor."""
    cols = list(ROW_COLUMNS) + ([events.c.raw, events.c.extra] if with_raw else [])
    q = select(*cols).where(where if where is not None else true())
    if after is not None:
        ts, eid = after
        if descending:
            q = q.where((events.c.ts_us < ts) | ((events.c.ts_us == ts) & (events.c.id < eid)))
        else:
            q = q.where((events.c.ts_us > ts) | ((events.c.ts_us == ts) & (events.c.id > eid)))
    if descending:
        q = q.order_by(events.c.ts_us.desc(), events.c.id.desc())
    else:
        q = q.order_by(events.c.ts_us, events.c.id)
    if limit is not None:
        q = q.limit(limit)
    out = []
    for r in conn.execute(q):
        d = dict(r._mapping)
        if with_raw:
            d["raw"] = rawcodec.decode(d["raw"])
            d["extra"] = json.loads(d["extra"]) if d["extra"] else None
        out.append(d)
    return out


def iter_events(
    conn: Connection, where: ColumnElement[bool] | None = None, *, with_raw: bool = False,
    descending: bool = False, page: int = 5000,
) -> Iterator[dict[str, Any]]:
    """All matching events in time order, fetched in keyset pages (bounded memory)."""
    after = None
    while True:
        rows = search(conn, where, limit=page, after=after, with_raw=with_raw, descending=descending)
        yield from rows
        if len(rows) < page:
            return
        after = (rows[-1]["ts_us"], rows[-1]["id"])


def get_event(conn: Connection, event_id: int) -> dict[str, Any] | None:
    """One event with its raw record decoded, extra parsed and its source's path/format/sha256."""
    q = (
        select(*ROW_COLUMNS, events.c.ts_raw, events.c.raw, events.c.extra,
               sources.c.path.label("source_path"), sources.c.sha256.label("source_sha256"))
        .join(sources, sources.c.id == events.c.source_id)
        .where(events.c.id == event_id)
    )
    r = conn.execute(q).first()
    if r is None:
        return None
    d = dict(r._mapping)
    d["raw"] = rawcodec.decode(d["raw"])
    d["extra"] = json.loads(d["extra"]) if d["extra"] else {}
    return d


def list_sources(conn: Connection) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(select(sources).order_by(sources.c.id))]


def list_quarantine(conn: Connection, *, limit: int | None = None) -> list[dict[str, Any]]:
    q = select(quarantine).order_by(quarantine.c.source_id, quarantine.c.line, quarantine.c.rec_index, quarantine.c.id)
    if limit:
        q = q.limit(limit)
    return [dict(r._mapping) for r in conn.execute(q)]

