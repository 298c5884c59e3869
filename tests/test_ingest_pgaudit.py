"""pgaudit parser: csvlog (multi-line records), stderr lines, logins, error correlation, hostile input."""

import json

from sqlalchemy import select

from logconsole.ingest.pipeline import ingest_paths
from logconsole.util.timeparse import format_us
from logconsole.store import rawcodec
from logconsole.store.schema import events, quarantine, sources

from .conftest import REALDATA

PG = REALDATA / "pgaudit" / "postgresql-2015-08-12_161343.csv"

# A stderr log written with log_line_prefix = '%m [%p] %q%u@%d ' (the PostgreSQL >= 10 default plus user@db);
# the AUDIT payloads follow the pgAudit README.  Continuation lines start with a tab, as PostgreSQL writes them.
STDERR_LOG = (
    "2024-03-05 10:15:01.123 UTC [4242] LOG:  connection received: host=203.0.113.20 port=51812\n"
    "2024-03-05 10:15:01.130 UTC [4242] alice@shop LOG:  connection authorized: user=alice database=shop "
    "SSL enabled (protocol=TLSv1.3, cipher=TLS_AES_256_GCM_SHA384, bits=256)\n"
    "2024-03-05 10:15:02.001 UTC [4242] alice@shop LOG:  AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.account,"
    "\"select id, name\n\t  from account;\",<not logged>\n"
    "2024-03-05 10:15:03.500 UTC [4243] LOG:  connection received: host=198.51.100.77 port=40000\n"
    "2024-03-05 10:15:03.510 CET [4243] mallory@shop FATAL:  password authentication failed for user \"mallory\"\n"
    "2024-03-05 10:15:03.510 CET [4243] mallory@shop DETAIL:  Connection matched pg_hba.conf line 99: "
    "\"host all all 0.0.0.0/0 scram-sha-256\"\n"
    "2024-03-05 10:15:04.000 UTC [4242] alice@shop LOG:  AUDIT: OBJECT,2,1,WRITE,UPDATE,TABLE,public.account,"
    "update account set password = 'x',<not logged>\n"
    "2024-03-05 10:15:04.010 UTC [4242] alice@shop ERROR:  permission denied for table account\n"
    "2024-03-05 10:15:04.010 UTC [4242] alice@shop STATEMENT:  update account set password = 'x'\n"
    "2024-03-05 10:15:05.000 UTC [1] LOG:  checkpoint starting: time\n"
)


def _rows(engine):
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(events).order_by(events.c.line))]
    for r in rows:
        r["extra"] = json.loads(r["extra"]) if r["extra"] else {}
    return rows


def _line(rows, n):
    found = [r for r in rows if r["line"] == n]
    assert len(found) == 1, n
    return found[0]


def test_realdata_csvlog_counts(engine):
    res = ingest_paths(engine, [str(PG)])
    s = res.sources[0]
    assert s.format == "pgaudit"
    # 658 lines, 222 csvlog records (multi-line SQL is quoted), 182 of them AUDIT entries
    assert (s.records, s.events, s.merged, s.quarantined, s.duplicates) == (222, 222, 0, 0, 0)
    rows = _rows(engine)
    assert sum(1 for r in rows if r["extra"].get("audit_type")) == 182
    assert sum(1 for r in rows if r["action"] == "login") == 16
    with engine.connect() as conn:
        assert json.loads(conn.execute(select(sources.c.options)).scalar())["layout"] == "csvlog"


def test_realdata_hand_checked_records(engine):
    ingest_paths(engine, [str(PG)])
    rows = _rows(engine)
    # line 303: connection authorized: user=user2 database=postgres (over the local socket)
    r = _line(rows, 303)
    assert (r["actor"], r["action"], r["outcome"], r["src_ip"]) == ("user2", "login", "success", None)
    assert format_us(r["ts_us"]) == "2015-08-12T16:13:44.887Z" and r["ts_raw"] == "2015-08-12 16:13:44.887 UTC"
    assert r["resource"] == "database:postgres" and r["extra"]["client"] == "[local]"
    # lines 304-305: one SESSION record whose quoted statement spans two lines
    r = _line(rows, 304)
    assert (r["actor"], r["action"], r["outcome"], r["src_ip"]) == ("user2", "READ SELECT", "success", None)
    assert r["extra"]["statement"] == "SELECT *\n  FROM test3, test2;" and r["extra"]["audit_type"] == "SESSION"
    assert r["record_id"] == "55cb70b8.585a:3" and r["session"] == "55cb70b8.585a"
    assert rawcodec.decode(r["raw"]).count("\n") == 1
    # line 306: OBJECT audit of the table read
    r = _line(rows, 306)
    assert (r["actor"], r["action"], r["resource"], r["outcome"]) == ("user2", "READ SELECT", "public.test2", "success")
    assert r["extra"]["object_type"] == "TABLE" and r["extra"]["database"] == "postgres"
    assert format_us(r["ts_us"]) == "2015-08-12T16:13:44.889Z"
    # line 10: CREATE ROLE by vagrant
    r = _line(rows, 10)
    assert (r["actor"], r["action"], r["outcome"]) == ("vagrant", "ROLE CREATE ROLE", "success")
    assert r["extra"]["statement"] == "create role pgaudit_owner;" and format_us(r["ts_us"]) == "2015-08-12T16:13:44.809Z"
    # line 566: the DO block is followed (same session, vxid 3/75) by ERROR 3F000 at line 573
    r = _line(rows, 566)
    assert (r["actor"], r["action"], r["outcome"], r["error_code"]) == ("vagrant", "FUNCTION DO", "failure", "3F000")
    assert r["extra"]["failed_at_line"] == 573
    r = _line(rows, 573)
    assert (r["action"], r["outcome"], r["error_code"]) == ("error", "failure", "3F000")
    assert r["message"] == 'vagrant@postgres ERROR: schema "bogus" does not exist'
    # non-audit lines are events too
    assert _line(rows, 1)["action"] == "log"


def test_stderr_log(engine, tmp_path):
    p = tmp_path / "postgresql.log"
    p.write_text(STDERR_LOG, encoding="utf-8")
    res = ingest_paths(engine, [str(p)])
    s = res.sources[0]
    assert s.format == "pgaudit"
    # 11 lines: one tab continuation (part of its record), DETAIL and STATEMENT merged into their entries
    assert (s.records, s.events, s.merged, s.quarantined) == (10, 8, 2, 0)
    rows = _rows(engine)
    r = _line(rows, 1)
    assert (r["action"], r["src_ip"]) == ("connection", "203.0.113.20")
    r = _line(rows, 2)
    assert (r["actor"], r["action"], r["outcome"], r["extra"]["ssl"]) == ("alice", "login", "success", True)
    r = _line(rows, 3)
    assert (r["actor"], r["action"], r["resource"], r["outcome"]) == ("alice", "READ SELECT", "public.account", "success")
    assert r["extra"]["statement"] == "select id, name\n  from account;"
    assert format_us(r["ts_us"]) == "2024-03-05T10:15:02.001Z"
    r = _line(rows, 6)
    assert (r["actor"], r["action"], r["outcome"]) == ("mallory", "login", "failure")
    assert format_us(r["ts_us"]) == "2024-03-05T09:15:03.510Z"  # CET = UTC+1
    assert "pg_hba.conf line 99" in r["extra"]["detail"] and r["extra"]["severity"] == "FATAL"
    assert "DETAIL:" in rawcodec.decode(r["raw"])
    r = _line(rows, 8)
    assert (r["action"], r["outcome"], r["resource"], r["error_code"]) == ("WRITE UPDATE", "failure", "public.account", None)
    r = _line(rows, 9)
    assert (r["action"], r["outcome"]) == ("error", "failure")
    assert r["extra"]["query"] == "update account set password = 'x'"
    with engine.connect() as conn:
        assert json.loads(conn.execute(select(sources.c.options)).scalar())["layout"] == "stderr"


def test_stderr_prefix_variants(engine, tmp_path):
    p = tmp_path / "postgresql-Mon.log"
    p.write_text(
        "2024-03-05 10:15:01 UTC [4242]: [3-1] user=alice,db=shop,app=psql,client=2001:db8::7 LOG:  "
        "AUDIT: SESSION,1,1,WRITE,DELETE,TABLE,public.orders,delete from orders,<not logged>\n"
        "2024-03-05 10:15:02.5 +02 [4243] bob@shop 198.51.100.9(40001) LOG:  "
        "AUDIT: SESSION,1,1,DDL,DROP TABLE,TABLE,public.audit_trail,drop table audit_trail,<not logged>\n"
    )
    res = ingest_paths(engine, [str(p)])
    assert (res.sources[0].format, res.sources[0].events, res.sources[0].quarantined) == ("pgaudit", 2, 0)
    r = _line(_rows(engine), 1)
    assert (r["actor"], r["action"], r["resource"], r["src_ip"]) == ("alice", "WRITE DELETE", "public.orders", "2001:db8::7")
    assert r["extra"]["database"] == "shop" and r["extra"]["application"] == "psql"
    assert format_us(r["ts_us"]) == "2024-03-05T10:15:01Z"
    r = _line(_rows(engine), 2)
    assert (r["actor"], r["action"], r["src_ip"], r["extra"]["client_port"]) == ("bob", "DDL DROP TABLE", "198.51.100.9", "40001")
    assert format_us(r["ts_us"]) == "2024-03-05T08:15:02.500Z"


def _csvrow(ts="2015-08-12 16:13:44.889 UTC", msg="AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<not logged>"):
    q = '"' + msg.replace('"', '""') + '"'
    return (f'{ts},"u","db",1,"10.1.2.3:5555",55cb70b8.1,1,"SELECT",2015-08-12 16:13:44 UTC,2/1,0,LOG,00000,'
            f'{q},,,,,,,,"x",""').encode()


def test_hostile_csvlog(engine, tmp_path):
    lines = [
        _csvrow(),                                                          # 1 event
        bytes(b for b in range(256) if b != 10) * 2,                        # 2 binary garbage
        b"2015-08-12 16:13:43.810 UTC,a,b",                                 # 3 wrong column count
        b"C" * (10 * 1024 * 1024),                                          # 4 10 MB line
        _csvrow(msg="AUDIT: SESSION,1,1,READ,SELECT,,,select 'QQ',<x>").replace(b"QQ", b"\xff"),  # 5 bad UTF-8: kept
        _csvrow(ts="2015-99-12 16:13:44.889 UTC"),                          # 6 bad date
        _csvrow(ts="2015-08-12 16:13:44.889 XYZT"),                         # 7 unknown zone
        "2015-08-12 16:13:43.810 UTC,x".encode("utf-16-le"),               # 8 wrong encoding
        b'2015-08-12 16:13:45.000 UTC,"u","d",1,"",s.1,9,"SELECT",x,2/1,0,LOG,00000,"AUDIT: SESSION,1,1,READ,SELECT,,,""sel',  # 9 cut
        _csvrow(ts="2015-08-12 16:13:46.000 UTC"),                          # 10 event after the broken one
    ]
    p = tmp_path / "pg.csv"
    p.write_bytes(b"\n".join(lines) + b"\n")
    res = ingest_paths(engine, [str(p)], fmt="pgaudit")
    s = res.sources[0]
    assert s.records == 10 and s.records == s.events + s.quarantined + s.merged
    with engine.connect() as conn:
        q = {r.line: r.reason for r in conn.execute(select(quarantine))}
    assert set(q) == {2, 3, 4, 6, 7, 8, 9}
    assert "not a csvlog record" in q[2] and "got 3" in q[3] and "4 MiB" in q[4]
    assert "log_time" in q[6] and "XYZT" in q[7] and "NUL" in q[8] and "unterminated" in q[9]
    rows = _rows(engine)
    assert _line(rows, 1)["src_ip"] == "10.1.2.3" and _line(rows, 1)["extra"]["client_port"] == "5555"
    assert _line(rows, 5)["extra"]["invalid_utf8"] is True
    assert format_us(_line(rows, 10)["ts_us"]) == "2015-08-12T16:13:46Z"


def test_hostile_stderr(engine, tmp_path):
    lines = [
        b"2024-03-05 10:15:01.123 UTC [1] LOG:  connection received: host=192.0.2.1 port=1",  # 1
        b"\tcontinuation of line 1",                                       # 2 part of record 1
        b"garbage line",                                                    # 3
        b"B" * (10 * 1024 * 1024),                                          # 4
        b"\tan orphan continuation",                                        # 5 (after a quarantined line)
        b"2024-03-05 10:15:01.123 UTC [1] LOG:  AUDIT: SESSION,1,1",        # 6 truncated AUDIT payload: kept
        b"2024-03-05 10:15:01.124 UTC [1] LOG:  bad \xff byte",             # 7 kept, flagged
    ]
    p = tmp_path / "pg.log"
    p.write_bytes(b"\n".join(lines) + b"\n")
    res = ingest_paths(engine, [str(p)], fmt="pgaudit")
    s = res.sources[0]
    assert s.records == s.events + s.quarantined + s.merged
    with engine.connect() as conn:
        q = {r.line: r.reason for r in conn.execute(select(quarantine))}
    assert set(q) == {3, 4, 5}
    rows = _rows(engine)
    assert "continuation of line 1" in rawcodec.decode(_line(rows, 1)["raw"])
    r = _line(rows, 6)
    assert r["extra"]["audit_unparsed"] is True and r["action"] == "AUDIT SESSION"
    assert _line(rows, 7)["extra"]["invalid_utf8"] is True


def test_sniff_claims_only_pgaudit_samples():
    from logconsole.ingest.pgaudit import PgAuditParser
    from logconsole.ingest.reader import Input

    for f in sorted(REALDATA.glob("*/*")):
        if f.parent.name == "LICENSES" or not f.is_file():
            continue
        ev = PgAuditParser().sniff(Input.open(f).sample())
        if f.parent.name == "pgaudit":
            assert ev is not None and ev.score >= 90, f
        else:
            assert ev is None, f


def test_truncated_gzip_keeps_every_readable_record(engine, tmp_path):
    import gzip
    import zlib

    cases = [
        (REALDATA / "auditd" / "audit-rhel7.log", "auditd", {}),
        (REALDATA / "ssh-auth" / "test.log", "syslog-auth", {}),
        (REALDATA / "pgaudit" / "postgresql-2015-08-12_161343.csv", "pgaudit", {}),
    ]
    for src, fmt, opts in cases:
        data = gzip.compress(src.read_bytes())
        p = tmp_path / (src.name + ".gz")
        p.write_bytes(data[: len(data) * 2 // 3])
        res = ingest_paths(engine, [str(p)], fmt=fmt, options=opts)
        s = res.sources[0]
        assert s.records == s.events + s.merged + s.quarantined + s.duplicates, fmt
        assert s.events > 0 and s.quarantined >= 1, fmt
        if fmt != "pgaudit":  # one record per line: every complete line read before the cut is accounted for
            readable = zlib.decompressobj(wbits=31).decompress(data[: len(data) * 2 // 3])
            assert s.records == readable.count(b"\n") + 1, fmt
        with engine.connect() as conn:
            reasons = [r.reason for r in conn.execute(select(quarantine).where(quarantine.c.source_id == s.source_id))]
        assert any("truncated" in r for r in reasons), (fmt, reasons)
