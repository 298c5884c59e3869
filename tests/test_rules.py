"""Sigma detections: loading, mapping, compiling and running rules over the index (issue #17).

SigmaHQ rules used here are copies in tests/data/sigma/ (DRL 1.1, see its SOURCES.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from logconsole.analysis.rules.compiler import compile_rules
from logconsole.analysis.rules.engine import hits_json, run_rules
from logconsole.analysis.rules.loader import load_rules
from logconsole.ingest.pipeline import ingest_paths
from logconsole.store.db import open_db

ROOT = Path(__file__).resolve().parent.parent
SIGMA = Path(__file__).resolve().parent / "data" / "sigma"
SIGMA_RULES = SIGMA / "rules"
SAMPLE = ROOT / "sample_data"
REALDATA = Path(__file__).resolve().parent / "data" / "realdata"


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "logconsole.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "TZ": "UTC"})


def write_rule(tmp: Path, name: str, body: str) -> Path:
    p = tmp / name
    p.write_text(body)
    return p


def events_by_id(eng) -> dict[int, dict]:
    from sqlalchemy import select

    from logconsole.store.schema import events

    with eng.connect() as conn:
        return {r.id: dict(r._mapping) for r in conn.execute(select(events.c.id, events.c.action, events.c.actor,
                                                                    events.c.resource, events.c.format))}


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory):
    if not (SAMPLE / "cloudtrail").exists():
        pytest.skip("sample_data not generated")
    db = str(tmp_path_factory.mktemp("sample") / "case.db")
    eng = open_db(db)
    ingest_paths(eng, [str(SAMPLE)])
    eng.dispose()
    return db


def test_shipped_rules_load_and_compile():
    rules, problems = load_rules([], shipped=True)
    assert not problems
    assert len(rules) >= 10
    for r in rules:
        assert r.author and r.rule_id and r.level in ("low", "medium", "high", "critical")
        text = Path(r.path).read_text()
        assert "Licence: Apache-2.0" in text and "license: Apache-2.0" in text
    compiled, unmapped = compile_rules(rules)
    assert not unmapped, [u.reason for u in unmapped]
    assert {c.rule.key for c in compiled} == {r.key for r in rules}


def test_sample_data_must_show(sample_db):
    proc = cli("rules", "run", "--db", sample_db, "--rules", str(SIGMA_RULES), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out["rules"]) >= {"loaded", "ran", "unmapped"}
    assert out["rules"]["ran"] >= 10
    for h in out["hits"]:
        assert set(h) >= {"rule_id", "title", "level", "author", "tags", "events"}
        assert h["events"] and all(isinstance(e, int) for e in h["events"])
    eng = open_db(sample_db)
    ev = events_by_id(eng)
    eng.dispose()
    by_title = {h["title"]: h for h in out["hits"]}

    def actions(title):
        return sorted(ev[e]["action"] for e in by_title[title]["events"])

    # SigmaHQ's aws_cloudtrail_disable_logging and the shipped rule find StopLogging and DeleteTrail
    sigmahq = next(h for h in out["hits"] if h["rule_id"] == "4db60cc0-36fb-42b7-9b58-a5b53019fb74")
    assert sigmahq["author"] == "vitaliy0x1"
    assert {"StopLogging", "DeleteTrail"} <= {ev[e]["action"] for e in sigmahq["events"]}
    assert actions("CloudTrail Logging Stopped or Trail Deleted") == ["DeleteTrail", "StopLogging"]
    # the CreateAccessKey for svc-backup
    keys = by_title["AWS Access Key or Login Profile Created for Another User"]["events"]
    assert [ev[e]["action"] for e in keys] == ["CreateAccessKey"]
    assert "svc-backup" in (ev[keys[0]]["resource"] or "") or "svc-backup" in json.dumps(ev[keys[0]])
    # the AttachUserPolicy AdministratorAccess (the denied attempt at 01:13 is not a hit)
    admin = by_title["AWS AdministratorAccess Policy Attached"]["events"]
    assert [ev[e]["action"] for e in admin] == ["AttachUserPolicy"]
    # the secret reads by payments:payments-api
    secrets = by_title["Kubernetes Secrets Read by an Unusual Principal"]["events"]
    readers = {ev[e]["actor"] for e in secrets}
    assert "system:serviceaccount:payments:payments-api" in readers
    assert sum(ev[e]["actor"] == "system:serviceaccount:payments:payments-api" for e in secrets) >= 5
    assert all(not (ev[e]["actor"] or "").startswith("system:serviceaccount:kube-system:") for e in secrets)
    # pods/exec by a human
    assert [ev[e]["actor"] for e in by_title["Kubernetes Pod Exec or Attach by a Human User"]["events"]] == ["ci-deploy"]


def test_incremental_run_reads_only_new_events(tmp_path):
    ct = tmp_path / "a.jsonl"
    rec = {"eventVersion": "1.08", "eventTime": "2026-01-01T00:00:00Z", "eventSource": "cloudtrail.amazonaws.com",
           "eventName": "StopLogging", "awsRegion": "us-east-1", "sourceIPAddress": "192.0.2.1",
           "userIdentity": {"type": "IAMUser", "userName": "mallory", "arn": "arn:aws:iam::1:user/mallory"},
           "eventID": "e1", "requestParameters": {"name": "t"}}
    ct.write_text(json.dumps(rec) + "\n")
    eng = open_db(str(tmp_path / "i.db"))
    ingest_paths(eng, [str(ct)])
    rules, problems = load_rules([], shipped=True)
    first = run_rules(eng, rules, problems)
    assert first.events_read == 1
    again = run_rules(eng, rules, problems)
    assert again.events_read == 0 and all(r.new_hits == 0 for r in again.ran)
    ct2 = tmp_path / "b.jsonl"
    ct2.write_text(json.dumps({**rec, "eventID": "e2", "eventName": "DeleteTrail", "eventTime": "2026-01-01T00:01:00Z"}) + "\n")
    ingest_paths(eng, [str(ct2)])
    third = run_rules(eng, rules, problems)
    assert third.events_read == 1
    with eng.connect() as conn:
        hits = {h["title"]: h["events"] for h in hits_json(conn)}
    assert len(hits["CloudTrail Logging Stopped or Trail Deleted"]) == 2
    eng.dispose()


MODIFIERS = """
title: modifier test {n}
id: 00000000-0000-4000-8000-00000000000{n}
status: test
author: tests
logsource:
    product: kubernetes
    service: audit
detection:
{detection}
level: low
"""


@pytest.mark.parametrize("n,detection,expected", [
    (1, "    sel:\n        requestURI|contains: '/secrets'\n    condition: sel", {"a", "b"}),
    (2, "    sel:\n        user.username|startswith: 'system:serviceaccount:'\n    condition: sel", {"b"}),
    (3, "    sel:\n        objectRef.name|endswith: '-token'\n    condition: sel", {"a"}),
    (4, "    sel:\n        userAgent|re: '^curl/[0-9.]+$'\n    condition: sel", {"b"}),
    (5, "    sel:\n        sourceIPs|cidr: 203.0.113.0/24\n    condition: sel", {"a", "c"}),
    (6, "    sel:\n        requestURI|contains|all:\n            - kube-system\n            - token\n    condition: sel", {"a"}),
    (7, "    sel_a:\n        verb: get\n    sel_b:\n        verb: delete\n    condition: 1 of sel_*", {"a", "c"}),
    (8, "    sel_a:\n        verb: get\n    sel_b:\n        objectRef.namespace: kube-system\n    condition: all of sel_*", {"a"}),
    (9, "    sel:\n        verb: list\n    condition: not sel", {"a", "c"}),
    (10, "    sel:\n        requestObject.command|base64offset|contains: 'curl http'\n    condition: sel", {"c"}),
    (11, "    sel:\n        responseStatus.code: 403\n    condition: sel", {"c"}),
    (12, "    sel:\n        annotations.authorization.k8s.io/decision: forbid\n    condition: sel", {"c"}),
    (13, "    keywords:\n        - 'portal-admin'\n    condition: keywords", {"a"}),
    (14, "    sel:\n        objectRef.resource: SECRETS\n    condition: sel", {"a", "b"}),
])
def test_modifiers_and_conditions(tmp_path, n, detection, expected):
    import base64

    recs = {
        "a": {"verb": "get", "requestURI": "/api/v1/namespaces/kube-system/secrets/portal-admin-token",
              "user": {"username": "ci-deploy"}, "sourceIPs": ["10.0.0.1", "203.0.113.77"], "userAgent": "kubectl/1.29",
              "objectRef": {"resource": "secrets", "namespace": "kube-system", "name": "portal-admin-token"},
              "responseStatus": {"code": 200}},
        "b": {"verb": "list", "requestURI": "/api/v1/namespaces/payments/secrets",
              "user": {"username": "system:serviceaccount:payments:payments-api"}, "sourceIPs": ["10.0.3.144"],
              "userAgent": "curl/8.5.0", "objectRef": {"resource": "secrets", "namespace": "payments"},
              "responseStatus": {"code": 200}},
        "c": {"verb": "delete", "requestURI": "/api/v1/namespaces/payments/pods/p1", "user": {"username": "bob"},
              "sourceIPs": ["203.0.113.9"], "userAgent": "kubectl/1.29",
              "objectRef": {"resource": "pods", "namespace": "payments", "name": "p1"},
              "responseStatus": {"code": 403},
              "annotations": {"authorization.k8s.io/decision": "forbid"},
              "requestObject": {"command": base64.b64encode(b"sh -c 'curl http://x'").decode()}},
    }
    lines = []
    for i, (name, r) in enumerate(recs.items()):
        lines.append(json.dumps({"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
                                 "auditID": f"id-{name}", "stage": "ResponseComplete",
                                 "requestReceivedTimestamp": f"2026-03-14T02:0{i}:00.000000Z",
                                 "stageTimestamp": f"2026-03-14T02:0{i}:00.000000Z", **r}))
    log = tmp_path / "audit.log"
    log.write_text("\n".join(lines) + "\n")
    eng = open_db(str(tmp_path / "m.db"))
    ingest_paths(eng, [str(log)])
    write_rule(tmp_path, "r.yml", MODIFIERS.format(n=n % 10, detection=detection))
    rules, problems = load_rules([tmp_path / "r.yml"], shipped=False)
    assert not problems
    res = run_rules(eng, rules, problems)
    assert not res.unmapped, [u.reason for u in res.unmapped]
    assert all(r.error is None for r in res.ran), [r.error for r in res.ran]
    with eng.connect() as conn:
        hits = hits_json(conn)
    from sqlalchemy import select

    from logconsole.store.schema import events

    with eng.connect() as conn:
        rec_of = {i: rid for i, rid in conn.execute(select(events.c.id, events.c.record_id))}
    got = {rec_of[e].removeprefix("id-") for h in hits for e in h["events"]}
    assert got == expected
    eng.dispose()


def test_check_lists_unmapped_with_reasons(tmp_path):
    write_rule(tmp_path, "okta.yml", """title: an okta rule
id: 11111111-1111-4111-8111-111111111111
logsource:
    product: okta
    service: okta
detection:
    sel:
        eventType: user.mfa.factor.deactivate
    condition: sel
level: medium
""")
    write_rule(tmp_path, "broken.yml", "title: not a rule\nfoo: [1, 2\n")
    proc = cli("rules", "check", "--no-shipped", "--rules", str(tmp_path), "--rules", str(SIGMA_RULES), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    reasons = {u["title"] or Path(u["file"]).name: u["reason"] for u in out["unmapped"]}
    assert "logconsole reads no okta logs" in reasons["an okta rule"]
    assert "ParentCommandLine, ParentImage" in reasons["Shell Execution via Git - Linux"]  # auditd has no parent image
    assert "not readable as YAML" in reasons["broken.yml"]
    assert out["rules"]["loaded"] == out["rules"]["compiled"] + out["rules"]["unmapped"] + out["rules"]["invalid"]
    assert out["products"]["aws"]["compiled"] == 3


def test_windows_json_security_and_sysmon(tmp_path):
    evs = [
        {"EventID": 1102, "Channel": "Security", "Computer": "WS1", "EventRecordID": 10,
         "TimeCreated": "2026-03-14T01:00:00Z", "SubjectUserName": "mallory"},
        {"EventID": 4688, "Channel": "Security", "Computer": "WS1", "EventRecordID": 11,
         "TimeCreated": "2026-03-14T01:01:00Z", "NewProcessName": "C:\\Windows\\System32\\wevtutil.exe",
         "CommandLine": "wevtutil cl Security", "ParentProcessName": "C:\\Windows\\System32\\cmd.exe",
         "SubjectUserName": "mallory", "SubjectDomainName": "CORP", "NewProcessId": "0x1f0", "ProcessId": "0x10"},
        {"EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational", "Computer": "WS1", "EventRecordID": 12,
         "TimeCreated": "2026-03-14T01:02:00Z", "Image": "C:\\Windows\\System32\\wevtutil.exe",
         "CommandLine": "wevtutil.exe clear-log System", "ParentImage": "C:\\Windows\\System32\\cmd.exe"},
    ]
    f = tmp_path / "win.json"
    f.write_text("\n".join(json.dumps(e) for e in evs) + "\n")
    eng = open_db(str(tmp_path / "w.db"))
    res = ingest_paths(eng, [str(f)])
    assert res.sources[0].format == "windows-security"
    write_rule(tmp_path, "wevtutil.yml", """title: wevtutil clears a log
id: 22222222-2222-4222-8222-222222222222
author: tests
logsource:
    product: windows
    category: process_creation
detection:
    img:
        Image|endswith: '\\wevtutil.exe'
    cl:
        CommandLine|windash|contains:
            - ' cl '
            - ' clear-log '
    parent:
        ParentImage|endswith: '\\cmd.exe'
    condition: all of *
level: high
""")
    rules, problems = load_rules([tmp_path / "wevtutil.yml"], shipped=True)
    run_rules(eng, rules, problems)
    with eng.connect() as conn:
        hits = {h["title"]: h["events"] for h in hits_json(conn)}
    assert len(hits["Windows Security Audit Log Cleared"]) == 1
    assert len(hits["wevtutil clears a log"]) == 2  # Security 4688 and Sysmon 1, one rule
    eng.dispose()


def test_auditd_records_and_process_creation(tmp_path):
    log = tmp_path / "audit.log"
    log.write_text(
        'type=SYSCALL msg=audit(1710379000.100:501): arch=c000003e syscall=59 success=yes exit=0 ppid=100 pid=200 '
        'auid=1000 uid=0 gid=0 euid=0 comm="chattr" exe="/usr/bin/chattr" key="immutable"\n'
        'type=EXECVE msg=audit(1710379000.100:501): argc=3 a0="chattr" a1="-i" a2="/etc/passwd"\n'
        'type=CWD msg=audit(1710379000.100:501): cwd="/root"\n'
        'type=CONFIG_CHANGE msg=audit(1710379001.000:502): auid=1000 ses=3 op=remove_rule key="x" list=4 res=1\n'
    )
    eng = open_db(str(tmp_path / "a.db"))
    ingest_paths(eng, [str(log)])
    write_rule(tmp_path, "chattr.yml", """title: chattr -i
id: 33333333-3333-4333-8333-333333333333
logsource:
    product: linux
    service: auditd
detection:
    sel:
        type: EXECVE
        a0: chattr
        a1|contains: '-i'
    condition: sel
level: low
""")
    write_rule(tmp_path, "proc.yml", """title: chattr process
id: 44444444-4444-4444-8444-444444444444
logsource:
    product: linux
    category: process_creation
detection:
    sel:
        Image|endswith: /chattr
        CommandLine|contains: ' -i /etc/passwd'
        CurrentDirectory: /root
    condition: sel
level: low
""")
    rules, problems = load_rules([tmp_path], shipped=True)
    res = run_rules(eng, rules, problems)
    assert all(r.error is None for r in res.ran)
    with eng.connect() as conn:
        hits = {h["title"]: h["events"] for h in hits_json(conn)}
    assert len(hits["chattr -i"]) == 1 and len(hits["chattr process"]) == 1
    assert len(hits["Linux Audit Rules Deleted or Auditing Disabled"]) == 1
    eng.dispose()


def test_query_limits_the_run_and_rule_filter_field(tmp_path):
    if not (SAMPLE / "cloudtrail").exists():
        pytest.skip("sample_data not generated")
    db = str(tmp_path / "ct.db")
    eng = open_db(db)
    ingest_paths(eng, [str(SAMPLE / "cloudtrail")])
    eng.dispose()
    proc = cli("rules", "run", "--db", db, "--json", "action:StopLogging")
    out = json.loads(proc.stdout)
    titles = {h["title"]: h["events"] for h in out["hits"]}
    assert len(titles["CloudTrail Logging Stopped or Trail Deleted"]) == 1
    proc = cli("search", "--db", db, "--count", 'rule:"CloudTrail Logging Stopped or Trail Deleted"')
    assert proc.stdout.strip() == "1"
    bad = cli("rules", "run", "--db", db, "--rules", str(tmp_path / "nope"))
    assert bad.returncode == 2 and "no such file" in bad.stderr and "Traceback" not in bad.stderr


def test_filter_any_field_of_the_raw_record(sample_db):
    def count(q):
        proc = cli("search", "--db", sample_db, "--count", q)
        assert proc.returncode == 0, proc.stderr
        return int(proc.stdout.strip())

    assert count("action:CreateAccessKey requestParameters.userName:svc-backup") == 1
    assert count("requestParameters.userName:svc-*") >= 3
    assert count("field.requestParameters.policyArn:*AdministratorAccess") >= 2
    assert count("objectRef.resource:secrets user.username:system:serviceaccount:payments:payments-api") >= 5
    assert count("responseStatus.code:403") >= 1
    assert count("NOT requestParameters.userName:svc-backup") == count("") - count("requestParameters.userName:svc-backup")
    bad = cli("search", "--db", sample_db, "--count", "field.a..b:1")
    assert bad.returncode == 2 and "bad field path" in bad.stderr


def test_ingest_workflow_runs_the_rules_on_new_events(tmp_path):
    from logconsole.workflows.ingest import INGEST_STEPS, run_ingest

    assert "detections" in [s.name for s in INGEST_STEPS]
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    write_rule(rules_dir, "del.yml", """title: trail deleted (extra rule)
id: 55555555-5555-4555-8555-555555555555
author: tests
logsource:
    product: aws
    service: cloudtrail
detection:
    sel:
        eventName: DeleteTrail
    condition: sel
level: high
""")
    rec = {"eventVersion": "1.08", "eventTime": "2026-01-01T00:00:00Z", "eventSource": "cloudtrail.amazonaws.com",
           "eventName": "StopLogging", "awsRegion": "us-east-1", "userIdentity": {"type": "IAMUser", "userName": "m"},
           "eventID": "e1"}
    (tmp_path / "a.jsonl").write_text(json.dumps(rec) + "\n")
    db = str(tmp_path / "w.db")
    eng = open_db(db)
    run_ingest(eng, [str(tmp_path / "a.jsonl")])
    with eng.connect() as conn:
        assert {h["title"] for h in hits_json(conn)} == {"CloudTrail Logging Stopped or Trail Deleted"}
    assert cli("rules", "run", "--db", db, "--rules", str(rules_dir)).returncode == 0  # remembered
    (tmp_path / "b.jsonl").write_text(json.dumps({**rec, "eventID": "e2", "eventName": "DeleteTrail"}) + "\n")
    res = run_ingest(eng, [str(tmp_path / "b.jsonl")])
    assert not res.warnings
    with eng.connect() as conn:
        hits = {h["title"]: len(h["events"]) for h in hits_json(conn)}
    assert hits == {"CloudTrail Logging Stopped or Trail Deleted": 2, "trail deleted (extra rule)": 1}
    eng.dispose()


def test_report_detections_section(sample_db):
    from logconsole.report.markdown import build_report

    eng = open_db(sample_db)
    rules, problems = load_rules([SIGMA_RULES], shipped=True)
    run_rules(eng, rules, problems)
    text = build_report(eng)
    eng.dispose()
    section = text.split("## 8. Detections", 1)[1]
    assert "| high | CloudTrail Logging Stopped or Trail Deleted | logconsole contributors | 2 |" in section
    assert ("| medium | AWS CloudTrail Important Change | vitaliy0x1 | 2 |" in section
            and "<https://github.com/SigmaHQ/sigma/blob/master/rules/cloud/aws/cloudtrail/"
                "aws_cloudtrail_disable_logging.yml>" in section)
    assert "Detection Rule License 1.1" in section


CT_RULE = """
title: action bound test {n}
id: 00000000-0000-4000-8000-0000000001{n:02d}
status: test
author: tests
logsource:
    product: aws
    service: cloudtrail
detection:
{detection}
level: low
"""


@pytest.mark.parametrize("n,detection,bound,expected", [
    # a plain eventName bounds the working table, compared ignoring case as Sigma does
    (1, "    sel:\n        eventName: stoplogging\n    condition: sel", {"stoplogging"}, {"e1"}),
    (2, "    sel:\n        eventName:\n            - DeleteTrail\n            - StopLogging\n"
        "        requestParameters.name: t\n    condition: sel", {"deletetrail", "stoplogging"}, {"e1", "e2"}),
    # NOT, an OR with an unbounded side, a wildcard: no bound, every event is read
    (3, "    sel:\n        eventName: StopLogging\n    condition: not sel", None, {"e2", "e3"}),
    (4, "    a:\n        eventName: StopLogging\n    b:\n        userIdentity.userName: alice\n"
        "    condition: a or b", None, {"e1", "e3"}),
    (5, "    sel:\n        eventName|startswith: Delete\n    condition: sel", None, {"e2"}),
    (6, "    a:\n        eventName: DeleteTrail\n    b:\n        eventSource: s3.amazonaws.com\n"
        "    condition: a or (b and not a)", None, {"e2", "e3"}),
])
def test_action_bound_reads_only_matching_events(tmp_path, n, detection, bound, expected):
    """A rule whose condition requires some eventName values reads only those events (through the
    action index): the same hits as reading every event."""
    from logconsole.analysis.rules.compiler import compile_rules as compile_

    base = {"eventVersion": "1.08", "awsRegion": "us-east-1", "sourceIPAddress": "192.0.2.1",
            "userIdentity": {"type": "IAMUser", "userName": "mallory", "arn": "arn:aws:iam::1:user/mallory"},
            "requestParameters": {"name": "t"}}
    recs = [("e1", "cloudtrail.amazonaws.com", "StopLogging", "mallory"),
            ("e2", "cloudtrail.amazonaws.com", "DeleteTrail", "mallory"),
            ("e3", "s3.amazonaws.com", "GetObject", "alice")]
    ct = tmp_path / "ct.jsonl"
    ct.write_text("".join(json.dumps({**base, "eventID": eid, "eventSource": src, "eventName": name,
                                      "userIdentity": {**base["userIdentity"], "userName": user},
                                      "eventTime": f"2026-01-01T00:0{i}:00Z"}) + "\n"
                          for i, (eid, src, name, user) in enumerate(recs)))
    eng = open_db(str(tmp_path / "b.db"))
    ingest_paths(eng, [str(ct)])
    write_rule(tmp_path, "r.yml", CT_RULE.format(n=n, detection=detection))
    rules, problems = load_rules([tmp_path / "r.yml"], shipped=False)
    compiled, unmapped = compile_(rules, {"cloudtrail"})
    assert not unmapped and len(compiled) == 1
    assert compiled[0].actions == (frozenset(bound) if bound is not None else None)
    res = run_rules(eng, rules, problems)
    assert all(r.error is None for r in res.ran), [r.error for r in res.ran]
    assert res.events_read == (3 if bound is None else len(expected))
    from sqlalchemy import select

    from logconsole.store.schema import events

    with eng.connect() as conn:
        rec_of = dict(conn.execute(select(events.c.id, events.c.record_id)).all())
        got = {rec_of[e] for h in hits_json(conn) for e in h["events"]}
    assert got == expected
    eng.dispose()
