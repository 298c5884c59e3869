"""Ad-hoc SQL over the index, read-only by construction (SQLite here; PostgreSQL:
:class:`PostgresReadOnlySql`, :func:`open_readonly` picks by the index location).

``logconsole sql "SELECT ..."`` and the console's ``:`` prompt run here.  The
guarantees do not depend on parsing the statement:

1. the index is opened by SQLite in read-only mode (``mode=ro`` URI), so no
   statement can write to it whatever it is;
2. an authorizer (``sqlite3_set_authorizer``) allows only reads: SELECT,
   column reads, functions (except ``load_extension`` and file functions),
   recursive CTEs and a few schema-reading PRAGMAs without a value; INSERT,
   UPDATE, DELETE, CREATE, DROP, ALTER, ATTACH, DETACH, transactions, any
   other PRAGMA, ANALYZE and REINDEX are refused before they run;
3. extension loading stays disabled and no database can be attached
   (``SQLITE_LIMIT_ATTACHED`` is 0);
4. one statement per call (the sqlite3 module refuses a second one);
5. a row limit, and cancellation: :meth:`ReadOnlySql.cancel` (another thread,
   the console's Esc) interrupts the statement, and a progress handler checks
   the cancel flag and an optional time limit.

Queries see documented views (temporary, in this connection only) that shadow
the tables: :data:`VIEWS`.  Errors are :class:`SqlError` with the 0-based
position in the statement where SQLite (or the authorizer) objected.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

_TIME = "strftime('%Y-%m-%dT%H:%M:%fZ', {col} / 1000000.0, 'unixepoch')"

#: name -> (description, SELECT over main.*); columns are documented in docs/query.md
VIEWS: dict[str, tuple[str, str]] = {
    "events": (
        "every event with every normalized column, its time as ISO 8601 UTC and its source file",
        "SELECT e.id, " + _TIME.format(col="e.ts_us") + " AS time, e.ts_us, e.ts_raw, e.format, e.service, "
        "e.action, e.outcome, e.error_code, e.actor, e.actor_type, e.actor_uid, e.session, e.target_user, "
        "e.src_ip, e.user_agent, e.host, e.resource, e.account, e.region, e.message, e.record_id, e.extra, "
        "e.source_id, s.path AS source_path, e.line, e.rec_index, e.raw_sha256 "
        "FROM main.events e JOIN main.sources s ON s.id = e.source_id",
    ),
    "sources": (
        "ingested files: path, format, SHA-256, size, counts, status",
        "SELECT id, path, format, sha256, bytes, mtime, parser, parser_version, "
        + _TIME.format(col="ingested_at") + " AS ingested, " + _TIME.format(col="first_ts") + " AS first_time, "
        + _TIME.format(col="last_ts") + " AS last_time, records, events, duplicates, merged, quarantined, "
        "status, options FROM main.sources",
    ),
    "findings": (
        "findings: title, severity, narrative, query and the number of attached events",
        "SELECT f.id, f.position, f.title, f.severity, f.narrative, f.query, "
        + _TIME.format(col="f.created_us") + " AS created, " + _TIME.format(col="f.updated_us") + " AS updated, "
        "(SELECT count(*) FROM main.finding_events fe WHERE fe.finding_id = f.id) AS attached_events "
        "FROM main.findings f",
    ),
    "finding_events": (
        "events attached to findings (event_id may be NULL if the event is no longer indexed)",
        "SELECT fe.finding_id, e.id AS event_id, fe.raw_sha256, " + _TIME.format(col="fe.added_us") + " AS added "
        "FROM main.finding_events fe LEFT JOIN main.events e ON e.dedup = fe.dedup AND e.raw_sha256 = fe.raw_sha256",
    ),
    "annotations": (
        "marks, notes and tags on events",
        "SELECT a.id, a.event_id, a.raw_sha256, a.marked, a.note, "
        "(SELECT group_concat(t.tag, ',') FROM main.annotation_tags t WHERE t.annotation_id = a.id) AS tags, "
        + _TIME.format(col="a.created_us") + " AS created, " + _TIME.format(col="a.updated_us") + " AS updated "
        "FROM main.annotations a",
    ),
}

DEFAULT_LIMIT = 1000

_SCHEMA_PRAGMAS = {"table_info", "table_xinfo", "index_list", "index_info", "index_xinfo", "table_list",
                   "foreign_key_list", "collation_list", "function_list", "pragma_list"}
_DENIED_FUNCTIONS = {"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer", "zipfile"}
_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_RECURSIVE}

#: sqlite3_set_authorizer action codes (sqlite3.h); the module's constants mix them with result codes
_ACTION_NAMES = dict(enumerate(
    ["?", "CREATE_INDEX", "CREATE_TABLE", "CREATE_TEMP_INDEX", "CREATE_TEMP_TABLE", "CREATE_TEMP_TRIGGER",
     "CREATE_TEMP_VIEW", "CREATE_TRIGGER", "CREATE_VIEW", "DELETE", "DROP_INDEX", "DROP_TABLE", "DROP_TEMP_INDEX",
     "DROP_TEMP_TABLE", "DROP_TEMP_TRIGGER", "DROP_TEMP_VIEW", "DROP_TRIGGER", "DROP_VIEW", "INSERT", "PRAGMA",
     "READ", "SELECT", "TRANSACTION", "UPDATE", "ATTACH", "DETACH", "ALTER_TABLE", "REINDEX", "ANALYZE",
     "CREATE_VTABLE", "DROP_VTABLE", "FUNCTION", "SAVEPOINT", "RECURSIVE"]))
# the keyword to point at for a refused action
_KEYWORD = {"INSERT": "insert", "UPDATE": "update", "DELETE": "delete", "ATTACH": "attach", "DETACH": "detach",
            "PRAGMA": "pragma", "TRANSACTION": r"begin|commit|end|rollback", "SAVEPOINT": r"savepoint|release",
            "ANALYZE": "analyze", "REINDEX": "reindex", "ALTER_TABLE": "alter"}


class SqlError(Exception):
    def __init__(self, message: str, position: int | None = None) -> None:
        where = f"at position {position + 1}: " if position is not None else ""
        super().__init__(where + message)
        self.message = message
        self.position = position


class SqlCancelled(SqlError):
    pass


@dataclass
class SqlResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool  # more rows than the limit
    seconds: float
    limit: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _position(sql: str, pattern: str, *, word: bool = True) -> int | None:
    rx = (r"(?<![\w$])(?:" + pattern + r")(?![\w$])") if word else re.escape(pattern)
    m = re.search(rx, sql, re.IGNORECASE)
    return m.start() if m else None


class ReadOnlySql:
    """One read-only connection to an index file; not shared between threads
    except for :meth:`cancel`."""

    def __init__(self, path: str | Path, *, time_limit: float | None = None) -> None:
        p = Path(path)
        if not p.is_file():
            raise SqlError(f"{p}: no index here")
        uri = f"file:{quote(str(p.resolve()))}?mode=ro"
        try:
            self.conn = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
            self.conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
            have = {r[0] for r in self.conn.execute("SELECT name FROM main.sqlite_master WHERE type='table'")}
            for name, (_doc, select) in VIEWS.items():
                if name == "events" and "events" not in have:
                    raise SqlError(f"{p}: not a logconsole index (no events table)")
                self.conn.execute(f"CREATE TEMP VIEW {name} AS {select}")
            self.conn.execute("PRAGMA query_only=1")  # after the views: it refuses temp objects too
        except sqlite3.Error as exc:
            raise SqlError(f"{p}: cannot open index: {exc}") from None
        self._cancel = threading.Event()
        self._denied: tuple[str, str | None] | None = None
        self.time_limit = time_limit
        self._deadline: float | None = None
        self.conn.set_authorizer(self._authorize)
        self.conn.set_progress_handler(self._progress, 20_000)

    # ------------------------------------------------------------ guards

    def _authorize(self, action: int, arg1, arg2, db_name, trigger) -> int:
        if action in _ALLOWED:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() not in _DENIED_FUNCTIONS:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() in _SCHEMA_PRAGMAS:
            return sqlite3.SQLITE_OK
        name = _ACTION_NAMES.get(action, str(action))
        self._denied = (name, arg2 if action == sqlite3.SQLITE_FUNCTION else arg1)
        return sqlite3.SQLITE_DENY

    def _progress(self) -> int:
        if self._cancel.is_set():
            return 1
        if self._deadline is not None and time.monotonic() > self._deadline:
            return 1
        return 0

    def cancel(self) -> None:
        """Stop the running statement (from any thread)."""
        self._cancel.set()
        try:
            self.conn.interrupt()
        except sqlite3.ProgrammingError:  # closed
            pass

    # ------------------------------------------------------------ running

    def run(self, sql: str, *, limit: int | None = DEFAULT_LIMIT) -> SqlResult:
        """Run one read-only statement; at most *limit* rows (None: all)."""
        self._cancel.clear()
        self._denied = None
        self._deadline = time.monotonic() + self.time_limit if self.time_limit else None
        t0 = time.perf_counter()
        if not sql.strip():
            raise SqlError("empty statement", 0)
        try:
            cur = self.conn.execute(sql)
            columns = [d[0] for d in cur.description or []]
            if limit is None:
                rows = cur.fetchall()
                truncated = False
            else:
                rows = cur.fetchmany(limit + 1)
                truncated = len(rows) > limit
                rows = rows[:limit]
            cur.close()
        except (sqlite3.Error, sqlite3.Warning) as exc:
            raise self._error(sql, exc) from None
        return SqlResult(columns, rows, truncated, time.perf_counter() - t0, limit)

    def _error(self, sql: str, exc: sqlite3.Error | sqlite3.Warning) -> SqlError:
        msg = str(exc)
        if self._denied is not None or "not authorized" in msg or "prohibited" in msg:
            name, arg = self._denied or ("statement", None)
            kw = _KEYWORD.get(name) or name.split("_")[0].lower()
            if name == "FUNCTION" and arg:
                kw = re.escape(arg)
            pos = _position(sql, kw) if kw else None
            what = f"{name.replace('_', ' ')}" + (f" {arg}" if arg else "")
            return SqlError(f"not allowed: {what} (logconsole sql is read-only: SELECT only)", pos if pos is not None else 0)
        if "interrupted" in msg:
            if self._cancel.is_set():
                return SqlCancelled("cancelled")
            return SqlCancelled(f"stopped after the time limit of {self.time_limit:g} s")
        if "one statement at a time" in msg:
            return SqlError(f"{msg} (one statement per query)", _second_statement(sql))
        if "cannot modify" in msg or "may not be modified" in msg:
            m = re.match(r"\s*(\w+)", sql)
            verb = m.group(1).upper() if m else "statement"
            return SqlError(f"not allowed: {verb} (logconsole sql is read-only: SELECT only)", m.start(1) if m else 0)
        m = re.search(r'near "(.*?)": syntax error', msg, re.DOTALL)
        if m:
            return SqlError(msg, _position(sql, m.group(1), word=False))
        if "incomplete input" in msg:
            return SqlError(msg, len(sql.rstrip()))
        m = re.search(r"no such (?:column|table|function): (?:[\w$]+\.)?([\w$]+)", msg)
        if m:
            return SqlError(msg, _position(sql, re.escape(m.group(1))))
        if "readonly" in msg or "read-only" in msg:
            return SqlError(f"not allowed: {msg} (logconsole sql is read-only)", 0)
        return SqlError(msg, None)

    def close(self) -> None:
        try:
            self.conn.close()
        except sqlite3.Error:
            pass

    def __enter__(self) -> ReadOnlySql:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _second_statement(sql: str) -> int | None:
    i = sql.find(";")
    return i if i >= 0 else None


def views_help() -> list[dict[str, Any]]:
    """The documented views and their columns (for ``logconsole sql --views`` and the console)."""
    import sqlite3 as _s

    conn = _s.connect(":memory:")
    out = []
    for name, (doc, select) in VIEWS.items():
        cols = [c.strip() for c in re.split(r",(?![^(]*\))", select.split(" FROM main.")[0].removeprefix("SELECT "))]
        names = [re.split(r"\s+AS\s+", c, flags=re.IGNORECASE)[-1].split(".")[-1] for c in cols]
        out.append({"view": name, "description": doc, "columns": names})
    conn.close()
    return out


# ---------------------------------------------------------------- PostgreSQL

_PG_TIME = ("to_char(timestamp '1970-01-01' + ({col} / 1000) * interval '1 millisecond', "
            "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")
_SQLITE_TIME_RX = re.compile(r"strftime\('%Y-%m-%dT%H:%M:%fZ', ([\w.]+) / 1000000\.0, 'unixepoch'\)")
#: statements that are no query, named when refused (the server refuses any non-query as a cursor's)
_PG_NOT_QUERIES = {
    "insert", "update", "delete", "merge", "create", "drop", "alter", "truncate", "copy", "grant", "revoke",
    "begin", "start", "commit", "end", "rollback", "abort", "savepoint", "release", "prepare", "execute",
    "deallocate", "set", "reset", "do", "call", "vacuum", "analyze", "analyse", "cluster", "reindex", "lock",
    "listen", "notify", "unlisten", "discard", "load", "checkpoint", "comment", "security", "refresh",
    "import", "declare", "fetch", "move", "close", "explain",
}
#: functions refused even inside a read-only transaction: they act outside it (session locks,
#: other sessions, server files, configuration); the read-only transaction and the role stay the guarantee
_PG_DENIED_FUNCTIONS = (
    "pg_advisory_lock", "pg_advisory_lock_shared", "pg_try_advisory_lock", "pg_try_advisory_lock_shared",
    "pg_advisory_xact_lock", "pg_advisory_xact_lock_shared", "pg_try_advisory_xact_lock",
    "pg_try_advisory_xact_lock_shared", "pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf",
    "pg_rotate_logfile", "pg_read_file", "pg_read_binary_file", "pg_ls_dir", "pg_stat_file", "lo_import",
    "lo_export", "set_config", "pg_notify", "dblink", "dblink_exec", "dblink_connect", "pg_logical_emit_message",
)
_PG_DENIED_RX = re.compile(r'(?<![\w$])"?(' + "|".join(_PG_DENIED_FUNCTIONS) + r')"?\s*\(', re.IGNORECASE)
_PG_CURSOR = "DECLARE lc_sql NO SCROLL CURSOR FOR "


def pg_views(schema: str) -> dict[str, str]:
    """The documented views (:data:`VIEWS`) in PostgreSQL's SQL, over the tables of *schema*."""
    qschema = '"' + schema.replace('"', '""') + '".'
    out = {}
    for name, (_doc, select) in VIEWS.items():
        sql = _SQLITE_TIME_RX.sub(lambda m: _PG_TIME.format(col=m.group(1)), select)
        sql = sql.replace("group_concat(t.tag, ',')", "string_agg(t.tag, ',')").replace("main.", qschema)
        out[name] = sql
    return out


def _first_word(sql: str) -> tuple[str, int]:
    """The statement's first keyword (after comments and opening parentheses) and its position."""
    m = re.match(r"(?:\s+|--[^\n]*\n?|/\*.*?\*/|\()*([A-Za-z_]+)", sql, re.DOTALL)
    return (m.group(1).lower(), m.start(1)) if m else ("", 0)


def _pg_value(v: Any) -> Any:
    """A server value as the SQLite side gives it: numbers, text, bytes."""
    import datetime
    import decimal

    if isinstance(v, bool):
        return int(v)
    if isinstance(v, decimal.Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    if isinstance(v, memoryview):
        return bytes(v)
    if isinstance(v, (datetime.datetime, datetime.date, datetime.time)):
        return v.isoformat()
    if isinstance(v, datetime.timedelta):
        return str(v)
    if isinstance(v, (dict, list)):
        import orjson

        return orjson.dumps(v).decode()
    return v


class PostgresReadOnlySql:
    """Read-only SQL on a PostgreSQL index; the same views, limits and errors as :class:`ReadOnlySql`.

    1. every statement runs in its own ``READ ONLY`` transaction (REPEATABLE READ: one
       snapshot), which is always rolled back: no statement can write, and a ``SET``
       it makes does not outlive it;
    2. the statement is the query of a cursor (``DECLARE ... CURSOR FOR``), which the
       server accepts only for a query (SELECT, VALUES, TABLE, WITH without data-modifying
       parts), sent as one prepared statement (a second statement is refused);
    3. functions that act outside the transaction (advisory locks, other sessions, server
       files, configuration) are refused, and session advisory locks are released after
       every statement;
    4. a statement timeout (``SET LOCAL statement_timeout``), cancellation from another
       thread (:meth:`cancel`), and rows fetched from the cursor up to the limit only.

    Connect as a role with SELECT only (docs/shared-case.md) for a guarantee the server keeps
    whatever the client does.
    """

    def __init__(self, url: str, *, time_limit: float | None = None) -> None:
        import psycopg

        from logconsole.store import dialect

        self._psycopg = psycopg
        shown = dialect.redact(url)
        self.engine = dialect.make_engine(url)
        try:
            raw = self.engine.raw_connection()
        except Exception as exc:
            self.engine.dispose()
            raise SqlError(f"{shown}: cannot open index: {one_line_error(exc)}") from None
        self._raw = raw
        self.conn: Any = cast(Any, raw.driver_connection)
        try:
            raw.rollback()
            self.conn.autocommit = True
            schema = self.conn.execute("SELECT current_schema()").fetchone()[0]
            if self.conn.execute("SELECT to_regclass(%s)", (f'"{schema}".events',)).fetchone()[0] is None:
                raise SqlError(f"{shown}: not a logconsole index (no events table)")
            for name, select in pg_views(schema).items():
                self.conn.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {select}")
            self.conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        except SqlError:
            self.close()
            raise
        except psycopg.Error as exc:
            self.close()
            raise SqlError(f"{shown}: cannot open index: {one_line_error(exc)}") from None
        self._cancel = threading.Event()
        self.time_limit = time_limit

    def cancel(self) -> None:
        """Stop the running statement (from any thread)."""
        self._cancel.set()
        try:
            cancel = getattr(self.conn, "cancel_safe", None) or self.conn.cancel
            cancel()
        except Exception:  # closed, or nothing running
            pass

    def run(self, sql: str, *, limit: int | None = DEFAULT_LIMIT) -> SqlResult:
        """Run one read-only statement; at most *limit* rows (None: all)."""
        psycopg = self._psycopg
        self._cancel.clear()
        t0 = time.perf_counter()
        if not sql.strip():
            raise SqlError("empty statement", 0)
        statement = re.sub(r"[\s;]+$", "", sql)
        word, pos = _first_word(statement)
        if word in _PG_NOT_QUERIES:  # the server refuses them too (a cursor's query): a clearer message
            raise SqlError(f"not allowed: {word.upper()} (logconsole sql is read-only: SELECT only)", pos)
        m = _PG_DENIED_RX.search(statement)
        if m:
            raise SqlError(f"not allowed: FUNCTION {m.group(1)} (logconsole sql is read-only: SELECT only)", m.start(1))
        conn = self.conn
        try:
            conn.execute("BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            if self.time_limit:
                conn.execute(f"SET LOCAL statement_timeout = {max(1, int(self.time_limit * 1000))}")
            cur = conn.cursor()
            cur.execute(_PG_CURSOR + statement.replace("%", "%%"), (), prepare=True)
            fetch = "FETCH ALL FROM lc_sql" if limit is None else f"FETCH FORWARD {int(limit) + 1} FROM lc_sql"
            cur.execute(fetch)
            columns = [d.name for d in cur.description or []]
            rows = [tuple(_pg_value(v) for v in r) for r in cur.fetchall()]
            cur.close()
        except psycopg.Error as exc:
            raise self._error(statement, exc) from None
        finally:
            self._end()
        truncated = limit is not None and len(rows) > limit
        if truncated:
            rows = rows[:limit]
        return SqlResult(columns, rows, truncated, time.perf_counter() - t0, limit)

    def _end(self) -> None:
        try:
            self.conn.execute("ROLLBACK")
            self.conn.execute("SELECT pg_advisory_unlock_all()")
        except self._psycopg.Error:
            pass

    def _error(self, sql: str, exc: Any) -> SqlError:
        errors = self._psycopg.errors
        msg = one_line_error(exc)
        p = getattr(exc.diag, "statement_position", None)
        pos = max(0, min(len(sql), int(p) - 1 - len(_PG_CURSOR))) if p else None
        if isinstance(exc, errors.QueryCanceled):
            if self._cancel.is_set():
                return SqlCancelled("cancelled")
            return SqlCancelled(f"stopped after the time limit of {self.time_limit:g} s")
        if "multiple commands" in msg:
            return SqlError("one statement at a time (one statement per query)", _second_statement(sql))
        if isinstance(exc, (errors.ReadOnlySqlTransaction, errors.InsufficientPrivilege)) or \
                "data-modifying" in msg:
            return SqlError(f"not allowed: {msg} (logconsole sql is read-only: SELECT only)", pos if pos is not None else 0)
        return SqlError(msg, pos)

    def close(self) -> None:
        try:
            self._raw.close()
        except Exception:
            pass
        self.engine.dispose()

    def __enter__(self) -> PostgresReadOnlySql:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def one_line_error(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


def open_readonly(target: str | Path, *, time_limit: float | None = None) -> ReadOnlySql | PostgresReadOnlySql:
    """Read-only SQL over the index at *target*: a SQLite file, or a PostgreSQL URL."""
    from logconsole.store.dialect import is_url, url_for

    if is_url(str(target)):
        url = url_for(target)
        if url.get_backend_name() == "sqlite" and url.database:
            return ReadOnlySql(url.database, time_limit=time_limit)
        return PostgresReadOnlySql(str(target), time_limit=time_limit)
    return ReadOnlySql(target, time_limit=time_limit)
