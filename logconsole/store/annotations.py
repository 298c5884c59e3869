"""Marks (bookmarks), notes, tags, saved views and filter history.  No Textual here.

Investigator annotations live in the index next to the events, but they are
**not keyed by** ``events.id`` (ids change when a source is re-ingested).  An
annotation is keyed by the event's content: ``(dedup, raw_sha256)`` - the
indexed 64-bit dedup hash plus the SHA-256 of the raw record - which is the
same for the same record however often, and in whatever order, its files are
ingested.  ``source_sha256`` and ``record_ref`` (``path:line`` or
``path[index]``) record where the event was when it was annotated.

Tables (in :mod:`logconsole.store.annotations_schema`):

* ``annotations``: one row per annotated event: ``marked`` (0/1), ``note``,
  ``event_id`` (last known ``events.id``, a hint only), timestamps.
* ``annotation_tags``: ``(annotation_id, tag)``; tags are compared case-insensitively.
* ``saved_views``: named filters (``name`` -> ``filter`` text).
* ``filter_history``: filters the investigator applied, newest last.

API for other areas (e.g. ``finding add --marked``, the report):

* :func:`marked_event_ids(conn) <marked_event_ids>` -> ``list[int]`` current
  ``events.id`` of marked events, in time order;
* :func:`annotated_events(conn, marked_only=False) <annotated_events>` ->
  ``list[dict]`` with ``event_id, ts_us, marked, note, tags, record_ref,
  source_sha256, raw_sha256`` (events that no longer exist in the index have
  ``event_id`` None);
* :func:`get_annotation(conn, event_id)`, :func:`set_mark`, :func:`toggle_mark`,
  :func:`set_note`, :func:`add_tag`, :func:`remove_tag`;
* filter clauses :func:`marked_clause`, :func:`tag_clause`, :func:`note_clause`
  (SQLAlchemy expressions over ``schema.events``), behind the filter fields
  ``marked:true``/``marked:false``, ``tag:NAME`` and ``note:*`` / ``note:TEXT``
  (listed in :mod:`logconsole.store.filter_fields`).

Write functions take a connection inside a transaction (``engine.begin()``).
"""


import time
from typing import Any

from sqlalchemy import and_, delete, exists, func, select, update

from logconsole.store import dialect
from logconsole.store.annotations_schema import annotation_tags, annotations, filter_history, saved_views
from logconsole.store.schema import events, sources

HISTORY_LIMIT = 200


def _now_us() -> int:
    return int(time.time() * 1_000_000)


def normalize_tag(tag: str) -> str:
    t = " ".join(tag.split()).lower()
    if not t:
        raise ValueError("empty tag")
    if len(t) > 64:
        raise ValueError("tag longer than 64 characters")
    return t


# ---------------------------------------------------------------- event keys
def _event_key(conn, event_id: int) -> dict[str, Any]:
    r = conn.execute(
        select(
            events.c.dedup, events.c.raw_sha256, events.c.line, events.c.rec_index,
            sources.c.sha256, sources.c.path,
        )
        .select_from(events.join(sources, sources.c.id == events.c.source_id))
        .where(events.c.id == event_id)
    ).first()
    if r is None:
        raise KeyError(f"no event {event_id}")
    if r.rec_index is not None:
        ref = f"{r.path}[{r.rec_index}]"
        if r.line is not None:
            ref += f" (line {r.line})"
    elif r.line is not None:
        ref = f"{r.path}:{r.line}"
    else:
        ref = r.path
    return {"dedup": r.dedup, "raw_sha256": r.raw_sha256, "source_sha256": r.sha256, "record_ref": ref}


def _ensure(conn, event_id: int) -> int:
    """The annotation id for *event_id*, creating the row if needed."""
    k = _event_key(conn, event_id)
    now = _now_us()
    who = dialect.investigator(conn)
    dialect.of(conn).upsert(
        conn, annotations,
        {"dedup": k["dedup"], "raw_sha256": k["raw_sha256"], "source_sha256": k["source_sha256"],
         "record_ref": k["record_ref"], "event_id": event_id, "marked": 0, "created_us": now, "updated_us": now,
         "created_by": who, "updated_by": who},
        ["dedup", "raw_sha256"], {"event_id": event_id, "updated_us": now, "updated_by": who},
    )
    return conn.execute(
        select(annotations.c.id).where(
            annotations.c.dedup == k["dedup"], annotations.c.raw_sha256 == k["raw_sha256"]
        )
    ).scalar_one()


def _prune(conn, ann_id: int) -> None:
    """Delete an annotation that no longer carries anything."""
    r = conn.execute(select(annotations.c.marked, annotations.c.note).where(annotations.c.id == ann_id)).first()
    if r is None:
        return
    has_tags = conn.execute(select(exists().where(annotation_tags.c.annotation_id == ann_id))).scalar()
    if not r.marked and not r.note and not has_tags:
        conn.execute(delete(annotations).where(annotations.c.id == ann_id))


# ---------------------------------------------------------------- writes
def set_mark(conn, event_id: int, marked: bool = True) -> None:
    aid = _ensure(conn, event_id)
    conn.execute(update(annotations).where(annotations.c.id == aid).values(
        marked=int(marked), updated_us=_now_us(), updated_by=dialect.investigator(conn)))
    _prune(conn, aid)


def toggle_mark(conn, event_id: int) -> bool:
    """Flip the bookmark; returns the new state."""
    cur = get_annotation(conn, event_id)
    new = not (cur and cur["marked"])
    set_mark(conn, event_id, new)
    return new


def set_note(conn, event_id: int, note: str | None) -> None:
    """Set (or with an empty *note*, clear) the event's note."""
    aid = _ensure(conn, event_id)
    note = (note or "").strip() or None
    conn.execute(update(annotations).where(annotations.c.id == aid).values(
        note=note, updated_us=_now_us(), updated_by=dialect.investigator(conn)))
    _prune(conn, aid)


def add_tag(conn, event_id: int, tag: str) -> str:
    t = normalize_tag(tag)
    aid = _ensure(conn, event_id)
    dialect.of(conn).insert_ignore(conn, annotation_tags, {"annotation_id": aid, "tag": t})
    return t


def remove_tag(conn, event_id: int, tag: str) -> None:
    t = normalize_tag(tag)
    aid = _ensure(conn, event_id)
    conn.execute(delete(annotation_tags).where(annotation_tags.c.annotation_id == aid, annotation_tags.c.tag == t))
    _prune(conn, aid)


# ---------------------------------------------------------------- reads
def _join_events():
    return annotations.join(
        events, and_(events.c.dedup == annotations.c.dedup, events.c.raw_sha256 == annotations.c.raw_sha256)
    )


def _tags_of(conn, ann_ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for i in range(0, len(ann_ids), 900):
        for r in conn.execute(
            select(annotation_tags.c.annotation_id, annotation_tags.c.tag)
            .where(annotation_tags.c.annotation_id.in_(ann_ids[i:i + 900]))
            .order_by(annotation_tags.c.tag)
        ):
            out.setdefault(r[0], []).append(r[1])
    return out


def get_annotation(conn, event_id: int) -> dict[str, Any] | None:
    """``{marked, note, tags, record_ref, ...}`` for *event_id*, or None."""
    try:
        k = _event_key(conn, event_id)
    except KeyError:
        return None
    r = conn.execute(
        select(annotations).where(annotations.c.dedup == k["dedup"], annotations.c.raw_sha256 == k["raw_sha256"])
    ).first()
    if r is None:
        return None
    return {
        "id": r.id, "event_id": event_id, "marked": bool(r.marked), "note": r.note,
        "tags": _tags_of(conn, [r.id]).get(r.id, []), "record_ref": r.record_ref,
        "source_sha256": r.source_sha256, "raw_sha256": r.raw_sha256,
        "created_by": r.created_by, "updated_by": r.updated_by,
    }


def authors_text(a: dict[str, Any]) -> str:
    """Who made an annotation (``--as NAME``, the database role, else the OS user) and who last
    changed it, if someone else: ``ana``, ``ana, last changed by ben``; empty if not recorded."""
    made, changed = a.get("created_by"), a.get("updated_by")
    if not made and not changed:
        return ""
    if not made:
        return f"last changed by {changed}"
    if changed and changed != made:
        return f"{made}, last changed by {changed}"
    return str(made)


def annotated_events(conn, *, marked_only: bool = False) -> list[dict[str, Any]]:
    """Every annotation with its current event (time order; vanished events last)."""
    stmt = select(
        annotations, events.c.id.label("cur_event_id"), events.c.ts_us,
    ).select_from(annotations.outerjoin(
        events, and_(events.c.dedup == annotations.c.dedup, events.c.raw_sha256 == annotations.c.raw_sha256)
    ))
    if marked_only:
        stmt = stmt.where(annotations.c.marked == 1)
    rows = list(conn.execute(stmt))
    tags = _tags_of(conn, [r.id for r in rows])
    out = [
        {
            "annotation_id": r.id, "event_id": r.cur_event_id, "ts_us": r.ts_us, "marked": bool(r.marked),
            "note": r.note, "tags": tags.get(r.id, []), "record_ref": r.record_ref,
            "source_sha256": r.source_sha256, "raw_sha256": r.raw_sha256,
            "created_by": r.created_by, "updated_by": r.updated_by,
        }
        for r in rows
    ]
    out.sort(key=lambda d: (d["ts_us"] is None, d["ts_us"] or 0, d["event_id"] or 0))
    return out


def marked_event_ids(conn) -> list[int]:
    """Current ``events.id`` of every marked event, in time order."""
    return [
        r[0]
        for r in conn.execute(
            select(events.c.id).select_from(_join_events()).where(annotations.c.marked == 1)
            .order_by(events.c.ts_us, events.c.id)
        )
    ]


def annotation_flags(conn) -> dict[tuple[int, str], tuple[bool, bool]]:
    """``{(dedup, raw_sha256): (marked, has note or tags)}`` for every annotation (small)."""
    tagged = {r[0] for r in conn.execute(select(annotation_tags.c.annotation_id).distinct())}
    return {
        (r.dedup, r.raw_sha256): (bool(r.marked), bool(r.note) or r.id in tagged)
        for r in conn.execute(select(annotations.c.id, annotations.c.dedup, annotations.c.raw_sha256,
                                     annotations.c.marked, annotations.c.note))
    }


def all_tags(conn) -> list[tuple[str, int]]:
    """(tag, number of events) pairs, most used first."""
    return [
        (r[0], r[1])
        for r in conn.execute(
            select(annotation_tags.c.tag, func.count()).group_by(annotation_tags.c.tag)
            .order_by(func.count().desc(), annotation_tags.c.tag)
        )
    ]


# ---------------------------------------------------------------- filter clauses
def _ids_matching(cond) -> Any:
    e2 = events.alias("ann_ev")
    j = annotations.join(e2, and_(e2.c.dedup == annotations.c.dedup, e2.c.raw_sha256 == annotations.c.raw_sha256))
    return events.c.id.in_(select(e2.c.id).select_from(j).where(cond))


def marked_clause(value: bool = True):
    """Events that are (or with ``False``, are not) bookmarked."""
    c = _ids_matching(annotations.c.marked == 1)
    return c if value else ~c


def tag_clause(tag: str):
    t = normalize_tag(tag)
    e2 = events.alias("ann_ev")
    j = annotations.join(
        e2, and_(e2.c.dedup == annotations.c.dedup, e2.c.raw_sha256 == annotations.c.raw_sha256)
    ).join(annotation_tags, annotation_tags.c.annotation_id == annotations.c.id)
    if t == "*":
        return events.c.id.in_(select(e2.c.id).select_from(j))
    return events.c.id.in_(select(e2.c.id).select_from(j).where(annotation_tags.c.tag == t))


def note_clause(text: str = "*"):
    """``*``: events with any note; else a case-insensitive substring of the note."""
    if text in ("*", ""):
        return _ids_matching(and_(annotations.c.note.is_not(None), annotations.c.note != ""))
    esc = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return _ids_matching(func.lower(annotations.c.note).like(f"%{esc.lower()}%", escape="\\"))


# ---------------------------------------------------------------- views and history
def save_view(conn, name: str, filter_text: str) -> None:
    name = " ".join(name.split())
    if not name:
        raise ValueError("a view needs a name")
    dialect.of(conn).upsert(conn, saved_views, {"name": name, "filter": filter_text, "created_us": _now_us()},
                            ["name"], {"filter": filter_text})


def delete_view(conn, name: str) -> None:
    conn.execute(delete(saved_views).where(saved_views.c.name == name))


def list_views(conn) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in conn.execute(select(saved_views.c.name, saved_views.c.filter).order_by(saved_views.c.name))]


def add_history(conn, filter_text: str) -> None:
    text = filter_text.strip()
    if not text:
        return
    dialect.of(conn).upsert(conn, filter_history, {"filter": text, "used_us": _now_us()}, ["filter"],
                            {"used_us": _now_us()})
    n = conn.execute(select(func.count()).select_from(filter_history)).scalar_one()
    if n > HISTORY_LIMIT:
        old = select(filter_history.c.id).order_by(filter_history.c.used_us).limit(n - HISTORY_LIMIT)
        conn.execute(delete(filter_history).where(filter_history.c.id.in_(old)))


def history(conn, limit: int = HISTORY_LIMIT) -> list[str]:
    """Applied filters, oldest first (so Up walks back from the end)."""
    rows = conn.execute(
        select(filter_history.c.filter).order_by(filter_history.c.used_us.desc(), filter_history.c.id.desc()).limit(limit)
    ).all()
    return [r[0] for r in reversed(rows)]


__all__ = [
    "add_history",
    "add_tag",
    "all_tags",
    "annotated_events",
    "annotation_flags",
    "delete_view",
    "get_annotation",
    "history",
    "list_views",
    "marked_clause",
    "marked_event_ids",
    "note_clause",
    "remove_tag",
    "save_view",
    "set_mark",
    "set_note",
    "tag_clause",
    "toggle_mark",
]
