"""Opening, creating and migrating the index."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from collections.abc import Callable

from sqlalchemy import Connection, Engine, select

from logconsole.store import (
    annotations_schema, detections_schema, dialect, findings_schema, grants_schema, identity_schema, integrity_schema,
    schema,
)

#: Every module that defines tables (all on ``schema.metadata``): ``open_db`` creates them.
TABLE_MODULES = (schema, annotations_schema, findings_schema, grants_schema, integrity_schema, detections_schema,
                 identity_schema)

DEFAULT_DB = "logconsole.db"


class IndexError_(Exception):
    """The index cannot be opened or is not a logconsole index."""


def default_db_path() -> str:
    return os.environ.get("LOGCONSOLE_DB") or DEFAULT_DB


def _ensure_file(path: Path) -> None:
    """Create the database file with mode 0600 before SQLite does (it would use the umask)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
    for suffix in ("-wal", "-shm"):
        side = Path(str(path) + suffix)
        if not side.exists():
            try:
                os.close(os.open(side, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except FileExistsError:
                pass


def _adopt_empty(path: Path) -> None:
    """An existing empty file (``mktemp``, ``touch``) becomes an index: private (0600)
    like one logconsole creates, or refused if its mode cannot be changed."""
    try:
        os.chmod(path, 0o600)
    except OSError as exc:
        raise IndexError_(f"{path}: an empty file whose mode cannot be made 0600 ({exc.strerror}); "
                          "refusing to write an index readable by others into it") from None
    _ensure_file(path)


def _connect_ro(p: Path) -> Any:
    try:
        return dialect.connect_readonly(p)
    except dialect.ReadOnlyOpenError as exc:
        raise IndexError_(str(exc)) from None


def _index_version(conn: Any, p: Path) -> int:
    """The schema version of a logconsole index, read without writing; an error
    for a file that is not one (or whose version is not a positive integer)."""
    try:
        names, rows = dialect.index_catalog(conn)
    except dialect.ReadOnlyOpenError as exc:
        raise IndexError_(f"{p}: not a logconsole index ({exc}); left untouched") from None
    if "meta" not in names or "events" not in names:
        raise IndexError_(f"{p}: not a logconsole index (a database file without its tables); left untouched")
    if rows is None:
        raise IndexError_(f"{p}: not a logconsole index (unreadable meta table); left untouched")
    if not rows:
        raise IndexError_(f"{p}: the index has no schema version (damaged, or not a logconsole index); left untouched")
    raw = rows[0]
    try:
        version = int(str(raw).strip())
    except ValueError:
        raise IndexError_(f"{p}: schema version {str(raw)[:40]!r} is not a number (damaged index); left untouched") from None
    if version < 1:
        raise IndexError_(f"{p}: schema version {version} is not valid (damaged index); left untouched")
    if version > schema.SCHEMA_VERSION:
        raise IndexError_(f"{p}: index schema {version} is newer than this logconsole ({schema.SCHEMA_VERSION})")
    return version


def check_index_file(p: Path) -> int:
    """Read-only check of an existing, non-empty file before anything writes to it:
    its schema version, or :class:`IndexError_` (the file is not changed)."""
    conn = _connect_ro(p)
    try:
        return _index_version(conn, p)
    finally:
        conn.close()


def open_db_readonly(path: str | os.PathLike | None = None) -> Engine:
    """Open an existing index for reading only: SQLite opens the file read-only
    (``mode=ro``, or ``immutable`` in a read-only directory), nothing is created,
    migrated or indexed (readers never run DDL), and a file that is not a
    logconsole index - or is one of another schema version - is refused untouched.
    On a database server, reading only is the role's business (docs/shared-case.md):
    the index is opened without creating or migrating anything."""
    target = os.fspath(path if path is not None else default_db_path())
    if dialect.is_url(target):
        return _open_server(target, create=False)
    p = Path(target)
    if not p.exists():
        raise IndexError_(f"{p}: no index here (run `logconsole ingest PATH...` first, or pass --db)")
    if not p.is_file():
        raise IndexError_(f"{p}: not a file")
    conn = _connect_ro(p)
    try:
        version = _index_version(conn, p)
    finally:
        conn.close()
    if version < schema.SCHEMA_VERSION:
        raise IndexError_(
            f"{p}: index schema {version} is older than this logconsole ({schema.SCHEMA_VERSION}); "
            f"upgrade it once with `logconsole migrate --db {p}` (that writes to it), then read it")
    return dialect.readonly_engine(p)


def make_engine(path: str | os.PathLike) -> Engine:
    return dialect.make_engine(path)


#: Migration steps: version N -> N+1, each a list of SQL statements or of
#: functions of the connection (for a step whose SQL is the engine's own).
MIGRATIONS: dict[int, list[str | Callable[[Connection], None]]] = {
    # 1 -> 2: the vocabulary of substring search, from the full-text index's own words
    1: [lambda conn: dialect.of(conn).vocabulary_from_index(conn)],
    # 2 -> 3: who made each annotation, finding and attachment (a shared case has several investigators)
    2: [lambda conn: _add_columns(conn, {"annotations": ("created_by", "updated_by"),
                                          "findings": ("created_by", "updated_by"),
                                          "finding_events": ("added_by",)})],
}


def _add_columns(conn: Connection, columns: dict[str, tuple[str, ...]]) -> None:
    """``ALTER TABLE ... ADD COLUMN name TEXT`` for each column the table lacks (idempotent)."""
    from sqlalchemy import inspect

    have = inspect(conn)
    for table, names in columns.items():
        present = {c["name"] for c in have.get_columns(table)}
        for name in names:
            if name not in present:
                conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {name} TEXT")


def open_db(path: str | os.PathLike | None = None, *, create: bool = True) -> Engine:
    """Open (and if needed create or migrate) the index at *path*: a file (SQLite) or a
    database URL (``postgresql+psycopg://user@host/case``).

    With ``create=False`` a missing file (or a database without the schema) raises
    :class:`IndexError_` instead of creating an empty index.
    """
    given = os.fspath(path if path is not None else default_db_path())
    if given in ("", ":memory:") or given.startswith("file:"):
        raise IndexError_(f"{given or '(empty)'}: not a file name; the index is a file (an in-memory index would "
                          "keep nothing)")
    if dialect.is_url(given):
        return _open_server(given, create=create)
    p = Path(given)
    if p.is_dir():
        raise IndexError_(f"{p}: is a directory; the index is a file (pass --db DIR/case.db)")
    if not p.exists():
        if not create:
            raise IndexError_(f"{p}: no index here (run `logconsole ingest PATH...` first, or pass --db)")
        _ensure_file(p)
    elif create and p.stat().st_size == 0:
        _adopt_empty(p)
    elif p.is_file() and p.stat().st_size > 0:
        # an existing file: refuse anything that is not a logconsole index before writing to it
        check_index_file(p)
    eng = make_engine(p)
    try:
        with eng.begin() as conn:
            _create_schema(conn)
            _migrate(conn, str(p))
    except IndexError_:
        eng.dispose()
        raise
    except Exception as exc:  # not a database, or corrupt
        eng.dispose()
        raise IndexError_(f"{p}: cannot open index: {exc.__class__.__name__}: {str(exc).splitlines()[0]}") from exc
    return eng


def _create_schema(conn) -> None:
    """Every table of :data:`TABLE_MODULES`, their indexes and the engine's own objects (idempotent)."""
    schema.metadata.create_all(conn)
    # create_all adds missing tables with their indexes, but not an index
    # added later to an existing table: create those too (additive migration)
    for table in schema.metadata.sorted_tables:
        for index in table.indexes:
            index.create(conn, checkfirst=True)
    dialect.of(conn).create_extra(conn)


def _stored_version(conn) -> int | None:
    row = conn.execute(select(schema.meta.c.value).where(schema.meta.c.key == "schema_version")).first()
    return int(row[0]) if row is not None else None


def _migrate(conn, label: str) -> None:
    """Record the schema version of a new index; bring an older one up to date; refuse a newer one."""
    version = _stored_version(conn)
    if version is None:
        conn.execute(schema.meta.insert().values(key="schema_version", value=str(schema.SCHEMA_VERSION)))
        return
    if version > schema.SCHEMA_VERSION:
        raise IndexError_(f"{label}: index schema {version} is newer than this logconsole ({schema.SCHEMA_VERSION}); "
                          "upgrade logconsole")
    while version < schema.SCHEMA_VERSION:
        for stmt in MIGRATIONS[version]:
            if callable(stmt):
                stmt(conn)
            else:
                conn.exec_driver_sql(stmt)
        version += 1
    conn.execute(schema.meta.update().where(schema.meta.c.key == "schema_version").values(value=str(version)))


def _open_server(url: str, *, create: bool) -> Engine:
    """A database server: several investigators share it, with roles that may not change the
    schema (readers, annotators), so the schema is created by ``logconsole db init URL`` or by
    the first writer, and an older schema is migrated only by a role allowed to."""
    label = dialect.redact(url)
    try:
        eng = make_engine(url)
    except Exception as exc:
        raise IndexError_(f"{label}: {exc}") from None
    try:
        with eng.begin() as conn:
            if not eng.dialect.has_table(conn, "meta"):
                if not create:
                    raise IndexError_(f"{label}: no logconsole index in this database (run `logconsole db init {label}`)")
                _create_schema(conn)
            version = _stored_version(conn)
            if version is None or version != schema.SCHEMA_VERSION:
                if version is not None and version < schema.SCHEMA_VERSION and not create:
                    raise IndexError_(f"{label}: index schema {version} is older than this logconsole "
                                      f"({schema.SCHEMA_VERSION}); run `logconsole db init {label}` to migrate it")
                _migrate(conn, label)
    except IndexError_:
        eng.dispose()
        raise
    except Exception as exc:
        eng.dispose()
        raise IndexError_(f"{label}: cannot open index: {exc.__class__.__name__}: {_first_line(exc)}") from exc
    return eng


def init_db(target: str | os.PathLike) -> tuple[Engine, int | None]:
    """``logconsole db init``: create the schema (or migrate an older one); returns the engine
    and the version found before (None: the schema was created)."""
    t = os.fspath(target)
    label = dialect.redact(t)
    if not dialect.is_url(t):
        before = None
        if Path(t).exists():
            with open_db(t, create=False).connect() as conn:
                before = _stored_version(conn)
        return open_db(t), before
    eng = make_engine(t)
    try:
        with eng.begin() as conn:
            before = _stored_version(conn) if eng.dialect.has_table(conn, "meta") else None
            _create_schema(conn)
            _migrate(conn, label)
    except IndexError_:
        eng.dispose()
        raise
    except Exception as exc:
        eng.dispose()
        raise IndexError_(f"{label}: cannot create the index: {exc.__class__.__name__}: {_first_line(exc)}") from exc
    return eng, before


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.splitlines()[0] if text else exc.__class__.__name__


def meta_get(conn, key: str, default: str | None = None) -> str | None:
    row = conn.execute(select(schema.meta.c.value).where(schema.meta.c.key == key)).first()
    return row[0] if row else default


def meta_set(conn, key: str, value: str) -> None:
    dialect.of(conn).upsert(conn, schema.meta, {"key": key, "value": value}, ["key"], {"value": value})


def integrity_check(eng: Engine) -> str:
    with eng.connect() as conn:
        return dialect.of(conn).integrity_check(conn)
