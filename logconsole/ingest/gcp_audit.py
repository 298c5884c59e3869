"""Google Cloud Audit Logs (Cloud Logging ``LogEntry`` with an ``AuditLog`` protoPayload).

Shapes read (see :mod:`logconsole.ingest.jsonrecords`): JSON lines (log sinks to
Cloud Storage / Pub/Sub, ``jq -c``), a JSON array (``gcloud logging read
--format=json``), ``{"entries": [...]}`` (``entries.list`` API) and BigQuery
exports (``protopayload_auditlog`` instead of ``protoPayload``).

Ordinary LogEntries in the same file (``jsonPayload`` / ``textPayload``, other
``protoPayload`` types) are kept as events too: action = the log id, service =
the monitored resource type.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Iterator
from urllib.parse import unquote

from logconsole.ingest.base import Event, Evidence, FormatFacts, ParseError, Parser, Quarantined, as_dict
from logconsole.ingest.jsonrecords import (
    as_str, clean_text, container_kind, parse_json_records, require_time, mostly, sample_objects,
    strip_head,
)
from logconsole.ingest.reader import Input, Sample
from logconsole.util.timeparse import parse_time

#: google.rpc.Code names
GRPC_CODES = {
    0: "OK", 1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED", 5: "NOT_FOUND",
    6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED", 9: "FAILED_PRECONDITION",
    10: "ABORTED", 11: "OUT_OF_RANGE", 12: "UNIMPLEMENTED", 13: "INTERNAL", 14: "UNAVAILABLE",
    15: "DATA_LOSS", 16: "UNAUTHENTICATED",
}
_PAYLOAD_KEYS = ("protoPayload", "protopayload_auditlog")
_CONTAINER_KEYS = ("entries",)


def _is_log_entry(obj: dict[str, Any]) -> bool:
    return isinstance(obj.get("logName"), str) and ("insertId" in obj or "timestamp" in obj or "receiveTimestamp" in obj)


def _audit_payload(obj: dict[str, Any]) -> dict[str, Any] | None:
    for k in _PAYLOAD_KEYS:
        p = obj.get(k)
        if isinstance(p, dict):
            typ = p.get("@type")
            if (isinstance(typ, str) and typ.endswith("audit.AuditLog")) or k == "protopayload_auditlog" or (
                typ is None and ("methodName" in p or "serviceName" in p)
            ):
                return p
    return None


class GcpAuditParser(Parser):
    name = "gcp-audit"
    version = "1"
    description = "Google Cloud Audit Logs: Cloud Logging LogEntry JSON lines/arrays with an AuditLog protoPayload"
    facts = FormatFacts(short_label="gcp", timestamp_desc="GCP audit log timestamp",
                        columns=("ts_us", "actor", "service", "action", "resource", "outcome", "src_ip"))

    def sniff(self, sample: Sample) -> Evidence | None:
        head = strip_head(sample.data[:65536])
        objs, tried = sample_objects(sample, keys=_CONTAINER_KEYS)
        if mostly(len(objs), tried):
            entries = [o for o in objs if _is_log_entry(o)]
            audits = [o for o in entries if _audit_payload(o) is not None]
            if mostly(len(entries), tried) and audits:
                return Evidence(95, f"{len(entries)} of {tried} JSON line(s) are Cloud Logging LogEntries, "
                                    f"{len(audits)} with an AuditLog protoPayload")
            if mostly(len(entries), tried):
                return Evidence(70, f"{len(entries)} JSON line(s) are Cloud Logging LogEntries (logName, insertId)")
            return None
        kind, _ = container_kind(head, _CONTAINER_KEYS)
        if kind in ("array", "object", "stream"):
            if b'"logName"' in head and (b"google.cloud.audit.AuditLog" in head or b'"protopayload_auditlog"' in head):
                return Evidence(90, "JSON container of Cloud Logging LogEntries with AuditLog protoPayloads")
            if b'"logName"' in head and b'"insertId"' in head:
                return Evidence(65, "JSON container of Cloud Logging LogEntries (logName, insertId)")
        return None

    def parse(self, inp: Input) -> Iterator[Event | Quarantined]:
        yield from parse_json_records(inp, _CONTAINER_KEYS, self.to_event)

    # ---------------------------------------------------------------- mapping
    def to_event(self, rec: dict[str, Any], raw: str, *, line: int | None = None,
                 rec_index: int | None = None) -> Event:
        ts_field = "timestamp"
        ts_raw = rec.get("timestamp")
        if ts_raw in (None, ""):
            ts_field, ts_raw = "receiveTimestamp", rec.get("receiveTimestamp")
        ts = parse_time(require_time(ts_raw, "timestamp"))
        log_name = rec.get("logName")
        if log_name is not None and not isinstance(log_name, str):
            raise ParseError("logName is not a string")
        resource = as_dict(rec.get("resource"))
        labels = as_dict(resource.get("labels"))
        log_id = unquote(log_name.split("/logs/", 1)[1]) if log_name and "/logs/" in log_name else log_name
        extra: dict[str, Any] = {}
        if ts_field != "timestamp":
            extra["time_field"] = ts_field
        if log_id:
            extra["log_id"] = log_id
            if log_id.startswith("cloudaudit.googleapis.com/"):
                extra["log_type"] = log_id.split("/", 1)[1]
        for k, dst in (("severity", "severity"), ("receiveTimestamp", "receive_time"), ("trace", "trace")):
            v = as_str(rec.get(k))
            if v:
                extra[dst] = v
        if as_str(resource.get("type")):
            extra["resource_type"] = resource["type"]
        if labels:
            extra["resource_labels"] = {k: v for k, v in labels.items() if v not in (None, "")}
        op = rec.get("operation")
        if isinstance(op, dict) and op:
            extra["operation"] = op
        if isinstance(rec.get("labels"), dict) and rec["labels"]:
            extra["labels"] = rec["labels"]
        account = as_str(labels.get("project_id"))
        if not account and log_name:
            parts = log_name.split("/")
            if len(parts) >= 2 and parts[0] in ("projects", "organizations", "folders", "billingAccounts"):
                account = parts[1] if parts[0] == "projects" else f"{parts[0]}/{parts[1]}"
        region = as_str(labels.get("zone") or labels.get("region") or labels.get("location"))
        insert_id = as_str(rec.get("insertId"))
        common = dict(
            ts_us=ts, ts_raw=str(ts_raw), raw=raw, format=self.name, line=line, rec_index=rec_index,
            record_id=insert_id, dedup_key=insert_id, account=account,
        )
        payload = _audit_payload(rec)
        if payload is None:
            return self._plain_entry(rec, log_id, resource, region, extra, common)
        return self._audit_entry(payload, region, extra, common)

    def _plain_entry(self, rec, log_id, resource, region, extra, common) -> Event:
        text = rec.get("textPayload")
        jp = rec.get("jsonPayload")
        pp = rec.get("protoPayload")
        msg = None
        if isinstance(text, str):
            msg = text
        elif isinstance(jp, dict):
            msg = as_str(jp.get("message")) or as_str(jp.get("content")) or clean_text(jp, 2000)
            sub = as_str(jp.get("event_subtype") or jp.get("eventType"))
            if sub:
                extra["event_subtype"] = sub
        elif isinstance(pp, dict):
            if as_str(pp.get("@type")):
                extra["payload_type"] = pp["@type"]
            msg = clean_text(pp, 2000)
        payload_kind = next((k for k in ("textPayload", "jsonPayload", "protoPayload") if k in rec), None)
        if payload_kind:
            extra["payload"] = payload_kind
        action = log_id.rsplit("/", 1)[-1] if isinstance(log_id, str) else None
        sev = extra.get("severity")
        outcome = "failure" if sev in ("ERROR", "CRITICAL", "ALERT", "EMERGENCY") else "unknown"
        return Event(
            **common, service=as_str(resource.get("type")), action=action, outcome=outcome,
            region=region, message=clean_text(msg, 2000), extra=extra or None,
        )

    def _audit_entry(self, p: dict[str, Any], region, extra, common) -> Event:
        auth = as_dict(p.get("authenticationInfo"))
        meta = as_dict(p.get("requestMetadata"))
        status = as_dict(p.get("status"))
        method = as_str(p.get("methodName"))
        service = as_str(p.get("serviceName"))
        resource_name = as_str(p.get("resourceName"))
        email = as_str(auth.get("principalEmail"))
        subject = as_str(auth.get("principalSubject"))
        actor = email or subject
        actor_type = _actor_type(email, subject)
        if subject:
            extra["principal_subject"] = subject
        chain = _delegation(auth.get("serviceAccountDelegationInfo"))
        if chain:
            extra["delegation"] = chain
        key_name = as_str(auth.get("serviceAccountKeyName"))
        # ---- outcome: status.code (0/absent = success); any authorizationInfo denied -> failure
        code = status.get("code")
        if isinstance(code, str) and code.isdigit():
            code = int(code)
        outcome = "success"
        err: str | None = None
        if isinstance(code, int) and not isinstance(code, bool) and code != 0:
            outcome = "failure"
            err = GRPC_CODES.get(code, str(code))
            extra["status_code"] = code
        elif code not in (None, 0) and as_str(code):
            outcome = "failure"
            err = as_str(code)
        if as_str(status.get("message")):
            extra["status_message"] = status["message"]
        granted, denied = _authorization(p.get("authorizationInfo"), failed=outcome == "failure")
        if granted:
            extra["permissions"] = granted
        if denied:
            extra["denied_permissions"] = denied
            outcome = "failure"
            err = err or "PERMISSION_DENIED"
        reason = _error_reason(status)
        if reason:
            extra["error_reason"] = reason
        req = as_dict(p.get("request"))
        if as_str(req.get("@type")):
            extra["request_type"] = req["@type"]
        target = _binding_target(p, extra)
        if target is None and method and method.endswith("CreateServiceAccount"):
            target = as_str(req.get("account_id"))
        if not region:
            locs = p.get("resourceLocation", {}).get("currentLocations") if isinstance(p.get("resourceLocation"), dict) else None
            if isinstance(locs, list) and locs and isinstance(locs[0], str):
                region = locs[0]
        src_ip = as_str(meta.get("callerIp"))
        if src_ip in ("private", "gce-internal-ip"):
            extra["caller_ip"] = src_ip  # documented placeholders, not addresses
            src_ip = None
        if as_str(meta.get("callerNetwork")):
            extra["caller_network"] = meta["callerNetwork"]
        ua = as_str(meta.get("callerSuppliedUserAgent"))
        svc_short = service.split(".googleapis.com")[0] if service else None
        msg = f"{actor or '?'} {svc_short + ':' if svc_short else ''}{method or '?'}"
        if resource_name:
            msg += f" {resource_name}"
        if outcome == "failure":
            msg += f" -> {err}"
        return Event(
            **common, service=service, action=method, outcome=outcome, error_code=err, actor=actor,
            actor_type=actor_type, actor_uid=subject if subject and subject != actor else None,
            session=key_name, target_user=target, src_ip=src_ip, user_agent=ua, resource=resource_name,
            region=region, message=msg, extra=extra or None,
        )


def _actor_type(email: str | None, subject: str | None) -> str | None:
    if subject:
        pre = subject.split(":", 1)[0]
        if pre == "serviceAccount":
            return "ServiceAccount"
        if pre == "user":
            return "User"
        if subject.startswith(("principal://", "principalSet://")):
            return "FederatedPrincipal"
        if subject.startswith("system:serviceaccount:"):
            return "ServiceAccount"
        if subject.startswith("system:"):
            return "System"
    if email:
        if email.endswith(".gserviceaccount.com") or email.startswith("system:serviceaccount:"):
            return "ServiceAccount"  # IAM, or Kubernetes (GKE audit logs in Cloud Logging)
        if email.startswith("system:"):
            return "System"
        if "@" in email:
            return "User"
    return None


def _delegation(info: Any) -> list[str]:
    out: list[str] = []
    if isinstance(info, list):
        for d in info[:50]:
            if not isinstance(d, dict):
                continue
            for k in ("firstPartyPrincipal", "thirdPartyPrincipal"):
                pr = d.get(k)
                if isinstance(pr, dict):
                    who = as_str(pr.get("principalEmail")) or as_str(pr.get("principalSubject"))
                    if who is None and isinstance(pr.get("thirdPartyClaims"), dict):
                        who = clean_text(pr["thirdPartyClaims"], 200)
                    if who:
                        out.append(who)
            if as_str(d.get("principalSubject")):
                out.append(d["principalSubject"])
    return out


def _authorization(info: Any, *, failed: bool) -> tuple[list[str], list[str]]:
    """(granted permissions, denied permissions).

    proto3 JSON omits ``granted: false``; an entry without ``granted`` counts as
    denied only when the call itself failed (otherwise we cannot tell).
    """
    granted: list[str] = []
    denied: list[str] = []
    if not isinstance(info, list):
        return granted, denied
    for a in info[:200]:
        if not isinstance(a, dict):
            continue
        perm = as_str(a.get("permission")) or "?"
        g = a.get("granted")
        if g is True:
            granted.append(perm)
        elif g is False or (g is None and failed):
            denied.append(perm)
    return granted, denied


def _error_reason(status: dict[str, Any]) -> str | None:
    details = status.get("details")
    if isinstance(details, list):
        for d in details:
            if isinstance(d, dict) and as_str(d.get("reason")):
                return as_str(d.get("reason"))
    return None


def _binding_target(p: dict[str, Any], extra: dict[str, Any]) -> str | None:
    """IAM policy changes: keep the binding deltas; the member if there is exactly one."""
    sd = p.get("serviceData")
    deltas = None
    if isinstance(sd, dict) and isinstance(sd.get("policyDelta"), dict):
        deltas = sd["policyDelta"].get("bindingDeltas")
    if not isinstance(deltas, list):
        return None
    keep = [
        {k: d.get(k) for k in ("action", "role", "member") if as_str(d.get(k))}
        for d in deltas[:100] if isinstance(d, dict)
    ]
    if keep:
        extra["binding_deltas"] = keep
    members = {d.get("member") for d in keep if d.get("member")}
    return next(iter(members)) if len(members) == 1 else None
