"""auditd parser: grouping by serial, hex decoding, auid as actor, boots, hostile input."""

import json
import shutil
from pathlib import Path

from sqlalchemy import select

from logconsole.ingest.pipeline import ingest_paths
from logconsole.util.timeparse import format_us
from logconsole.store import rawcodec
from logconsole.store.schema import events, quarantine, sources

from .conftest import REALDATA

AUDITD = REALDATA / "auditd"


def _events(engine, path_name=None):
    with engine.connect() as conn:
        q = select(events, sources.c.path).join(sources, sources.c.id == events.c.source_id)
        rows = [dict(r._mapping) for r in conn.execute(q)]
    for r in rows:
        r["extra"] = json.loads(r["extra"]) if r["extra"] else {}
    if path_name:
        rows = [r for r in rows if Path(r["path"]).name == path_name]
    return rows


def _one(rows, serial):
    found = [r for r in rows if r["record_id"] == str(serial)]
    assert len(found) == 1, (serial, len(found))
    return found[0]


def _quarantine(engine):
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(quarantine).order_by(quarantine.c.line))]


def test_realdata_counts_records_differ_from_events(engine):
    res = ingest_paths(engine, [str(AUDITD)])
    assert res.errors == []
    by = {Path(s.path).name: s for s in res.sources}
    rhel = by["audit-rhel7.log"]
    assert rhel.format == "auditd"
    # 49 stamped records over 46 serials (17 x2, 479 x3) + one "type=UNKNOWN[1329] msg=?" record
    assert (rhel.records, rhel.events, rhel.merged, rhel.quarantined, rhel.duplicates) == (50, 47, 3, 0, 0)
    enr = by["audit_enriched.log"]
    assert enr.format == "auditd"
    # 29 records, 12 serials: 447 (LOGIN+SYSCALL+PROCTITLE) and 485/487/735 (6 records each)
    assert (enr.records, enr.events, enr.merged, enr.quarantined, enr.duplicates) == (29, 12, 17, 0, 0)
    assert rhel.records != rhel.events and enr.records != enr.events


def test_rhel7_hand_checked_records(engine):
    ingest_paths(engine, [str(AUDITD / "audit-rhel7.log")])
    rows = _events(engine)
    # line 33: USER_AUTH before login: auid unset -> the account logged into is the actor
    r = _one(rows, 408)
    assert (r["action"], r["outcome"], r["actor"], r["src_ip"]) == ("USER_AUTH", "success", "andrew_kroh", "96.241.146.97")
    assert format_us(r["ts_us"]) == "2016-12-07T02:17:23.046Z" and r["ts_raw"] == "1481077043.046"
    assert r["actor_uid"] is None and r["extra"]["actor_from"] == "acct"
    assert r["extra"]["op"] == "pubkey_auth"
    # line 37: USER_LOGIN: actor is auid=1000 (not uid=0 of sshd)
    r = _one(rows, 421)
    assert (r["action"], r["outcome"], r["actor"], r["actor_uid"], r["src_ip"]) == (
        "USER_LOGIN", "success", "1000", "1000", "96.241.146.97")
    assert format_us(r["ts_us"]) == "2016-12-07T02:17:23.193Z"
    assert r["session"] == "1" and r["extra"]["uid"] == "0" and r["host"] is None
    assert r["extra"]["remote_host"] == "pool-96-241-146-97.washdc.fios.verizon.net"
    # line 36: USER_ERR res=failed from a remote address, no login user
    r = _one(rows, 518)
    assert (r["action"], r["outcome"], r["actor"], r["src_ip"]) == ("USER_ERR", "failure", None, "190.48.233.76")
    assert format_us(r["ts_us"]) == "2017-03-16T05:13:27.587Z"
    # line 28: failed connect(2) with a hex-encoded exe
    r = _one(rows, 512226)
    assert (r["action"], r["outcome"], r["error_code"]) == ("connect", "failure", "EINPROGRESS")
    assert r["resource"] == "/usr/bin/python2.7;58d1ccfb (deleted)"
    assert format_us(r["ts_us"]) == "2017-03-29T15:30:06.273Z" and r["src_ip"] is None
    assert "SYSCALL.exe" in r["extra"]["hex_decoded"]


def test_rhel7_grouping_and_hex_decoding(engine):
    ingest_paths(engine, [str(AUDITD / "audit-rhel7.log")])
    rows = _events(engine)
    # serial 479: CWD (line 10) + EXECVE (line 15) + PATH (line 19), interleaved with other events
    r = _one(rows, 479)
    assert r["extra"]["types"] == ["CWD", "EXECVE", "PATH"]
    assert r["action"] == "execve" and r["line"] == 10
    assert r["extra"]["cmdline"] == "auditctl -a exit,always -F arch=b32 -S execve"
    assert r["extra"]["cwd"] == "/home/andrew_kroh" and r["resource"] == "/sbin/auditctl"
    raw = rawcodec.decode(r["raw"])
    assert raw.count("\n") == 2 and "type=PATH" in raw
    # serial 17: NETFILTER_CFG + SYSCALL finit_module
    r = _one(rows, 17)
    assert r["action"] == "NETFILTER_CFG" and r["extra"]["syscall"] == "finit_module"
    # hex-encoded values are decoded
    assert _one(rows, 1208725)["extra"]["cwd"] == "/tmp/a b c"
    r = _one(rows, 475)
    assert r["action"] == "USER_CMD" and r["resource"] == "./metricbeat -c mb.dev.yml" and r["actor"] == "1000"
    assert _one(rows, 1065050)["extra"]["data"] == "su - andrew_kroh"
    assert _one(rows, 688)["extra"]["sockaddr"] == "inet 169.254.169.254:80"
    jq = _one(rows, 1075898)["extra"]["cmdline"]
    assert jq.startswith("jq . '{\n") and '"name": "/usr/bin/jq"' in jq
    # the record without a stamp keeps its own event, time taken from the record before it
    unk = [r for r in rows if r["action"] == "UNKNOWN[1329]"]
    assert len(unk) == 1 and unk[0]["line"] == 31 and unk[0]["record_id"] is None
    assert format_us(unk[0]["ts_us"]) == "2016-12-07T02:16:32.492Z" and "time_inferred" in unk[0]["extra"]


def test_rhel7_serial_and_boot_for_sequence_analysis(engine):
    ingest_paths(engine, [str(AUDITD / "audit-rhel7.log")])
    rows = _events(engine)
    assert all(isinstance(r["extra"]["boot"], int) for r in rows)
    first = _one(rows, 385)
    assert first["extra"]["serial"] == 385 and first["extra"]["boot"] == 1
    # line 7: serial 480 after 529 while time moved forward (Dec 2016 -> Mar 2017): a new boot
    r = _one(rows, 480)
    assert r["extra"]["boot"] == 2 and "serial 480 after 529" in r["extra"]["boot_reason"]
    start = _one(rows, 7798)
    assert start["action"] == "DAEMON_START" and start["extra"]["boot"] == 3
    assert start["extra"]["serial_space"] == "auditd"


def test_enriched_hand_checked_records(engine):
    ingest_paths(engine, [str(AUDITD / "audit_enriched.log")])
    rows = _events(engine)
    # line 4: failed pubkey auth for root from 172.23.112.1 (AUID="unset")
    r = _one(rows, 441)
    assert (r["action"], r["outcome"], r["actor"], r["src_ip"]) == ("USER_AUTH", "failure", "root", "172.23.112.1")
    assert format_us(r["ts_us"]) == "2026-07-07T08:56:53.119Z"
    # lines 7-9: LOGIN + SYSCALL(write) + PROCTITLE grouped; actor from AUID="root" (auid=0)
    r = _one(rows, 447)
    assert r["extra"]["types"] == ["LOGIN", "SYSCALL", "PROCTITLE"]
    assert (r["action"], r["outcome"], r["actor"], r["actor_uid"], r["session"]) == ("LOGIN", "success", "root", "0", "7")
    assert format_us(r["ts_us"]) == "2026-07-07T08:56:53.166Z" and r["src_ip"] is None
    assert r["extra"]["syscall"] == "write" and r["extra"]["proctitle"] == "sshd-session: root [priv]"
    assert r["extra"]["names"]["AUID"] == "root"
    # lines 18-23: execve of /bin/sh with a hex-encoded argument and proctitle
    r = _one(rows, 487)
    assert (r["action"], r["outcome"], r["actor"], r["src_ip"]) == ("execve", "success", "root", None)
    assert format_us(r["ts_us"]) == "2026-07-07T08:57:41.350Z"
    assert r["extra"]["cmdline"] == "/bin/sh -c 'grep -c . /etc/hostname'"
    assert r["extra"]["proctitle"] == "/bin/sh -c grep -c . /etc/hostname"
    assert r["resource"] == "/usr/bin/bash" and r["extra"]["key"] == "specimen_exec"
    assert set(r["extra"]["hex_decoded"]) >= {"EXECVE.a2", "PROCTITLE.proctitle"}
    assert r["extra"]["paths"][0]["name"] == "/bin/sh" and r["extra"]["paths"][0]["owner"] == "root"
    r = _one(rows, 735)
    assert r["extra"]["cmdline"] == "/usr/bin/cat '/tmp/my report.txt'"
    assert format_us(r["ts_us"]) == "2026-07-07T09:23:37.830Z"
    # useradd: target user is acct=, actor the login user
    r = _one(rows, 408)
    assert (r["action"], r["actor"], r["target_user"], r["outcome"]) == ("ADD_USER", "root", "specimenuser", "success")


def _write(tmp_path, name, data: bytes) -> str:
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


def test_interleaved_groups_eoe_window_and_node(engine, tmp_path):
    lines = [
        b"node=web1 type=SYSCALL msg=audit(1700000000.100:10): arch=c000003e syscall=257 success=no exit=-13 "
        b"items=1 ppid=1 pid=5 auid=1001 uid=1001 gid=1001 euid=1001 ses=3 comm=\"cat\" exe=\"/usr/bin/cat\" key=\"secrets\"",
        b"node=web1 type=SYSCALL msg=audit(1700000000.200:11): arch=c000003e syscall=59 success=yes exit=0 items=1 "
        b"ppid=1 pid=6 auid=1001 uid=1001 euid=0 ses=3 comm=\"sudo\" exe=\"/usr/bin/sudo\" key=(null)",
        b"node=web1 type=PATH msg=audit(1700000000.100:10): item=0 name=\"/etc/shadow\" inode=1 nametype=NORMAL",
        b"node=web1 type=EXECVE msg=audit(1700000000.200:11): argc=2 a0=\"sudo\" a1=\"id\"",
        b"node=web1 type=EOE msg=audit(1700000000.100:10): ",
        b"node=web1 type=EOE msg=audit(1700000000.200:11): ",
        # serial drops while time moves forward: a reboot
        b"node=web1 type=SYSCALL msg=audit(1700000900.000:3): arch=c000003e syscall=59 success=yes exit=0 "
        b"auid=4294967295 uid=0 euid=0 ses=4294967295 comm=\"init\" exe=\"/sbin/init\"",
    ]
    p = _write(tmp_path, "audit.log", b"\n".join(lines) + b"\n")
    res = ingest_paths(engine, [p])
    s = res.sources[0]
    assert (s.format, s.records, s.events, s.merged, s.quarantined) == ("auditd", 7, 3, 4, 0)
    rows = _events(engine)
    r = _one(rows, 10)
    assert (r["action"], r["outcome"], r["error_code"], r["resource"], r["host"]) == (
        "openat", "failure", "EACCES", "/etc/shadow", "web1")
    assert r["actor"] == "1001" and r["extra"]["types"] == ["SYSCALL", "PATH", "EOE"]
    r = _one(rows, 11)
    assert r["target_user"] == "root" and r["extra"]["cmdline"] == "sudo id"
    r = _one(rows, 3)
    assert r["extra"]["boot"] == 2 and r["actor"] is None


def test_selinux_avc_denial(engine, tmp_path):
    lines = [
        b'type=AVC msg=audit(1700000000.500:77): avc:  denied  { read } for  pid=812 comm="httpd" '
        b'name="shadow" dev="dm-0" ino=123 scontext=system_u:system_r:httpd_t:s0 '
        b'tcontext=system_u:object_r:shadow_t:s0 tclass=file permissive=0',
        b'type=SYSCALL msg=audit(1700000000.500:77): arch=c000003e syscall=2 success=no exit=-13 a0=1 a1=0 '
        b'a2=0 a3=0 items=0 ppid=1 pid=812 auid=4294967295 uid=48 gid=48 euid=48 ses=4294967295 comm="httpd" '
        b'exe="/usr/sbin/httpd" subj=system_u:system_r:httpd_t:s0 key=(null)',
    ]
    p = _write(tmp_path, "audit.log", b"\n".join(lines))
    res = ingest_paths(engine, [p])
    assert (res.sources[0].events, res.sources[0].merged) == (1, 1)
    r = _one(_events(engine), 77)
    assert (r["action"], r["outcome"], r["error_code"], r["resource"], r["actor"]) == (
        "AVC", "failure", "EACCES", "shadow", None)
    assert r["extra"]["permission"] == "read" and r["extra"]["avc_tclass"] == "file"
    assert r["extra"]["syscall"] == "open"


def test_group_split_by_small_window_is_flagged(engine, tmp_path):
    lines = [b"type=SYSCALL msg=audit(1700000000.100:10): syscall=59 success=yes auid=0 uid=0 exe=\"/bin/x\""]
    lines += [f"type=USER_CMD msg=audit(1700000001.{i:03d}:{20 + i}): pid=1 uid=0 auid=0 ses=1 msg='cmd=\"ls\" res=success'".encode()
              for i in range(5)]
    lines += [b"type=EXECVE msg=audit(1700000000.100:10): argc=1 a0=\"x\""]
    p = _write(tmp_path, "audit.log", b"\n".join(lines))
    res = ingest_paths(engine, [p], fmt="auditd", options={"window": 2})
    s = res.sources[0]
    assert (s.records, s.events, s.merged, s.quarantined) == (7, 7, 0, 0)
    late = [r for r in _events(engine) if r["record_id"] == "10"]
    assert len(late) == 2 and sum(1 for r in late if r["extra"].get("late_records")) == 1


def test_hostile_input_is_quarantined_not_crashing(engine, tmp_path):
    good = (b"type=USER_LOGIN msg=audit(1481077043.193:421): pid=1 uid=0 auid=1000 ses=1 msg='op=login "
            b"acct=\"x\" exe=\"/usr/sbin/sshd\" hostname=? addr=10.0.0.1 terminal=ssh res=success'")
    lines = [
        good,                                                        # 1 event
        b"type=SYSCALL msg=audit(1481077043.19",                     # 2 truncated header
        bytes(b for b in range(256) if b != 10) * 4,                 # 3 binary garbage
        b"A" * (10 * 1024 * 1024),                                   # 4 a 10 MB line
        b"type=USER_CMD msg=audit(1481077044.000:500): pid=1 uid=0 auid=0 ses=1 msg='cmd=\"\xff\xfe\" res=success'",  # 5
        "type=USER_LOGIN msg=audit(1481077045.000:501): res=success".encode("utf-16-le"),  # 6 wrong encoding
        b"type=USER_AUTH msg=audit(1481077045.000:502): pid=1 uid=0 auid=4294967295 msg='op=PAM:auth acct=\"ro",  # 7 cut
        b"type=USER_AUTH msg=audit(99999999999.000:503): pid=1",       # 8 time out of range
        b"",                                                          # 9 blank
        b"hello world",                                               # 10 not audit
        b"type=EXECVE msg=audit(1481077046.000:504): argc=1 a0=4142Z",  # 11 bad hex stays as text
    ]
    p = _write(tmp_path, "audit.log", b"\n".join(lines) + b"\n")
    res = ingest_paths(engine, [p], fmt="auditd")
    s = res.sources[0]
    assert s.records == 10 and s.records == s.events + s.merged + s.quarantined + s.duplicates
    assert s.blank_lines == 1  # counted, not a record
    q = {r["line"]: r["reason"] for r in _quarantine(engine)}
    assert set(q) == {2, 3, 4, 5, 6, 8, 10}
    assert "malformed audit record header" in q[2]
    assert "NUL" in q[3] and "4 MiB" in q[4] and "invalid UTF-8" in q[5] and "NUL" in q[6]
    assert "out of range" in q[8] and "not an audit record" in q[10]
    assert all("\n" not in reason for reason in q.values())
    rows = _events(engine)
    cut = _one(rows, 502)
    assert cut["action"] == "USER_AUTH" and cut["actor"] == "ro"
    assert _one(rows, 504)["extra"]["cmdline"] == "4142Z"


def test_sniff_claims_only_auditd_samples():
    from logconsole.ingest.auditd import AuditdParser
    from logconsole.ingest.reader import Input

    for f in sorted(REALDATA.glob("*/*")):
        if f.parent.name == "LICENSES" or not f.is_file():
            continue
        ev = AuditdParser().sniff(Input.open(f).sample())
        if f.parent.name == "auditd":
            assert ev is not None and ev.score >= 90, f
        else:
            assert ev is None, f


def test_source_options_record_only_auditd_options(engine):
    ingest_paths(engine, [str(AUDITD / "audit_enriched.log")], options={"year": 2020, "map": "x=y"})
    with engine.connect() as conn:
        assert json.loads(conn.execute(select(sources.c.options)).scalar()) == {"window": 512}


def test_evidence_file_unchanged(engine, tmp_path):
    src = tmp_path / "a.log"
    shutil.copy(AUDITD / "audit_enriched.log", src)
    before = src.read_bytes()
    ingest_paths(engine, [str(src)])
    assert src.read_bytes() == before
