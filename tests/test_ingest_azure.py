"""azure-activity: the real plaso sample checked by hand, the other three spellings, hostile input."""

from __future__ import annotations

import json

from sqlalchemy import select

from logconsole.ingest.pipeline import ingest_paths
from logconsole.util.timeparse import format_us
from logconsole.store import rawcodec
from logconsole.store.schema import events, quarantine

from .conftest import REALDATA

SAMPLE = REALDATA / "azure-activity" / "azure_activity_log.jsonl"
LINES = SAMPLE.read_bytes().splitlines()
SUB = "12345678-9abc-defg-hijk-lmnopqrstuvw"


def _rows(engine):
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(events).order_by(events.c.id))]


def _one(engine, record_id):
    with engine.connect() as conn:
        [r] = [dict(x._mapping) for x in conn.execute(select(events).where(events.c.record_id == record_id))]
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


# ------------------------------------------------------------------ real sample (SDK snake_case)


def test_real_sample_counts(engine):
    [sr] = _ingest(engine, SAMPLE).sources
    assert sr.format == "azure-activity"
    assert (sr.records, sr.events, sr.duplicates, sr.quarantined) == (4, 4, 0, 0)
    rows = _rows(engine)
    assert {r["account"] for r in rows} == {SUB}
    # all four are BeginRequest records with status "Started": the result is not known yet
    assert {r["outcome"] for r in rows} == {"unknown"}


def test_record_disk_delete_by_service_principal(engine):
    # line 1: caller is an app id, claims idtyp=app, 2022-02-09T03:04:54.297853Z, client_ip_address 1.2.3.4
    _ingest(engine, SAMPLE)
    r = _one(engine, "587eda65-125e-48c2-9b04-ab5e8d3a1d8e")
    assert r["line"] == 1
    assert r["actor"] == SUB
    assert r["actor_type"] == "ServicePrincipal"
    assert r["action"] == "Microsoft.Compute/disks/delete"
    assert r["service"] == "Microsoft.Compute"
    assert r["outcome"] == "unknown" and r["extra"]["status"] == "Started"
    assert format_us(r["ts_us"]) == "2022-02-09T03:04:54.297853Z"
    assert r["src_ip"] == "1.2.3.4"
    assert r["resource"].endswith("/providers/Microsoft.Compute/disks/test-vm_disk1_cd8883de78cb4cda97cb858dfe0cda3a")
    assert r["extra"]["correlation_id"] == "c0c54eb6-3a17-42e2-b6f6-37484ac276c4"
    assert r["extra"]["event_name"] == "BeginRequest"
    assert r["extra"]["http_method"] == "DELETE"
    assert r["extra"]["claims"]["idtyp"] == "app"
    assert rawcodec.decode(r["raw"]) == LINES[0].decode()


def test_record_vm_delete_by_user(engine):
    # line 2: caller fakeemail@fakedomain.com, password auth (amr pwd), 2022-02-09T03:04:26.49265Z
    _ingest(engine, SAMPLE)
    r = _one(engine, "648230f9-fba4-4def-8a83-118b158b748a")
    assert r["actor"] == "fakeemail@fakedomain.com"
    assert r["actor_type"] == "User"
    assert r["action"] == "Microsoft.Compute/virtualMachines/delete"
    assert r["outcome"] == "unknown"
    assert format_us(r["ts_us"]) == "2022-02-09T03:04:26.492650Z"
    assert r["ts_raw"] == "2022-02-09T03:04:26.49265Z"
    assert r["src_ip"] == "1.2.3.4"
    c = r["extra"]["claims"]
    assert (c["name"], c["amr"], c["ipaddr"], c["email"]) == ("fakename", "pwd", "1.2.3.4", "fakeemail@fakedomain.com")
    assert r["actor_uid"] == SUB  # objectidentifier claim


def test_record_vm_write_by_user(engine):
    # line 4: virtualMachines/write, PUT, 2022-02-09T03:00:37.136728Z, lowercase "resourcegroups" kept as written
    _ingest(engine, SAMPLE)
    r = _one(engine, "bd04315c-9658-451e-943f-27ed6fc345a4")
    assert r["line"] == 4
    assert r["actor"] == "fakeemail@fakedomain.com"
    assert r["action"] == "Microsoft.Compute/virtualMachines/write"
    assert format_us(r["ts_us"]) == "2022-02-09T03:00:37.136728Z"
    assert r["src_ip"] == "1.2.3.4"
    assert r["extra"]["http_method"] == "PUT"
    assert "/resourcegroups/test-resource-group/" in r["resource"]


# ------------------------------------------------------------------ other spellings

REST = {
    "authorization": {"action": "Microsoft.Authorization/roleAssignments/write", "scope": "/subscriptions/s1",
                      "evidence": {"role": "Owner", "principalType": "User"}},
    "caller": "mallory@contoso.com", "channels": "Operation",
    "claims": {"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": "mallory@contoso.com",
               "ipaddr": "203.0.113.7", "idtyp": "user", "uti": "tok-1",
               "http://schemas.microsoft.com/identity/claims/objectidentifier": "oid-mallory"},
    "correlationId": "corr-1", "eventDataId": "rest-1",
    "eventName": {"value": "EndRequest", "localizedValue": "End request"},
    "category": {"value": "Administrative", "localizedValue": "Administrative"},
    "eventTimestamp": "2023-05-06T07:08:09.5Z",
    "httpRequest": {"clientRequestId": "c1", "clientIpAddress": "203.0.113.7", "method": "PUT"},
    "level": "Informational",
    "operationName": {"value": "Microsoft.Authorization/roleAssignments/write", "localizedValue": "Create role assignment"},
    "properties": {"statusCode": "Created", "requestbody": json.dumps(
        {"Id": "ra1", "Properties": {"PrincipalId": "oid-backdoor", "RoleDefinitionId": "/providers/x/roleDefinitions/owner",
                                     "Scope": "/subscriptions/s1"}})},
    "resourceId": "/subscriptions/s1/providers/Microsoft.Authorization/roleAssignments/ra1",
    "status": {"value": "Succeeded", "localizedValue": "Succeeded"},
    "subStatus": {"value": "Created", "localizedValue": "Created (HTTP Status Code: 201)"},
    "subscriptionId": "s1", "tenantId": "t1",
}
DIAG_OK = {
    "time": "2019-01-21T22:14:26.9792776Z",
    "resourceId": "/SUBSCRIPTIONS/S1/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.SUPPORT/SUPPORTTICKETS/115012112305841",
    "operationName": "MICROSOFT.SUPPORT/SUPPORTTICKETS/WRITE", "category": "Administrative",
    "resultType": "Success", "resultSignature": "Succeeded.Created", "durationMs": 2826,
    "callerIpAddress": "111.111.111.11", "correlationId": "c776f9f4", "level": "Information", "location": "global",
    "identity": {"authorization": {"scope": "/subscriptions/s1", "action": "Microsoft.Support/supportTickets/write"},
                 "claims": {"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": "admin@contoso.com",
                            "name": "John Smith"}},
    "properties": {"statusCode": "Created", "serviceRequestId": "50d5cddb"},
}
DIAG_FAIL = {**DIAG_OK, "time": "2019-01-21T22:15:00Z", "resultType": "Failure", "resultSignature": "Forbidden",
             "correlationId": "c2", "operationName": "MICROSOFT.KEYVAULT/VAULTS/WRITE",
             "identity": {"claims": {"appid": "app-9", "idtyp": "app", "xms_mirid": "/subscriptions/s1/mi/x"}}}
LA = {
    "TimeGenerated": "2024-02-03T04:05:06.789Z", "OperationNameValue": "MICROSOFT.COMPUTE/VIRTUALMACHINES/DELETE",
    "ActivityStatusValue": "Failure", "ActivitySubstatusValue": "Conflict", "Caller": "bob@contoso.com",
    "CallerIpAddress": "198.51.100.4", "CategoryValue": "Administrative", "CorrelationId": "la-c",
    "EventDataId": "la-1", "_ResourceId": "/subscriptions/s9/resourcegroups/rg/providers/microsoft.compute/virtualmachines/vm1",
    "SubscriptionId": "s9", "Claims": json.dumps({"name": "Bob", "idtyp": "user"}),
}


def test_rest_camelcase_value_container(engine, tmp_path):
    p = tmp_path / "az-monitor.json"
    p.write_text(json.dumps({"value": [REST], "nextLink": None}, indent=2))
    [sr] = _ingest(engine, p).sources
    assert (sr.format, sr.events, sr.quarantined) == ("azure-activity", 1, 0)
    r = _one(engine, "rest-1")
    assert (r["actor"], r["actor_type"], r["actor_uid"], r["session"]) == (
        "mallory@contoso.com", "User", "oid-mallory", "tok-1")
    assert (r["action"], r["outcome"], r["src_ip"]) == ("Microsoft.Authorization/roleAssignments/write", "success",
                                                        "203.0.113.7")
    assert format_us(r["ts_us"]) == "2023-05-06T07:08:09.500Z"
    assert r["target_user"] == "oid-backdoor"
    assert r["extra"]["role_definition_id"] == "/providers/x/roleDefinitions/owner"
    assert r["extra"]["rbac_role"] == "Owner"
    assert r["extra"]["sub_status"] == "Created"
    assert r["rec_index"] == 0


def test_diagnostic_records_container(engine, tmp_path):
    p = tmp_path / "PT1H.json"
    p.write_text(json.dumps({"records": [DIAG_OK, DIAG_FAIL]}))
    [sr] = _ingest(engine, p).sources
    assert (sr.format, sr.events, sr.quarantined) == ("azure-activity", 2, 0)
    ok, bad = _rows(engine)
    assert (ok["actor"], ok["actor_type"], ok["outcome"], ok["src_ip"], ok["region"]) == (
        "admin@contoso.com", "User", "success", "111.111.111.11", "global")
    assert format_us(ok["ts_us"]) == "2019-01-21T22:14:26.979277Z"
    assert ok["account"] == "S1" and ok["record_id"] == "c776f9f4"
    assert (bad["actor"], bad["actor_type"], bad["outcome"], bad["error_code"]) == (
        "app-9", "ManagedIdentity", "failure", "Forbidden")


def test_diagnostic_event_hub_lines_and_log_analytics(engine, tmp_path):
    p = tmp_path / "eh.jsonl"
    p.write_text(json.dumps(DIAG_OK) + "\n" + json.dumps(DIAG_FAIL) + "\n")
    la = tmp_path / "AzureActivity.json"
    la.write_text(json.dumps([LA]))
    res = _ingest(engine, p, la)
    assert [(s.format, s.events, s.quarantined) for s in res.sources] == [
        ("azure-activity", 2, 0), ("azure-activity", 1, 0)]
    r = _one(engine, "la-1")
    assert (r["actor"], r["actor_type"], r["outcome"], r["error_code"], r["src_ip"], r["account"]) == (
        "bob@contoso.com", "User", "failure", "Conflict", "198.51.100.4", "s9")
    assert r["action"] == "MICROSOFT.COMPUTE/VIRTUALMACHINES/DELETE"
    assert format_us(r["ts_us"]) == "2024-02-03T04:05:06.789Z"


def test_same_event_data_id_is_a_duplicate(engine, tmp_path):
    a = tmp_path / "a.jsonl"
    a.write_bytes(SAMPLE.read_bytes())
    b = tmp_path / "b.json"  # the same records re-exported as a pretty array
    b.write_text(json.dumps([json.loads(x) for x in LINES], indent=1))
    res = _ingest(engine, a, b)
    assert [(s.events, s.duplicates) for s in res.sources] == [(4, 0), (0, 4)]


# ------------------------------------------------------------------ hostile input


def test_hostile_lines(engine, tmp_path):
    bad = [
        LINES[1][:100],                                   # 2 truncated
        b"\x89PNG\r\x1a\x00\x00binary\xff",                   # 3 binary garbage
        "{\"caller\": \"jos\u00e9\"}".encode("utf-16"),    # 4 wrong encoding
        b"{" * 200_000,                                    # 5 deep nesting
        b"y" * (10 * 1024 * 1024 + 3),                     # 6 10 MB line
        json.dumps({**json.loads(LINES[0]), "event_timestamp": "yesterday"}).encode(),  # 7 bad time
        json.dumps({k: v for k, v in json.loads(LINES[0]).items() if k != "operation_name"}).encode(),  # 8
        b"",                                               # 9 blank
    ]
    p = tmp_path / "hostile.jsonl"
    p.write_bytes(b"\n".join([LINES[0]] + bad + LINES[1:]) + b"\n")
    [sr] = _ingest(engine, p, fmt="azure-activity").sources
    assert (sr.records, sr.events, sr.quarantined, sr.blank_lines) == (11, 4, 7, 1)
    q = {r["line"]: r["reason"] for r in _quarantine(engine)}
    assert sorted(q) == list(range(2, 9))
    assert "bad JSON" in q[2]
    assert "UTF-8" in q[3] and "UTF-8" in q[4]
    assert "bad JSON" in q[5]  # 200 000 x "{": not valid JSON (an object key is missing)
    assert "4 MiB" in q[6]
    assert "unparseable time" in q[7]
    assert "operationName" in q[8]


def test_odd_types_do_not_crash(engine, tmp_path):
    rec = json.loads(LINES[0])
    variants = [
        {**rec, "event_data_id": "v1", "claims": "not json"},
        {**rec, "event_data_id": "v2", "claims": [1, 2], "status": None, "http_request": "x"},
        {**rec, "event_data_id": "v3", "caller": {"nested": True}, "operation_name": {"value": 42}},
        {**rec, "event_data_id": "v4", "caller": "\ud800\u202eevil"},
    ]
    p = tmp_path / "odd.jsonl"
    p.write_text("\n".join(json.dumps(v) for v in variants) + "\n")
    [sr] = _ingest(engine, p, fmt="azure-activity").sources
    assert (sr.events, sr.quarantined) == (4, 0)
    assert _one(engine, "v3")["action"] == "42"
    assert "evil" in _one(engine, "v4")["actor"]
