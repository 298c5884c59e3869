"""Copy a whole index from one engine to another (``logconsole db copy SRC DST``).

Every table of :data:`logconsole.store.db.TABLE_MODULES` is copied row for row with
its ids (events, raw bytes and their SHA-256, sources, quarantine, annotations,
findings, grants, verification results, the index chain of custody), so the custody
root of the copy is the root of the original; the full-text index is rebuilt on the
destination from the raw records, the way an ingest builds it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine, func, insert, select

from logconsole.store import dialect, rawcodec, schema
from logconsole.store.fulltext import fts_columns

#: rows per transaction on the destination
BATCH = 5000

#: meta keys that describe the engine holding the index, not the case
_ENGINE_META = {"schema_version", "next_event_id"}


class CopyError(Exception):
    """The copy cannot be made (the destination already holds a case)."""


@dataclass
class CopyResult:
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def events(self) -> int:
        return self.rows.get("events", 0)


def copy_index(src: Engine, dst: Engine, progress: Callable[[str, int], None] | None = None) -> CopyResult:
    """Copy everything from *src* into the empty index *dst* (both opened with ``open_db``)."""
    with dst.connect() as conn:
        for t in (schema.sources, schema.events):
            if conn.execute(select(func.count()).select_from(t)).scalar_one():
                raise CopyError("the destination index is not empty: copy into a new file or a new database")
    result = CopyResult()
    d = dialect.of(dst)
    tables = list(schema.metadata.sorted_tables)
    with src.connect() as sconn:
        for table in tables:
            cols = [c.name for c in table.columns]
            pk = list(table.primary_key.columns) or list(table.columns)[:1]
            q = select(*table.columns).order_by(*pk)
            if table is schema.meta:
                q = q.where(schema.meta.c.key.not_in(_ENGINE_META))
            n = 0
            rows = sconn.execution_options(yield_per=BATCH).execute(q)
            for part in rows.partitions(BATCH):
                with dst.begin() as dconn:
                    if table is schema.events:
                        tuples = [tuple(r) for r in part]
                        d.insert_rows(dconn, table, cols, tuples)
                        i_id, i_msg, i_raw = cols.index("id"), cols.index("message"), cols.index("raw")
                        d.fts_insert(dconn, [
                            (r[i_id], *fts_columns(r[i_msg], rawcodec.decode_bytes(r[i_raw]).decode("utf-8", "replace")))
                            for r in tuples
                        ])
                    else:
                        dconn.execute(insert(table), [dict(r._mapping) for r in part])
                n += len(part)
                if progress:
                    progress(table.name, n)
            result.rows[table.name] = n
    with dst.begin() as dconn:
        d.reset_sequences(dconn, tables)
    return result
