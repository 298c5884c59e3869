"""The ingest pipeline: files -> parser -> dedup -> batched inserts, losslessly.

Per source file:
1. hash the file (read-only); a SHA-256 already ingested completely is skipped;
   a source left ``partial`` by an interrupted ingest is removed and redone;
2. detect (or take) the format; insert the ``sources`` row as ``partial``;
3. stream parser items in batches of ``batch_size``; each batch is one
   transaction: events (with explicit ids), their FTS rows, quarantined
   records, and the running counts on the source row;
4. mark the source ``complete``.

Kill -9 at any moment leaves committed batches and a ``partial`` source; the
next ingest removes that source's rows and redoes the file, so the final
counts are exactly those of an uninterrupted run.  A single writer is ensured
with an advisory lock on ``DB.lock``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterable, Iterator

from sqlalchemy import Engine, delete, func, insert, select, update

from logconsole.ingest.base import REGISTRY, Event, Parser, Quarantined, norm_ip
from logconsole.ingest.detect import UnknownFormat, detect
from logconsole.ingest.parallel import parallel_wanted, start_worker
from logconsole.ingest.reader import Input, InputError, TruncatedInput, expand_paths
from logconsole.store import rawcodec
from logconsole.store.fulltext import TERMS_INSERT, TermCollector, fts_columns, new_terms
from logconsole.store.schema import QUARANTINE_RAW_CAP, events, quarantine, sources

BATCH_SIZE = 5000


@dataclass
class SourceResult:
    path: str
    format: str | None
    sha256: str | None
    bytes: int
    records: int = 0
    events: int = 0
    duplicates: int = 0
    merged: int = 0
    quarantined: int = 0
    status: str = "ingested"  # ingested | skipped | error
    message: str | None = None
    source_id: int | None = None
    first_ts: int | None = None
    last_ts: int | None = None

    def as_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("first_ts")
        d.pop("last_ts")
        return d


@dataclass
class IngestResult:
    db: str
    sources: list[SourceResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def total(self, key: str) -> int:
        return sum(getattr(s, key) for s in self.sources if s.status == "ingested")

    def as_json(self) -> dict[str, Any]:
        return {
            "db": self.db,
            "sources": [s.as_json() for s in self.sources],
            "records": self.total("records"),
            "events": self.total("events"),
            "duplicates": self.total("duplicates"),
            "merged": self.total("merged"),
            "quarantined": self.total("quarantined"),
            "errors": self.errors,
            "warnings": self.warnings,
            "seconds": round(self.seconds, 3),
        }


ProgressFn = Callable[[str, int, int, int], None]  # (path, bytes_done, bytes_total, records)
#: Called after every successful ingest run that added data: fn(engine, result).
POST_INGEST: list[Callable[[Engine, IngestResult], None]] = []
import logconsole.analysis.chain.custody  # noqa: E402,F401  registers the index checkpoint (after POST_INGEST exists)


def _privilege_usage(engine: Engine, result: IngestResult) -> None:
    """Per-source usage aggregates for the privilege views, computed once here so that
    the first ``logconsole actors`` after an ingest costs what the next ones do."""
    from logconsole.analysis.privileges.usage import precompute

    try:
        precompute(engine, result)
    except Exception as exc:
        result.warnings.append(f"privilege usage not precomputed ({exc.__class__.__name__}); "
                               "`logconsole actors` will compute it on first use")


POST_INGEST.append(_privilege_usage)


def dedup_hash(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8", "surrogateescape"), digest_size=8).digest(), "big", signed=True)


@contextmanager
def writer_lock(db_path: str) -> Iterator[None]:
    lock_path = db_path + ".lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"{db_path}: another ingest is writing to this index") from None
        yield
    finally:
        os.close(fd)


def make_parser(fmt: str, options: dict[str, Any] | None = None) -> Parser:
    try:
        cls = REGISTRY[fmt]
    except KeyError:
        raise UnknownFormat(f"unknown format {fmt!r}; known: {', '.join(sorted(REGISTRY))}") from None
    return cls(**(options or {}))


def ingest_paths(
    engine: Engine,
    paths: Iterable[str],
    *,
    fmt: str | None = None,
    options: dict[str, Any] | None = None,
    progress: ProgressFn | None = None,
    batch_size: int = BATCH_SIZE,
    strict_paths: bool = True,
) -> IngestResult:
    """Ingest files/directories/"-" into the index behind *engine*.

    A named file that cannot be read or whose format is unknown is recorded in
    ``result.errors`` (one line naming the file); files found by walking a
    directory whose format is unknown are skipped with a warning.
    """
    t0 = time.perf_counter()
    db_path = engine.url.database or ":memory:"
    result = IngestResult(db=db_path)
    named = list(paths)
    with _no_mmap(engine):
        with writer_lock(db_path):
            _cleanup_partial(engine)
            for given in named:
                walked = given != "-" and Path(given).is_dir()
                targets = expand_paths([given])
                if walked and not targets:
                    result.warnings.append(f"{given}: directory holds no files")
                for p in targets:
                    try:
                        inp = Input.from_stdin() if p == "-" else Input.open(p)
                    except InputError as exc:
                        result.errors.append(str(exc))
                        result.sources.append(SourceResult(p, None, None, 0, status="error", message=str(exc)))
                        continue
                    try:
                        sr = _ingest_one(engine, inp, fmt, options, progress, batch_size, walked, result)
                    finally:
                        if p == "-":
                            os.unlink(inp.path)
                    if sr is not None:
                        result.sources.append(sr)
        result.seconds = time.perf_counter() - t0
        if any(s.status == "ingested" for s in result.sources):
            for hook in POST_INGEST:
                hook(engine, result)
    return result


@contextmanager
def _no_mmap(engine: Engine) -> Iterator[None]:
    """Read through SQLite's bounded page cache, not the 256 MiB memory map, while
    ingesting: mapped pages count in RSS, so a large ingest (and the index builds and
    checkpoints after it, which read every row) peaked above 500 MB.  The ingest uses
    one pooled connection at a time while writing; afterwards the pool is disposed,
    so that every later connection (the post-ingest hooks may hold two at once) is
    new and gets the map back from the connect hook."""
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA mmap_size=0")
    try:
        yield
    finally:
        engine.dispose()


def _choose_parser(inp: Input, fmt: str | None, options) -> tuple[Parser, str]:
    if fmt:
        return make_parser(fmt, options), "forced with --format"
    det = detect(inp)
    return make_parser(det.format, options), det.evidence


def _ingest_one(engine, inp: Input, fmt, options, progress, batch_size, walked, result) -> SourceResult | None:
    with engine.connect() as conn:
        row = conn.execute(
            select(sources.c.id, sources.c.path, sources.c.status).where(sources.c.sha256 == inp.sha256)
        ).first()
    if row is not None:
        msg = f"{inp.display}: already ingested as source {row.id} ({row.path}); skipped"
        return SourceResult(inp.display, None, inp.sha256, inp.size, status="skipped", message=msg, source_id=row.id)
    try:
        parser, _evidence = _choose_parser(inp, fmt, options)
    except UnknownFormat as exc:
        if walked:
            result.warnings.append(f"{inp.display}: not a known log format; skipped (force one with --format)")
            return SourceResult(inp.display, None, inp.sha256, inp.size, status="skipped", message=str(exc))
        result.errors.append(str(exc))
        return SourceResult(inp.display, None, inp.sha256, inp.size, status="error", message=str(exc))
    except ValueError as exc:  # a parser refused an option (bad --year, --tz ...)
        result.errors.append(f"{inp.display}: {exc}")
        return SourceResult(inp.display, None, inp.sha256, inp.size, status="error", message=str(exc))
    sr = SourceResult(inp.display, parser.name, inp.sha256, inp.size)
    path_text = inp.display if inp.display == "-" else str(Path(inp.display).resolve())
    with engine.begin() as conn:
        sid = conn.execute(
            insert(sources).values(
                path=path_text, format=parser.name, sha256=inp.sha256, bytes=inp.size, mtime=inp.mtime,
                parser=f"logconsole.ingest.{parser.name}", parser_version=parser.version,
                ingested_at=int(time.time() * 1_000_000), status="partial",
                records=0, events=0, duplicates=0, merged=0, quarantined=0,
            )
        ).inserted_primary_key[0]
        next_id = (conn.execute(select(func.max(events.c.id))).scalar() or 0) + 1
        # FTS5 merges segments in groups of 8 rather than 4: ~14 % less FTS work per
        # insert at the same final size and query speed (docs/performance.md); persistent
        conn.exec_driver_sql("INSERT INTO events_fts(events_fts, rank) VALUES ('automerge', 8)")
    sr.source_id = sid
    writer = _BatchWriter(engine, sid, path_text, next_id, sr)
    worker = start_worker(parser, inp, batch_size) if parallel_wanted(inp, parser) else None
    if worker is not None:
        # parse + prepare in a second process while this one writes (logconsole.ingest.parallel)
        deferred = _defer_indexes(engine) if next_id == 1 else []
        with worker:
            for prepared, position in worker.batches():
                writer.commit(prepared)
                if progress:
                    progress(inp.display, position, inp.size, sr.records)
            opts = worker.source_options
        if deferred:
            _create_indexes(engine, deferred)
    else:
        items = parser.parse(inp)
        collector = TermCollector()  # this ingest's new vocabulary words (not the process's)
        batch: list[Event | Quarantined] = []
        while True:
            try:
                item = next(items)
            except StopIteration:
                break
            except TruncatedInput as exc:
                batch.append(Quarantined(f"truncated container: {exc}", None, line=None))
                break
            batch.append(item)
            if len(batch) >= batch_size:
                writer.commit(prepare_batch(batch, collector))
                batch = []
                if progress:
                    progress(inp.display, inp.position(), inp.size, sr.records)
        writer.commit(prepare_batch(batch, collector))
        opts = parser.source_options() if hasattr(parser, "source_options") else {}
    with engine.begin() as conn:
        conn.execute(
            update(sources).where(sources.c.id == sid).values(
                status="complete", options=json.dumps(opts, sort_keys=True, default=str) if opts else None
            )
        )
    if progress:
        progress(inp.display, inp.size, inp.size, sr.records)
    if sr.quarantined:
        result.warnings.append(
            f"{inp.display}: {sr.quarantined} record(s) quarantined (see `logconsole quarantine`)"
        )
    return sr


#: kept while a first large file is ingested: dedup looks every batch up in it
_KEEP_DURING_BULK = {"ix_events_dedup"}


def _defer_indexes(engine: Engine) -> list:
    """A large first ingest into an empty index: drop the secondary indexes of
    ``events`` (but the dedup one) and let the caller build them once at the
    end, sorted, instead of maintaining them row by row.  If the ingest dies
    before that, :func:`logconsole.store.db.open_db` (which every command and
    the console go through) creates the missing indexes."""
    dropped = [ix for ix in events.indexes if ix.name not in _KEEP_DURING_BULK]
    with engine.begin() as conn:
        for ix in dropped:
            ix.drop(conn, checkfirst=True)
    return dropped


def _create_indexes(engine: Engine, indexes: list) -> None:
    """CREATE INDEX with the sorter spilling to a temporary *file*: with the
    connection's ``temp_store=MEMORY`` the sort of a million keys would stay in
    RAM and peak RSS would grow with the input."""
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA temp_store=FILE")
        try:
            for ix in indexes:
                ix.create(conn, checkfirst=True)
            conn.commit()
        finally:
            conn.rollback()
            conn.exec_driver_sql("PRAGMA temp_store=MEMORY")


def prepare_batch(batch: list[Event | Quarantined], terms: TermCollector | None = None) -> list[tuple]:
    """Everything per record that does not need the index: bytes, SHA-256, dedup
    key hash, normalised IP, ``extra`` JSON, compressed raw, FTS text.

    Plain tuples, cheap to pickle (the parse worker runs this):
    ``(0, records, dup, merged, dedup_hash, by_id, format, dedup_key, record_id,
    sha, ts_us, row, fts_message, fts_raw)`` for an event, *row* being the events
    columns ``line`` .. ``raw_sha256``; ``(1, records, line, rec_index, reason,
    raw, raw_len)`` for a quarantined record; a last ``(2, words)``: the
    full-text vocabulary words this process has not seen before.
    """
    out: list[tuple] = []
    sha256 = hashlib.sha256
    encode = rawcodec.encode
    for item in batch:
        if isinstance(item, Quarantined):
            raw = item.raw
            if isinstance(raw, str):
                raw = raw.encode("utf-8", "surrogateescape")
            raw_len = len(raw) if raw is not None else None
            out.append((1, item.records, item.line, item.rec_index, item.reason[:1000],
                        raw[:QUARANTINE_RAW_CAP] if raw is not None else None, raw_len))
            continue
        raw_b = item.raw.encode("utf-8", "surrogateescape") if isinstance(item.raw, str) else item.raw
        sha = sha256(raw_b).hexdigest()
        key = f"id:{item.format}:{item.dedup_key}" if item.dedup_key else f"sha:{sha}"
        ip_text, ip_key = _ip(item.src_ip)
        extra = _dumps_extra(item.extra) if item.extra else None
        row = (
            item.line, item.rec_index, item.record_id, item.format, item.ts_us, item.ts_raw,
            item.service, item.action, item.outcome or "unknown", item.error_code, item.actor, item.actor_type,
            item.actor_uid, item.session, item.target_user, ip_text, ip_key, item.user_agent, item.host,
            item.resource, item.account, item.region, item.message, extra, encode(raw_b), sha,
        )
        out.append((0, item.records, item.dup, item.merged, dedup_hash(key), bool(item.dedup_key), item.format,
                    item.dedup_key, item.record_id, sha, item.ts_us, row,
                    *fts_columns(item.message, raw_b.decode("utf-8", "replace"))))
    words = new_terms([t for p in out if p[0] == 0 for t in (p[12], p[13])], terms)
    if words:
        out.append((2, words))
    return out


class _BatchWriter:
    """Dedup against the index, event ids, and one transaction per batch
    (events, FTS rows, quarantine, the source's running counts)."""

    def __init__(self, engine: Engine, source_id: int, path: str, next_id: int, sr: SourceResult) -> None:
        self.engine = engine
        self.sid = source_id
        self.path = path
        self.next_id = next_id
        self.sr = sr

    def commit(self, prepared: list[tuple]) -> None:
        sr = self.sr
        sid = self.sid
        ev_rows: list[tuple] = []
        fts_rows: list[tuple] = []
        q_rows: list[tuple] = []
        existing = self._existing({p[4] for p in prepared if p[0] == 0})
        first_ts, last_ts = sr.first_ts, sr.last_ts
        next_id = self.next_id
        terms: list[str] = []
        for p in prepared:
            if p[0] == 2:
                terms = p[1]
                continue
            if p[0] == 1:
                _, records, line, rec_index, reason, raw, raw_len = p
                q_rows.append((sid, self.path, line, rec_index, reason, raw, raw_len))
                sr.records += records
                sr.quarantined += records
                continue
            _, records, dup, merged, h, by_id, fmt, dkey, rid, sha, ts, row, fts_msg, fts_text = p
            sr.records += records
            sr.duplicates += dup
            sr.merged += merged
            rows = existing.get(h)
            if rows and _is_duplicate(by_id, fmt, dkey, sha, rows, sid):
                sr.duplicates += 1
                continue
            eid = next_id
            next_id += 1
            ev_rows.append((eid, sid, *row, h))
            existing.setdefault(h, set()).add((sid, fmt, rid, sha))
            fts_rows.append((eid, fts_msg, fts_text))
            if first_ts is None or ts < first_ts:
                first_ts = ts
            if last_ts is None or ts > last_ts:
                last_ts = ts
        self.next_id = next_id
        sr.events += len(ev_rows)
        sr.first_ts, sr.last_ts = first_ts, last_ts
        with self.engine.begin() as conn:
            if ev_rows:
                conn.exec_driver_sql(_EVENTS_INSERT, ev_rows)
                conn.exec_driver_sql(_FTS_INSERT, fts_rows)
            if terms:
                conn.exec_driver_sql(TERMS_INSERT, [(t,) for t in terms])
            if q_rows:
                conn.exec_driver_sql(_QUARANTINE_INSERT, q_rows)
            conn.execute(
                update(sources).where(sources.c.id == sid).values(
                    records=sr.records, events=sr.events, duplicates=sr.duplicates, merged=sr.merged,
                    quarantined=sr.quarantined, first_ts=sr.first_ts, last_ts=sr.last_ts,
                )
            )

    def _existing(self, hashes: set[int]) -> dict[int, set[tuple]]:
        """dedup hash -> {(source_id, format, record_id, raw_sha256)} already indexed; DISTINCT
        and a set keep this linear when a file repeats one line many times."""
        existing: dict[int, set[tuple]] = {}
        if not hashes:
            return existing
        hl = list(hashes)
        with self.engine.connect() as conn:
            for i in range(0, len(hl), 900):
                chunk = hl[i:i + 900]
                sql = ("SELECT DISTINCT dedup, source_id, format, record_id, raw_sha256 FROM events WHERE dedup IN ("
                       + ",".join("?" * len(chunk)) + ")")
                for r in conn.exec_driver_sql(sql, tuple(chunk)):
                    existing.setdefault(r[0], set()).add(tuple(r[1:]))
        return existing


#: The events/FTS/quarantine inserts take plain tuples through ``exec_driver_sql``
#: (still SQLAlchemy, without Core's per-row parameter processing: ~25 µs/event,
#: see docs/performance.md).  Column order of the events rows:
_EVENT_COLUMNS = (
    "id", "source_id", "line", "rec_index", "record_id", "format", "ts_us", "ts_raw", "service", "action",
    "outcome", "error_code", "actor", "actor_type", "actor_uid", "session", "target_user", "src_ip",
    "src_ip_key", "user_agent", "host", "resource", "account", "region", "message", "extra", "raw",
    "raw_sha256", "dedup",
)
_EVENTS_INSERT = f"INSERT INTO events ({', '.join(_EVENT_COLUMNS)}) VALUES ({', '.join('?' * len(_EVENT_COLUMNS))})"
_FTS_INSERT = "INSERT INTO events_fts(rowid, message, raw) VALUES (?, ?, ?)"
_QUARANTINE_INSERT = (
    "INSERT INTO quarantine (source_id, path, line, rec_index, reason, raw, raw_len) VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def _dumps_extra(extra: dict[str, Any]) -> str:
    return json.dumps(extra, separators=(",", ":"), sort_keys=True, default=str)


_norm_ip_cached = lru_cache(maxsize=65536)(norm_ip)


def _ip(value):
    """``norm_ip``, memoised: audit logs repeat a few thousand addresses and ``ipaddress`` costs ~12 µs a call."""
    try:
        return _norm_ip_cached(value)
    except TypeError:  # an unhashable value
        return norm_ip(value)


def _is_duplicate(by_id: bool, fmt: str, dedup_key: str | None, sha: str, rows: set[tuple], sid: int) -> bool:
    if by_id:
        # the same record id of the same format, in this file or any other
        return any(f == fmt and rid == dedup_key for _s, f, rid, _sha in rows)
    # identical raw record in *another* source (within one file identical lines are distinct events)
    return any(s != sid and rsha == sha for s, _f, _rid, rsha in rows)


def _cleanup_partial(engine: Engine) -> None:
    """Remove what an interrupted ingest left behind (sources still ``partial``)."""
    with engine.begin() as conn:
        sids = [r[0] for r in conn.execute(select(sources.c.id).where(sources.c.status == "partial"))]
        for sid in sids:
            # contentless FTS: a delete must repeat the indexed values
            rows = conn.execute(select(events.c.id, events.c.message, events.c.raw).where(events.c.source_id == sid))
            for part in rows.partitions(BATCH_SIZE):  # one executemany per batch, not a statement per row
                conn.exec_driver_sql(
                    "INSERT INTO events_fts(events_fts, rowid, message, raw) VALUES ('delete', ?, ?, ?)",
                    [(r.id, *fts_columns(r.message, rawcodec.decode_bytes(r.raw).decode("utf-8", "replace")))
                     for r in part],
                )
            conn.execute(delete(events).where(events.c.source_id == sid))
            conn.execute(delete(quarantine).where(quarantine.c.source_id == sid))
            conn.execute(delete(sources).where(sources.c.id == sid))
