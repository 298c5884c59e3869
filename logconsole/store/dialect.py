"""Everything engine-specific, behind one interface.

Feature code (filter fields, ingest, analysis, reports) never writes SQL that
only one engine understands: it calls this module.  Two kinds of interface:

* **Expressions** (:func:`glob`, :func:`json_field`, :func:`fts_match`) are
  SQLAlchemy constructs that each engine renders its own way when a statement
  is compiled (``@compiles(..., "sqlite")``), so a filter compiled once runs on
  whatever engine executes it.
* **Operations on a connection** (pragmas at connect, bulk-load mode, the
  full-text rows, upserts, the integrity check, interrupting a query) go
  through :func:`of`, which returns the :class:`Dialect` of the connection's
  engine.

Today's implementation is :class:`SQLiteDialect`; a second engine adds a
``Dialect`` subclass, registers it in :data:`DIALECTS` and adds its
``@compiles`` renderings next to the SQLite ones.  Nothing else changes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    URL, BigInteger, Boolean, Connection, Engine, Table, and_, cast, create_engine, event, func, literal, select, text,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import NullType

from logconsole.store.fulltext import FTS_UPTO_KEY, tail_match

# ------------------------------------------------------------------ expressions


class glob_match(FunctionElement[bool]):
    """``value GLOB pattern``: case-sensitive, ``*`` any run, ``?`` one character, ``[...]`` a class."""

    type = Boolean()
    name = "glob_match"
    inherit_cache = True


class json_value(FunctionElement[Any]):
    """The value at a dotted *key* path inside a JSON object column (SQL NULL when absent)."""

    type = NullType()
    name = "json_value"
    inherit_cache = True


class fts_events(FunctionElement[bool]):
    """``events.id`` is the id of an event whose full-text columns match the query."""

    type = Boolean()
    name = "fts_events"
    inherit_cache = True


class fts_tail_match(FunctionElement[bool]):
    """An event not yet in the full-text index matches a free-text clause (a scan)."""

    type = Boolean()
    name = "fts_tail_match"
    inherit_cache = True


def fts_tail(spec: str) -> ColumnElement[bool]:
    """Events above the full-text watermark (``meta`` :data:`~logconsole.store.fulltext.FTS_UPTO_KEY`:
    written but not yet caught up by :mod:`logconsole.store.fulltext_index`) whose text matches
    the clause *spec* (:func:`~logconsole.store.fulltext.tail_spec`).  With no watermark
    (every event indexed) the range is empty and the scan costs one rowid seek."""
    from logconsole.store.schema import events, meta

    upto = select(cast(meta.c.value, BigInteger)).where(meta.c.key == FTS_UPTO_KEY).scalar_subquery()
    return and_(events.c.id > func.coalesce(upto, literal(2**63 - 1, BigInteger)),
                fts_tail_match(events.c.message, events.c.raw, spec))


def glob(col: Any, pattern: str) -> ColumnElement[bool]:
    """*col* matches the glob *pattern* (see :func:`logconsole.store.filter_lang.wildcard_pattern`)."""
    return glob_match(col, pattern)


def json_field(col: Any, key: str) -> ColumnElement[Any]:
    """The value of ``KEY`` (dotted path ``a.b``) in the JSON object held by *col*."""
    return json_value(col, "$." + key)


def fts_phrase(word: str, *, prefix: bool = False) -> str:
    """One full-text phrase for *word*: the engine's query syntax in it is neutralised."""
    return '"' + word.replace('"', '""') + '"' + ("*" if prefix else "")


def fts_match(query: Any) -> ColumnElement[bool]:
    """Events whose full-text columns match *query*: an FTS5 query (built with
    :func:`fts_phrase` or :func:`logconsole.store.fulltext.phrase`) or an SQL expression making one."""
    from logconsole.store.schema import events

    return fts_events(events.c.id, query)


def _quoted_term(col: Any) -> ColumnElement[Any]:
    return literal('"') + func.replace(col, '"', '""') + literal('"')


def fts_vocabulary_match(toks: list[str], *, open_end: bool, base: str) -> ColumnElement[bool]:
    """Events holding *toks* where the first word may end a longer word (``ccessdenied`` ->
    ``accessdenied``), through the vocabulary ``fts_terms``: each vocabulary word that
    fits becomes one more alternative of the FTS query *base*."""
    from logconsole.store.schema import fts_terms

    first = toks[0]
    term = fts_terms.c.term
    alt: ColumnElement[Any]
    if len(toks) == 1 and open_end:
        # inside a word, not at its start (the prefix form covers those)
        cond = func.instr(term, first) > 1
        alt = _quoted_term(term)
    else:
        cond = and_(func.length(term) > len(first), func.substr(term, -len(first)) == first)
        rest = " ".join(toks[1:])
        alt = (literal('"') + func.replace(term, '"', '""') + literal((" " + rest if rest else "") + '"')
               + literal("*" if open_end else ""))
    expansion = select(func.group_concat(alt, " OR ")).where(cond).scalar_subquery()
    return fts_match(func.coalesce(expansion + literal(" OR "), literal("")) + literal(base))


@compiles(glob_match)  # also what str(expression) shows
@compiles(glob_match, "sqlite")
def _glob_sqlite(element: glob_match, compiler: Any, **kw: Any) -> str:
    col, pattern = list(element.clauses)
    return f"({compiler.process(col, **kw)} GLOB {compiler.process(pattern, **kw)})"


@compiles(json_value)  # also what str(expression) shows
@compiles(json_value, "sqlite")
def _json_sqlite(element: json_value, compiler: Any, **kw: Any) -> str:
    col, path = list(element.clauses)
    return f"json_extract({compiler.process(col, **kw)}, {compiler.process(path, **kw)})"


@compiles(fts_tail_match)  # also what str(expression) shows
@compiles(fts_tail_match, "sqlite")
def _fts_tail_sqlite(element: fts_tail_match, compiler: Any, **kw: Any) -> str:
    msg, raw, spec = list(element.clauses)
    return f"lc_fts_tail({compiler.process(msg, **kw)}, {compiler.process(raw, **kw)}, {compiler.process(spec, **kw)})"


@compiles(fts_events)  # also what str(expression) shows
@compiles(fts_events, "sqlite")
def _fts_sqlite(element: fts_events, compiler: Any, **kw: Any) -> str:
    col, query = list(element.clauses)
    return (f"({compiler.process(col, **kw)} IN (SELECT rowid FROM events_fts "
            f"WHERE events_fts MATCH {compiler.process(query, **kw)}))")


# ------------------------------------------------------------------ operations


class Dialect:
    """Operations whose SQL differs between engines (one instance per engine kind)."""

    name = "?"

    @contextmanager
    def writer_lock(self, engine: Engine) -> Iterator[None]:
        """Held around an ingest: only where the engine allows one writer."""
        yield

    def make_engine(self, url: str | URL) -> Engine:
        raise NotImplementedError

    def create_extra(self, conn: Connection) -> None:
        """Schema objects SQLAlchemy cannot describe (the full-text index)."""
        raise NotImplementedError

    @contextmanager
    def bulk_load(self, engine: Engine) -> Iterator[None]:
        """Around an ingest: whatever keeps a long write fast and its memory bounded."""
        yield

    @contextmanager
    def index_build(self, conn: Connection) -> Iterator[None]:
        """Around ``CREATE INDEX`` of a large table (sorts spill to disk)."""
        yield

    def before_source_load(self, conn: Connection) -> None:
        """Tuning before the events of one source are loaded (inside its first transaction)."""

    def insert_rows(self, conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple]) -> None:
        """Many rows of plain tuples in *columns* order, as fast as the engine allows."""
        raise NotImplementedError

    def fts_insert(self, conn: Connection, rows: list[tuple[int, str, str]]) -> None:
        """``(event id, message text, raw text)`` rows into the full-text index."""
        raise NotImplementedError

    def fts_delete(self, conn: Connection, rows: list[tuple[int, str, str]]) -> None:
        """Remove rows from the full-text index (the same values as inserted)."""
        raise NotImplementedError

    def insert_ignore(self, conn: Connection, table: Table, values: dict[str, Any]) -> int:
        """Insert unless a unique key already holds the row; returns the number of rows inserted."""
        raise NotImplementedError

    def upsert(self, conn: Connection, table: Table, values: dict[str, Any], keys: Sequence[str],
               update: dict[str, Any]) -> None:
        """Insert, or when the unique *keys* exist already, update those rows with *update*."""
        raise NotImplementedError

    def upsert_rows(self, conn: Connection, table: Table, rows: list[dict[str, Any]], keys: Sequence[str],
                    columns: Sequence[str]) -> None:
        """Many rows at once: insert each, or when its unique *keys* exist, set *columns* from it."""
        raise NotImplementedError

    @contextmanager
    def short_lock_wait(self, conn: Connection) -> Iterator[None]:
        """Give up quickly (instead of waiting) when another writer holds the lock."""
        yield

    def integrity_check(self, conn: Connection) -> str:
        """``"ok"`` or the engine's description of what is damaged."""
        raise NotImplementedError

    def terms_insert(self, conn: Connection, terms: list[str]) -> None:
        """Words into the full-text vocabulary (``fts_terms``); words already there are kept."""
        raise NotImplementedError

    def vocabulary_from_index(self, conn: Connection) -> None:
        """Fill the vocabulary from the words of the full-text index (a migration step)."""
        raise NotImplementedError

    def interrupt(self, dbapi_connection: Any) -> None:
        """Stop the statement running on a driver connection (from another thread)."""

    def is_interrupt(self, exc: BaseException) -> bool:
        """True when *exc* is what a statement stopped by :meth:`interrupt` raises."""
        return False

    def location(self, engine: Engine) -> str:
        """Where the index lives, for messages and reports."""
        return engine.url.render_as_string(hide_password=True)


#: The full-text index.  Contentless: the text lives (compressed) in
#: ``events.raw``; the FTS table stores only the inverted index, keyed by
#: ``rowid = events.id``.  columnsize=0: no per-row token counts (only BM25 ranking
#: needs them, and results are ordered by time), 11 B per event less.
SQLITE_FTS_DDL = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS events_fts USING fts5("
    "message, raw, content='', columnsize=0, tokenize='unicode61 remove_diacritics 2')"
)


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # 16 KiB pages; takes effect only on a new, empty file (an index keeps its page size):
    # ~1.3 KB event rows leave less slack per page (docs/performance.md)
    cur.execute("PRAGMA page_size=16384")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.execute("PRAGMA mmap_size=268435456")
    cur.close()
    register_functions(dbapi_conn)


def register_functions(dbapi_conn: Any) -> None:
    """The SQL functions the index's queries use, on a new SQLite connection (read-write
    or read-only): ``lc_fts_tail`` searches the events the full-text index has not
    caught up with yet (:func:`fts_tail`), ``lc_raw_match`` the ``field.path:value``
    filters (:mod:`logconsole.store.rawfields`)."""
    from logconsole.store import rawfields

    rawfields.register(dbapi_conn)
    dbapi_conn.create_function("lc_fts_tail", 3, tail_match, deterministic=True)


class SQLiteDialect(Dialect):
    """One index file; WAL, FTS5, one writer at a time."""

    name = "sqlite"

    @contextmanager
    def writer_lock(self, engine: Engine) -> Iterator[None]:
        import fcntl

        # one writer per index file, whatever path reaches it: the lock file sits next to
        # the index's real path (symbolic links and ".." resolved)
        db_path = engine.url.database or ":memory:"
        fd = os.open(os.path.realpath(db_path) + ".lock", os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RuntimeError(f"{db_path}: another ingest is writing to this index") from None
            yield
        finally:
            os.close(fd)

    def make_engine(self, url: str | URL) -> Engine:
        eng = create_engine(url)
        event.listen(eng, "connect", _sqlite_on_connect)
        return eng

    def create_extra(self, conn: Connection) -> None:
        conn.exec_driver_sql(SQLITE_FTS_DDL)

    @contextmanager
    def bulk_load(self, engine: Engine) -> Iterator[None]:
        """Read through SQLite's bounded page cache, not the 256 MiB memory map, while
        ingesting: mapped pages count in RSS, so a large ingest (and the index builds and
        checkpoints after it, which read every row) peaked above 500 MB.  The ingest uses
        one pooled connection at a time while writing; afterwards the pool is disposed,
        so that every later connection (the post-ingest steps may hold two at once) is
        new and gets the map back from the connect hook."""
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA mmap_size=0")
        try:
            yield
        finally:
            engine.dispose()

    @contextmanager
    def index_build(self, conn: Connection) -> Iterator[None]:
        """The sorter spills to a temporary *file*: with the connection's
        ``temp_store=MEMORY`` the sort of a million keys would stay in RAM and
        peak RSS would grow with the input."""
        conn.exec_driver_sql("PRAGMA temp_store=FILE")
        try:
            yield
        finally:
            conn.rollback()
            conn.exec_driver_sql("PRAGMA temp_store=MEMORY")

    def before_source_load(self, conn: Connection) -> None:
        # FTS5 merges segments in groups of 8 rather than 4: ~14 % less FTS work per
        # insert at the same final size and query speed (docs/performance.md); persistent
        conn.exec_driver_sql("INSERT INTO events_fts(events_fts, rank) VALUES ('automerge', 8)")

    def insert_rows(self, conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple]) -> None:
        # plain tuples through exec_driver_sql: still SQLAlchemy, without Core's
        # per-row parameter processing (~25 µs/event, see docs/performance.md)
        sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        conn.exec_driver_sql(sql, rows)

    def fts_insert(self, conn: Connection, rows: list[tuple[int, str, str]]) -> None:
        conn.exec_driver_sql("INSERT INTO events_fts(rowid, message, raw) VALUES (?, ?, ?)", rows)

    def fts_delete(self, conn: Connection, rows: list[tuple[int, str, str]]) -> None:
        # contentless FTS5: a delete repeats the indexed values
        conn.exec_driver_sql("INSERT INTO events_fts(events_fts, rowid, message, raw) VALUES ('delete', ?, ?, ?)", rows)

    def insert_ignore(self, conn: Connection, table: Table, values: dict[str, Any]) -> int:
        from sqlalchemy.dialects.sqlite import insert

        return conn.execute(insert(table).values(**values).on_conflict_do_nothing()).rowcount or 0

    def upsert(self, conn: Connection, table: Table, values: dict[str, Any], keys: Sequence[str],
               update: dict[str, Any]) -> None:
        from sqlalchemy.dialects.sqlite import insert

        conn.execute(insert(table).values(**values).on_conflict_do_update(index_elements=list(keys), set_=update))

    def upsert_rows(self, conn: Connection, table: Table, rows: list[dict[str, Any]], keys: Sequence[str],
                    columns: Sequence[str]) -> None:
        from sqlalchemy.dialects.sqlite import insert

        stmt = insert(table)
        conn.execute(stmt.on_conflict_do_update(index_elements=list(keys),
                                                set_={c: stmt.excluded[c] for c in columns}), rows)

    @contextmanager
    def short_lock_wait(self, conn: Connection) -> Iterator[None]:
        conn.exec_driver_sql("PRAGMA busy_timeout=500")
        try:
            yield
        finally:
            conn.exec_driver_sql("PRAGMA busy_timeout=10000")

    def integrity_check(self, conn: Connection) -> str:
        return conn.execute(text("PRAGMA integrity_check")).scalar_one()

    def terms_insert(self, conn: Connection, terms: list[str]) -> None:
        conn.exec_driver_sql("INSERT OR IGNORE INTO fts_terms (term) VALUES (?)", [(t,) for t in terms])

    def vocabulary_from_index(self, conn: Connection) -> None:
        # exact: FTS5's own words, with the vocabulary's rule (fulltext.ID_MIN_LEN)
        from logconsole.store.fulltext import ID_MIN_LEN

        conn.exec_driver_sql(
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.events_fts_vocab USING fts5vocab(main, 'events_fts', 'row')")
        conn.exec_driver_sql(
            "INSERT OR IGNORE INTO fts_terms (term) SELECT term FROM temp.events_fts_vocab WHERE "
            f"(length(term) < {ID_MIN_LEN} OR term NOT GLOB '*[0-9]*') AND length(term) <= 200")
        conn.exec_driver_sql("DROP TABLE temp.events_fts_vocab")

    def interrupt(self, dbapi_connection: Any) -> None:
        dbapi_connection.interrupt()

    def is_interrupt(self, exc: BaseException) -> bool:
        import sqlite3

        cur: BaseException | None = exc
        while cur is not None:
            if isinstance(cur, sqlite3.OperationalError) and "interrupt" in str(cur):
                return True
            cur = cur.__cause__ or getattr(cur, "orig", None)
        return False

    def location(self, engine: Engine) -> str:
        return engine.url.database or ":memory:"


#: engine name (``sqlalchemy.engine.Dialect.name``) -> implementation
DIALECTS: dict[str, Dialect] = {"sqlite": SQLiteDialect()}


# ------------------------------------------------------- read-only file opening


class ReadOnlyOpenError(Exception):
    """A file could not be opened read-only (the message names it and why)."""


def _ro_uri(path: Any, *, immutable: bool = False) -> str:
    from pathlib import Path
    from urllib.parse import quote

    return f"file:{quote(str(Path(path).resolve()))}?mode=ro" + ("&immutable=1" if immutable else "")


def connect_readonly(path: Any) -> Any:
    """A read-only DB-API connection to an index file that writes nothing but what
    SQLite's own reader does.  In a read-only directory (or mount) where SQLite cannot
    create the ``-shm`` file, the file is opened ``immutable`` - but only if no
    write-ahead log holds changes that would then be skipped."""
    import sqlite3
    from pathlib import Path

    try:
        conn = sqlite3.connect(_ro_uri(path), uri=True, check_same_thread=False)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError as exc:  # cannot open read-only here: try immutable below
        first = exc
    except sqlite3.DatabaseError as exc:  # not a database at all
        raise ReadOnlyOpenError(f"{path}: cannot open index: {exc}; left untouched") from None
    wal = Path(str(path) + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise ReadOnlyOpenError(
            f"{path}: cannot open read-only ({first}); its write-ahead log {wal.name} holds changes that a "
            "read-only open cannot apply here: open it once where it is writable, or copy the index with its -wal file")
    try:
        conn = sqlite3.connect(_ro_uri(path, immutable=True), uri=True, check_same_thread=False)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.Error as exc:
        raise ReadOnlyOpenError(f"{path}: cannot open index: {exc}") from None


def index_catalog(conn: Any) -> tuple[set[str], list[Any] | None]:
    """(table and view names, the ``schema_version`` values of ``meta`` or None if
    it cannot be read) of a DB-API connection, read without writing."""
    import sqlite3

    try:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
    except sqlite3.DatabaseError as exc:
        raise ReadOnlyOpenError(str(exc)) from None
    if "meta" not in names:
        return names, None
    try:
        rows = [r[0] for r in conn.execute("SELECT value FROM meta WHERE key = 'schema_version'")]
    except sqlite3.DatabaseError:
        return names, None
    return names, rows


def _sqlite_on_connect_ro(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA query_only=1")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA cache_size=-65536")
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.execute("PRAGMA mmap_size=268435456")
    cur.close()
    register_functions(dbapi_conn)


def readonly_engine(path: Any) -> Engine:
    """An engine whose every connection is :func:`connect_readonly` (``query_only`` too);
    the URL names the file, as reports show it."""
    eng = create_engine(url_for(path), creator=lambda: connect_readonly(path))
    event.listen(eng, "connect", _sqlite_on_connect_ro)
    return eng


def of(bind: Engine | Connection) -> Dialect:
    """The :class:`Dialect` of an engine or connection."""
    name = bind.dialect.name
    try:
        return DIALECTS[name]
    except KeyError:
        raise ValueError(f"logconsole does not support the {name!r} database engine") from None


def url_for(target: str | os.PathLike[str]) -> URL:
    """A SQLAlchemy URL for ``--db``: a plain path is a SQLite file.  ``URL.create`` keeps
    the file name as it is (in a ``sqlite:///...`` string, ``case?1.db`` would be the
    file ``case`` with a query string)."""
    return URL.create("sqlite", database=os.fspath(target))


def make_engine(target: str | os.PathLike[str]) -> Engine:
    """An engine for *target* (see :func:`url_for`), with the engine's connect-time settings."""
    url = url_for(target)
    return DIALECTS[url.get_backend_name()].make_engine(url)


__all__ = [
    "DIALECTS",
    "SQLITE_FTS_DDL",
    "Dialect",
    "ReadOnlyOpenError",
    "SQLiteDialect",
    "connect_readonly",
    "fts_match",
    "fts_phrase",
    "fts_vocabulary_match",
    "glob",
    "index_catalog",
    "json_field",
    "make_engine",
    "of",
    "readonly_engine",
    "url_for",
]
