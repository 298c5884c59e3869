"""Parquet export of the normalized event columns, with types.

Parquet is the hand-over format for a team whose data outgrows one machine: DuckDB,
Athena, ClickHouse, Spark and polars read it directly. The file holds the columns of
:data:`logconsole.report.exports.COLUMNS` with real types: ``time`` is a
``TIMESTAMP(MICROS, UTC)``, counters and ids are 64-bit integers, text is UTF-8.

Memory stays flat whatever the export size: the matching events are read in keyset
pages (:func:`logconsole.store.queries.iter_events`) and handed to polars as a stream of
data frames (a polars IO source), which ``sink_parquet`` writes one row group at a time.
polars is the writer because it streams typed columns to Parquet without another
library (pyarrow would be a second 100 MB dependency for the same file).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Connection

from logconsole.report.exports import COLUMNS, export_rows

#: the Parquet schema: one typed column per exported field, in :data:`COLUMNS` order
SCHEMA: dict[str, Any] = {
    "time": pl.Datetime("us", "UTC"),
    "ts_us": pl.Int64,
    "format": pl.String,
    "source": pl.String,
    "line": pl.Int64,
    "rec_index": pl.Int64,
    "record_id": pl.String,
    "service": pl.String,
    "action": pl.String,
    "outcome": pl.String,
    "error_code": pl.String,
    "actor": pl.String,
    "actor_type": pl.String,
    "actor_uid": pl.String,
    "session": pl.String,
    "target_user": pl.String,
    "src_ip": pl.String,
    "user_agent": pl.String,
    "host": pl.String,
    "resource": pl.String,
    "account": pl.String,
    "region": pl.String,
    "message": pl.String,
    "raw_sha256": pl.String,
    "event_id": pl.Int64,
}
assert list(SCHEMA) == COLUMNS, "the Parquet schema must name every exported column"

ROWS_PER_FRAME = 50_000


def _frames(conn: Connection, where: Any, rows_per_frame: int) -> Iterator[pl.DataFrame]:
    cols: dict[str, list[Any]] = {c: [] for c in COLUMNS}
    n = frames = 0
    for d in export_rows(conn, where, False):
        for c in COLUMNS:
            cols[c].append(d[c])
        cols["time"][-1] = d["ts_us"]
        n += 1
        if n == rows_per_frame:
            yield _frame(cols)
            frames += 1
            cols = {c: [] for c in COLUMNS}
            n = 0
    if n or not frames:  # an empty export still writes a file with the schema
        yield _frame(cols)


def _frame(cols: dict[str, list[Any]]) -> pl.DataFrame:
    data = dict(cols)
    time_us = data.pop("time")
    df = pl.DataFrame(data, schema={k: v for k, v in SCHEMA.items() if k != "time"})
    return df.with_columns(pl.Series("time", time_us, dtype=pl.Int64).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")).select(COLUMNS)


def write_parquet(conn: Connection, where: Any, path: str | Path, *, rows_per_frame: int = ROWS_PER_FRAME) -> int:
    """Write the matching events to ``path`` as Parquet (zstd); return the row count."""
    from polars.io.plugins import register_io_source

    count = [0]

    def source(with_columns: list[str] | None, predicate: Any, n_rows: int | None,
               batch_size: int | None) -> Iterator[pl.DataFrame]:
        for df in _frames(conn, where, rows_per_frame):
            count[0] += df.height
            if with_columns is not None:
                df = df.select(with_columns)
            yield df

    lf = register_io_source(source, schema=SCHEMA, validate_schema=True)
    lf.sink_parquet(str(path), compression="zstd", row_group_size=rows_per_frame)
    return count[0]
