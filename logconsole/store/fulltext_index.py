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

import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

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


#: a catch-up of at least this many events prepares the text in a worker process (decompression,
#: the JSON-key strip, the vocabulary: ~60 % of the work) while this one inserts the previous
#: batch; env ``LOGCONSOLE_FTS_WORKER`` = 0 never, 1 always
WORKER_FROM = 20_000
#: batches prepared ahead of the one being inserted
_AHEAD = 2


def _prepare(rows: list[tuple[int, str | None, bytes]], collector: TermCollector | None = None,
             ) -> tuple[list[tuple[int, str, str]], list[str]]:
    """The full-text rows of ``(id, message, raw blob)`` and the vocabulary words new to *collector*
    (in a worker process: that process's own collector, which serves this one catch-up)."""
    fts_rows = [(i, *fts_columns(m, rawcodec.decode_bytes(raw).decode("utf-8", "replace"))) for i, m, raw in rows]
    return fts_rows, new_terms([t for _id, m, raw in fts_rows for t in (m, raw)], collector)


def _use_worker(pending: int, workers: int | None, deadline: float | None) -> bool:
    if workers is not None:
        return workers > 0
    if deadline is not None:  # a short, bounded catch-up (follow): starting a process would not pay
        return False
    env = os.environ.get("LOGCONSOLE_FTS_WORKER", "").strip()
    if env in ("0", "1"):
        return env == "1"
    return pending >= WORKER_FROM and (os.cpu_count() or 1) > 1


def catch_up(engine: Engine, progress: CatchUpProgress | None = None, *, batch: int = BATCH,
             deadline: float | None = None, workers: int | None = None) -> FullTextState:
    """Index every event above the watermark; returns the final state.

    The caller holds the index for writing (the single-writer lock).  *deadline*
    (``time.monotonic()`` value) stops between batches, leaving a resumable state.
    Each batch's rows, words and watermark are one transaction of this process; the
    text may be prepared ahead in a worker process (*workers* 1, or None: from
    :data:`WORKER_FROM` events on 2+ CPUs, without a *deadline*), which never writes."""
    with engine.connect() as conn:
        st = state(conn)
    if not st.pending:
        return st
    if _use_worker(st.pending, workers, deadline):
        try:
            with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
                return _run(engine, st, progress, batch, deadline,
                            lambda rows: pool.submit(_prepare, rows), _AHEAD)
        except BrokenProcessPool:  # the worker could not start or died: the rest here (nothing is lost:
            with engine.connect() as conn:  # only committed batches moved the watermark)
                st = state(conn)
    collector = TermCollector()
    return _run(engine, st, progress, batch, deadline, lambda rows: _Done(_prepare(rows, collector)), 1)


class _Done:
    """An in-process result with the interface of a future."""

    def __init__(self, value: tuple[list[tuple[int, str, str]], list[str]]) -> None:
        self.value = value

    def result(self) -> tuple[list[tuple[int, str, str]], list[str]]:
        return self.value


def _run(engine: Engine, st: FullTextState, progress: CatchUpProgress | None, batch: int,
         deadline: float | None, submit: Callable[[list[tuple]], Any], ahead_n: int) -> FullTextState:
    total, done = st.pending, 0
    after = st.upto

    def read() -> list[tuple]:
        nonlocal after
        with engine.connect() as conn:
            rows = [tuple(r) for r in conn.execute(
                select(events.c.id, events.c.message, events.c.raw)
                .where(events.c.id > after).order_by(events.c.id).limit(batch))]
        if rows:
            after = rows[-1][0]
        return rows

    ahead: deque[tuple[int, int, Any]] = deque()  # (last id, rows, prepared)
    more = True
    while True:
        while more and len(ahead) < ahead_n:
            rows = read()
            if not rows:
                more = False
                break
            ahead.append((rows[-1][0], len(rows), submit(rows)))
        if not ahead:
            break
        upto, n, fut = ahead.popleft()
        fts_rows, terms = fut.result()
        with engine.begin() as conn:
            d = dialect.of(conn)
            d.fts_insert(conn, fts_rows)
            if terms:
                d.terms_insert(conn, terms)
            max_id = conn.execute(select(func.max(events.c.id))).scalar() or 0
            if upto >= max_id:
                conn.execute(delete(meta).where(meta.c.key == FTS_UPTO_KEY))
            else:
                d.upsert(conn, meta, {"key": FTS_UPTO_KEY, "value": str(upto)}, ["key"], {"value": str(upto)})
        done += n
        if progress is not None:
            progress(done, max(total, done))
        if upto >= max_id:
            break
        if deadline is not None and time.monotonic() > deadline:
            break  # what was prepared ahead is dropped: the watermark says where to resume
    with engine.connect() as conn:
        return state(conn)
