"""gcp-audit: the real plaso sample checked by hand, other containers, denied calls, hostile input."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from sqlalchemy import select

from logconsole.ingest.pipeline import ingest_paths
from logconsole.util.timeparse import format_us
from logconsole.store import rawcodec
from logconsole.store.schema import events, quarantine

from .conftest import REALDATA

SAMPLE = REALDATA / "gcp-audit" / "gcp_logging.jsonl"
LINES = SAMPLE.read_bytes().splitlines()


def _rows(engine, **where):
    q = select(events)
    for k, v in where.items():
        q = q.where(getattr(events.c, k) == v)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q.order_by(events.c.id))]


def _one(engine, record_id):
    [r] = _rows(engine, record_id=record_id)
    r["extra"] = json.loads(r["extra"]) if r["extra"] else {}
    return r


def _quarantine(engine):
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(quarantine).order_by(quarantine.c.id))]


def _ingest(engine, *paths, fmt=None):
    res = ingest_paths(engine, [str(p) for p in paths], fmt=fmt)
    assert not res.errors, res.errors
    for s in res.sources:
        assert s.records == s.events + s.duplicates + s.merged + s.quarantined
    return res


# ------------------------------------------------------------------ real sample


def test_real_sample_counts(engine):
    [sr] = _ingest(engine, SAMPLE).sources
    assert sr.format == "gcp-audit"
    assert (sr.records, sr.events, sr.duplicates, sr.quarantined) == (11, 11, 0, 0)
    rows = _rows(engine)
    assert sum(1 for r in rows if r["action"] == "testlog") == 2  # the two non-audit entries
    assert all(r["account"] in ("fake-project", "ketchup") for r in rows)


def test_record_network_insert_by_hand(engine):
    # line 1: insertId iv9wx9d16l2, beta.compute.networks.insert, callerIp 1.1.1.1, timestamp 2021-10-19T02:57:47.339377Z
    _ingest(engine, SAMPLE)
    r = _one(engine, "iv9wx9d16l2")
    assert r["line"] == 1
    assert r["actor"] == "fakeemailxyz@gmail.com"
    assert r["actor_type"] == "User"
    assert r["action"] == "beta.compute.networks.insert"
    assert r["service"] == "compute.googleapis.com"
    assert r["outcome"] == "success" and r["error_code"] is None
    assert format_us(r["ts_us"]) == "2021-10-19T02:57:47.339377Z"
    assert r["src_ip"] == "1.1.1.1"
    assert r["user_agent"] == "UserAgent"
    assert r["resource"] == "projects/fake-project/global/networks/test"
    assert r["account"] == "fake-project"
    assert r["extra"]["log_type"] == "activity"
    assert r["extra"]["operation"]["last"] is True
    assert rawcodec.decode(r["raw"]) == LINES[0].decode()


def test_record_create_service_account_by_hand(engine):
    # line 5: insertId 8loeppebz7wc, CreateServiceAccount with "status": {} (= OK), nanosecond timestamp
    _ingest(engine, SAMPLE)
    r = _one(engine, "8loeppebz7wc")
    assert r["actor"] == "fakeemailxyz@gmail.com"
    assert r["action"] == "google.iam.admin.v1.CreateServiceAccount"
    assert r["service"] == "iam.googleapis.com"
    assert r["outcome"] == "success"
    assert format_us(r["ts_us"]) == "2021-10-19T02:43:48.064377Z"
    assert r["ts_raw"] == "2021-10-19T02:43:48.064377809Z"
    assert r["src_ip"] == "1.1.1.1"
    assert r["target_user"] == "test-1"
    assert r["extra"]["permissions"] == ["iam.serviceAccounts.create"]
    assert r["extra"]["principal_subject"] == "user:fakeemailxyz@gmail.com"


def test_record_permission_denied_by_hand(engine):
    # line 11: status.code 7, authorizationInfo without "granted" -> denied; project ketchup
    _ingest(engine, SAMPLE)
    r = _one(engine, "1awjxggeaxqgz")
    assert r["line"] == 11
    assert r["actor"] == "dvwa-service-account@ketchup.iam.gserviceaccount.com"
    assert r["actor_type"] == "ServiceAccount"
    assert r["action"] == "google.iam.admin.v1.CreateServiceAccount"
    assert r["outcome"] == "failure"
    assert r["error_code"] == "PERMISSION_DENIED"
    assert format_us(r["ts_us"]) == "2024-12-03T17:58:44.882119Z"
    assert r["src_ip"] == "34.72.217.225"
    assert r["user_agent"] == "(gzip),gzip(gfe)"
    assert r["account"] == "ketchup"
    assert r["target_user"] == "theattacker"
    assert r["extra"]["denied_permissions"] == ["iam.serviceAccounts.create"]
    assert r["extra"]["status_code"] == 7
    assert r["extra"]["error_reason"] == "IAM_PERMISSION_DENIED"
    assert r["extra"]["delegation"] == ["service-1234567890@compute-system.iam.gserviceaccount.com"]
    assert "-> PERMISSION_DENIED" in r["message"]


def test_record_delegation_chain_and_zone(engine):
    # line 10: two service accounts in serviceAccountDelegationInfo, zone us-central1-b
    _ingest(engine, SAMPLE)
    r = _one(engine, "-duywnve29mpi")
    assert r["actor"] == "fake-account@fake-project.com"
    assert r["region"] == "us-central1-b"
    assert format_us(r["ts_us"]) == "2024-04-26T20:10:10.024055Z"
    assert r["extra"]["delegation"] == ["service-account-one@fake-project.com", "service-account-two@fake-project.com"]
    assert len(r["extra"]["permissions"]) == 7


def test_non_audit_entries_are_events(engine):
    _ingest(engine, SAMPLE)
    text = _one(engine, "1io3yo2fursxdi")
    assert text["action"] == "testlog" and text["service"] == "generic_node"
    assert text["message"] == "This is a text payload"
    assert text["outcome"] == "unknown" and text["actor"] is None
    assert format_us(text["ts_us"]) == "2021-10-19T02:04:00.272384Z"
    js = _one(engine, "1k28f3cfv7aknt")
    assert js["message"] == "This is a json payload"
    assert js["extra"]["payload"] == "jsonPayload"


# ------------------------------------------------------------------ containers


def test_json_array_and_entries_and_pretty_forms(engine, tmp_path):
    objs = [json.loads(ln) for ln in LINES]
    arr = tmp_path / "gcloud.json"
    arr.write_text(json.dumps(objs, indent=2))
    ent = tmp_path / "entries.json"
    ent.write_text(json.dumps({"entries": objs[:4], "nextPageToken": "x"}))
    pretty = tmp_path / "jq.json"
    pretty.write_text("\n".join(json.dumps(o, indent=2) for o in objs[4:8]) + "\n")
    res = _ingest(engine, arr, ent, pretty)
    by = {Path(s.path).name: s for s in res.sources}
    assert (by["gcloud.json"].format, by["gcloud.json"].events, by["gcloud.json"].quarantined) == ("gcp-audit", 11, 0)
    # the same insertIds again: duplicates, not new events
    assert (by["entries.json"].format, by["entries.json"].duplicates, by["entries.json"].quarantined) == ("gcp-audit", 4, 0)
    assert (by["jq.json"].format, by["jq.json"].duplicates, by["jq.json"].quarantined) == ("gcp-audit", 4, 0)
    r = _one(engine, "1awjxggeaxqgz")
    assert r["rec_index"] == 10 and r["outcome"] == "failure"


def test_bom_and_gzip(engine, tmp_path):
    p = tmp_path / "bom.jsonl"
    p.write_bytes(b"\xef\xbb\xbf" + SAMPLE.read_bytes())
    z = tmp_path / "x.jsonl.gz"
    z.write_bytes(gzip.compress(b"\xef\xbb\xbf" + b"\n".join(LINES[:3]) + b"\n"))
    res = _ingest(engine, p, z)
    assert [(s.format, s.events, s.duplicates, s.quarantined) for s in res.sources] == [
        ("gcp-audit", 11, 0, 0), ("gcp-audit", 0, 3, 0)]


def _entry(**pp):
    base = {
        "insertId": pp.pop("insertId", "x1"), "logName": "projects/p1/logs/cloudaudit.googleapis.com%2Fdata_access",
        "timestamp": pp.pop("timestamp", "2024-01-02T03:04:05.123456Z"), "resource": {"type": "gcs_bucket",
                                                                                     "labels": {"project_id": "p1"}},
        "protoPayload": {"@type": "type.googleapis.com/google.cloud.audit.AuditLog", "serviceName": "storage.googleapis.com",
                         "methodName": "storage.objects.get", "resourceName": "projects/_/buckets/b/objects/o",
                         "authenticationInfo": {"principalEmail": "a@example.com"},
                         "requestMetadata": {"callerIp": "2001:db8::1"}},
    }
    base["protoPayload"].update(pp)
    return base


def test_outcome_rules(engine, tmp_path):
    recs = [
        _entry(insertId="ok"),
        _entry(insertId="denied", authorizationInfo=[{"permission": "storage.objects.get", "granted": False}]),
        _entry(insertId="notfound", status={"code": 5, "message": "No such object"}),
        _entry(insertId="zero", status={"code": 0}),
        _entry(insertId="private", requestMetadata={"callerIp": "private"}),
        _entry(insertId="policy", methodName="SetIamPolicy", serviceData={"policyDelta": {"bindingDeltas": [
            {"action": "ADD", "role": "roles/owner", "member": "user:evil@example.com"}]}}),
    ]
    p = tmp_path / "da.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    [sr] = _ingest(engine, p).sources
    assert (sr.format, sr.events) == ("gcp-audit", 6)
    ok = _one(engine, "ok")
    assert (ok["outcome"], ok["src_ip"], ok["extra"]["log_type"]) == ("success", "2001:db8::1", "data_access")
    d = _one(engine, "denied")
    assert (d["outcome"], d["error_code"], d["extra"]["denied_permissions"]) == ("failure", "PERMISSION_DENIED",
                                                                               ["storage.objects.get"])
    nf = _one(engine, "notfound")
    assert (nf["outcome"], nf["error_code"], nf["extra"]["status_message"]) == ("failure", "NOT_FOUND", "No such object")
    assert _one(engine, "zero")["outcome"] == "success"
    pr = _one(engine, "private")
    assert pr["src_ip"] is None and pr["extra"]["caller_ip"] == "private"
    pol = _one(engine, "policy")
    assert pol["target_user"] == "user:evil@example.com"
    assert pol["extra"]["binding_deltas"] == [{"action": "ADD", "role": "roles/owner", "member": "user:evil@example.com"}]


# ------------------------------------------------------------------ hostile input


def test_hostile_lines_are_quarantined_with_line_numbers(engine, tmp_path):
    good = [ln for ln in LINES[:3]]
    bad = [
        LINES[3][: len(LINES[3]) // 2],                      # 2: truncated line
        b"\x00\xff\xfe garbage \x9c\x80",                     # 3: binary garbage
        json.dumps(_entry(insertId="latin")).replace("a@example.com", "caf\u00e9").encode("latin-1"),  # 4
        b"[" * 100_000,                                        # 5: deeply nested
        b'{"a":' * 30_000 + b"1" + b"}" * 30_000,              # 6: deeply nested object
        b"x" * (10 * 1024 * 1024),                             # 7: a 10 MB line
        json.dumps({"insertId": "nots", "logName": "projects/p/logs/x"}).encode(),  # 8: no timestamp
        b"[1, 2]",                                             # 9: not an object
        json.dumps(_entry(insertId="types", timestamp={"a": 1})).encode(),  # 10: wrong type
    ]
    p = tmp_path / "hostile.jsonl"
    p.write_bytes(b"\n".join([good[0]] + bad + good[1:]) + b"\n")
    [sr] = _ingest(engine, p, fmt="gcp-audit").sources
    assert (sr.records, sr.events, sr.quarantined) == (12, 3, 9)
    q = {r["line"]: r["reason"] for r in _quarantine(engine)}
    assert set(q) == set(range(2, 11))
    assert "bad JSON" in q[2]
    assert "UTF-8" in q[3] and "UTF-8" in q[4]
    assert "nested too deeply" in q[5] and "nested too deeply" in q[6]
    assert "4 MiB" in q[7]
    assert "missing timestamp" in q[8]
    assert "expected a JSON object" in q[9]
    assert "wrong type" in q[10]
    assert {r["line"] for r in _rows(engine)} == {1, 11, 12}


def test_truncated_array_keeps_complete_elements(engine, tmp_path):
    text = json.dumps([json.loads(ln) for ln in LINES])
    p = tmp_path / "cut.json"
    p.write_text(text[: int(len(text) * 0.6)])
    [sr] = _ingest(engine, p, fmt="gcp-audit").sources
    assert sr.events == 6 and sr.quarantined >= 1
    reasons = [q["reason"] for q in _quarantine(engine)]
    assert any("truncated container" in r for r in reasons), reasons
    # every complete element before the cut is an event with its array index
    assert sorted(r["rec_index"] for r in _rows(engine)) == list(range(6))


def test_lone_surrogates_and_odd_values_do_not_crash(engine, tmp_path):
    e = _entry(insertId="sur")
    p = tmp_path / "s.jsonl"
    p.write_text(json.dumps(e).replace("a@example.com", "\\ud800evil\\u001b[31m") + "\n")
    e2 = _entry(insertId="odd", status={"code": "7"}, authorizationInfo="nope",
                authenticationInfo=[1, 2], requestMetadata=None)
    with p.open("a") as f:
        f.write(json.dumps(e2) + "\n")
    [sr] = _ingest(engine, p, fmt="gcp-audit").sources
    assert (sr.events, sr.quarantined) == (2, 0)
    assert "evil" in _one(engine, "sur")["actor"]
    odd = _one(engine, "odd")
    assert odd["outcome"] == "failure" and odd["error_code"] == "PERMISSION_DENIED" and odd["actor"] is None


def test_bigquery_export_and_org_level_log(engine, tmp_path):
    bq = {"logName": "organizations/123/logs/cloudaudit.googleapis.com%2Factivity", "insertId": "bq1",
          "timestamp": "2022-03-04 05:06:07.123456 UTC", "resource": {"type": "organization", "labels": {}},
          "protopayload_auditlog": {"serviceName": "cloudresourcemanager.googleapis.com",
                                    "methodName": "SetIamPolicy", "resourceName": "organizations/123",
                                    "authenticationInfo": {"principalEmail": "admin@corp.example"},
                                    "requestMetadata": {"callerIp": "192.0.2.10"}, "status": {"code": 16}}}
    p = tmp_path / "bq.jsonl"
    p.write_text(json.dumps(bq) + "\n")
    [sr] = _ingest(engine, p).sources
    assert (sr.format, sr.events) == ("gcp-audit", 1)
    r = _one(engine, "bq1")
    assert (r["actor"], r["action"], r["outcome"], r["error_code"], r["src_ip"], r["account"]) == (
        "admin@corp.example", "SetIamPolicy", "failure", "UNAUTHENTICATED", "192.0.2.10", "organizations/123")
    assert format_us(r["ts_us"])[:23] == "2022-03-04T05:06:07.123"


def test_bigquery_time_with_utc_suffix_keeps_microseconds():
    # BigQuery exports write "YYYY-MM-DD HH:MM:SS.ffffff UTC"; all six digits must survive
    from logconsole.util.timeparse import parse_time

    assert format_us(parse_time("2022-03-04 05:06:07.123456 UTC")) == "2022-03-04T05:06:07.123456Z"
    assert format_us(parse_time("2022-03-04 05:06:07.12 UTC")) == "2022-03-04T05:06:07.120Z"


def test_jq_stream_with_a_broken_object_loses_only_that_object(engine, tmp_path):
    objs = [json.loads(ln) for ln in LINES]
    parts = [json.dumps(o, indent=2) for o in objs]
    parts[3] = parts[3][: len(parts[3]) // 2]  # cut in the middle: jq output spliced by a crash
    p = tmp_path / "jq-broken.json"
    p.write_text("\n".join(parts) + "\n")
    [sr] = _ingest(engine, p, fmt="gcp-audit").sources
    assert (sr.records, sr.events, sr.quarantined) == (11, 10, 1)
    [q] = _quarantine(engine)
    starts = [1]
    for part in parts[:-1]:
        starts.append(starts[-1] + part.count("\n") + 1)
    assert q["line"] == starts[3] and "bad JSON" in q["reason"]
    assert sorted(r["line"] for r in _rows(engine)) == sorted(starts[:3] + starts[4:])
