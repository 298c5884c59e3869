"""The parallel parse worker (logconsole.ingest.parallel) gives exactly the index
an in-process parse gives: same events, FTS, accounting, quarantine, dedup."""

from __future__ import annotations

import gzip
import json
import sqlite3

import pytest

from logconsole.ingest import parallel
from logconsole.ingest.pipeline import ingest_paths
from logconsole.store.db import open_db

ROWS = ("SELECT id, source_id, line, rec_index, record_id, format, ts_us, ts_raw, service, action, outcome, "
        "error_code, actor, actor_type, actor_uid, session, target_user, src_ip, src_ip_key, user_agent, host, "
        "resource, account, region, message, extra, raw_sha256, dedup FROM events ORDER BY id")


def _record(i: int) -> dict:
    return {
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::111122223333:user/u{i % 7}", "accountId": "111122223333",
                         "accessKeyId": f"AKIA{i % 5:016d}", "userName": f"u{i % 7}"},
        "eventTime": f"2024-03-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z", "eventSource": "s3.amazonaws.com",
        "eventName": ["GetObject", "PutObject", "DeleteBucket"][i % 3], "awsRegion": "us-east-1",
        "sourceIPAddress": f"203.0.113.{i % 9}", "userAgent": "aws-cli/2",
        "requestParameters": {"bucketName": f"b{i % 4}", "key": f"k/{i}"}, "responseElements": None,
        **({"errorCode": "AccessDenied"} if i % 11 == 0 else {}),
        "eventID": f"00000000-0000-0000-0000-{i:012d}", "readOnly": i % 2 == 0, "eventType": "AwsApiCall",
    }


@pytest.fixture
def evidence(tmp_path):
    lines = [json.dumps(_record(i)) for i in range(1200)]
    lines[17] = "{not json"
    lines[400] = ""
    lines[401] = lines[399]  # the same record again (same eventID): a duplicate
    a = tmp_path / "a.jsonl"
    a.write_text("\n".join(lines) + "\n")
    # the same events (and 300 new ones) as an S3 Records document, gzip, cut at the end
    doc = json.dumps({"Records": [_record(i) for i in range(900, 1500)]}).encode()
    b = tmp_path / "b.json.gz"
    b.write_bytes(gzip.compress(doc)[:-40])
    return [str(a), str(b)]


def _ingest(db, paths, mode, monkeypatch, started):
    monkeypatch.setenv("LOGCONSOLE_INGEST_WORKER", mode)
    real = parallel.start_worker

    def spy(*a, **k):
        w = real(*a, **k)
        started.append(w is not None)
        return w

    monkeypatch.setattr("logconsole.ingest.pipeline.start_worker", spy)
    from logconsole.store import fulltext_index

    eng = open_db(db)
    res = ingest_paths(eng, paths, batch_size=250)
    fulltext_index.catch_up(eng)  # the ingest workflow's fulltext step
    return res.as_json()


def _dump(db):
    con = sqlite3.connect(db)
    try:
        return {
            "events": con.execute(ROWS).fetchall(),
            "fts": con.execute("SELECT * FROM events_fts_data ORDER BY id").fetchall(),
            "sources": con.execute("SELECT format, records, events, duplicates, merged, quarantined, first_ts, last_ts, "
                                   "status, options FROM sources ORDER BY id").fetchall(),
            "quarantine": con.execute("SELECT source_id, line, rec_index, reason, raw, raw_len FROM quarantine ORDER BY id").fetchall(),
            "hits": con.execute("SELECT count(*) FROM events_fts WHERE events_fts MATCH '\"AccessDenied\"'").fetchone(),
        }
    finally:
        con.close()


def test_worker_and_in_process_build_the_same_index(tmp_path, evidence, monkeypatch):
    started: list[bool] = []
    r0 = _ingest(str(tmp_path / "seq.db"), evidence, "0", monkeypatch, started)
    assert started == []
    r1 = _ingest(str(tmp_path / "par.db"), evidence, "1", monkeypatch, started)
    assert started == [True, True]  # the worker really ran, for both files
    r0.pop("seconds"), r1.pop("seconds"), r0.pop("step_seconds", None), r1.pop("step_seconds", None)
    r0.pop("db"), r1.pop("db")
    assert r0 == r1
    assert r1["records"] == r1["events"] + r1["duplicates"] + r1["merged"] + r1["quarantined"]
    assert r1["duplicates"] >= 300 + 1 and r1["quarantined"] >= 2 and r1["blank_lines"] == 1
    d0, d1 = _dump(str(tmp_path / "seq.db")), _dump(str(tmp_path / "par.db"))
    assert d0 == d1
    assert d1["hits"][0] > 0


def test_worker_reports_parser_failures_like_in_process(tmp_path, monkeypatch):
    p = tmp_path / "x.jsonl"
    p.write_text(json.dumps(_record(1)) + "\n")
    monkeypatch.setenv("LOGCONSOLE_INGEST_WORKER", "1")
    res = ingest_paths(open_db(str(tmp_path / "x.db")), [str(p)], fmt="cloudtrail")
    assert res.as_json()["events"] == 1


def test_parallel_only_for_large_inputs(monkeypatch):
    class Inp:
        size = 1000
        start = 0
        gzipped = False

    from logconsole.ingest.cloudtrail import CloudTrailParser as P

    monkeypatch.delenv("LOGCONSOLE_INGEST_WORKER", raising=False)
    assert not parallel.parallel_wanted(Inp(), P())
    Inp.size = parallel.MIN_BYTES
    monkeypatch.setattr(parallel, "_cpus", lambda: 2)
    assert parallel.parallel_wanted(Inp(), P())
    Inp.start = parallel.MIN_BYTES - 1000  # a continued file: only what is left to parse counts
    assert not parallel.parallel_wanted(Inp(), P())
    Inp.start = 0
    monkeypatch.setattr(parallel, "_cpus", lambda: 1)
    assert not parallel.parallel_wanted(Inp(), P())
    monkeypatch.setenv("LOGCONSOLE_INGEST_WORKER", "0")
    monkeypatch.setattr(parallel, "_cpus", lambda: 2)
    assert not parallel.parallel_wanted(Inp(), P())


def _index_names(db):
    con = sqlite3.connect(db)
    try:
        return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='events' "
                                          "AND name NOT LIKE 'sqlite_autoindex%'")}
    finally:
        con.close()


def test_first_large_ingest_builds_secondary_indexes_at_the_end(tmp_path, evidence, monkeypatch):
    from logconsole.store.schema import events

    expected = {ix.name for ix in events.indexes}
    monkeypatch.setenv("LOGCONSOLE_INGEST_WORKER", "1")
    db = str(tmp_path / "bulk.db")
    ingest_paths(open_db(db), evidence)
    assert _index_names(db) == expected
    con = sqlite3.connect(db)
    plan = " ".join(str(r) for r in con.execute("EXPLAIN QUERY PLAN SELECT id FROM events WHERE action = 'GetObject' "
                                                "ORDER BY ts_us LIMIT 5"))
    con.close()
    assert "ix_events_action" in plan


def test_interrupted_bulk_ingest_leaves_indexes_to_open_db(tmp_path, evidence, monkeypatch):
    from logconsole.ingest import pipeline
    from logconsole.store.schema import events

    monkeypatch.setenv("LOGCONSOLE_INGEST_WORKER", "1")
    calls = []

    def boom(self, prepared):
        calls.append(1)
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline._BatchWriter, "commit", boom)
    db = str(tmp_path / "cut.db")
    with pytest.raises(KeyboardInterrupt):
        ingest_paths(open_db(db), evidence[:1])
    assert calls and _index_names(db) == {"ix_events_dedup"}
    monkeypatch.undo()
    open_db(db).dispose()  # any command or the console opening the index restores them
    assert _index_names(db) == {ix.name for ix in events.indexes}


def test_ingest_reads_without_the_memory_map_and_restores_it(tmp_path, evidence, monkeypatch):
    from logconsole.ingest import pipeline

    monkeypatch.setenv("LOGCONSOLE_INGEST_WORKER", "0")
    eng = open_db(str(tmp_path / "m.db"))
    with eng.connect() as conn:
        before = conn.exec_driver_sql("PRAGMA mmap_size").scalar()
    seen = []
    real = pipeline._BatchWriter.commit

    def spy(self, prepared):
        with self.engine.connect() as conn:
            seen.append(conn.exec_driver_sql("PRAGMA mmap_size").scalar())
        return real(self, prepared)

    monkeypatch.setattr(pipeline._BatchWriter, "commit", spy)
    ingest_paths(eng, evidence[:1])
    assert seen and set(seen) == {0}
    with eng.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA mmap_size").scalar() == before > 0
