"""syslog-auth parser: sshd/sudo/su/PAM/useradd, RFC 3164/3339/5424, the year problem, hostile input."""

import json
import os
import shutil
from datetime import datetime, UTC

from sqlalchemy import select

from logconsole.ingest.pipeline import ingest_paths
from logconsole.util.timeparse import format_us
from logconsole.store.schema import events, quarantine, sources

from .conftest import REALDATA

SSH = REALDATA / "ssh-auth"


def _rows(engine):
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(events).order_by(events.c.source_id, events.c.line))]
    for r in rows:
        r["extra"] = json.loads(r["extra"]) if r["extra"] else {}
    return rows


def _line(rows, n, src=None):
    found = [r for r in rows if r["line"] == n and (src is None or r["source_id"] == src)]
    assert len(found) == 1
    return found[0]


def _options(engine):
    with engine.connect() as conn:
        return [json.loads(r.options) if r.options else None for r in conn.execute(select(sources.c.options))]


def _set_mtime(path, y, m, d):
    t = datetime(y, m, d, 12, 0, tzinfo=UTC).timestamp()
    os.utime(path, (t, t))


def test_realdata_counts_and_hand_checked_records(engine):
    res = ingest_paths(engine, [str(SSH / "test.log")], options={"year": 2016})
    s = res.sources[0]
    assert (s.format, s.records, s.events, s.merged, s.quarantined, s.duplicates) == ("syslog-auth", 10, 10, 0, 0, 0)
    rows = _rows(engine)
    # line 1: Feb 21 21:54:44 localhost sshd[3402]: Accepted publickey for vagrant from 10.0.2.2 port 63673 ssh2: RSA ...
    r = _line(rows, 1)
    assert (r["actor"], r["action"], r["outcome"], r["src_ip"]) == ("vagrant", "ssh_login", "success", "10.0.2.2")
    assert format_us(r["ts_us"]) == "2016-02-21T21:54:44Z" and r["ts_raw"] == "Feb 21 21:54:44"
    assert r["host"] == "localhost" and r["service"] == "sshd" and r["extra"]["method"] == "publickey"
    assert r["extra"]["key_fingerprint"] == "39:33:99:e9:a0:dc:f2:33:a3:e5:72:3b:7c:3a:56:84"
    # line 3: Invalid user test from 10.0.2.2
    r = _line(rows, 3)
    assert (r["actor"], r["action"], r["outcome"], r["src_ip"]) == ("test", "ssh_invalid_user", "failure", "10.0.2.2")
    assert format_us(r["ts_us"]) == "2016-02-21T21:56:12Z"
    # line 4: Failed password for root from 216.160.83.57 port 29160 ssh2
    r = _line(rows, 4)
    assert (r["actor"], r["action"], r["outcome"], r["src_ip"]) == ("root", "ssh_login", "failure", "216.160.83.57")
    assert format_us(r["ts_us"]) == "2016-02-20T08:35:22Z" and r["host"] == "slave22"
    # line 5: sudo: vagrant : TTY=pts/0 ; PWD=/home/vagrant ; USER=root ; COMMAND=/bin/ls
    r = _line(rows, 5)
    assert (r["actor"], r["action"], r["outcome"], r["target_user"], r["resource"], r["src_ip"]) == (
        "vagrant", "sudo", "success", "root", "/bin/ls", None)
    assert format_us(r["ts_us"]) == "2016-02-21T23:35:33Z" and r["extra"]["tty"] == "pts/0"
    # line 8: sudo:      tsg : user NOT in sudoers ; ...
    r = _line(rows, 8)
    assert (r["actor"], r["action"], r["outcome"], r["error_code"]) == ("tsg", "sudo", "failure", "user NOT in sudoers")
    assert format_us(r["ts_us"]) == "2016-02-24T00:13:02Z"
    # line 6: Did not receive identification string from 2.125.160.217
    assert _line(rows, 6)["src_ip"] == "2.125.160.217"
    # lines 9/10: groupadd / useradd are privilege changes
    r = _line(rows, 9)
    assert (r["action"], r["target_user"], r["extra"]["gid"]) == ("group_add", "apache", "48")
    r = _line(rows, 10)
    assert (r["action"], r["target_user"], r["extra"]["uid"], r["extra"]["shell"]) == (
        "user_add", "apache", "48", "/sbin/nologin")
    assert r["extra"]["year"] == 2016 and r["extra"]["year_from"] == "option"
    assert _options(engine) == [{"year": 2016, "year_from": "option", "tz": "UTC",
                                 "tz_from": "default (zoneless times read as UTC)"}]


def test_realdata_plaso_ssh(engine):
    res = ingest_paths(engine, [str(SSH / "syslog_ssh.log")], options={"year": 2017})
    s = res.sources[0]
    assert (s.format, s.records, s.events, s.quarantined) == ("syslog-auth", 9, 9, 0)
    rows = _rows(engine)
    r = _line(rows, 3)  # two spaces after "sshd[3]:", IPv6 source
    assert (r["actor"], r["action"], r["outcome"]) == ("plaso", "ssh_login", "success")
    assert r["src_ip"] == "2001:db8:a0b:12f0::1" and format_us(r["ts_us"]) == "2017-03-11T22:55:30Z"
    r = _line(rows, 6)
    assert (r["actor"], r["action"], r["outcome"], r["src_ip"]) == ("root", "ssh_login", "failure", "188.124.3.41")
    assert format_us(r["ts_us"]) == "2017-03-11T22:55:32Z"
    r = _line(rows, 1)
    assert r["action"] == "ssh_listen" and r["src_ip"] is None and r["extra"]["listen_addr"] == "0.0.0.0"
    assert _line(rows, 5)["action"] == "ssh_connect"


def test_year_from_mtime_and_rollover(engine, tmp_path):
    p = tmp_path / "auth.log"
    p.write_bytes(
        b"Dec 30 23:59:58 h sshd[1]: Accepted password for bob from 192.0.2.1 port 1 ssh2\n"
        b"Dec 31 23:59:59 h sshd[1]: Failed password for bob from 192.0.2.1 port 1 ssh2\n"
        b"Jan  1 00:00:01 h sshd[1]: Accepted password for eve from 192.0.2.2 port 1 ssh2\n"
        b"Dec 31 23:59:59 h sshd[1]: Connection from 192.0.2.3 port 2\n"  # a stray late line: previous year
        b"Jan  2 10:00:00 h sshd[1]: Connection from 192.0.2.4 port 2\n"
    )
    _set_mtime(p, 2024, 1, 3)
    ingest_paths(engine, [str(p)])
    rows = _rows(engine)
    assert [format_us(r["ts_us"]) for r in rows] == [
        "2023-12-30T23:59:58Z", "2023-12-31T23:59:59Z", "2024-01-01T00:00:01Z", "2023-12-31T23:59:59Z",
        "2024-01-02T10:00:00Z"]
    opts = _options(engine)[0]
    assert opts["year"] == 2023 and opts["year_from"] == "mtime" and "1 Dec->Jan rollover" in opts["year_note"]
    assert rows[0]["extra"]["year_from"] == "mtime" and rows[2]["extra"]["year"] == 2024


def test_year_option_rollover_and_mtime_in_the_past(engine, tmp_path):
    p = tmp_path / "secure"
    p.write_bytes(b"Dec 31 23:00:00 h su: (to root) bob on pts/0\nJan  1 01:00:00 h su: (to root) bob on pts/0\n")
    ingest_paths(engine, [str(p)], options={"year": 2019})
    rows = _rows(engine)
    assert [format_us(r["ts_us"]) for r in rows] == ["2019-12-31T23:00:00Z", "2020-01-01T01:00:00Z"]
    assert rows[0]["action"] == "su" and rows[0]["actor"] == "bob" and rows[0]["target_user"] == "root"
    # only December lines, file modified on Jan 2nd: the lines belong to the previous year
    q = tmp_path / "secure.1"
    q.write_bytes(b"Dec 31 23:00:00 h2 sshd[9]: Invalid user admin from 198.51.100.7 port 4\n")
    _set_mtime(q, 2021, 1, 2)
    ingest_paths(engine, [str(q)])
    r = [r for r in _rows(engine) if r["host"] == "h2"][0]
    assert format_us(r["ts_us"]) == "2020-12-31T23:00:00Z"
    assert r["extra"]["year_from"] == "mtime" and r["extra"]["year"] == 2020
    assert "one year earlier" in _options(engine)[1]["year_note"]


def test_tz_option_for_zoneless_lines(engine, tmp_path):
    p = tmp_path / "auth.log"
    p.write_bytes(b"Jul  1 12:00:00 h sshd[1]: Accepted password for bob from 192.0.2.1 port 1 ssh2\n")
    ingest_paths(engine, [str(p)], options={"year": 2023, "tz": "Europe/Berlin"})
    r = _rows(engine)[0]
    assert format_us(r["ts_us"]) == "2023-07-01T10:00:00Z" and r["extra"]["tz"] == "Europe/Berlin"


def test_rfc5424_rfc3339_pam_su_usermod(engine, tmp_path):
    lines = [
        "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed for lonvick on /dev/pts/8",
        '<165>1 2003-10-11T22:14:15.003-07:00 mymachine.example.com sshd 812 - [origin ip="192.0.2.9" sw="x\\]y"] '
        "\ufeffAccepted publickey for alice from 203.0.113.5 port 5022 ssh2",
        "2024-05-01T10:00:00.123456+02:00 host1 sshd[1]: Failed password for invalid user oracle from 203.0.113.6 port 22 ssh2",
        "Mar  3 10:00:00 h sudo: pam_unix(sudo:session): session opened for user root(uid=0) by vagrant(uid=1000)",
        "Mar  3 10:00:01 h sshd[7]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9  user=root",
        "Mar  3 10:00:02 h usermod[8]: add 'bob' to group 'sudo'",
        "Mar  3 10:00:03 h passwd[9]: pam_unix(passwd:chauthtok): password changed for bob",
        "Mar  3 10:00:04 h su[10]: FAILED SU (to root) bob on pts/1",
        "Mar  3 10:00:05 h su[11]: pam_unix(su-l:auth): authentication failure; logname=bob uid=1000 euid=0 tty=pts/1 ruser=bob rhost=  user=root",
        "Mar  3 10:00:06 h CRON[12]: (root) CMD (/usr/local/bin/backup.sh)",
        "Mar  3 10:00:07 h systemd-logind[13]: New session 42 of user bob.smith.",
        "Mar  3 10:00:08 h kernel: [ 12.3] eth0: link up",
        "Mar  3 10:00:09 h sshd[14]: Connection closed by authenticating user root 203.0.113.10 port 4242 [preauth]",
    ]
    p = tmp_path / "auth.log"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = ingest_paths(engine, [str(p)], options={"year": 2022})
    s = res.sources[0]
    assert (s.format, s.records, s.events, s.quarantined) == ("syslog-auth", 13, 13, 0)
    assert _options(engine)[0]["year"] == 2022  # used by the RFC 3164 lines
    rows = _rows(engine)
    r = _line(rows, 1)
    assert format_us(r["ts_us"]) == "2003-10-11T22:14:15.003Z" and r["service"] == "su" and r["action"] == "syslog"
    assert r["extra"]["msgid"] == "ID47" and r["host"] == "mymachine.example.com"
    r = _line(rows, 2)
    assert (r["actor"], r["action"], r["outcome"], r["src_ip"]) == ("alice", "ssh_login", "success", "203.0.113.5")
    assert format_us(r["ts_us"]) == "2003-10-12T05:14:15.003Z"
    assert r["extra"]["structured_data"] == [{"id": "origin", "ip": "192.0.2.9", "sw": "x]y"}]
    r = _line(rows, 3)
    assert (r["actor"], r["outcome"], r["src_ip"], r["extra"]["invalid_user"]) == ("oracle", "failure", "203.0.113.6", True)
    assert format_us(r["ts_us"]) == "2024-05-01T08:00:00.123456Z"
    r = _line(rows, 4)
    assert (r["action"], r["actor"], r["target_user"]) == ("session_open", "vagrant", "root")
    r = _line(rows, 5)
    assert (r["action"], r["outcome"], r["actor"], r["src_ip"]) == ("auth_failure", "failure", "root", "203.0.113.9")
    r = _line(rows, 6)
    assert (r["action"], r["target_user"], r["resource"]) == ("group_member_add", "bob", "group:sudo")
    assert (_line(rows, 7)["action"], _line(rows, 7)["target_user"]) == ("password_change", "bob")
    r = _line(rows, 8)
    assert (r["action"], r["outcome"], r["actor"], r["target_user"]) == ("su", "failure", "bob", "root")
    r = _line(rows, 9)
    assert (r["action"], r["actor"], r["target_user"]) == ("auth_failure", "bob", "root")
    r = _line(rows, 10)
    assert (r["action"], r["actor"], r["resource"]) == ("cron_cmd", "root", "/usr/local/bin/backup.sh")
    r = _line(rows, 11)
    assert (r["action"], r["actor"], r["session"]) == ("session_open", "bob.smith", "42")
    r = _line(rows, 12)
    assert (r["action"], r["service"]) == ("syslog", "kernel") and r["message"] == "kernel: [ 12.3] eth0: link up"
    r = _line(rows, 13)
    assert (r["action"], r["actor"], r["src_ip"], r["extra"]["preauth"]) == ("ssh_disconnect", "root", "203.0.113.10", True)


def test_more_sshd_login_and_pam_messages(engine, tmp_path):
    lines = [
        "Mar  3 10:00:00 h sshd[1]: error: PAM: Authentication failure for illegal user admin from 198.51.100.1",
        "Mar  3 10:00:01 h sshd[1]: Disconnecting invalid user admin 198.51.100.2 port 4444: Too many authentication failures [preauth]",
        "Mar  3 10:00:02 h sshd[1]: Unable to negotiate with 198.51.100.3 port 5555: no matching key exchange method found.",
        "Mar  3 10:00:03 h sshd[1]: Timeout before authentication for 198.51.100.4 port 6666",
        "Mar  3 10:00:04 h sshd[1]: Starting session: shell on pts/0 for bob from 198.51.100.5 port 7777 id 0",
        "Mar  3 10:00:05 h sshd[1]: PAM 2 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=198.51.100.6  user=root",
        "Mar  3 10:00:06 h login[5]: FAILED LOGIN (1) on '/dev/tty1' FOR 'UNKNOWN', User not known to the underlying authentication module",
        "Mar  3 10:00:07 h login[5]: ROOT LOGIN  ON tty1",
        "Mar  3 10:00:08 h login[5]: pam_unix(login:session): session opened for user root(uid=0) by LOGIN(uid=0)",
        "Mar  3 10:00:09 h sshd[1]: pam_unix(sshd:session): session opened for user bob(uid=1000) by (uid=0)",
        "Mar  3 10:00:10 h sshd[1]: Bad protocol version identification 'GET / HTTP/1.1' from 198.51.100.8 port 9999",
    ]
    p = tmp_path / "auth.log"
    p.write_text("\n".join(lines) + "\n")
    ingest_paths(engine, [str(p)], options={"year": 2020})
    got = [(r["action"], r["outcome"], r["actor"], r["src_ip"]) for r in _rows(engine)]
    assert got == [
        ("ssh_login", "failure", "admin", "198.51.100.1"),
        ("ssh_disconnect", "failure", "admin", "198.51.100.2"),
        ("ssh_negotiation_failed", "failure", None, "198.51.100.3"),
        ("ssh_auth_timeout", "failure", None, "198.51.100.4"),
        ("ssh_session_start", "success", "bob", "198.51.100.5"),
        ("auth_failure", "failure", "root", "198.51.100.6"),
        ("login", "failure", "UNKNOWN", None),
        ("login", "success", "root", None),
        ("session_open", "success", "root", None),  # "by LOGIN" is the login program, not a user switch
        ("session_open", "success", "bob", None),
        ("ssh_no_ident", "failure", None, "198.51.100.8"),
    ]


def test_year_not_recorded_when_every_line_has_one(engine, tmp_path):
    p = tmp_path / "auth.log"
    p.write_bytes(b"2024-05-01T10:00:00+00:00 h sshd[1]: Connection from 192.0.2.1 port 1\n")
    ingest_paths(engine, [str(p)])
    opts = _options(engine)[0]
    assert "year" not in opts and opts["tz"] == "UTC"


def test_hostile_input(engine, tmp_path):
    lines = [
        b"Feb 21 21:54:44 localhost sshd[1]: Accepted password for bob from 10.0.0.1 port 2 ssh2",  # 1 event
        b"Feb 21 21:54",                                                  # 2 truncated
        bytes(b for b in range(256) if b != 10) * 3,                      # 3 binary
        b"B" * (10 * 1024 * 1024),                                        # 4 10 MB line
        b"Feb 21 21:54:45 localhost sshd[1]: Invalid user \xff\xfeadm from 10.0.0.2",  # 5 invalid UTF-8: kept
        "Feb 21 21:54:46 localhost sshd[1]: hi".encode("utf-16-le"),      # 6 wrong encoding
        b"Feb 29 10:00:00 localhost sshd[1]: Connection from 10.0.0.3 port 1",  # 7 no Feb 29 in 2023
        b"",                                                              # 8 blank
        b"<13>1 - - - - - - no timestamp",                                # 9 RFC 5424 without time
        b"<13>1 2024-13-45T99:00:00Z h app - - - bad time",               # 10
        b"Feb 21 21:54:47 localhost sudo: bob : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/sh -c 'a ; b'",  # 11
    ]
    p = tmp_path / "auth.log"
    p.write_bytes(b"\n".join(lines) + b"\n")
    res = ingest_paths(engine, [str(p)], fmt="syslog-auth", options={"year": 2023})
    s = res.sources[0]
    assert s.records == 10 and s.records == s.events + s.quarantined and s.blank_lines == 1  # a blank line is no record
    with engine.connect() as conn:
        q = {r.line: r.reason for r in conn.execute(select(quarantine))}
    assert set(q) == {2, 3, 4, 6, 7, 9, 10}
    assert "not a syslog line" in q[2] and "NUL" in q[3] and "4 MiB" in q[4] and "NUL" in q[6]
    assert "invalid date" in q[7] and "without a timestamp" in q[9]
    assert "unparseable time" in q[10]
    rows = _rows(engine)
    bad = _line(rows, 5)
    assert bad["actor"] == "\\xff\\xfeadm" and bad["extra"]["invalid_utf8"] is True
    assert bad["action"] == "ssh_invalid_user" and bad["src_ip"] == "10.0.0.2"
    sudo = _line(rows, 11)
    assert sudo["resource"] == "/bin/sh -c 'a ; b'" and sudo["outcome"] == "success"


def test_sniff_claims_only_ssh_auth_samples():
    from logconsole.ingest.reader import Input
    from logconsole.ingest.syslog_auth import SyslogAuthParser

    for f in sorted(REALDATA.glob("*/*")):
        if f.parent.name == "LICENSES" or not f.is_file():
            continue
        ev = SyslogAuthParser().sniff(Input.open(f).sample())
        if f.parent.name == "ssh-auth":
            assert ev is not None and ev.score >= 90, f
        else:
            assert ev is None, f


def test_copy_without_year_uses_mtime(engine, tmp_path):
    dst = tmp_path / "test.log"
    shutil.copy(SSH / "test.log", dst)
    _set_mtime(dst, 2015, 3, 1)
    ingest_paths(engine, [str(dst)])
    r = _line(_rows(engine), 1)
    assert format_us(r["ts_us"]) == "2015-02-21T21:54:44Z"
    assert _options(engine)[0]["year_from"] == "mtime"
