"""Azure Activity Log (control-plane operations on a subscription).

The same record reaches an investigator in four spellings; all are read:

* Azure SDK / CLI export, snake_case: ``operation_name{value,localized_value}``,
  ``event_timestamp``, ``http_request.client_ip_address``, ``event_data_id`` ...
  (the real sample ``azure_activity_log.jsonl``);
* REST API / ``az monitor activity-log list`` / ``Get-AzActivityLog``, camelCase:
  ``operationName{value,localizedValue}``, ``eventTimestamp``, ``httpRequest.clientIpAddress``,
  ``eventDataId``; often as ``{"value": [...]}`` or a JSON array;
* diagnostic settings (storage account / Event Hub): ``{"records": [...]}`` with
  ``time``, ``operationName`` (string), ``resultType``, ``resultSignature``,
  ``callerIpAddress``, ``identity{authorization,claims}``;
* Log Analytics ``AzureActivity`` table exports: ``TimeGenerated``,
  ``OperationNameValue``, ``ActivityStatusValue``, ``Caller``, ``CallerIpAddress``, ``Claims``.
"""

from __future__ import annotations

import json
import re
from typing import Any
from collections.abc import Iterator

from logconsole.ingest.base import Event, Evidence, FormatFacts, ParseError, Parser, Quarantined
from logconsole.ingest.jsonrecords import (
    as_str, clean_text, container_kind, first, parse_json_records, require_time, mostly, sample_objects,
    strip_head,
)
from logconsole.ingest.reader import Input, Sample
from logconsole.util.timeparse import parse_time

_CONTAINER_KEYS = ("records", "value")
_CATEGORIES = {
    "administrative", "servicehealth", "resourcehealth", "alert", "autoscale", "recommendation",
    "security", "policy",
}
_SUCCESS = {"succeeded", "success", "resolved"}
_FAILURE = {"failed", "failure"}
# claim URI suffix (or short name) -> key kept in extra["claims"]
_CLAIMS = {
    "upn": "upn", "/claims/upn": "upn", "unique_name": "unique_name", "name": "name", "/claims/name": "name_id",
    "/claims/emailaddress": "email", "appid": "appid", "azp": "appid", "idtyp": "idtyp", "ipaddr": "ipaddr",
    "/identity/claims/objectidentifier": "oid", "oid": "oid", "/identity/claims/tenantid": "tid", "tid": "tid",
    "/claims/authnmethodsreferences": "amr", "amr": "amr", "/claims/authnclassreference": "acr", "acr": "acr",
    "/identity/claims/scope": "scp", "scp": "scp", "roles": "roles", "xms_mirid": "xms_mirid",
    "/identity/claims/identityprovider": "idp", "iss": "iss", "aud": "aud", "iat": "iat", "exp": "exp",
    "uti": "uti", "appidacr": "appidacr", "wids": "wids",
}
_GUID = re.compile(r"^[0-9a-zA-Z]{8}-[0-9a-zA-Z]{4}-[0-9a-zA-Z]{4}-[0-9a-zA-Z]{4}-[0-9a-zA-Z]{12}$")


def _shape(obj: dict[str, Any]) -> str | None:
    """Which Activity Log spelling an object is, or None."""
    if "operation_name" in obj and ("event_timestamp" in obj or "event_data_id" in obj or "correlation_id" in obj):
        return "sdk"
    if "operationName" in obj and ("eventTimestamp" in obj or "eventDataId" in obj) and (
        "caller" in obj or "correlationId" in obj or "status" in obj
    ):
        return "rest"
    if "OperationNameValue" in obj and ("ActivityStatusValue" in obj or "CallerIpAddress" in obj):
        return "loganalytics"
    if isinstance(obj.get("operationName"), str) and "time" in obj and "resourceId" in obj:
        cat = obj.get("category")
        op = obj["operationName"]
        rid = obj["resourceId"]
        if (isinstance(cat, str) and cat.lower() in _CATEGORIES) or (
            isinstance(rid, str) and rid.upper().startswith("/SUBSCRIPTIONS/") and op.upper().startswith("MICROSOFT.")
        ):
            return "diagnostic"
    return None


class AzureActivityParser(Parser):
    name = "azure-activity"
    version = "1"
    description = "Azure Activity Log: SDK/CLI (snake_case), REST (camelCase), diagnostic {\"records\": [...]} and Log Analytics exports"
    facts = FormatFacts(short_label="azure", timestamp_desc="Azure activity event time",
                        columns=("ts_us", "actor", "service", "action", "resource", "outcome", "src_ip"))

    def sniff(self, sample: Sample) -> Evidence | None:
        objs, tried = sample_objects(sample, keys=_CONTAINER_KEYS)
        if mostly(len(objs), tried):
            shapes = [s for s in (_shape(o) for o in objs) if s]
            if mostly(len(shapes), len(objs)):
                return Evidence(95, f"{len(shapes)} of {tried} JSON line(s) are Azure Activity Log records "
                                    f"({shapes[0]} spelling)")
            return None
        head = strip_head(sample.data[:65536])
        kind, _ = container_kind(head, _CONTAINER_KEYS)
        if kind == "lines":
            return None
        marks = {
            "sdk": (b'"operation_name"', b'"event_data_id"', b'"event_timestamp"'),
            "rest": (b'"operationName"', b'"eventDataId"', b'"eventTimestamp"'),
            "loganalytics": (b'"OperationNameValue"', b'"ActivityStatusValue"', b'"CallerIpAddress"'),
            "diagnostic": (b'"operationName"', b'"resultType"', b'"callerIpAddress"'),
        }
        for shape, keys in marks.items():
            if all(k in head for k in keys):
                if shape == "diagnostic" and not re.search(rb'"resourceId"\s*:\s*"/subscriptions/', head, re.I):
                    continue
                return Evidence(90, f"JSON container of Azure Activity Log records ({shape} spelling)")
        return None

    def parse(self, inp: Input) -> Iterator[Event | Quarantined]:
        yield from parse_json_records(inp, _CONTAINER_KEYS, self.to_event)

    # ---------------------------------------------------------------- mapping
    def to_event(self, rec: dict[str, Any], raw: str, *, line: int | None = None,
                 rec_index: int | None = None) -> Event:
        ts_field = next((k for k in ("event_timestamp", "eventTimestamp", "time", "TimeGenerated", "timeStamp")
                         if rec.get(k) not in (None, "")), None)
        if ts_field is None:
            raise ParseError("missing event_timestamp/eventTimestamp/time")
        ts_raw = require_time(rec.get(ts_field), ts_field)
        ts = parse_time(ts_raw)
        operation = as_str(first(rec, "operation_name", "operationName", "OperationNameValue", "OperationName"))
        if operation is None:
            raise ParseError("missing operationName")
        claims = _claims(first(rec, "claims", "identity.claims", "Claims"))
        kept = {}
        for k, v in claims.items():
            short = _claim_key(k)
            if short and as_str(v) is not None:
                kept[short] = v
        caller = as_str(first(rec, "caller", "Caller"))
        if caller is None:
            caller = as_str(kept.get("upn") or kept.get("unique_name") or kept.get("email") or kept.get("appid"))
        actor_type = _actor_type(caller, kept)
        status = as_str(first(rec, "status", "resultType", "ActivityStatusValue", "ActivityStatus"))
        sub_status = as_str(first(rec, "sub_status", "subStatus", "resultSignature", "ActivitySubstatusValue",
                                  "properties.statusCode"))
        outcome = "unknown"
        err = None
        if status:
            s = status.lower()
            if s in _SUCCESS:
                outcome = "success"
            elif s in _FAILURE:
                outcome = "failure"
                err = sub_status or status
        src_ip = as_str(first(rec, "http_request.client_ip_address", "httpRequest.clientIpAddress",
                              "callerIpAddress", "CallerIpAddress")) or as_str(kept.get("ipaddr"))
        resource = as_str(first(rec, "resource_id", "resourceId", "ResourceId", "_ResourceId", "authorization.scope"))
        provider = as_str(first(rec, "resource_provider_name", "resourceProviderName", "ResourceProviderValue"))
        if provider is None and "/" in operation:
            provider = operation.split("/", 1)[0]
        subscription = as_str(first(rec, "subscription_id", "subscriptionId", "SubscriptionId"))
        if subscription is None and resource:
            m = re.match(r"/subscriptions/([^/]+)", resource, re.I)
            subscription = m.group(1) if m else None
        event_data_id = as_str(first(rec, "event_data_id", "eventDataId", "EventDataId"))
        correlation = as_str(first(rec, "correlation_id", "correlationId", "CorrelationId"))
        extra: dict[str, Any] = {}
        if ts_field not in ("event_timestamp", "eventTimestamp"):
            extra["time_field"] = ts_field
        for key, paths in (
            ("correlation_id", ("correlation_id", "correlationId", "CorrelationId")),
            ("operation_id", ("operation_id", "operationId", "OperationId")),
            ("event_name", ("event_name", "eventName", "EventNameValue")),
            ("category", ("category", "CategoryValue", "Category")),
            ("level", ("level", "Level")),
            ("status", ("status", "resultType", "ActivityStatusValue")),
            ("sub_status", ("sub_status", "subStatus", "resultSignature", "ActivitySubstatusValue")),
            ("resource_group", ("resource_group_name", "resourceGroupName", "ResourceGroup")),
            ("resource_type", ("resource_type", "resourceType")),
            ("authorization_action", ("authorization.action", "identity.authorization.action")),
            ("authorization_scope", ("authorization.scope", "identity.authorization.scope")),
            ("http_method", ("http_request.method", "httpRequest.method")),
            ("client_request_id", ("http_request.client_request_id", "httpRequest.clientRequestId")),
            ("tenant_id", ("tenant_id", "tenantId", "TenantId")),
            ("submission_time", ("submission_timestamp", "submissionTimestamp")),
            ("description", ("description", "resultDescription")),
            ("status_code", ("properties.statusCode",)),
            ("duration_ms", ("durationMs",)),
            ("rbac_role", ("authorization.evidence.role", "identity.authorization.evidence.role")),
            ("rbac_role_assignment_id", ("authorization.evidence.roleAssignmentId",
                                         "identity.authorization.evidence.roleAssignmentId")),
            ("rbac_principal_type", ("authorization.evidence.principalType",
                                     "identity.authorization.evidence.principalType")),
        ):
            v = as_str(first(rec, *paths))
            if v is not None:
                extra[key] = v
        role = _role_evidence(rec)
        if role:
            extra.update(role)
        if kept:
            extra["claims"] = kept
        region = as_str(first(rec, "location", "Location"))
        msg = f"{caller or '?'} {operation}"
        if resource:
            msg += f" {resource.rsplit('/', 1)[-1] if '/' in resource else resource}"
        if status:
            msg += f" -> {status}" + (f" ({sub_status})" if sub_status and outcome == "failure" else "")
        return Event(
            ts_us=ts, ts_raw=str(ts_raw), raw=raw, format=self.name, line=line, rec_index=rec_index,
            record_id=event_data_id or correlation, dedup_key=event_data_id, service=provider,
            action=operation, outcome=outcome, error_code=err, actor=caller, actor_type=actor_type,
            actor_uid=as_str(kept.get("oid")), session=as_str(kept.get("uti")),
            target_user=as_str(role.get("principal_id")),
            src_ip=src_ip, user_agent=None, host=None, resource=resource, account=subscription,
            region=region, message=clean_text(msg, 2000), extra=extra or None,
        )


def _claims(v: Any) -> dict[str, Any]:
    if isinstance(v, str):  # Log Analytics stores Claims as a JSON string
        try:
            v = json.loads(v)
        except (ValueError, RecursionError):
            return {}
    return v if isinstance(v, dict) else {}


def _claim_key(k: str) -> str | None:
    if k in _CLAIMS:
        return _CLAIMS[k]
    for suffix, short in _CLAIMS.items():
        if suffix.startswith("/") and k.endswith(suffix):
            return short
    return None


def _actor_type(caller: str | None, claims: dict[str, Any]) -> str | None:
    idtyp = as_str(claims.get("idtyp"))
    if claims.get("xms_mirid"):
        return "ManagedIdentity"
    if idtyp == "app":
        return "ServicePrincipal"
    if idtyp == "user":
        return "User"
    if claims.get("upn") or claims.get("email") or claims.get("unique_name"):
        return "User"
    if caller and "@" in caller:
        return "User"
    if caller and _GUID.match(caller):
        return "ServicePrincipal"
    return None


def _role_evidence(rec: dict[str, Any]) -> dict[str, Any]:
    """The RBAC role/principal named by a roleAssignments write (requestbody), when present."""
    if not any("roleassignments" in (as_str(first(rec, k)) or "").lower()
               for k in ("operation_name", "operationName", "OperationNameValue")):
        return {}
    props = first(rec, "properties", "Properties")
    if isinstance(props, str):
        try:
            props = json.loads(props)
        except (ValueError, RecursionError):
            return {}
    if not isinstance(props, dict):
        return {}
    body = props.get("requestbody") or props.get("requestBody")
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except (ValueError, RecursionError):
            return {}
    if not isinstance(body, dict):
        return {}
    bp = body.get("properties") or body.get("Properties")
    if not isinstance(bp, dict):
        return {}
    low = {str(k).lower(): v for k, v in bp.items()}
    out = {}
    for src, dst in (("roledefinitionid", "role_definition_id"), ("principalid", "principal_id"),
                     ("principaltype", "principal_type"), ("scope", "role_scope")):
        if as_str(low.get(src)):
            out[dst] = low[src]
    return out
