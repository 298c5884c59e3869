"""The ingest pipeline: files -> parser -> dedup -> batched inserts, losslessly.

Per source file:
1. hash the file (read-only); a SHA-256 already ingested completely is skipped;
   a source left ``partial`` by an interrupted ingest is removed and redone (a file
   that no indexed source can be, none of its size, is hashed after its parse);
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

import errno
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Index, and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.exc import DBAPIError, OperationalError

from logconsole.ingest.base import Parser
from logconsole.ingest.batches import BATCH_SIZE, PreparedBatch, iter_batches
from logconsole.ingest.detect import detect
from logconsole.ingest.formats import UnknownFormat, make_parser
from logconsole.ingest.parallel import parallel_wanted, start_worker
from logconsole.ingest.reader import Input, InputError, ReadOutcome, ReadState, expand_paths
from logconsole.store import dialect, rawcodec
from logconsole.store import fulltext_index
from logconsole.store.fulltext import fts_columns
from logconsole.store.schema import events, quarantine, source_reads, sources

__all__ = ["BATCH_SIZE", "IngestResult", "ProgressFn", "SourceFn", "SourceResult", "ingest_files", "ingest_paths",
           "writing"]


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
    status: str = "ingested"  # ingested | skipped | error | changed
    message: str | None = None
    source_id: int | None = None
    first_ts: int | None = None
    last_ts: int | None = None
    #: blank lines read (not records: counted, not stored)
    blank_lines: int = 0
    #: first byte parsed (> 0: this source continues source ``continues``)
    start_offset: int = 0
    continues: int | None = None
    #: "whole", or "prefix" when the file grew while it was read (``bytes`` were read)
    read: str = "whole"

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
    #: files that changed while they were read (nothing from them kept; exit status 1)
    changed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: what the steps after the ingest did (verification, grants imported), one line each
    notes: list[str] = field(default_factory=list)
    #: wall seconds of each step after the ingest (``checkpoint``, ``fulltext`` ...), in the order run
    step_seconds: dict[str, float] = field(default_factory=dict)

    def total(self, key: str) -> int:
        return sum(getattr(s, key) for s in self.sources if s.status == "ingested")

    @property
    def added(self) -> bool:
        """At least one source was ingested (the index changed)."""
        return any(s.status == "ingested" for s in self.sources)

    def as_json(self) -> dict[str, Any]:
        return {
            "db": self.db,
            "sources": [s.as_json() for s in self.sources],
            "records": self.total("records"),
            "events": self.total("events"),
            "duplicates": self.total("duplicates"),
            "merged": self.total("merged"),
            "quarantined": self.total("quarantined"),
            "blank_lines": self.total("blank_lines"),
            "errors": self.errors,
            "changed": self.changed,
            "warnings": self.warnings,
            "seconds": round(self.seconds, 3),
            **({"step_seconds": {k: round(v, 3) for k, v in self.step_seconds.items()}}
               if self.step_seconds else {}),
            **({"notes": self.notes} if self.notes else {}),
        }


ProgressFn = Callable[[str, int, int, int], None]  # (path, bytes_done, bytes_total, records)
#: told each source as it is settled (ingested, skipped, error, changed)
SourceFn = Callable[["SourceResult"], None]


@contextmanager
def writing(engine: Engine) -> Iterator[None]:
    """Hold the index for writing: the engine's writer lock and bulk-load mode
    (:meth:`logconsole.store.dialect.Dialect.bulk_load`) and what an interrupted ingest
    left removed.  The ingest workflow (:mod:`logconsole.workflows.ingest`) runs its
    ingest and the steps after it inside one ``writing`` block."""
    d = dialect.of(engine)
    with d.bulk_load(engine), d.writer_lock(engine):
        _cleanup_partial(engine)
        yield


#: a source stops when at least this many of its records are quarantined and they are
#: at least 90 % of what it read so far (overwhelmingly unparseable: the wrong format,
#: binary data); ``--max-quarantined 0`` lifts the bound
MAX_QUARANTINED = 10_000


class TooManyQuarantined(Exception):
    """A source is overwhelmingly unparseable (see :data:`MAX_QUARANTINED`)."""


class IndexWriteError(RuntimeError):
    """The index cannot be written (disk full, file size limit, I/O error): the ingest stops."""


def ingest_paths(
    engine: Engine,
    paths: Iterable[str],
    *,
    fmt: str | None = None,
    options: dict[str, Any] | None = None,
    progress: ProgressFn | None = None,
    batch_size: int = BATCH_SIZE,
    max_quarantined: int = MAX_QUARANTINED,
) -> IngestResult:
    """Ingest files/directories/"-" into the index behind *engine* (taking the
    writer lock); only the ingest: the steps after it belong to the workflow."""
    with writing(engine):
        return ingest_files(engine, paths, fmt=fmt, options=options, progress=progress, batch_size=batch_size,
                            max_quarantined=max_quarantined)


@dataclass
class _Run:
    """What every file of one ingest shares."""

    engine: Engine
    fmt: str | None
    options: dict[str, Any] | None
    progress: ProgressFn | None
    batch_size: int
    max_quarantined: int
    result: IngestResult
    #: following growing files: a last line without its newline waits for it
    complete_lines: bool = False


def ingest_files(
    engine: Engine,
    paths: Iterable[str],
    *,
    fmt: str | None = None,
    options: dict[str, Any] | None = None,
    progress: ProgressFn | None = None,
    batch_size: int = BATCH_SIZE,
    max_quarantined: int = MAX_QUARANTINED,
    complete_lines: bool = False,
    on_source: SourceFn | None = None,
) -> IngestResult:
    """Ingest into an index held with :func:`writing`; *on_source* is told each
    source as it is settled (a progress display counts files done with it).

    A named file that cannot be read or whose format is unknown, and a directory
    that cannot be read, is recorded in ``result.errors`` (one line naming it, with
    the reason); files found by walking a directory whose format is unknown are
    skipped with a warning.  A file that changed while it was read is recorded in
    ``result.changed`` and nothing from it is kept.  The index's own files are never
    ingested.  Raises :class:`IndexWriteError` when the index cannot be written.
    """
    t0 = time.perf_counter()
    result = IngestResult(db=dialect.of(engine).location(engine))
    run = _Run(engine, fmt, options, progress, batch_size, max_quarantined, result, complete_lines)
    own = index_files(result.db)
    for given in list(paths):
        walked = given != "-" and Path(given).is_dir()
        targets = expand_paths([given], result.errors, own)
        if walked and not targets:
            result.warnings.append(f"{given}: directory holds no files")
        for p in targets:
            if not walked and p != "-" and _identity(p) in own:
                msg = f"{p}: this is the index's own file; not ingested"
                result.errors.append(msg)
                sr: SourceResult | None = SourceResult(p, None, None, 0, status="error", message=msg)
            else:
                sr = _ingest_path(run, p, walked)
            if sr is not None:
                result.sources.append(sr)
                if on_source is not None:
                    on_source(sr)
    result.seconds = time.perf_counter() - t0
    return result


def index_files(db_path: str) -> set[tuple[int, int]]:
    """(device, inode) of the index, its WAL and shared-memory files and its lock file."""
    out = set()
    real = os.path.realpath(db_path)
    for suffix in ("", "-wal", "-shm", "-journal", ".lock"):
        ident = _identity(real + suffix)
        if ident is not None:
            out.add(ident)
    return out


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _ingest_path(run: _Run, p: str, walked: bool) -> SourceResult | None:
    try:
        inp = Input.from_stdin() if p == "-" else Input.open(p, prehash=False, complete_lines=run.complete_lines)
    except InputError as exc:
        run.result.errors.append(str(exc))
        return SourceResult(p, None, None, 0, status="error", message=str(exc))
    try:
        return _ingest_one(run, inp, walked)
    except (OperationalError, DBAPIError) as exc:
        raise IndexWriteError(f"{run.result.db}: cannot write the index while ingesting {inp.display}: "
                              f"{_db_reason(exc)}; the sources ingested before are kept, this file is "
                              "ingested again by the next run") from None
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            raise IndexWriteError(f"{run.result.db}: cannot write while ingesting {inp.display}: "
                                  f"{exc.strerror or exc}") from None
        msg = f"{inp.display}: cannot read: {exc.strerror or exc}"
        run.result.errors.append(msg)
        return SourceResult(inp.display, None, None, inp.size, status="error", message=msg)
    finally:
        inp.close()


def _choose_parser(inp: Input, fmt: str | None, options: dict[str, Any] | None) -> Parser:
    if fmt:
        return make_parser(fmt, options)
    return make_parser(detect(inp).format, options)


@dataclass
class _Prior:
    """An ingested source of the same file that a later ingest may continue."""

    id: int
    sha256: str
    format: str
    end_offset: int
    end_line: int


def _ingest_one(run: _Run, inp: Input, walked: bool) -> SourceResult:
    engine, result = run.engine, run.result
    path_text = inp.display if inp.path is None else str(Path(inp.display).resolve())
    priors = _continuable(engine, inp, path_text)
    if run.complete_lines and inp.size == 0 and not priors:
        # a followed file with no complete line yet (just created, or its first line being written):
        # nothing to read, nothing to detect; the next look reads it
        return SourceResult(inp.display, None, None, 0, status="skipped", message=f"{inp.display}: no complete line yet")
    # the whole-file hash is the lookup key of a file already ingested; a file that no indexed source
    # can be (none of its size, none it continues) is hashed after its parse instead, so its first
    # batch is written at once (a fresh bundle shows rows in the console while it loads)
    hash_after = not inp.sha256 and not priors and dialect.of(engine).single_writer \
        and not _size_taken(engine, inp.size)
    if hash_after:
        prefix_hashes: dict[int, str] = {}
        inp.sha256 = PENDING_PREFIX + os.urandom(16).hex()  # the source row's key until it is settled
    else:
        prefix_hashes = inp.prehash([p.end_offset for p in priors])
        known = _known_source(engine, inp)
        if known is not None:
            return known
    base = next((p for p in priors if prefix_hashes.get(p.end_offset) == p.sha256), None)
    try:
        if base is not None:
            inp.continue_from(base.end_offset, base.end_line + 1)
            parser = make_parser(base.format, run.options)
        else:
            parser = _choose_parser(inp, run.fmt, run.options)
    except UnknownFormat as exc:
        if walked:
            result.warnings.append(f"{inp.display}: not a known log format; skipped (force one with --format)")
            return SourceResult(inp.display, None, inp.sha256, inp.size, status="skipped", message=str(exc))
        result.errors.append(str(exc))
        return SourceResult(inp.display, None, inp.sha256, inp.size, status="error", message=str(exc))
    except (ValueError, InputError) as exc:  # a parser refused an option (bad --year, --tz ...)
        result.errors.append(f"{inp.display}: {exc}")
        return SourceResult(inp.display, None, inp.sha256, inp.size, status="error", message=str(exc))
    sr = SourceResult(inp.display, parser.name, inp.sha256, inp.size)
    d = dialect.of(engine)
    # held until the source is settled: no other writer cleans it up as a crashed one
    with d.claim_source(engine, inp.sha256):
        sid, next_id = _insert_source(engine, inp, parser, path_text)
        sr.source_id = sid
        writer = _BatchWriter(engine, sid, path_text, next_id, sr, run.max_quarantined)
        try:
            opts, state = _write_batches(engine, parser, inp, writer, next_id == 1 and d.single_writer,
                                         run.batch_size, run.progress)
        except TooManyQuarantined as exc:
            _remove(engine, sid)
            msg = f"{inp.display}: {exc}"
            result.errors.append(msg)
            return SourceResult(inp.display, parser.name, inp.sha256, inp.size, status="error", message=msg)
        if hash_after:  # the bytes now, against what the parse read: a file rewritten under it differs
            inp.prehash()
        outcome = inp.finish(state)
        return _settle(run, inp, parser, sr, writer, opts, outcome, base)


def _settle(run: _Run, inp: Input, parser: Parser, sr: SourceResult, writer: _BatchWriter, opts: dict[str, Any],
            outcome: ReadOutcome, base: _Prior | None) -> SourceResult:
    """Keep the source under the hash of exactly the bytes it read, or, if the file
    changed under the read, remove it and say so."""
    engine, result = run.engine, run.result
    sid = writer.sid
    sr.blank_lines = inp.blank_lines
    if outcome.state in ("shrunk", "rewritten", "replaced"):
        _remove(engine, sid)
        msg = (f"{inp.display}: changed while it was ingested ({outcome.detail}); nothing from it is kept - "
               "ingest it again once it no longer changes")
        result.changed.append(msg)
        return SourceResult(inp.display, parser.name, None, inp.size, status="changed", message=msg)
    if (base is not None and outcome.end <= inp.start) or _sha_taken(engine, outcome.sha256, sid):
        _remove(engine, sid)  # nothing new: the file only grew by a line still being written
        msg = f"{inp.display}: no complete new record since source {base.id if base else '?'}; skipped"
        return SourceResult(inp.display, None, outcome.sha256, outcome.end, status="skipped", message=msg,
                            source_id=base.id if base else None)
    sr.sha256, sr.bytes = outcome.sha256, outcome.end
    sr.start_offset = outcome.start
    sr.continues = base.id if base is not None else None
    with engine.begin() as conn:
        conn.execute(insert(source_reads).values(
            source_id=sid, start_offset=outcome.start, end_offset=outcome.end, start_line=outcome.start_line,
            end_line=outcome.end_line, file_size=outcome.size_now, dev=inp.dev, inode=inp.ino,
            mtime_ns=inp.mtime_ns, mode=outcome.mode, state="prefix" if outcome.state == "grown" else "whole",
            continues=sr.continues, blank_lines=sr.blank_lines,
        ))
        conn.execute(
            update(sources).where(sources.c.id == sid).values(
                status="complete", sha256=outcome.sha256, bytes=outcome.end,
                options=json.dumps(opts, sort_keys=True, default=str) if opts else None,
            )
        )
    if run.progress:
        run.progress(inp.display, inp.size, inp.size, sr.records)
    if base is not None:
        result.warnings.append(f"{inp.display}: continued source {base.id} from byte {outcome.start:,} "
                               f"(line {outcome.start_line:,})")
    if outcome.state == "grown":
        sr.read = "prefix"
        result.warnings.append(
            f"{inp.display}: {outcome.detail}; indexed bytes {outcome.start:,}-{outcome.end:,} "
            f"(up to line {outcome.end_line:,}, SHA-256 {outcome.sha256[:16]}… of bytes 0-{outcome.end:,}); "
            "ingest it again to continue from there")
    if sr.quarantined:
        result.warnings.append(
            f"{inp.display}: {sr.quarantined} record(s) quarantined (see `logconsole quarantine`)"
        )
    return sr


def _db_reason(exc: Exception) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__


def _sha_taken(engine: Engine, sha: str, sid: int) -> bool:
    with engine.connect() as conn:
        return conn.execute(select(sources.c.id).where(sources.c.sha256 == sha, sources.c.id != sid)).first() \
            is not None


def _continuable(engine: Engine, inp: Input, path_text: str) -> list[_Prior]:
    """Complete sources of this file (same path, or same device and inode) read as lines
    and shorter than it now, longest first: the file may have grown since."""
    if inp.gzipped or inp.path is None:
        return []
    r = source_reads
    with engine.connect() as conn:
        rows = conn.execute(
            select(sources.c.id, sources.c.sha256, sources.c.format, r.c.end_offset, r.c.end_line)
            .select_from(sources.join(r, r.c.source_id == sources.c.id))
            .where(sources.c.status == "complete", r.c.mode == "lines", r.c.end_offset < inp.size,
                   or_(sources.c.path == path_text, and_(r.c.dev == inp.dev, r.c.inode == inp.ino)))
            .order_by(r.c.end_offset.desc())
        ).all()
    return [_Prior(*row) for row in rows]


#: the key of a ``partial`` source whose file is hashed after its parse (see ``_ingest_one``)
PENDING_PREFIX = "pending-"


def _size_taken(engine: Engine, size: int) -> bool:
    """Some source of the index read exactly *size* bytes (the file may be one already ingested)."""
    with engine.connect() as conn:
        return conn.execute(select(sources.c.id).where(sources.c.bytes == size).limit(1)).first() is not None


def _known_source(engine: Engine, inp: Input) -> SourceResult | None:
    """A source with this SHA-256 is already in the index: the file is skipped."""
    with engine.connect() as conn:
        row = conn.execute(
            select(sources.c.id, sources.c.path, sources.c.status).where(sources.c.sha256 == inp.sha256)
        ).first()
    if row is None:
        return None
    msg = f"{inp.display}: already ingested as source {row.id} ({row.path}); skipped"
    return SourceResult(inp.display, None, inp.sha256, inp.size, status="skipped", message=msg, source_id=row.id)


def _insert_source(engine: Engine, inp: Input, parser: Parser, path_text: str) -> tuple[int, int]:
    """The ``sources`` row (``partial`` until the last batch is written) and the next event id."""
    with engine.begin() as conn:
        pk = conn.execute(
            insert(sources).values(
                path=path_text, format=parser.name, sha256=inp.sha256, bytes=inp.size, mtime=inp.mtime,
                parser=f"logconsole.ingest.{parser.name}", parser_version=parser.version,
                ingested_at=int(time.time() * 1_000_000), status="partial",
                records=0, events=0, duplicates=0, merged=0, quarantined=0,
            )
        ).inserted_primary_key
        if pk is None:  # pragma: no cover - SQLite always returns the rowid
            raise RuntimeError("the index returned no id for the new source")
        sid = int(pk[0])
        next_id = (conn.execute(select(func.max(events.c.id))).scalar() or 0) + 1
        dialect.of(conn).before_source_load(conn)
        fulltext_index.start_deferred(conn)
    return sid, next_id


def _write_batches(engine: Engine, parser: Parser, inp: Input, writer: _BatchWriter, first_in_index: bool,
                   batch_size: int, progress: ProgressFn | None) -> tuple[dict[str, Any], ReadState]:
    """Write every batch of *inp*, parsed in a worker process when that pays
    (:mod:`logconsole.ingest.parallel`) or here; returns the source options to record
    and what the parse read."""
    worker = start_worker(parser, inp, batch_size) if parallel_wanted(inp, parser) else None
    if worker is None:
        _commit_all(iter_batches(parser, inp, batch_size), writer, inp, progress)
        return parser.source_options(), inp.read_state()
    deferred = _defer_indexes(engine) if first_in_index else []
    with worker:
        _commit_all(worker.batches(), writer, inp, progress)
        opts, state = worker.source_options, worker.read_state
    if deferred:
        _create_indexes(engine, deferred)
    if state is None:  # pragma: no cover - "done" always carries it
        raise RuntimeError("the parse worker did not say what it read")
    inp.blank_lines = state.blank_lines
    return opts, state


def _commit_all(batches: Iterator[PreparedBatch], writer: _BatchWriter, inp: Input,
                progress: ProgressFn | None) -> None:
    for prepared, position in batches:
        writer.commit(prepared)
        if progress:
            progress(inp.display, position, inp.size, writer.sr.records)


#: kept while a first large file is ingested: dedup looks every batch up in it
_KEEP_DURING_BULK = {"ix_events_dedup"}


def _defer_indexes(engine: Engine) -> list[Index]:
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


def _create_indexes(engine: Engine, indexes: list[Index]) -> None:
    """CREATE INDEX in the engine's index-build mode (sorts spill to disk, so peak
    RSS does not grow with the input)."""
    with engine.connect() as conn, dialect.of(conn).index_build(conn):
        for ix in indexes:
            ix.create(conn, checkfirst=True)
        conn.commit()


class _BatchWriter:
    """Dedup against the index, event ids, and one transaction per batch
    (events, quarantine, the source's running counts; the full-text rows follow
    behind, :mod:`logconsole.store.fulltext_index`)."""

    def __init__(self, engine: Engine, source_id: int, path: str, next_id: int, sr: SourceResult,
                 max_quarantined: int = MAX_QUARANTINED) -> None:
        self.engine = engine
        self.sid = source_id
        self.path = path
        self.next_id = next_id
        self.sr = sr
        self.max_quarantined = max_quarantined

    def commit(self, prepared: list[tuple]) -> None:
        sr = self.sr
        sid = self.sid
        ev_rows: list[tuple] = []
        q_rows: list[tuple] = []
        existing = self._existing({p[4] for p in prepared if p[0] == 0})
        first_ts, last_ts = sr.first_ts, sr.last_ts
        next_id = self.next_id
        for p in prepared:
            if p[0] == 1:
                _, records, line, rec_index, reason, raw, raw_len = p
                q_rows.append((sid, self.path, line, rec_index, reason, raw, raw_len))
                sr.records += records
                sr.quarantined += records
                continue
            _, records, dup, merged, h, by_id, fmt, dkey, rid, sha, ts, row = p
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
            if first_ts is None or ts < first_ts:
                first_ts = ts
            if last_ts is None or ts > last_ts:
                last_ts = ts
        self.next_id = next_id
        base = dialect.of(self.engine).reserve_event_ids(self.engine, len(ev_rows))
        if base is not None and ev_rows and base != ev_rows[0][0]:  # ids reserved among concurrent writers
            shift = base - ev_rows[0][0]
            ev_rows = [(r[0] + shift, *r[1:]) for r in ev_rows]
            self.next_id = next_id + shift
        sr.events += len(ev_rows)
        sr.first_ts, sr.last_ts = first_ts, last_ts
        with self.engine.begin() as conn:
            d = dialect.of(conn)
            if ev_rows:
                d.insert_rows(conn, events, _EVENT_COLUMNS, ev_rows)
            if q_rows:
                d.insert_rows(conn, quarantine, _QUARANTINE_COLUMNS, q_rows)
            conn.execute(
                update(sources).where(sources.c.id == sid).values(
                    records=sr.records, events=sr.events, duplicates=sr.duplicates, merged=sr.merged,
                    quarantined=sr.quarantined, first_ts=sr.first_ts, last_ts=sr.last_ts,
                )
            )
        self._check_quarantine()

    def _check_quarantine(self) -> None:
        sr, limit = self.sr, self.max_quarantined
        if limit and sr.quarantined >= limit and sr.quarantined * 10 >= sr.records * 9:
            raise TooManyQuarantined(
                f"{sr.quarantined:,} of the first {sr.records:,} records cannot be read as {sr.format}: stopped, "
                f"nothing from this file is kept (is it {sr.format} at all? name the format with --format; to "
                f"ingest it anyway, quarantining every bad record, pass --max-quarantined 0)")

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
                for r in conn.execute(_EXISTING, {"hashes": chunk}):
                    existing.setdefault(r[0], set()).add(tuple(r[1:]))
        return existing


#: The events/FTS/quarantine inserts take plain tuples (``dialect.insert_rows``:
#: without Core's per-row parameter processing, ~25 µs/event, see
#: docs/performance.md).  Column order of the events rows:
_EVENT_COLUMNS = (
    "id", "source_id", "line", "rec_index", "record_id", "format", "ts_us", "ts_raw", "service", "action",
    "outcome", "error_code", "actor", "actor_type", "actor_uid", "session", "target_user", "src_ip",
    "src_ip_key", "user_agent", "host", "resource", "account", "region", "message", "extra", "raw",
    "raw_sha256", "dedup",
)
_QUARANTINE_COLUMNS = ("source_id", "path", "line", "rec_index", "reason", "raw", "raw_len")
#: what is indexed already under some dedup hashes (DISTINCT: a file may repeat one line many times)
_EXISTING = (
    select(events.c.dedup, events.c.source_id, events.c.format, events.c.record_id, events.c.raw_sha256)
    .distinct().where(events.c.dedup.in_(bindparam("hashes", expanding=True)))
)


def _is_duplicate(by_id: bool, fmt: str, dedup_key: str | None, sha: str, rows: set[tuple], sid: int) -> bool:
    if by_id:
        # the same record id of the same format, in this file or any other
        return any(f == fmt and rid == dedup_key for _s, f, rid, _sha in rows)
    # identical raw record in *another* source (within one file identical lines are distinct events)
    return any(s != sid and rsha == sha for s, _f, _rid, rsha in rows)


def _cleanup_partial(engine: Engine) -> None:
    """Remove what an interrupted ingest left behind (sources still ``partial``)."""
    with engine.begin() as conn:
        partial = conn.execute(select(sources.c.id, sources.c.sha256).where(sources.c.status == "partial")).all()
        for sid, sha in partial:
            if dialect.of(conn).abandoned(conn, sha):  # else another writer is ingesting it right now
                _remove_rows(conn, sid)


def _remove(engine: Engine, sid: int) -> None:
    """Remove one source and everything it wrote (a file that changed under its read,
    or one stopped as unparseable)."""
    with engine.begin() as conn:
        _remove_rows(conn, sid)


def _remove_rows(conn: Connection, sid: int) -> None:
    q = select(events.c.id, events.c.message, events.c.raw).where(events.c.source_id == sid)
    upto = fulltext_index.indexed_upto(conn)
    if upto is not None:  # rows above the watermark have no full-text row yet
        q = q.where(events.c.id <= upto)
    rows = conn.execute(q)
    for part in rows.partitions(BATCH_SIZE):  # one executemany per batch, not a statement per row
        dialect.of(conn).fts_delete(
            conn,
            [(r.id, *fts_columns(r.message, rawcodec.decode_bytes(r.raw).decode("utf-8", "replace")))
             for r in part],
        )
    conn.execute(delete(events).where(events.c.source_id == sid))
    conn.execute(delete(quarantine).where(quarantine.c.source_id == sid))
    conn.execute(delete(source_reads).where(source_reads.c.source_id == sid))
    conn.execute(delete(sources).where(sources.c.id == sid))
