"""The full-text index, off the ingest's critical path.

An ingest writes events and their B-tree indexes only; the full-text rows
(``events_fts``) and the substring vocabulary (``fts_terms``) are filled behind
it by :func:`catch_up`, in event-id order, a batch per transaction.  The
watermark ``meta[fts_indexed_upto]`` moves in the same transaction as the rows it
covers, so a catch-up killed at any moment resumes where it stopped, and every
event is either in the index (id <= watermark) or scanned by a search
(:func:`logconsole.store.dialect.fts_tail`): nothing is ever silently missed.

No watermark row means every event is indexed (an index made before this, or
one whose catch-up finished and was never written to again).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, delete, func, select

from logconsole.store import dialect, rawcodec
from logconsole.store.fulltext import FTS_UPTO_KEY, TermCollector, fts_columns, new_terms
from logconsole.store.schema import events, meta

BATCH = 5000

#: told (indexed so far, total to index) after each batch
CatchUpProgress = Callable[[int, int], None]


@dataclass
class FullTextState:
    """Where the full-text index stands: events up to ``upto`` are indexed, of ``max_id``."""

    upto: int
    max_id: int
    pending: int

    @property
    def complete(self) -> bool:
        return self.pending == 0

    def as_dict(self) -> dict[str, int | bool]:
        return {"indexed_upto": self.upto, "max_event_id": self.max_id, "pending": self.pending,
                "complete": self.complete}


def _upto(conn: Connection) -> int | None:
    v = conn.execute(select(meta.c.value).where(meta.c.key == FTS_UPTO_KEY)).scalar()
    return int(v) if v is not None else None


def state(conn: Connection) -> FullTextState:
    max_id = conn.execute(select(func.max(events.c.id))).scalar() or 0
    upto = _upto(conn)
    if upto is None or upto >= max_id:
        return FullTextState(max_id, max_id, 0)
    pending = conn.execute(select(func.count()).select_from(events).where(events.c.id > upto)).scalar() or 0
    return FullTextState(upto, max_id, pending)


def start_deferred(conn: Connection) -> None:
    """Before an ingest writes events without their full-text rows: pin the watermark
    at the events indexed so far (if none is set, all of them are)."""
    upto = _upto(conn)
    max_id = conn.execute(select(func.max(events.c.id))).scalar() or 0
    # no watermark: all indexed; one above the last event (its source was removed): the
    # next ids must not pass for indexed
    if upto is None or upto > max_id:
        dialect.of(conn).upsert(conn, meta, {"key": FTS_UPTO_KEY, "value": str(max_id)}, ["key"],
                                {"value": str(max_id)})


def indexed_upto(conn: Connection) -> int | None:
    """The watermark (None: everything is indexed)."""
    return _upto(conn)


def catch_up(engine: Engine, progress: CatchUpProgress | None = None, *, batch: int = BATCH,
             deadline: float | None = None) -> FullTextState:
    """Index every event above the watermark; returns the final state.

    The caller holds the index for writing (the single-writer lock).  *deadline*
    (``time.monotonic()`` value) stops between batches, leaving a resumable state."""
    collector = TermCollector()
    with engine.connect() as conn:
        st = state(conn)
    total, done = st.pending, 0
    upto = st.upto
    while total:
        with engine.begin() as conn:
            rows = conn.execute(
                select(events.c.id, events.c.message, events.c.raw)
                .where(events.c.id > upto).order_by(events.c.id).limit(batch)
            ).all()
            if not rows:
                break
            fts_rows = [(r.id, *fts_columns(r.message, rawcodec.decode_bytes(r.raw).decode("utf-8", "replace")))
                        for r in rows]
            d = dialect.of(conn)
            d.fts_insert(conn, fts_rows)
            terms = new_terms([t for _id, m, raw in fts_rows for t in (m, raw)], collector)
            if terms:
                d.terms_insert(conn, terms)
            upto = rows[-1].id
            max_id = conn.execute(select(func.max(events.c.id))).scalar() or 0
            if upto >= max_id:
                conn.execute(delete(meta).where(meta.c.key == FTS_UPTO_KEY))
            else:
                d.upsert(conn, meta, {"key": FTS_UPTO_KEY, "value": str(upto)}, ["key"], {"value": str(upto)})
        done += len(rows)
        if progress is not None:
            progress(done, max(total, done))
        if upto >= max_id:
            break
        if deadline is not None and time.monotonic() > deadline:
            break
    with engine.connect() as conn:
        return state(conn)
