"""Foundation ingest: real samples, lossless accounting, dedup, crash safety, read-only evidence."""

import gzip
import hashlib
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

from sqlalchemy import select

from logconsole.ingest.pipeline import ingest_paths
from logconsole.util.timeparse import format_us
from logconsole.store import rawcodec
from logconsole.store.db import integrity_check, open_db
from logconsole.store.queries import list_quarantine, list_sources
from logconsole.store.schema import events

from .conftest import REALDATA

CT = REALDATA / "cloudtrail"
K8S = REALDATA / "k8s-audit"


def _by_record(engine, record_id):
    with engine.connect() as conn:
        r = conn.execute(select(events).where(events.c.record_id == record_id)).first()
        return dict(r._mapping)


def _accounting_holds(engine):
    with engine.connect() as conn:
        for s in list_sources(conn):
            assert s["records"] == s["events"] + s["duplicates"] + s["merged"] + s["quarantined"], s
            n = conn.execute(select(events.c.id).where(events.c.source_id == s["id"])).all()
            assert len(n) == s["events"]


def test_realdata_cloudtrail_and_k8s_counts(engine):
    res = ingest_paths(engine, [str(CT), str(K8S)])
    by_name = {Path(s.path).name: s for s in res.sources}
    assert by_name["ec2_proxy_s3_exfiltration_2020-09-14011940.json"].events == 103
    assert by_name["aws_cloudtrail.jsonl"].events == 6
    assert by_name["demo.log"].events == 37
    assert sum(s.events for s in res.sources if s.format == "cloudtrail") == 109
    assert res.total("quarantined") == 0
    assert res.errors == []
    _accounting_holds(engine)


def test_cloudtrail_normalized_fields(engine):
    ingest_paths(engine, [str(CT)])
    # S3-exfiltration sample, line 1 (checked by hand): pedro DescribeInstanceTypes from 1.2.3.4
    e = _by_record(engine, "fd4f1042-c7f6-4107-a6ee-d841d92596e7")
    assert e["actor"] == "arn:aws:iam::123456789123:user/pedro"
    assert e["actor_type"] == "IAMUser"
    assert e["action"] == "DescribeInstanceTypes"
    assert e["service"] == "ec2.amazonaws.com"
    assert e["outcome"] == "success"
    assert e["src_ip"] == "1.2.3.4"
    assert format_us(e["ts_us"]) == "2020-09-14T00:44:23Z"  # from @timestamp: the sample has no eventTime
    assert e["line"] == 1 and e["account"] == "123456789123" and e["region"] == "us-east-1"
    # an AssumedRole session counts for the role, the session name is kept
    with engine.connect() as conn:
        r = conn.execute(select(events).where(events.c.action == "GetObject")).first()._mapping
    assert r["actor_type"] == "AssumedRole"
    assert r["actor"].startswith("arn:aws:iam::123456789123:role/")
    assert r["actor_uid"].startswith("arn:aws:sts::123456789123:assumed-role/")
    assert r["session"]
    assert r["resource"].startswith("arn:aws:s3:::")
    # LookupEvents output: the record is the JSON string in CloudTrailEvent; eventTime is UTC
    e = _by_record(engine, "0828c0d2-3589-4390-b954-c78b4a7df44b")
    assert e["action"] == "DescribeInstances"
    assert e["actor"] == "arn:aws:iam::012345678901:user/fakeusername"
    assert format_us(e["ts_us"]) == "2022-02-07T22:23:37Z"  # EventTime said 09:23:37+11:00
    assert e["region"] == "ap-southeast-2"
    assert e["outcome"] == "success"
    raw = rawcodec.decode(e["raw"])
    assert hashlib.sha256(raw.encode()).hexdigest() == e["raw_sha256"]
    assert raw == (CT / "aws_cloudtrail.jsonl").read_text().splitlines()[0]


def test_k8s_normalized_fields(engine):
    ingest_paths(engine, [str(K8S)])
    e = _by_record(engine, "033d17af-082d-4b24-aa22-627752e83d71")  # line 1
    assert e["actor"] == "system:admin"
    assert e["target_user"] == "bob"  # impersonated
    assert e["action"] == "list pods"
    assert e["resource"] == "pods/default"
    assert e["outcome"] == "failure" and e["error_code"] == "403 Forbidden"
    assert format_us(e["ts_us"]) == "2017-09-11T19:55:05Z"
    assert e["src_ip"] == "::1"
    with engine.connect() as conn:
        ok = conn.execute(select(events).where(events.c.outcome == "success").order_by(events.c.id)).first()._mapping
        n_forbidden = len(conn.execute(select(events.c.id).where(events.c.error_code == "403 Forbidden")).all())
    assert ok["format"] == "k8s-audit" and ok["actor"]
    assert n_forbidden == 11


def _write_jsonl(path: Path, n: int, bad: set[int]) -> None:
    lines = []
    for i in range(1, n + 1):
        if i in bad:
            kind = i % 5
            lines.append(
                ['{"ts": "2026-03-14T01:00:00Z", "user": "x"',  # truncated JSON
                 '{"user": "no-time", "action": "read"}',  # missing time
                 '["not", "an", "object"]',  # wrong type
                 '{"ts": "not a time", "user": "y"}',  # bad time
                 '{"ts": {"nested": 1}, "user": "z"}'][kind]  # time has wrong type
            )
        else:
            lines.append(json.dumps({"ts": f"2026-03-14T01:{i // 60 % 60:02d}:{i % 60:02d}Z", "user": f"u{i % 7}",
                                     "action": "read", "resource": f"doc/{i}", "ip": f"10.0.{i % 3}.{i % 250}", "seq": i}))
    path.write_text("\n".join(lines) + "\n")


def test_jsonl_1000_lines_10_corrupt(tmp_path, db_path):
    f = tmp_path / "app.jsonl"
    bad = {3, 50, 101, 222, 333, 444, 555, 666, 777, 999}
    _write_jsonl(f, 1000, bad)
    before = (f.read_bytes(), f.stat().st_mtime_ns)
    r = subprocess.run([sys.executable, "-m", "logconsole.cli", "ingest", str(f), "--db", db_path, "--json"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert (out["events"], out["quarantined"], out["records"]) == (990, 10, 1000)
    assert "10 record(s) quarantined" in r.stderr and "warning" in r.stderr
    eng = open_db(db_path)
    with eng.connect() as conn:
        q = list_quarantine(conn)
    assert sorted(x["line"] for x in q) == sorted(bad)
    assert all(x["path"].endswith("app.jsonl") and x["reason"] for x in q)
    reasons = {x["line"]: x["reason"] for x in q}
    assert "bad JSON" in reasons[50] and "missing time" in reasons[101] and "expected a JSON object" in reasons[222]
    # second ingest adds nothing
    r2 = subprocess.run([sys.executable, "-m", "logconsole.cli", "ingest", str(f), "--db", db_path, "--json"],
                        capture_output=True, text=True)
    assert r2.returncode == 0
    assert json.loads(r2.stdout)["events"] == 0
    assert "already ingested" in json.loads(r2.stdout)["sources"][0]["message"]
    assert (f.read_bytes(), f.stat().st_mtime_ns) == before  # evidence untouched


def test_same_record_in_two_files_is_a_duplicate(tmp_path, engine):
    lines = (CT / "ec2_proxy_s3_exfiltration_2020-09-14011940.json").read_text().splitlines()
    (tmp_path / "a.json").write_text("\n".join(lines[:60]) + "\n")
    (tmp_path / "b.json").write_text("\n".join(lines[40:]) + "\n")  # 20 records overlap
    res = ingest_paths(engine, [str(tmp_path / "a.json"), str(tmp_path / "b.json")])
    a, b = res.sources
    assert (a.events, a.duplicates) == (60, 0)
    assert (b.records, b.events, b.duplicates) == (63, 43, 20)
    # the same CloudTrail event wrapped differently (S3 Records container) is still the same eventID
    recs = [json.loads(x) for x in lines[:5]]
    (tmp_path / "c.json.gz").write_bytes(gzip.compress(json.dumps({"Records": recs}).encode()))
    res = ingest_paths(engine, [str(tmp_path / "c.json.gz")])
    assert (res.sources[0].records, res.sources[0].duplicates, res.sources[0].events) == (5, 5, 0)
    _accounting_holds(engine)


def test_identical_lines_within_one_file_are_distinct_events(tmp_path, engine):
    line = json.dumps({"ts": "2026-03-14T01:00:00Z", "user": "u", "action": "ping"})
    (tmp_path / "rep.jsonl").write_text(f"{line}\n{line}\n{line}\n")
    res = ingest_paths(engine, [str(tmp_path / "rep.jsonl")])
    assert res.sources[0].events == 3


def test_k8s_stages_merge(tmp_path, engine):
    base = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": "a1",
            "requestURI": "/api/v1/namespaces/ns/secrets/s", "verb": "get",
            "user": {"username": "alice"}, "sourceIPs": ["10.1.2.3"],
            "objectRef": {"resource": "secrets", "namespace": "ns", "name": "s", "apiVersion": "v1"},
            "requestReceivedTimestamp": "2026-03-14T01:00:00.000001Z"}
    l1 = dict(base, stage="RequestReceived", stageTimestamp="2026-03-14T01:00:00.000001Z")
    l2 = dict(base, stage="ResponseComplete", stageTimestamp="2026-03-14T01:00:00.5Z", responseStatus={"code": 200},
              annotations={"authorization.k8s.io/decision": "allow"})
    other = dict(base, auditID="a2", stage="ResponseComplete", stageTimestamp="2026-03-14T01:00:01Z",
                 verb="create", responseStatus={"code": 403},
                 annotations={"authorization.k8s.io/decision": "forbid"})
    (tmp_path / "audit.log").write_text("\n".join(json.dumps(x) for x in (l1, other, l2)) + "\n")
    res = ingest_paths(engine, [str(tmp_path / "audit.log")])
    s = res.sources[0]
    assert (s.records, s.events, s.duplicates) == (3, 2, 1)
    e = _by_record(engine, "a1")
    assert json.loads(rawcodec.decode(e["raw"]))["stage"] == "ResponseComplete"
    assert e["outcome"] == "success" and e["action"] == "get secrets" and e["resource"] == "secrets/ns/s"
    assert format_us(e["ts_us"]) == "2026-03-14T01:00:00.000001Z"
    assert _by_record(engine, "a2")["outcome"] == "failure"


def test_truncated_gzip_and_cut_records_array(tmp_path, engine):
    recs = [json.loads(x) for x in (CT / "ec2_proxy_s3_exfiltration_2020-09-14011940.json").read_text().splitlines()]
    full = json.dumps({"Records": recs}, indent=1).encode()
    gz = gzip.compress(full)
    (tmp_path / "cut.json.gz").write_bytes(gz[: len(gz) * 2 // 3])
    cut_at = full.index(b'"eventID"', len(full) // 2)
    (tmp_path / "cut.json").write_bytes(full[:cut_at])
    (tmp_path / "ok.jsonl").write_text(json.dumps({"ts": 1700000000, "user": "u", "action": "a"}) + "\n")
    res = ingest_paths(engine, [str(tmp_path / "cut.json.gz"), str(tmp_path / "cut.json"), str(tmp_path / "ok.jsonl")])
    gzs, arr, ok = res.sources
    assert 0 < gzs.events < 103 and gzs.quarantined == 1
    # the same eventIDs were already read from the gzip copy: they count as duplicates
    assert 0 < arr.events + arr.duplicates < 103 and arr.quarantined == 1
    assert ok.events == 1  # other files go on
    with engine.connect() as conn:
        reasons = [q["reason"] for q in list_quarantine(conn)]
    assert all("truncated" in r for r in reasons), reasons
    _accounting_holds(engine)
    assert integrity_check(engine) == "ok"


def test_records_container_streams_with_line_and_index(tmp_path, engine):
    recs = [json.loads(x) for x in (CT / "ec2_proxy_s3_exfiltration_2020-09-14011940.json").read_text().splitlines()[:4]]
    recs[2] = {"eventName": "NoTime"}
    text = '{"Records": [\n' + ",\n".join(json.dumps(r) for r in recs) + "\n]}\n"
    (tmp_path / "r.json").write_text(text)
    ingest_paths(engine, [str(tmp_path / "r.json")])
    with engine.connect() as conn:
        rows = conn.execute(select(events.c.line, events.c.rec_index).order_by(events.c.rec_index)).all()
        q = list_quarantine(conn)
    assert [tuple(r) for r in rows] == [(2, 0), (3, 1), (5, 3)]
    assert (q[0]["line"], q[0]["rec_index"], q[0]["reason"]) == (4, 2, "missing eventTime")


def test_missing_path_exit_2_and_others_go_on(tmp_path, db_path):
    f = tmp_path / "ok.jsonl"
    f.write_text(json.dumps({"ts": 1700000000, "user": "u", "action": "a"}) + "\n")
    r = subprocess.run([sys.executable, "-m", "logconsole.cli", "ingest", str(tmp_path / "nope.log"), str(f), "--db", db_path],
                       capture_output=True, text=True)
    assert r.returncode == 2
    err_lines = [ln for ln in r.stderr.splitlines() if "error" in ln]
    assert err_lines == [f"logconsole: error: {tmp_path / 'nope.log'}: no such file or directory"]
    assert "1 events" in r.stdout or "1 records -> 1 events" in r.stdout


def test_unknown_format_named_file_is_an_error(tmp_path, engine):
    f = tmp_path / "notes.txt"
    f.write_text("hello\x00world\n")
    res = ingest_paths(engine, [str(f)])
    assert res.errors and "no format recognizes" in res.errors[0] and "--format" in res.errors[0]


def test_db_mode_0600_and_stdin(tmp_path, db_path):
    line = json.dumps({"ts": "2026-03-14T01:00:00Z", "user": "u", "action": "a"})
    r = subprocess.run([sys.executable, "-m", "logconsole.cli", "ingest", "-", "--db", db_path, "--json"],
                       input=line + "\n", capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["events"] == 1
    assert stat.S_IMODE(os.stat(db_path).st_mode) == 0o600


def test_fts_and_schema_pragmas(engine):
    from logconsole.store import fulltext_index

    ingest_paths(engine, [str(K8S)])
    fulltext_index.catch_up(engine)  # the ingest workflow's fulltext step
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        n = conn.exec_driver_sql("SELECT count(*) FROM events_fts WHERE events_fts MATCH 'forbidden'").scalar()
        idx = {r[1] for r in conn.exec_driver_sql("PRAGMA index_list(events)")}
    assert n == 11
    assert {"ix_events_ts", "ix_events_actor_ts", "ix_events_action", "ix_events_ip"} <= idx


KILL_SCRIPT = textwrap.dedent("""
    import sys, time
    from logconsole.store.db import open_db
    from logconsole.ingest.pipeline import ingest_paths
    def progress(path, done, total, records):
        print("batch", records, flush=True)
        time.sleep(0.05)
    ingest_paths(open_db(sys.argv[1]), sys.argv[2:], progress=progress, batch_size=200)
    print("done", flush=True)
""")


def test_kill_9_mid_ingest_then_rerun_reaches_same_counts(tmp_path):
    a = tmp_path / "a.jsonl"
    b = tmp_path / "b.jsonl"
    _write_jsonl(a, 3000, {7, 1500})
    _write_jsonl(b, 2000, set())  # b overlaps a: identical raw lines -> duplicates across files
    paths = [str(a), str(b)]
    # reference: an uninterrupted run
    ref_db = str(tmp_path / "ref.db")
    ref = ingest_paths(open_db(ref_db), paths).as_json()
    db = str(tmp_path / "killed.db")
    script = tmp_path / "k.py"
    script.write_text(KILL_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), db, *paths], stdout=subprocess.PIPE, text=True)
    seen = 0
    for line in proc.stdout:
        if line.startswith("batch"):
            seen += 1
            if seen == 5:  # mid-way through the first file
                os.kill(proc.pid, signal.SIGKILL)
                break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # the index opens and is intact
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("SELECT status FROM sources").fetchall() == [("partial",)]
    con.close()
    from logconsole.store import fulltext_index

    again = ingest_paths(open_db(db), paths).as_json()
    fulltext_index.catch_up(open_db(db))
    for key in ("records", "events", "duplicates", "quarantined"):
        assert again[key] == ref[key], key
    eng = open_db(db)
    with eng.connect() as conn:
        assert [s["status"] for s in list_sources(conn)] == ["complete", "complete"]
        assert conn.exec_driver_sql("SELECT count(*) FROM events").scalar() == ref["events"]
        fts = conn.exec_driver_sql("SELECT count(*) FROM events_fts WHERE events_fts MATCH 'read'").scalar()
    assert fts == ref["events"]  # the FTS rows of the killed run were removed too
    assert integrity_check(eng) == "ok"
