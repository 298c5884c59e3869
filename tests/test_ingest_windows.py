"""windows-security: both real samples checked by hand, the other exporters' shapes, hostile input."""

from __future__ import annotations

import json
from collections import Counter

from sqlalchemy import select

from logconsole.ingest.pipeline import ingest_paths
from logconsole.util.timeparse import format_us
from logconsole.store import rawcodec
from logconsole.store.schema import events, quarantine

from .conftest import REALDATA

WIN = REALDATA / "windows-security"
AMA = WIN / "WORKSTATION6_Windows_Security_2022-09-22T12313335.json"
NXLOG = WIN / "covenant_sharpsc_query_dcerpc_smb_svcctl_2020-08-06012009.json"
NX_LINES = NXLOG.read_bytes().splitlines()


def _rows(engine):
    with engine.connect() as conn:
        out = [dict(r._mapping) for r in conn.execute(select(events).order_by(events.c.id))]
    for r in out:
        r["extra"] = json.loads(r["extra"]) if r["extra"] else {}
    return out


def _one(engine, record_id):
    [r] = [x for x in _rows(engine) if x["record_id"] == record_id]
    return r


def _quarantine(engine):
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(quarantine).order_by(quarantine.c.id))]


def _ingest(engine, *paths, fmt=None, options=None):
    res = ingest_paths(engine, [str(p) for p in paths], fmt=fmt, options=options)
    assert not res.errors, res.errors
    for s in res.sources:
        assert s.records == s.events + s.duplicates + s.merged + s.quarantined
    return res


# ------------------------------------------------------------------ NXLog / Mordor JSON lines


def test_nxlog_counts_and_channels(engine):
    [sr] = _ingest(engine, NXLOG).sources
    assert sr.format == "windows-security"
    assert (sr.records, sr.events, sr.duplicates, sr.quarantined) == (349, 349, 0, 0)
    rows = _rows(engine)
    assert Counter(r["service"] for r in rows) == {
        "Microsoft-Windows-Sysmon/Operational": 218, "Security": 130, "Microsoft-Windows-TaskScheduler/Operational": 1}
    acts = Counter(r["action"] for r in rows if r["service"] == "Security")
    assert (acts["logon"], acts["logoff"], acts["special-privileges-assigned"], acts["process-created"]) == (5, 5, 5, 2)
    assert acts["wfp-connection-blocked"] == 5
    assert {r["host"] for r in rows} == {"MORDORDC.theshire.local", "WORKSTATION5.theshire.local",
                                         "WORKSTATION6.theshire.local"}
    # EventTime is local (UTC-4): inferred from @timestamp vs EventReceivedTime for every Security record
    assert all(r["extra"]["time_zone"].startswith("-04:00 (inferred") for r in rows if r["service"] == "Security")
    # ... and the source row says so (Sysmon records use their own UtcTime)
    from logconsole.store.schema import sources

    with engine.connect() as conn:
        opts = json.loads(conn.execute(select(sources.c.options)).scalar())
    assert opts == {"local_time_conversion": {"-04:00 (inferred: EventReceivedTime vs @timestamp)": 131}}


def test_nxlog_network_logon_by_hand(engine):
    # line 72: 4624, TargetUserName pgustavo @ THESHIRE.LOCAL, LogonType 3, IpAddress 172.18.39.5,
    # EventTime "2020-08-06 01:20:45" local = 05:20:45Z (@timestamp 05:20:46.753Z is the receive time)
    _ingest(engine, NXLOG)
    r = _one(engine, "WORKSTATION6.theshire.local/Security/85663")
    assert r["line"] == 72
    assert r["actor"] == "THESHIRE\\pgustavo"
    assert r["actor_type"] == "User"
    assert r["actor_uid"] == "S-1-5-21-1363495622-3806888128-621328882-1104"
    assert r["action"] == "logon"
    assert r["outcome"] == "success"
    assert format_us(r["ts_us"]) == "2020-08-06T05:20:45Z"
    assert r["ts_raw"] == "2020-08-06 01:20:45"
    assert r["src_ip"] == "172.18.39.5"
    assert r["session"] == "0xae3a35"
    x = r["extra"]
    assert (x["event_id"], x["record_number"], x["logon_type"], x["logon_type_name"]) == (4624, 85663, 3, "Network")
    assert (x["auth_package"], x["ip_port"], x["elevated_token"]) == ("Kerberos", "54362", "Yes")
    assert rawcodec.decode(r["raw"]) == NX_LINES[71].decode()


def test_nxlog_special_privileges_and_logoff_by_hand(engine):
    _ingest(engine, NXLOG)
    p = _one(engine, "WORKSTATION6.theshire.local/Security/85662")  # line 71: 4672
    assert (p["actor"], p["action"], p["outcome"], p["session"]) == (
        "THESHIRE\\pgustavo", "special-privileges-assigned", "success", "0xae3a35")
    assert format_us(p["ts_us"]) == "2020-08-06T05:20:45Z"
    assert "SeDebugPrivilege" in p["extra"]["privileges"] and len(p["extra"]["privileges"]) == 9
    assert p["src_ip"] is None
    o = _one(engine, "WORKSTATION6.theshire.local/Security/85674")  # 4634, same logon id
    assert (o["actor"], o["action"], o["session"], o["extra"]["logon_type"]) == (
        "THESHIRE\\pgustavo", "logoff", "0xae3a35", 3)
    assert format_us(o["ts_us"]) == "2020-08-06T05:20:56Z"


def test_nxlog_process_creation_by_hand(engine):
    # line 256: 4688 on the DC, creator MORDORDC$ (S-1-5-18), dsregcmd.exe from svchost.exe
    _ingest(engine, NXLOG)
    r = _one(engine, "MORDORDC.theshire.local/Security/297454")
    assert r["line"] == 256
    assert (r["actor"], r["actor_type"], r["actor_uid"]) == ("THESHIRE\\MORDORDC$", "Computer", "S-1-5-18")
    assert (r["action"], r["outcome"]) == ("process-created", "success")
    assert format_us(r["ts_us"]) == "2020-08-06T05:21:18Z"
    assert r["src_ip"] is None
    assert r["resource"] == "C:\\Windows\\System32\\dsregcmd.exe"
    assert r["target_user"] is None  # TargetUserName "-"
    assert r["extra"]["command_line"] == "C:\\windows\\System32\\dsregcmd.exe $(Arg0) $(Arg1) $(Arg2)"
    assert r["extra"]["parent_process"] == "C:\\Windows\\System32\\svchost.exe"
    assert r["extra"]["token_elevation"] == "Type 1 (full token)"


def test_nxlog_audit_failure_and_other_channels(engine):
    _ingest(engine, NXLOG)
    f = _one(engine, "WORKSTATION6.theshire.local/Security/85649")  # line 30: 5157 AUDIT_FAILURE
    assert (f["action"], f["outcome"], f["src_ip"]) == ("wfp-connection-blocked", "failure", "172.18.39.5")
    assert format_us(f["ts_us"]) == "2020-08-06T05:20:24Z"
    s = _one(engine, "WORKSTATION5.theshire.local/Microsoft-Windows-Sysmon/Operational/291187")  # line 40: Sysmon 3
    assert (s["actor"], s["action"], s["outcome"], s["src_ip"]) == (
        "THESHIRE\\pgustavo", "network-connection", "unknown", "172.18.39.5")
    assert format_us(s["ts_us"]) == "2020-08-06T05:20:25.103Z"  # Sysmon UtcTime, not the service account
    assert s["resource"] == "C:\\Users\\pgustavo\\Desktop\\GruntHTTP.exe"
    t = _one(engine, "MORDORDC.theshire.local/Microsoft-Windows-TaskScheduler/Operational/282")  # line 244
    assert t["action"] == "Microsoft-Windows-TaskScheduler/Operational:129"
    assert (t["actor"], t["actor_type"]) == ("NT AUTHORITY\\SYSTEM", "System")


# ------------------------------------------------------------------ Azure Monitor Agent / Sentinel array


def test_ama_array_counts_and_sequence(engine):
    [sr] = _ingest(engine, AMA).sources
    assert (sr.format, sr.records, sr.events, sr.quarantined) == ("windows-security", 37, 37, 0)
    rows = _rows(engine)
    assert [r["rec_index"] for r in rows] == list(range(37))
    raw_numbers = [int(e["EventRecordID"]) for e in json.loads(AMA.read_text())]
    assert [r["extra"]["record_number"] for r in rows] == raw_numbers
    # the export has a hole (1350057..1350066): kept visible for sequence analysis
    nums = sorted(raw_numbers)
    assert nums[7] - nums[6] == 11
    assert Counter(r["action"] for r in rows)["object-handle-closed"] == 14


def test_ama_process_creation_by_hand(engine):
    # element 0: 4688 wardog runs notepad.exe from powershell.exe; TimeCreated 12:31:14.259Z is UTC,
    # TimeGenerated 04:31:14.259Z is kept in extra
    _ingest(engine, AMA)
    r = _one(engine, "WORKSTATION6.mssentinel.local/Security/1350050")
    assert (r["actor"], r["actor_uid"]) == ("MSSENTINEL\\wardog", "S-1-5-21-1569727641-2518674866-3296776394-500")
    assert (r["action"], r["outcome"]) == ("process-created", "success")
    assert format_us(r["ts_us"]) == "2022-09-22T12:31:14.259Z"
    assert r["src_ip"] is None
    assert r["resource"] == "C:\\Windows\\System32\\notepad.exe"
    assert r["session"] == "0x1ef7e8e"
    assert r["extra"]["time_generated"] == "2022-09-22T04:31:14.259Z"
    assert r["extra"]["parent_process"].endswith("powershell.exe")


def test_ama_privileged_service_and_wfp_by_hand(engine):
    _ingest(engine, AMA)
    p = _one(engine, "WORKSTATION6.mssentinel.local/Security/1350067")  # 4673
    assert (p["actor"], p["action"], p["outcome"]) == ("MSSENTINEL\\wardog", "privileged-service-called", "success")
    assert format_us(p["ts_us"]) == "2022-09-22T12:31:22.810Z"
    assert p["extra"]["privileges"] == ["SeCreateGlobalPrivilege"]
    w = _one(engine, "WORKSTATION6.mssentinel.local/Security/1350056")  # 5158: no subject at all
    assert (w["actor"], w["action"], w["src_ip"]) == (None, "wfp-bind-allowed", "0.0.0.0")
    assert format_us(w["ts_us"]) == "2022-09-22T12:31:16.069Z"
    o = _one(engine, "WORKSTATION6.mssentinel.local/Security/1350054")  # 4663 registry read
    assert o["resource"] == "\\REGISTRY\\MACHINE\\SYSTEM\\ControlSet001\\Control\\Lsa"


def test_same_event_reexported_is_duplicate(engine, tmp_path):
    arr = json.loads(AMA.read_text())
    p = tmp_path / "again.jsonl"
    p.write_text("\n".join(json.dumps(e) for e in arr[:5]) + "\n")
    res = _ingest(engine, AMA, p)
    assert [(s.events, s.duplicates) for s in res.sources] == [(37, 0), (0, 5)]


# ------------------------------------------------------------------ other exporters

EVTX_4625 = {"Event": {"#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"}, "System": {
    "Provider": {"#attributes": {"Name": "Microsoft-Windows-Security-Auditing"}}, "EventID": 4625, "Version": 0,
    "Level": 0, "Task": 12544, "Keywords": "0x8010000000000000",
    "TimeCreated": {"#attributes": {"SystemTime": "2021-03-04T05:06:07.123456Z"}}, "EventRecordID": 9001,
    "Channel": "Security", "Computer": "DC01.corp.local", "Security": None},
    "EventData": {"SubjectUserSid": "S-1-5-18", "SubjectUserName": "DC01$", "SubjectDomainName": "CORP",
                  "SubjectLogonId": "0x3e7", "TargetUserSid": "S-1-0-0", "TargetUserName": "administrator",
                  "TargetDomainName": "CORP", "Status": "0xc000006d", "FailureReason": "%%2313",
                  "SubStatus": "0xc000006a", "LogonType": 10, "LogonProcessName": "User32",
                  "AuthenticationPackageName": "Negotiate", "WorkstationName": "DC01", "IpAddress": "198.51.100.23",
                  "IpPort": "0"}}}
EVTX_1102 = {"Event": {"System": {
    "Provider": {"#attributes": {"Name": "Microsoft-Windows-Eventlog"}}, "EventID": 1102,
    "Keywords": "0x4020000000000000", "TimeCreated": {"#attributes": {"SystemTime": "2021-03-04T05:10:00Z"}},
    "EventRecordID": 9002, "Channel": "Security", "Computer": "DC01.corp.local"},
    "UserData": {"LogFileCleared": {"#attributes": {"xmlns": "x"}, "SubjectUserSid": "S-1-5-21-1-2-3-500",
                                    "SubjectUserName": "admin", "SubjectDomainName": "CORP", "SubjectLogonId": "0x1234"}}}}
BEAT_4720 = {"@timestamp": "2022-01-01T10:00:00.000Z", "event": {"code": "4720", "outcome": "success"},
             "winlog": {"channel": "Security", "computer_name": "dc01.corp.local", "event_id": "4720", "record_id": 555,
                        "provider_name": "Microsoft-Windows-Security-Auditing", "keywords": ["Audit Success"],
                        "event_data": {"SubjectUserSid": "S-1-5-21-1-2-3-1105", "SubjectUserName": "mallory",
                                       "SubjectDomainName": "CORP", "SubjectLogonId": "0xabc",
                                       "TargetUserName": "backdoor", "TargetDomainName": "CORP",
                                       "TargetSid": "S-1-5-21-1-2-3-1337"}}}
BEAT_4732 = {"@timestamp": "2022-01-01T10:00:05.000Z", "event": {"code": "4732"},
             "winlog": {"channel": "Security", "computer_name": "dc01.corp.local", "event_id": 4732, "record_id": 556,
                        "keywords": ["Audit Success"],
                        "event_data": {"SubjectUserName": "mallory", "SubjectDomainName": "CORP",
                                       "SubjectUserSid": "S-1-5-21-1-2-3-1105", "MemberName": "-",
                                       "MemberSid": "S-1-5-21-1-2-3-1337", "TargetUserName": "Administrators",
                                       "TargetDomainName": "Builtin", "TargetSid": "S-1-5-32-544"}}}
ECMD_4624 = {"PayloadData1": "Target: CORP\\alice", "MapDescription": "Successful logon", "Computer": "ws1.corp.local",
             "Payload": json.dumps({"EventData": {"Data": [
                 {"@Name": "SubjectUserSid", "#text": "S-1-5-18"}, {"@Name": "TargetUserName", "#text": "alice"},
                 {"@Name": "TargetDomainName", "#text": "CORP"}, {"@Name": "LogonType", "#text": "2"},
                 {"@Name": "IpAddress", "#text": "127.0.0.1"}, {"@Name": "TargetLogonId", "#text": "0x99"}]}}),
             "Channel": "Security", "Provider": "Microsoft-Windows-Security-Auditing", "EventId": 4624,
             "EventRecordId": "77", "Keywords": "Audit success", "TimeCreated": "2021-06-07T08:09:10.1234567+00:00"}
PS_4719 = {"Id": 4719, "RecordId": 4242, "LogName": "Security", "MachineName": "ws2",
           "ProviderName": "Microsoft-Windows-Security-Auditing", "TimeCreated": "/Date(1600000000000)/",
           "KeywordsDisplayNames": ["Audit Success"], "Message": "System audit policy was changed."}


def test_evtx_dump_failed_logon_and_log_cleared(engine, tmp_path):
    p = tmp_path / "evtx_dump.jsonl"
    p.write_text(json.dumps(EVTX_4625) + "\n" + json.dumps(EVTX_1102) + "\n")
    [sr] = _ingest(engine, p).sources
    assert (sr.format, sr.events, sr.quarantined) == ("windows-security", 2, 0)
    f = _one(engine, "DC01.corp.local/Security/9001")
    assert (f["actor"], f["action"], f["outcome"], f["error_code"]) == (
        "CORP\\administrator", "logon-failed", "failure", "0xc000006a")
    assert f["extra"]["status_text"] == "wrong password"
    assert (f["src_ip"], f["extra"]["logon_type_name"], f["extra"]["subject"]) == (
        "198.51.100.23", "RemoteInteractive", "CORP\\DC01$")
    assert format_us(f["ts_us"]) == "2021-03-04T05:06:07.123456Z"
    c = _one(engine, "DC01.corp.local/Security/9002")
    assert (c["actor"], c["action"], c["outcome"], c["actor_uid"]) == (
        "CORP\\admin", "log-cleared", "success", "S-1-5-21-1-2-3-500")


def test_winlogbeat_account_and_group_changes(engine, tmp_path):
    p = tmp_path / "beats.json"
    p.write_text(json.dumps([BEAT_4720, BEAT_4732], indent=2))
    [sr] = _ingest(engine, p).sources
    assert (sr.format, sr.events, sr.quarantined) == ("windows-security", 2, 0)
    u = _one(engine, "dc01.corp.local/Security/555")
    assert (u["actor"], u["action"], u["target_user"], u["outcome"]) == (
        "CORP\\mallory", "user-created", "CORP\\backdoor", "success")
    assert u["extra"]["target_sid"] == "S-1-5-21-1-2-3-1337"
    assert format_us(u["ts_us"]) == "2022-01-01T10:00:00Z"
    g = _one(engine, "dc01.corp.local/Security/556")
    assert (g["actor"], g["action"], g["target_user"], g["resource"]) == (
        "CORP\\mallory", "group-member-added", "S-1-5-21-1-2-3-1337", "Builtin\\Administrators")


def test_evtxecmd_and_get_winevent(engine, tmp_path):
    a = tmp_path / "evtxecmd.json"
    a.write_text(json.dumps(ECMD_4624) + "\n")
    b = tmp_path / "ps.json"
    b.write_text(json.dumps([PS_4719], indent=4))
    res = _ingest(engine, a, b)
    assert [(s.format, s.events) for s in res.sources] == [("windows-security", 1), ("windows-security", 1)]
    r = _one(engine, "ws1.corp.local/Security/77")
    assert (r["actor"], r["action"], r["outcome"], r["src_ip"], r["session"]) == (
        "CORP\\alice", "logon", "success", "127.0.0.1", "0x99")
    assert format_us(r["ts_us"]) == "2021-06-07T08:09:10.123456Z"
    assert r["extra"]["logon_type_name"] == "Interactive"
    q = _one(engine, "ws2/Security/4242")
    assert (q["action"], q["outcome"]) == ("audit-policy-changed", "success")
    assert format_us(q["ts_us"]) == "2020-09-13T12:26:40Z"


def test_zoneless_time_without_hint_and_tz_option(engine, tmp_path):
    rec = {"EventID": 4648, "Channel": "Security", "Hostname": "h1", "RecordNumber": 1, "EventTime": "2020-01-01 10:00:00",
           "EventType": "AUDIT_SUCCESS", "SubjectUserName": "bob", "SubjectDomainName": "D", "TargetUserName": "alice",
           "TargetDomainName": "D", "TargetServerName": "fileserver", "IpAddress": "-"}
    p = tmp_path / "n.jsonl"
    p.write_text(json.dumps(rec) + "\n")
    _ingest(engine, p)
    r = _rows(engine)[0]
    assert format_us(r["ts_us"]) == "2020-01-01T10:00:00Z"
    assert r["extra"]["time_zone"].startswith("assumed UTC")
    assert (r["actor"], r["action"], r["target_user"], r["resource"], r["src_ip"]) == (
        "D\\bob", "explicit-credential-logon", "D\\alice", "fileserver", None)
    q = tmp_path / "n2.jsonl"
    q.write_text(json.dumps({**rec, "RecordNumber": 2}) + "\n")
    _ingest(engine, q, options={"tz": "+02:00"})
    r2 = _rows(engine)[1]
    assert format_us(r2["ts_us"]) == "2020-01-01T08:00:00Z"
    assert "+02:00" in r2["extra"]["time_zone"]
    # an IANA zone follows daylight saving time: New York is -05:00 in January, -04:00 in August
    z = tmp_path / "n3.jsonl"
    z.write_text(json.dumps({**rec, "RecordNumber": 3}) + "\n"
                 + json.dumps({**rec, "RecordNumber": 4, "EventTime": "2020-08-06 01:20:45"}) + "\n")
    _ingest(engine, z, options={"tz": "America/New_York"})
    r3, r4 = _rows(engine)[2:]
    assert format_us(r3["ts_us"]) == "2020-01-01T15:00:00Z"
    assert format_us(r4["ts_us"]) == "2020-08-06T05:20:45Z"
    assert r4["extra"]["time_zone"] == "-04:00 (tz option America/New_York)"


def test_bad_tz_option_is_a_clear_error():
    import pytest

    from logconsole.ingest.windows_security import WindowsSecurityParser

    with pytest.raises(ValueError, match="unknown time zone 'Mars/Base'"):
        WindowsSecurityParser(tz="Mars/Base")


# ------------------------------------------------------------------ hostile input


def test_hostile_lines(engine, tmp_path):
    bad = [
        NX_LINES[1][:300],                                  # 2 truncated
        bytes(range(256)).replace(b"\n", b""),              # 3 binary garbage
        '{"EventID": 4624, "Channel": "S\u00e9curit\u00e9"}'.encode("latin-1"),  # 4 wrong encoding
        b"[" * 150_000,                                     # 5 deeply nested
        b"z" * (10 * 1024 * 1024),                          # 6 10 MB line
        json.dumps({"Channel": "Security", "Hostname": "x"}).encode(),  # 7 no EventID
        json.dumps({"EventID": "abc", "Channel": "Security", "Hostname": "x"}).encode(),  # 8 bad EventID
        json.dumps({"EventID": 4624, "Channel": "Security", "Hostname": "x", "EventTime": "soon"}).encode(),  # 9
        json.dumps({"EventID": 4624, "Channel": "Security", "Hostname": "x", "EventTime": ["x"]}).encode(),  # 10
    ]
    p = tmp_path / "hostile.json"
    p.write_bytes(b"\n".join([NX_LINES[0]] + bad + NX_LINES[1:4]) + b"\n")
    [sr] = _ingest(engine, p, fmt="windows-security").sources
    assert (sr.records, sr.events, sr.quarantined) == (13, 4, 9)
    q = {r["line"]: r["reason"] for r in _quarantine(engine)}
    assert sorted(q) == list(range(2, 11))
    assert "bad JSON" in q[2]
    assert "UTF-8" in q[3] and "UTF-8" in q[4]
    assert "nested too deeply" in q[5]
    assert "4 MiB" in q[6]
    assert "no EventID" in q[7]
    assert "missing EventID" in q[8]
    assert "unparseable time" in q[9]
    assert "wrong type" in q[10]


def test_truncated_array_and_odd_values(engine, tmp_path):
    text = AMA.read_text()
    p = tmp_path / "cut.json"
    p.write_text(text[: len(text) // 2])
    [sr] = _ingest(engine, p, fmt="windows-security").sources
    assert sr.events > 10 and sr.quarantined >= 1
    assert any("truncated" in q["reason"] for q in _quarantine(engine))
    odd = [
        {"EventID": {"#text": "4624"}, "Channel": "Security", "Computer": "c", "EventRecordID": "1",
         "TimeCreated": "2022-01-01T00:00:00Z", "TargetUserName": {"x": 1}, "LogonType": "zz", "Keywords": [1, "a"]},
        {"EventID": 4688, "Channel": "Security", "Computer": "c", "EventRecordID": "2", "TimeCreated": "2022-01-01T00:00:01Z",
         "EventData": "<EventData><Data Name=\"SubjectUserName\">eve&amp;co</Data><Data Name=\"NewProcessName\">"
                      "C:\\x.exe</Data><Data Name=\"SubjectDomainName\">D</Data><Data Name=\"Empty\" /></EventData>"},
        {"EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational", "Computer": "c", "EventRecordID": 3,
         "TimeCreated": "2022-01-01T00:00:02Z", "User": "\ud800\u001b]52;evil", "Image": "a" * 100_000},
    ]
    q = tmp_path / "odd.jsonl"
    q.write_text("\n".join(json.dumps(o) for o in odd) + "\n")
    [sr2] = _ingest(engine, q, fmt="windows-security").sources
    assert (sr2.events, sr2.quarantined) == (3, 0)
    x = _one(engine, "c/Security/2")
    assert (x["actor"], x["resource"]) == ("D\\eve&co", "C:\\x.exe")  # from the EventData XML string
    assert _one(engine, "c/Security/1")["action"] == "logon"


def test_powershell_utf16_export(engine, tmp_path):
    """Windows PowerShell 5 `ConvertTo-Json | Out-File` writes UTF-16LE with a BOM."""
    p = tmp_path / "winevent.json"
    p.write_bytes(json.dumps([PS_4719, {**PS_4719, "RecordId": 4243, "Id": 1102}], indent=4).encode("utf-16"))
    q = tmp_path / "lines-utf16be.json"
    q.write_bytes(b"\xfe\xff" + (json.dumps(ECMD_4624) + "\r\n").encode("utf-16-be"))
    res = _ingest(engine, p, q)
    assert [(s.format, s.events, s.quarantined) for s in res.sources] == [
        ("windows-security", 2, 0), ("windows-security", 1, 0)]
    assert _one(engine, "ws2/Security/4243")["action"] == "log-cleared"
    r = _one(engine, "ws1.corp.local/Security/77")
    assert r["actor"] == "CORP\\alice"
    assert rawcodec.decode(r["raw"]) == json.dumps(ECMD_4624)  # re-encoded as UTF-8


def test_broken_utf16_is_quarantined_not_guessed(engine, tmp_path):
    good = (json.dumps(ECMD_4624) + "\n").encode("utf-16-le")
    bad = '{"EventId": 4624, "x": "'.encode("utf-16-le") + b"\x00\xd8" + '"}\n'.encode("utf-16-le")  # lone surrogate
    p = tmp_path / "broken.json"
    p.write_bytes(b"\xff\xfe" + bad + good + b"\x41")  # and an odd trailing byte
    [sr] = _ingest(engine, p, fmt="windows-security").sources
    assert (sr.records, sr.events, sr.quarantined) == (3, 1, 2)
    assert all("UTF-8" in q["reason"] for q in _quarantine(engine))


def test_other_channels_named_or_fallback(engine, tmp_path):
    def ev(channel, eid, n, data):
        return {"Event": {"System": {"EventID": eid, "EventRecordID": n, "Channel": channel, "Computer": "ws9",
                                     "TimeCreated": {"#attributes": {"SystemTime": "2023-01-01T00:00:00Z"}},
                                     "Security": {"#attributes": {"UserID": "S-1-5-21-9-9-9-1001"}}},
                          "EventData": data}}
    recs = [
        ev("Microsoft-Windows-PowerShell/Operational", 4104, 1, {"ScriptBlockText": "IEX (New-Object Net.WebClient)"}),
        ev("System", 7045, 2, {"ServiceName": "evilsvc", "ImagePath": "C:\\evil.exe", "AccountName": "LocalSystem"}),
        ev("Application", 1000, 3, {}),
    ]
    p = tmp_path / "mixed.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    [sr] = _ingest(engine, p).sources
    assert (sr.format, sr.events, sr.quarantined) == ("windows-security", 3, 0)
    ps, svc, app = _rows(engine)
    assert (ps["action"], ps["actor_uid"], ps["outcome"]) == ("powershell-script-block", "S-1-5-21-9-9-9-1001", "unknown")
    assert (svc["action"], svc["resource"], svc["extra"]["service_file"]) == ("service-installed", "evilsvc", "C:\\evil.exe")
    assert app["action"] == "Application:1000" and app["service"] == "Application"


def test_xmltodict_style_named_data(engine, tmp_path):
    """python-evtx + xmltodict: EventData.Data is a list of {"@Name", "#text"} (or #attributes.Name)."""
    ev = {"Event": {"System": {"EventID": {"#text": "4625", "@Qualifiers": ""}, "EventRecordID": "31",
                               "Channel": "Security", "Computer": "ws3",
                               "TimeCreated": {"@SystemTime": "2020-02-02 02:02:02.000002+00:00"},
                               "Keywords": "0x8010000000000000"},
                    "EventData": {"Data": [{"@Name": "TargetUserName", "#text": "root"},
                                           {"#attributes": {"Name": "TargetDomainName"}, "#text": "WS3"},
                                           {"@Name": "IpAddress", "#text": "203.0.113.99"},
                                           {"@Name": "SubStatus", "#text": "0xC0000064"},
                                           {"@Name": "LogonType", "#text": "3"}]}}}
    p = tmp_path / "xmltodict.jsonl"
    p.write_text(json.dumps(ev) + "\n")
    [sr] = _ingest(engine, p).sources
    assert (sr.format, sr.events) == ("windows-security", 1)
    r = _one(engine, "ws3/Security/31")
    assert (r["actor"], r["action"], r["outcome"], r["error_code"], r["src_ip"]) == (
        "WS3\\root", "logon-failed", "failure", "0xC0000064", "203.0.113.99")
    assert r["extra"]["status_text"] == "user name does not exist"
    assert format_us(r["ts_us"]) == "2020-02-02T02:02:02.000002Z"
