"""Parquet export: every matching event, typed columns, streamed in row groups."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from logconsole.cli import main
from logconsole.report.exports import COLUMNS
from logconsole.report.parquet import SCHEMA, write_parquet
from logconsole.store.db import open_db
from logconsole.store.filter import compile_filter

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pq") / "case.db"
    r = CliRunner().invoke(main, ["ingest", "--db", str(path), str(SAMPLE)])
    assert r.exit_code in (0, 1), r.output
    return path


def _jsonl(db: Path, query: str) -> list[dict]:
    r = CliRunner().invoke(main, ["export", "--db", str(db), "--output", "jsonl", "--query", query])
    assert r.exit_code == 0, r.output
    return [json.loads(line) for line in r.output.splitlines()]


def test_parquet_rows_types_and_values_match_jsonl(db, tmp_path):
    out = tmp_path / "all.parquet"
    r = CliRunner().invoke(main, ["export", "--db", str(db), "--output", "parquet", "-o", str(out), "outcome:failure"])
    assert r.exit_code == 0, r.output
    df = pl.read_parquet(out)
    expected = _jsonl(db, "outcome:failure")
    assert df.height == len(expected) > 10
    assert df.columns == COLUMNS
    assert dict(df.schema) == SCHEMA
    assert df.schema["time"] == pl.Datetime("us", "UTC")
    got = df.with_columns(pl.col("time").dt.epoch("us")).to_dicts()
    for row, exp in zip(got, expected, strict=True):
        assert row["time"] == exp["ts_us"]
        for c in COLUMNS:
            if c != "time":
                assert row[c] == exp[c], c


def test_parquet_streams_row_groups_and_keeps_order(db, tmp_path):
    eng = open_db(str(db))
    out = tmp_path / "groups.parquet"
    with eng.connect() as conn:
        n = write_parquet(conn, compile_filter("").where, out, rows_per_frame=7)
    df = pl.read_parquet(out)
    assert df.height == n > 100
    assert df["ts_us"].is_sorted()
    assert df["event_id"].n_unique() == n
    duckdb = pytest.importorskip("duckdb")
    groups = duckdb.connect().execute(
        f"select count(distinct row_group_id) from parquet_metadata('{out}')").fetchone()[0]
    assert groups == -(-n // 7)  # one row group per frame: memory is bounded by the frame, not the export


def test_empty_export_writes_schema(db, tmp_path):
    out = tmp_path / "empty.parquet"
    r = CliRunner().invoke(main, ["export", "--db", str(db), "--output", "parquet", "-o", str(out),
                                  "actor:nobody-at-all"])
    assert r.exit_code == 0, r.output
    df = pl.read_parquet(out)
    assert df.height == 0 and df.columns == COLUMNS


def test_parquet_needs_a_file(db):
    r = CliRunner().invoke(main, ["export", "--db", str(db), "--output", "parquet"])
    assert r.exit_code == 2
    assert "-o FILE" in r.output


def test_duckdb_reads_it(db, tmp_path):
    duckdb = pytest.importorskip("duckdb")
    out = tmp_path / "d.parquet"
    r = CliRunner().invoke(main, ["export", "--db", str(db), "--output", "parquet", "-o", str(out)])
    assert r.exit_code == 0, r.output
    n, ttype, itype = duckdb.connect().execute(f"select count(*), any_value(typeof(time)), any_value(typeof(event_id)) "
                                 f"from read_parquet('{out}')").fetchone()
    assert n == pl.read_parquet(out).height
    assert ttype == "TIMESTAMP WITH TIME ZONE" and itype == "BIGINT"
