"""Every real sample gives identical events whichever way it is cut: one record per
batch (the per-record path: dedup, ids and the transaction of each record alone) and
batches of 5,000 (the batch path): normalized columns, raw bytes, SHA-256, accounting,
quarantine.  That the parse worker process gives the in-process result is
``test_perf_ingest_worker.py`` (a worker start per file would cost seconds here)."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest


from logconsole.ingest.pipeline import ingest_paths
from logconsole.store import rawcodec
from logconsole.store.db import open_db

REALDATA = Path(__file__).resolve().parent / "data" / "realdata"
SAMPLES = sorted(p for p in REALDATA.rglob("*") if p.is_file() and "LICENSES" not in p.parts and p.suffix != ".md")

COLUMNS = ("line, rec_index, record_id, format, ts_us, ts_raw, service, action, outcome, error_code, actor, "
           "actor_type, actor_uid, session, target_user, src_ip, src_ip_key, user_agent, host, resource, account, "
           "region, message, extra, raw_sha256, dedup, raw")


def _index(db: Path, mode: str, batch_size: int, monkeypatch) -> dict:
    monkeypatch.setenv("LOGCONSOLE_INGEST_WORKER", mode)
    eng = open_db(str(db))
    res = ingest_paths(eng, [str(p) for p in SAMPLES], batch_size=batch_size).as_json()
    eng.dispose()
    con = sqlite3.connect(db)
    try:
        rows = con.execute(f"SELECT source_id, {COLUMNS} FROM events ORDER BY id").fetchall()
        quarantine = con.execute("SELECT source_id, line, rec_index, reason, raw, raw_len FROM quarantine "
                                 "ORDER BY id").fetchall()
    finally:
        con.close()
    events = []
    for r in rows:
        raw = rawcodec.decode_bytes(r[-1])
        events.append((*r[:-1], raw))
    for r in res["sources"]:
        r.pop("path", None)
    return {"result": {k: v for k, v in res.items() if k not in ("db", "seconds", "step_seconds")},
            "events": events, "quarantine": quarantine}


def test_per_record_and_batch_paths_give_identical_events(tmp_path, monkeypatch):
    assert len({p.parent.name for p in SAMPLES}) >= 8  # every real format of tests/data/realdata
    per_record = _index(tmp_path / "one.db", "0", 1, monkeypatch)
    batched = _index(tmp_path / "batch.db", "0", 5000, monkeypatch)
    assert per_record["result"]["events"] > 500
    assert per_record == batched
    sha_col = COLUMNS.split(", ").index("raw_sha256") + 1
    for ev in batched["events"]:  # the stored SHA-256 is that of the stored raw bytes
        assert hashlib.sha256(ev[-1]).hexdigest() == ev[sha_col]


@pytest.mark.parametrize("text", [
    '{"a": 123456789012345678901234567890}', '{"a": -9223372036854775809}', '{"a": 18446744073709551615}',
    '{"a": 1e400}', '{"a": NaN}', '{"a": "\\ud800"}', '{"a": 0.1, "b": -0.0, "c": "\\u0000"}',
    '{"a": 1, "b": 2, "a": 3}', '[1, 2]', '{"a": ', '{"a": 1} x', '"s"',
])
def test_json_objects_parse_exactly_as_json_loads(text):
    """orjson's fast path gives json.loads' values, types and key order, and the same quarantine reason."""
    import json

    from logconsole.ingest.base import ParseError, load_json_object

    try:
        want: object = json.loads(text)
        if not isinstance(want, dict):
            want = ParseError
    except ValueError:
        want = ParseError
    try:
        got: object = load_json_object(text)
    except ParseError as exc:
        assert want is ParseError, exc
        return
    assert isinstance(want, dict)
    assert repr(list(got.items())) == repr(list(want.items()))
