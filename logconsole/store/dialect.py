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

import json
import os
from abc import ABC, abstractmethod
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    URL, BigInteger, Boolean, Connection, Engine, Integer, LargeBinary, Table, and_, bindparam, cast, create_engine, event,
    func, literal, select, text,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import String, TypeDecorator

from logconsole.store.fulltext import FTS_UPTO_KEY, tail_match

# ------------------------------------------------------------------ expressions
#
# Each construct carries what every engine needs (e.g. a glob pattern *and* the
# equivalent regular expression) as bound parameters; each engine renders the
# ones it uses.  Values stay parameters, so statement caching stays correct.


class glob_match(FunctionElement[bool]):
    """``value GLOB pattern``: case-sensitive, ``*`` any run, ``?`` one character, ``[...]`` a class.
    Arguments: value, glob pattern, the same as an anchored regular expression."""

    type = Boolean()
    name = "glob_match"
    inherit_cache = True


class ip_in_networks(FunctionElement[bool]):
    """The source address is in a block.  Arguments: the 16-byte key column (``src_ip_key``),
    the block's lowest and highest key, then the same block as ``inet`` values (one or two:
    an IPv6 block that covers IPv4-mapped addresses also names the IPv4 block, as IPv4
    addresses are stored as such).  SQLite compares keys; PostgreSQL asks the ``inet``
    column ``src_ip_inet`` (GiST index) with ``<<=``."""

    type = Boolean()
    name = "ip_in_networks"
    inherit_cache = True
    _is_implicitly_boolean = True  # a condition as it is: no "= 1" on SQLite, which would hide the index


def ip_block(key_col: Any, lo: bytes, hi: bytes, networks: Sequence[str]) -> ColumnElement[bool]:
    return ip_in_networks(key_col, literal(lo, LargeBinary()), literal(hi, LargeBinary()),
                          *[literal(n) for n in networks])


@compiles(ip_in_networks)  # also what str(expression) shows
@compiles(ip_in_networks, "sqlite")
def _ip_sqlite(element: ip_in_networks, compiler: Any, **kw: Any) -> str:
    col, lo, hi, *_nets = list(element.clauses)
    c = compiler.process(col, **kw)
    return f"({c} >= {compiler.process(lo, **kw)} AND {c} <= {compiler.process(hi, **kw)})"


@compiles(ip_in_networks, "postgresql")
def _ip_pg(element: ip_in_networks, compiler: Any, **kw: Any) -> str:
    col, _lo, _hi, *nets = list(element.clauses)
    key = compiler.process(col, **kw)
    inet = key[: -len("src_ip_key")] + "src_ip_inet" if key.endswith("src_ip_key") else "src_ip_inet"
    parts = [f"{inet} <<= CAST({compiler.process(n, **kw)} AS INET)" for n in nets]
    return "(" + " OR ".join(parts) + ")"


class same_value(FunctionElement[bool]):
    """``a IS NOT DISTINCT FROM b`` (equal, or both NULL) in a form each engine can join on:
    SQLite's ``a IS b`` uses an index; PostgreSQL cannot hash or merge ``IS NOT DISTINCT FROM``
    (a join on it is a nested loop), so it gets two equalities it can hash, exact together:
    ``coalesce(a, '') = coalesce(b, '') AND (a IS NULL) = (b IS NULL)``.  Text arguments."""

    type = Boolean()
    name = "same_value"
    inherit_cache = True
    _is_implicitly_boolean = True  # a condition as it is: no "= 1" on SQLite, which would hide the index


@compiles(same_value)  # also what str(expression) shows
@compiles(same_value, "sqlite")
def _same_value_sqlite(element: same_value, compiler: Any, **kw: Any) -> str:
    a, b = (compiler.process(x, **kw) for x in element.clauses)
    return f"({a} IS {b})"


@compiles(same_value, "postgresql")
def _same_value_pg(element: same_value, compiler: Any, **kw: Any) -> str:
    a, b = (compiler.process(x, **kw) for x in element.clauses)
    return f"(coalesce({a}, '') = coalesce({b}, '') AND ({a} IS NULL) = ({b} IS NULL))"


class _JSONResult(TypeDecorator[Any]):
    """A JSON value as SQLite's ``json_extract`` returns it, whatever the engine:
    numbers and strings as such, true/false as 1/0, arrays and objects as compact JSON text."""

    impl = String
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, (list, dict)):
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        return value


class json_value(FunctionElement[Any]):
    """The value at a key path inside a JSON object column (SQL NULL when absent), typed as
    :class:`_JSONResult`.  Arguments: column, ``$.a.b`` path, ``{a,b}`` path."""

    type = _JSONResult()
    name = "json_value"
    inherit_cache = True


class json_text(FunctionElement[str]):
    """The value at a key path as text (strings as they are).  Arguments as :class:`json_value`."""

    type = String()
    name = "json_text"
    inherit_cache = True


class json_equals(FunctionElement[bool]):
    """A JSON field equals a value the user typed.  Arguments: column, ``$`` path, ``{}`` path,
    SQLite text value or NULL, SQLite integer value or NULL, the value as JSON text renders it."""

    type = Boolean()
    name = "json_equals"
    inherit_cache = True


class fts_events(FunctionElement[bool]):
    """``events.id`` is the id of an event whose full-text columns match.  Arguments:
    ``events.id``, the FTS5 query (SQLite), the ``tsquery`` text (PostgreSQL): each a
    string or an SQL expression making one."""

    type = Boolean()
    name = "fts_events"
    inherit_cache = True


class fts_tail_match(FunctionElement[bool]):
    """An event not yet in the full-text index matches a free-text clause (a scan).
    Arguments: the event id, message and raw columns, the clause (:func:`fts_tail`)."""

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
                fts_tail_match(events.c.id, events.c.message, events.c.raw,
                               bindparam(TAIL_SPEC_PARAM, spec, unique=True)))


#: the name (a prefix, once made unique) of a tail clause's bound parameter
TAIL_SPEC_PARAM = "lc_fts_tail_spec"
def glob_regex(pattern: str) -> str:
    """The anchored regular expression (POSIX ARE, as PostgreSQL's ``~``) equal to a GLOB pattern."""
    out = ["^"]
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "[":
            j = i + 1
            if j < n and pattern[j] == "^":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 1
            if j >= n:  # no closing bracket: a literal "["
                out.append("\\[")
            else:
                body = pattern[i + 1:j]
                neg = body.startswith("^")
                if neg:
                    body = body[1:]
                body = body.replace("\\", "\\\\")
                if body.startswith("]"):
                    body = "\\]" + body[1:]
                out.append("[" + ("^" if neg else "") + body + "]")
                i = j
        else:
            out.append(re.escape(ch) if not ch.isalnum() else ch)
        i += 1
    out.append("$")
    return "".join(out)


def glob(col: Any, pattern: str) -> ColumnElement[bool]:
    """*col* matches the glob *pattern* (see :func:`logconsole.store.filter_lang.wildcard_pattern`)."""
    return glob_match(col, pattern, glob_regex(pattern))


def _paths(key: str) -> tuple[str, str]:
    return "$." + key, "{" + ",".join(key.split(".")) + "}"


def json_field(col: Any, key: str) -> ColumnElement[Any]:
    """The value of ``KEY`` (dotted path ``a.b``) in the JSON object held by *col*."""
    return json_value(col, *_paths(key))


def json_field_text(col: Any, key: str) -> ColumnElement[str]:
    """The value of ``KEY`` as text: for comparing with text columns and for glob patterns."""
    return json_text(col, *_paths(key))


def json_field_equals(col: Any, key: str, value: str, *, as_number: bool = False,
                      as_boolean: bool = False) -> ColumnElement[bool]:
    """``KEY`` equals *value*; ``as_number``: also the number it spells; ``as_boolean``: JSON true/false."""
    sqlite_text: str | None = value
    sqlite_int: int | None = None
    if as_boolean:
        sqlite_text, sqlite_int = None, (1 if value == "true" else 0)
    elif as_number:
        sqlite_int = int(value)
    return json_equals(col, *_paths(key), sqlite_text, sqlite_int, value)


def fts_phrase(word: str, *, prefix: bool = False) -> str:
    """One FTS5 phrase for *word*: any FTS5 syntax in it is neutralised."""
    return '"' + word.replace('"', '""') + '"' + ("*" if prefix else "")


class no_index(FunctionElement[Any]):
    """The column, kept out of the planner's index choice where the engine allows saying so."""

    name = "no_index"
    inherit_cache = True

    def __init__(self, col: Any) -> None:
        super().__init__(col)
        self.type = col.type


@compiles(no_index)
@compiles(no_index, "sqlite")
def _no_index_sqlite(element: no_index, compiler: Any, **kw: Any) -> str:
    # unary plus: SQLite's documented way to keep an index out of a plan
    return "+" + compiler.process(list(element.clauses)[0], **kw)


@compiles(no_index, "postgresql")
def _no_index_pg(element: no_index, compiler: Any, **kw: Any) -> str:
    return compiler.process(list(element.clauses)[0], **kw)  # the planner costs it itself


def _tsquery_phrase(tokens: list[str], *, prefix: bool = False) -> str:
    """A ``tsquery`` of words in this order (letters and digits only: nothing to escape)."""
    return " <-> ".join(f"'{t}'" for t in tokens) + (":*" if prefix else "")


def fts_match(tokens: list[str], *, prefix: bool = False) -> ColumnElement[bool]:
    """Events whose full-text columns hold the words *tokens* (:func:`logconsole.store.fulltext.words`)
    in this order; ``prefix``: the last one may be the start of a longer word."""
    from logconsole.store.fulltext import phrase
    from logconsole.store.schema import events

    return fts_events(events.c.id, phrase(tokens, prefix=prefix), _tsquery_phrase(tokens, prefix=prefix))


def _quoted_term(col: Any) -> ColumnElement[Any]:
    return literal('"') + func.replace(col, '"', '""') + literal('"')


def fts_vocabulary_match(toks: list[str], *, open_end: bool) -> ColumnElement[bool]:
    """Events holding *toks* where the first word may end a longer word (``ccessdenied`` ->
    ``accessdenied``) or, for one word, lie inside one, through the vocabulary ``fts_terms``:
    each vocabulary word that fits becomes one more alternative of the phrase query."""
    from logconsole.store.fulltext import phrase
    from logconsole.store.schema import events, fts_terms

    first = toks[0]
    term = fts_terms.c.term
    rest = " ".join(toks[1:])
    alt: ColumnElement[Any]
    pg_alt: ColumnElement[Any]
    if len(toks) == 1 and open_end:
        # inside a word, not at its start (the prefix form covers those)
        cond = func.instr(term, first) > 1
        pg_cond = func.strpos(term, first) > 1
        alt = _quoted_term(term)
        pg_alt = literal("'") + term + literal("'")
    else:
        cond = and_(func.length(term) > len(first), func.substr(term, -len(first)) == first)
        pg_cond = and_(func.length(term) > len(first), func.right(term, len(first)) == first)
        alt = (literal('"') + func.replace(term, '"', '""') + literal((" " + rest if rest else "") + '"')
               + literal("*" if open_end else ""))
        pg_rest = "".join(f" <-> '{t}'" for t in toks[1:])
        pg_alt = literal("'") + term + literal("'" + pg_rest + (":*" if open_end else ""))
    base = phrase(toks, prefix=open_end)
    expansion = select(func.group_concat(alt, " OR ")).where(cond).scalar_subquery()
    pg_expansion = select(func.string_agg(pg_alt, " | ")).where(pg_cond).scalar_subquery()
    pg_base = _tsquery_phrase(toks, prefix=open_end)
    return fts_events(events.c.id,
                      func.coalesce(expansion + literal(" OR "), literal("")) + literal(base),
                      func.coalesce(pg_expansion + literal(" | "), literal("")) + literal(pg_base))


@compiles(glob_match)  # also what str(expression) shows
@compiles(glob_match, "sqlite")
def _glob_sqlite(element: glob_match, compiler: Any, **kw: Any) -> str:
    col, pattern, _regex = list(element.clauses)
    return f"({compiler.process(col, **kw)} GLOB {compiler.process(pattern, **kw)})"


@compiles(json_value)  # also what str(expression) shows
@compiles(json_value, "sqlite")
@compiles(json_text)
@compiles(json_text, "sqlite")
def _json_sqlite(element: FunctionElement[Any], compiler: Any, **kw: Any) -> str:
    col, path, _pgpath = list(element.clauses)
    return f"json_extract({compiler.process(col, **kw)}, {compiler.process(path, **kw)})"


@compiles(fts_tail_match)  # also what str(expression) shows
@compiles(fts_tail_match, "sqlite")
def _fts_tail_sqlite(element: fts_tail_match, compiler: Any, **kw: Any) -> str:
    _eid, msg, raw, spec = list(element.clauses)
    return f"lc_fts_tail({compiler.process(msg, **kw)}, {compiler.process(raw, **kw)}, {compiler.process(spec, **kw)})"


@compiles(fts_tail_match, "postgresql")
def _fts_tail_pg(element: fts_tail_match, compiler: Any, **kw: Any) -> str:
    # the raw records are compressed (rawcodec) where the server cannot read them: the
    # tail is matched here, in the client, just before the statement runs, and the
    # parameter that carried the clause carries the matching event ids (_pg_tail_ids)
    eid, _msg, _raw, spec = list(element.clauses)
    return f"({compiler.process(eid, **kw)} = ANY(CAST({compiler.process(spec, **kw)} AS BIGINT[])))"


_TAIL_CACHE: dict[tuple[Any, ...], tuple[tuple[Any, ...], list[int]]] = {}
_TAIL_LOCK = threading.Lock()
_TAIL_BATCH = 5000


def _pg_tail_params(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                    executemany: bool) -> tuple[str, Any]:
    """Before a statement with free-text tail clauses runs on PostgreSQL: each clause's
    parameter (its search, :func:`~logconsole.store.fulltext.tail_spec`) becomes the ids of the
    events above the full-text watermark that match it (:func:`pg_tail_ids`)."""
    if executemany or not isinstance(parameters, dict) or \
            not any(k.startswith(TAIL_SPEC_PARAM) for k in parameters):
        return statement, parameters
    params = dict(parameters)
    for k, v in parameters.items():
        if k.startswith(TAIL_SPEC_PARAM) and isinstance(v, str):
            params[k] = pg_tail_ids(cursor.connection, v)
    return statement, params


def pg_tail_ids(dbapi_conn: Any, spec: str) -> list[int]:
    """The events above the full-text watermark whose text matches *spec*, matched here as
    SQLite's ``lc_fts_tail`` matches them (:func:`~logconsole.store.fulltext.tail_match`).
    Remembered per database and search until the tail changes (its watermark, count, largest
    and summed ids: concurrent ingests commit ids out of order)."""
    cur = dbapi_conn.cursor()
    try:
        cur.execute("SELECT value FROM meta WHERE key = %s", (FTS_UPTO_KEY,))
        row = cur.fetchone()
        if row is None:
            return []
        upto = int(row[0])
        cur.execute("SELECT count(*), coalesce(max(id), 0), coalesce(sum(id), 0) FROM events WHERE id > %s", (upto,))
        shape = (upto, *cur.fetchone())
        if shape[1] == 0:
            return []
        info = dbapi_conn.info
        key = (info.host, info.port, info.dbname, spec)
        with _TAIL_LOCK:
            hit = _TAIL_CACHE.get(key)
        if hit is not None and hit[0] == shape:
            return hit[1]
        ids: list[int] = []
        after = upto
        while True:
            cur.execute("SELECT id, message, raw FROM events WHERE id > %s ORDER BY id LIMIT %s", (after, _TAIL_BATCH))
            rows = cur.fetchall()
            if not rows:
                break
            ids.extend(eid for eid, msg, raw in rows if tail_match(msg, bytes(raw) if raw is not None else None, spec))
            after = rows[-1][0]
        with _TAIL_LOCK:
            if len(_TAIL_CACHE) > 256:
                _TAIL_CACHE.clear()
            _TAIL_CACHE[key] = (shape, ids)
        return ids
    finally:
        cur.close()


@compiles(json_equals)
@compiles(json_equals, "sqlite")
def _json_equals_sqlite(element: json_equals, compiler: Any, **kw: Any) -> str:
    col, path, _pgpath, text_value, int_value, _pg_value = list(element.clauses)
    expr = f"json_extract({compiler.process(col, **kw)}, {compiler.process(path, **kw)})"
    parts = []
    if getattr(int_value, "value", None) is not None:
        parts.append(f"{expr} = {compiler.process(int_value, **kw)}")
    if getattr(text_value, "value", None) is not None:
        parts.append(f"{expr} = {compiler.process(text_value, **kw)}")
    return "(" + " OR ".join(parts) + ")"


@compiles(fts_events)  # also what str(expression) shows
@compiles(fts_events, "sqlite")
def _fts_sqlite(element: fts_events, compiler: Any, **kw: Any) -> str:
    col, query, _tsquery = list(element.clauses)
    return (f"({compiler.process(col, **kw)} IN (SELECT rowid FROM events_fts "
            f"WHERE events_fts MATCH {compiler.process(query, **kw)}))")


@compiles(glob_match, "postgresql")
def _glob_pg(element: glob_match, compiler: Any, **kw: Any) -> str:
    col, _pattern, regex = list(element.clauses)
    return f"(CAST({compiler.process(col, **kw)} AS TEXT) ~ {compiler.process(regex, **kw)})"


@compiles(json_value, "postgresql")
def _json_pg(element: json_value, compiler: Any, **kw: Any) -> str:
    col, _path, pgpath = list(element.clauses)
    return f"(CAST({compiler.process(col, **kw)} AS JSONB) #> CAST({compiler.process(pgpath, **kw)} AS TEXT[]))"


@compiles(json_text, "postgresql")
def _json_text_pg(element: json_text, compiler: Any, **kw: Any) -> str:
    col, _path, pgpath = list(element.clauses)
    return f"(CAST({compiler.process(col, **kw)} AS JSONB) #>> CAST({compiler.process(pgpath, **kw)} AS TEXT[]))"


@compiles(json_equals, "postgresql")
def _json_equals_pg(element: json_equals, compiler: Any, **kw: Any) -> str:
    col, _path, pgpath, _text, _int, pg_value = list(element.clauses)
    return (f"((CAST({compiler.process(col, **kw)} AS JSONB) #>> CAST({compiler.process(pgpath, **kw)} AS TEXT[])) "
            f"= {compiler.process(pg_value, **kw)})")


@compiles(fts_events, "postgresql")
def _fts_pg(element: fts_events, compiler: Any, **kw: Any) -> str:
    col, _query, tsquery = list(element.clauses)
    return (f"({compiler.process(col, **kw)} IN (SELECT id FROM events_fts "
            f"WHERE doc @@ CAST({compiler.process(tsquery, **kw)} AS TSQUERY)))")


# ------------------------------------------------------------------ operations


class Dialect(ABC):
    """Operations whose SQL differs between engines (one instance per engine kind)."""

    name = "?"
    #: one writer at a time (a file lock), so a first large load may drop and rebuild indexes
    single_writer = True

    @contextmanager
    def writer_lock(self, engine: Engine) -> Iterator[None]:
        """Held around an ingest: only where the engine allows one writer."""
        yield

    def reserve_event_ids(self, engine: Engine, n: int) -> int | None:
        """The first of *n* consecutive event ids reserved for this writer, or None when the
        single writer counts them itself (from ``MAX(id) + 1``)."""
        return None

    @contextmanager
    def claim_source(self, engine: Engine, sha256: str) -> Iterator[None]:
        """Held while the source with this file SHA-256 is being ingested, so that no other
        writer cleans it up as one a crash left behind."""
        yield

    def abandoned(self, conn: Connection, sha256: str) -> bool:
        """True when a ``partial`` source belongs to no live ingest (a crash left it)."""
        return True

    @contextmanager
    def exclusive(self, engine: Engine, name: str) -> Iterator[None]:
        """One holder at a time of the named job (e.g. the index checkpoint) across writers."""
        yield

    def current_user(self, conn: Connection) -> str | None:
        """The database role of the session, where the engine has roles."""
        return None

    def lock_for_append(self, conn: Connection, table: Table) -> None:
        """Until the transaction ends, no other writer adds to or reorders *table* (readers go on)."""

    def analyze(self, conn: Connection, table: Table) -> None:
        """Give the planner a freshly filled table's statistics (a server does not gather them
        for temporary tables by itself)."""

    def reset_sequences(self, conn: Connection, tables: Sequence[Table]) -> None:
        """After rows were copied in with their ids: the next generated id follows them."""

    @abstractmethod
    def make_engine(self, url: str | URL) -> Engine:
        ...

    @abstractmethod
    def create_extra(self, conn: Connection) -> None:
        """Schema objects SQLAlchemy cannot describe (the full-text index)."""
        ...

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

    @abstractmethod
    def insert_rows(self, conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple]) -> None:
        """Many rows of plain tuples in *columns* order, as fast as the engine allows."""
        ...

    @abstractmethod
    def fts_insert(self, conn: Connection, rows: list[tuple[int, str, str]]) -> None:
        """``(event id, message text, raw text)`` rows into the full-text index."""
        ...

    @abstractmethod
    def fts_delete(self, conn: Connection, rows: list[tuple[int, str, str]]) -> None:
        """Remove rows from the full-text index (the same values as inserted)."""
        ...

    @abstractmethod
    def insert_on_conflict(self, table: Table) -> Any:
        """The engine's INSERT construct with ``ON CONFLICT`` (``on_conflict_do_nothing``,
        ``on_conflict_do_update``, ``excluded``) for *table*."""
        ...

    def insert_ignore(self, conn: Connection, table: Table, values: dict[str, Any]) -> int:
        """Insert unless a unique key already holds the row; returns the number of rows inserted."""
        return conn.execute(self.insert_on_conflict(table).values(**values).on_conflict_do_nothing()).rowcount or 0

    def upsert(self, conn: Connection, table: Table, values: dict[str, Any], keys: Sequence[str],
               update: dict[str, Any]) -> None:
        """Insert, or when the unique *keys* exist already, update those rows with *update*."""
        conn.execute(self.insert_on_conflict(table).values(**values)
                     .on_conflict_do_update(index_elements=list(keys), set_=update))

    def upsert_rows(self, conn: Connection, table: Table, rows: list[dict[str, Any]], keys: Sequence[str],
                    columns: Sequence[str]) -> None:
        """Many rows at once: insert each, or when its unique *keys* exist, set *columns* from it."""
        stmt = self.insert_on_conflict(table)
        conn.execute(stmt.on_conflict_do_update(index_elements=list(keys),
                                                set_={c: stmt.excluded[c] for c in columns}), rows)

    @contextmanager
    def short_lock_wait(self, conn: Connection) -> Iterator[None]:
        """Give up quickly (instead of waiting) when another writer holds the lock."""
        yield

    @abstractmethod
    def integrity_check(self, conn: Connection) -> str:
        """``"ok"`` or the engine's description of what is damaged."""
        ...

    @abstractmethod
    def terms_insert(self, conn: Connection, terms: list[str]) -> None:
        """Words into the full-text vocabulary (``fts_terms``); words already there are kept."""
        ...

    @abstractmethod
    def vocabulary_from_index(self, conn: Connection) -> None:
        """Fill the vocabulary from the words of the full-text index (a migration step)."""
        ...

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

    def insert_on_conflict(self, table: Table) -> Any:
        from sqlalchemy.dialects.sqlite import insert

        return insert(table)

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


#: the longest text given to to_tsvector per column (PostgreSQL limits a tsvector to 1 MB)
PG_FTS_MAX_CHARS = 200_000

#: Text columns searched with wildcards (``action:Get*``, ``actor:*admin*``) get a trigram index.
PG_TRIGRAM_COLUMNS = ("actor", "action", "resource")


def _pg_text(value: Any) -> Any:
    """PostgreSQL text holds no NUL character: it is shown as U+FFFD (the raw record keeps the byte)."""
    if isinstance(value, str) and "\x00" in value:
        return value.replace("\x00", "\ufffd")
    return value


class PostgreSQLDialect(Dialect):
    """A server: several investigators and several writers at once.  COPY for bulk
    loads, ``tsvector`` for full text, ``pg_trgm`` for wildcards, ``inet`` for CIDR."""

    name = "postgresql"
    single_writer = False

    def make_engine(self, url: str | URL) -> Engine:
        eng = create_engine(url, pool_pre_ping=True)
        event.listen(eng, "before_cursor_execute", _pg_tail_params, retval=True)
        return eng

    def create_extra(self, conn: Connection) -> None:
        conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS events_fts (id INTEGER PRIMARY KEY, doc TSVECTOR NOT NULL)")
        conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_events_fts_doc ON events_fts USING GIN (doc)")
        for col in PG_TRIGRAM_COLUMNS:
            conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS ix_events_{col}_trgm ON events USING GIN ({col} gin_trgm_ops)")
        conn.exec_driver_sql(
            "ALTER TABLE events ADD COLUMN IF NOT EXISTS src_ip_inet INET GENERATED ALWAYS AS "
            "(CASE WHEN src_ip_key IS NULL THEN NULL ELSE CAST(src_ip AS INET) END) STORED")
        conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_events_src_ip_inet ON events USING GIST (src_ip_inet inet_ops)")
        conn.exec_driver_sql("CREATE SEQUENCE IF NOT EXISTS logconsole_event_ids")

    def insert_rows(self, conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple]) -> None:
        text_cols = [i for i, c in enumerate(columns) if isinstance(table.c[c].type, (String,)) or
                     table.c[c].type.__class__.__name__ in ("Text", "String")]
        cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cur.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                if text_cols:
                    r = list(row)
                    for i in text_cols:
                        r[i] = _pg_text(r[i])
                    copy.write_row(r)
                else:
                    copy.write_row(row)

    def fts_insert(self, conn: Connection, rows: list[tuple[int, str, str]]) -> None:
        # the words are split and folded here, as the searched phrases are
        # (fulltext.words: unicode61's split, lower case, no diacritics), so that
        # both sides agree; the server only numbers their positions
        from logconsole.store.fulltext import words

        conn.exec_driver_sql(
            "CREATE TEMP TABLE IF NOT EXISTS logconsole_fts_stage (id INTEGER, message TEXT, raw TEXT) "
            "ON COMMIT DELETE ROWS")
        cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cur.copy("COPY logconsole_fts_stage (id, message, raw) FROM STDIN") as copy:
            for eid, message, raw in rows:
                copy.write_row((eid, " ".join(words(message[:PG_FTS_MAX_CHARS])) if message else "",
                                " ".join(words(raw[:PG_FTS_MAX_CHARS]))))
        conn.exec_driver_sql(
            "INSERT INTO events_fts (id, doc) SELECT id, to_tsvector('simple', message) || to_tsvector('simple', raw) "
            "FROM logconsole_fts_stage")
        conn.exec_driver_sql("DELETE FROM logconsole_fts_stage")

    def fts_delete(self, conn: Connection, rows: list[tuple[int, str, str]]) -> None:
        conn.execute(text("DELETE FROM events_fts WHERE id = ANY(:ids)"), {"ids": [r[0] for r in rows]})

    def insert_on_conflict(self, table: Table) -> Any:
        from sqlalchemy.dialects.postgresql import insert

        return insert(table)

    @contextmanager
    def short_lock_wait(self, conn: Connection) -> Iterator[None]:
        conn.exec_driver_sql("SET lock_timeout = '500ms'")
        try:
            yield
        finally:
            conn.exec_driver_sql("SET lock_timeout = 0")

    def integrity_check(self, conn: Connection) -> str:
        # the server guards its pages (checksums, WAL); what can be checked from a session:
        # every table is readable end to end and every event has its full-text row
        problems = []
        for (name,) in conn.exec_driver_sql(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename"):
            conn.exec_driver_sql(f'SELECT count(*) FROM "{name}"').scalar_one()
        missing = conn.exec_driver_sql(
            "SELECT count(*) FROM events e WHERE NOT EXISTS (SELECT 1 FROM events_fts f WHERE f.id = e.id)").scalar_one()
        if missing:
            problems.append(f"{missing} event(s) without a full-text row")
        return "; ".join(problems) or "ok"

    def terms_insert(self, conn: Connection, terms: list[str]) -> None:
        conn.execute(text("INSERT INTO fts_terms (term) SELECT unnest(CAST(:t AS TEXT[])) ON CONFLICT DO NOTHING"),
                     {"t": [_pg_text(t) for t in terms]})

    def vocabulary_from_index(self, conn: Connection) -> None:
        from logconsole.store.fulltext import ID_MIN_LEN

        conn.exec_driver_sql(
            "INSERT INTO fts_terms (term) SELECT word FROM ts_stat('SELECT doc FROM events_fts') "
            f"WHERE (length(word) < {ID_MIN_LEN} OR word !~ '[0-9]') AND length(word) <= 200 ON CONFLICT DO NOTHING")

    def interrupt(self, dbapi_connection: Any) -> None:
        dbapi_connection.cancel()

    def is_interrupt(self, exc: BaseException) -> bool:
        cur: BaseException | None = exc
        while cur is not None:
            if cur.__class__.__name__ == "QueryCanceled":
                return True
            cur = cur.__cause__ or getattr(cur, "orig", None)
        return False

    def reserve_event_ids(self, engine: Engine, n: int) -> int | None:
        if n <= 0:
            return None
        with engine.begin() as conn:
            # one contiguous block per batch, whoever else is writing: the counter row is
            # locked only for this short transaction
            conn.exec_driver_sql(
                "INSERT INTO meta (key, value) SELECT 'next_event_id', CAST(COALESCE(MAX(id), 0) + 1 AS TEXT) "
                "FROM events ON CONFLICT (key) DO NOTHING")
            return conn.execute(text(
                "UPDATE meta SET value = CAST(CAST(value AS BIGINT) + :n AS TEXT) WHERE key = 'next_event_id' "
                "RETURNING CAST(value AS BIGINT) - :n"), {"n": n}).scalar_one()

    @contextmanager
    def claim_source(self, engine: Engine, sha256: str) -> Iterator[None]:
        conn = engine.connect()
        key = _source_key(sha256)
        try:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
            conn.commit()
            yield
        finally:
            try:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
            finally:
                conn.close()

    def abandoned(self, conn: Connection, sha256: str) -> bool:
        return bool(conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _source_key(sha256)}).scalar_one())

    @contextmanager
    def exclusive(self, engine: Engine, name: str) -> Iterator[None]:
        conn = engine.connect()
        key = int.from_bytes(name.encode()[:4].ljust(4, b"\0"), "big", signed=True)
        try:
            conn.execute(text("SELECT pg_advisory_lock(:k, 0)"), {"k": key})
            conn.commit()
            yield
        finally:
            try:
                conn.execute(text("SELECT pg_advisory_unlock(:k, 0)"), {"k": key})
                conn.commit()
            finally:
                conn.close()

    def current_user(self, conn: Connection) -> str | None:
        return conn.exec_driver_sql("SELECT current_user").scalar_one()

    def lock_for_append(self, conn: Connection, table: Table) -> None:
        conn.exec_driver_sql(f"LOCK TABLE {table.name} IN SHARE ROW EXCLUSIVE MODE")

    def location(self, engine: Engine) -> str:
        return engine.url.render_as_string(hide_password=True)

    def analyze(self, conn: Connection, table: Table) -> None:
        conn.exec_driver_sql(f'ANALYZE "{table.name}"')

    def reset_sequences(self, conn: Connection, tables: Sequence[Table]) -> None:
        for t in tables:
            pk = list(t.primary_key.columns)
            if len(pk) == 1 and pk[0].autoincrement in (True, "auto") and isinstance(pk[0].type, Integer):
                seq = conn.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                   {"t": t.name, "c": pk[0].name}).scalar()
                if seq:
                    conn.execute(text(f"SELECT setval(:s, COALESCE((SELECT MAX({pk[0].name}) FROM {t.name}), 0) + 1, false)"),
                                 {"s": seq})


def _source_key(sha256: str) -> int:
    """The advisory-lock key of "the source with this SHA-256 is being ingested by a live session"."""
    return int(sha256[:15], 16)


#: engine name (``sqlalchemy.engine.Dialect.name``) -> implementation
DIALECTS: dict[str, Dialect] = {"sqlite": SQLiteDialect(), "postgresql": PostgreSQLDialect()}


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


#: execution option naming the investigator: ``engine.execution_options(logconsole_as="NAME")``
AS_OPTION = "logconsole_as"


def investigator(conn: Connection) -> str:
    """Who is making a change: ``--as NAME`` (the engine's :data:`AS_OPTION`), else the database
    role (a server), else the operating-system user."""
    name = conn.get_execution_options().get(AS_OPTION)
    if name:
        return str(name)
    role = of(conn).current_user(conn)
    if role:
        return role
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment
        return "unknown"


_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(target: str | os.PathLike[str]) -> bool:
    """True for a SQLAlchemy URL (``postgresql+psycopg://...``), False for a file path."""
    return bool(_URL.match(os.fspath(target)))


def url_for(target: str | os.PathLike[str]) -> URL:
    """A SQLAlchemy URL for ``--db``: a URL as given (``postgresql://`` means psycopg 3), a
    plain path a SQLite file.  ``URL.create`` keeps a file name as it is (in a
    ``sqlite:///...`` string, ``case?1.db`` would be the file ``case`` with a query string)."""
    from sqlalchemy.engine import make_url

    t = os.fspath(target)
    if not is_url(t):
        return URL.create("sqlite", database=t)
    if t.startswith(("postgresql://", "postgres://")):
        t = "postgresql+psycopg://" + t.split("://", 1)[1]
    return make_url(t)


def make_engine(target: str | os.PathLike[str]) -> Engine:
    """An engine for *target* (see :func:`url_for`), with the engine's connect-time settings."""
    url = url_for(target)
    name = url.get_backend_name()
    if name not in DIALECTS:
        raise ValueError(f"{redact(os.fspath(target))}: logconsole supports SQLite files and PostgreSQL URLs, not {name!r}")
    return DIALECTS[name].make_engine(url)


def redact(target: str | os.PathLike[str]) -> str:
    """*target* with any password hidden (for messages)."""
    t = os.fspath(target)
    if not is_url(t):
        return t
    from sqlalchemy.engine import make_url

    try:
        return make_url(t).render_as_string(hide_password=True)
    except Exception:
        return t.split("://", 1)[0] + "://..."


__all__ = [
    "DIALECTS",
    "SQLITE_FTS_DDL",
    "Dialect",
    "PostgreSQLDialect",
    "ReadOnlyOpenError",
    "SQLiteDialect",
    "connect_readonly",
    "fts_match",
    "fts_phrase",
    "fts_vocabulary_match",
    "glob",
    "index_catalog",
    "is_url",
    "json_field",
    "json_field_equals",
    "json_field_text",
    "make_engine",
    "of",
    "readonly_engine",
    "redact",
    "url_for",
]
