"""AWS CloudTrail.

Reads the three shapes investigators get:
* S3 delivery: ``{"Records": [ ... ]}`` in ``.json`` / ``.json.gz`` (streamed);
* one record per line (JSONL, e.g. exported by Logstash, may carry ``@timestamp``);
* ``aws cloudtrail lookup-events`` output: one object per line (or a
  ``{"Events": [...]}`` document) whose ``CloudTrailEvent`` is the record as a
  JSON string.
"""

from __future__ import annotations

import json
import re
from typing import Any
from collections.abc import Iterator

from logconsole.ingest.base import (
    Event, Evidence, FormatFacts, ParseError, Parser, Quarantined, dig,
)
from logconsole.ingest.jsonrecords import mostly
from logconsole.ingest.jsonstream import ArrayProblem, iter_array_records, iter_json_lines
from logconsole.ingest.reader import Input, Sample
from logconsole.util.timeparse import parse_time

_SNIFF_KEYS = (b'"eventSource"', b'"eventName"', b'"userIdentity"', b'"awsRegion"', b'"eventVersion"')
_RESOURCE_PARAMS = (
    "bucketName", "key", "instanceId", "userName", "roleName", "roleArn", "policyArn", "groupName",
    "functionName", "name", "trailName", "secretId", "keyId", "tableName", "dBInstanceIdentifier",
    "clusterName", "repositoryName", "topicArn", "queueUrl", "logGroupName", "resourceArn", "accessKeyId",
    "snapshotId", "volumeId", "imageId", "groupId",
)


class CloudTrailParser(Parser):
    name = "cloudtrail"
    version = "1"
    description = "AWS CloudTrail: S3 {\"Records\": [...]} files (.json/.json.gz), JSON lines, LookupEvents output"
    facts = FormatFacts(short_label="aws", timestamp_desc="AWS API call time (eventTime)",
                        verify_hint="verify the trail's bucket copy with its digests: logconsole verify BUCKET_DIR --public-keys KEYS")

    def sniff(self, sample: Sample) -> Evidence | None:
        head = sample.data[:8192].lstrip()
        if head.startswith(b"{") and re.match(rb'\{\s*"Records"\s*:\s*\[', head):
            return Evidence(95, 'JSON document with a top-level "Records" array of CloudTrail events')
        lines = sample.first_nonblank(5)
        if not lines:
            return None
        if mostly(sum(1 for ln in lines if b'"CloudTrailEvent"' in ln and b'"EventName"' in ln), len(lines)):
            return Evidence(95, "LookupEvents output: each line has CloudTrailEvent and EventName")
        if head.startswith(b"{") and b'"Events"' in head[:200] and b'"CloudTrailEvent"' in head:
            return Evidence(90, "LookupEvents output document with an Events array")
        hits = sum(1 for ln in lines if sum(k in ln for k in _SNIFF_KEYS) >= 3)
        if hits == len(lines):
            return Evidence(90, f"{hits} JSON line(s) with CloudTrail keys eventSource/eventName/userIdentity")
        if hits and hits * 2 >= len(lines):  # tolerate corrupt lines among the first few
            return Evidence(75, f"{hits} of the first {len(lines)} lines have CloudTrail keys eventSource/eventName/userIdentity")
        return None

    # ------------------------------------------------------------------ parse
    def parse(self, inp: Input) -> Iterator[Event | Quarantined]:
        sample = inp.sample(8192).data.lstrip()
        if re.match(rb'\{\s*"Records"\s*:\s*\[', sample):
            yield from self._parse_container(inp, "Records")
        elif sample.startswith(b"{") and re.match(rb'\{\s*"Events"\s*:\s*\[', sample):
            yield from self._parse_container(inp, "Events")
        else:
            yield from self._parse_lines(inp)

    def _parse_container(self, inp: Input, key: str) -> Iterator[Event | Quarantined]:
        for item in iter_array_records(inp, key):
            if isinstance(item, ArrayProblem):
                yield Quarantined(item.reason, item.raw, line=item.line, rec_index=item.index)
                continue
            try:
                if not isinstance(item.obj, dict):
                    raise ParseError(f"expected a JSON object, got {type(item.obj).__name__}")
                yield self.to_event(item.obj, item.raw, line=item.line, rec_index=item.index)
            except ParseError as exc:
                yield Quarantined(str(exc), item.raw, line=item.line, rec_index=item.index)

    def _parse_lines(self, inp: Input) -> Iterator[Event | Quarantined]:
        for item in iter_json_lines(inp):
            if isinstance(item, Quarantined):
                yield item
                continue
            lineno, text, obj = item
            try:
                yield self.to_event(obj, text, line=lineno)
            except ParseError as exc:
                yield Quarantined(str(exc), text, line=lineno)

    # ---------------------------------------------------------------- mapping
    def to_event(self, rec: dict[str, Any], raw: str, *, line: int | None = None, rec_index: int | None = None) -> Event:
        lookup = None
        if "CloudTrailEvent" in rec:  # LookupEvents wrapper
            lookup = rec
            inner = rec["CloudTrailEvent"]
            if isinstance(inner, str):
                try:
                    inner = json.loads(inner)
                except ValueError as exc:
                    raise ParseError(f"CloudTrailEvent is not valid JSON: {exc}") from None
            if not isinstance(inner, dict):
                raise ParseError("CloudTrailEvent is not a JSON object")
            rec = inner
        ts_field = "eventTime"
        ts_raw = rec.get("eventTime")
        if ts_raw in (None, ""):
            for alt in ("@timestamp",):
                if rec.get(alt):
                    ts_field, ts_raw = alt, rec[alt]
                    break
            else:
                if lookup and lookup.get("EventTime"):
                    ts_field, ts_raw = "EventTime", lookup["EventTime"]
        if ts_raw in (None, ""):
            raise ParseError("missing eventTime")
        if not isinstance(ts_raw, (str, int, float)) or isinstance(ts_raw, bool):
            raise ParseError(f"eventTime has wrong type {type(ts_raw).__name__}")
        ts = parse_time(ts_raw)
        name = rec.get("eventName")
        source = rec.get("eventSource")
        if not isinstance(name, str) or not name:
            raise ParseError("missing eventName")
        if source is not None and not isinstance(source, str):
            raise ParseError("eventSource has wrong type")
        ui = rec.get("userIdentity")
        if ui is not None and not isinstance(ui, dict):
            raise ParseError("userIdentity is not an object")
        ui = ui or {}
        actor, actor_type, actor_uid, session = _identity(ui)
        err = rec.get("errorCode")
        outcome = "failure" if err else "success"
        if rec.get("eventType") == "AwsConsoleSignIn":
            resp = dig(rec, "responseElements.ConsoleLogin")
            if resp == "Failure":
                outcome = "failure"
                err = err or "ConsoleLoginFailure"
        src_ip = rec.get("sourceIPAddress")
        resource = _resource(rec)
        extra: dict[str, Any] = {}
        if ts_field != "eventTime":
            extra["time_field"] = ts_field
        # extra keeps what the columns lose and analysis needs; everything else is in
        # the raw record (repeating eventType, requestID ... here cost ~190 B per event)
        if rec.get("eventType") not in (None, "", "AwsApiCall"):
            extra["eventType"] = rec["eventType"]
        if rec.get("sharedEventID"):
            extra["sharedEventID"] = rec["sharedEventID"]
        if rec.get("errorMessage"):
            extra["errorMessage"] = rec["errorMessage"]
        if ui.get("invokedBy"):
            extra["invokedBy"] = ui["invokedBy"]
        if lookup is not None:
            extra["lookup_events"] = True
        svc = source.split(".amazonaws.com")[0] if isinstance(source, str) else None
        who = actor or "?"
        msg = f"{who} {svc + ':' if svc else ''}{name}"
        if resource:
            msg += f" {resource}"
        if err:
            msg += f" -> {err}"
        event_id = rec.get("eventID") if isinstance(rec.get("eventID"), str) else None
        return Event(
            ts_us=ts, ts_raw=str(ts_raw), raw=raw, format=self.name, line=line, rec_index=rec_index,
            record_id=event_id, dedup_key=event_id, service=source, action=name, outcome=outcome,
            error_code=str(err) if err else None, actor=actor, actor_type=actor_type, actor_uid=actor_uid,
            session=session, target_user=_target_user(rec), src_ip=str(src_ip) if src_ip else None,
            user_agent=rec.get("userAgent") if isinstance(rec.get("userAgent"), str) else None,
            host=None, resource=resource,
            account=str(ui.get("accountId") or rec.get("recipientAccountId") or "") or None,
            region=rec.get("awsRegion") if isinstance(rec.get("awsRegion"), str) else None,
            message=msg, extra=extra or None,
        )


def _identity(ui: dict[str, Any]) -> tuple[str | None, str | None, str | None, str | None]:
    """(actor, actor_type, actor_uid, session) from ``userIdentity``."""
    typ = ui.get("type")
    arn = ui.get("arn")
    key = ui.get("accessKeyId")
    if typ == "AssumedRole":
        issuer = dig(ui, "sessionContext.sessionIssuer") or {}
        role_arn = issuer.get("arn") if isinstance(issuer, dict) else None
        sess_name = arn.rsplit("/", 1)[-1] if isinstance(arn, str) and "/" in arn else None
        if not role_arn and isinstance(arn, str) and ":assumed-role/" in arn:
            # arn:aws:sts::ACCT:assumed-role/ROLE/SESSION -> arn:aws:iam::ACCT:role/ROLE
            part = arn.split(":assumed-role/", 1)
            acct = part[0].split(":")[-1]
            role = part[1].split("/")[0]
            role_arn = f"arn:aws:iam::{acct}:role/{role}"
        session = sess_name
        if key:
            session = f"{sess_name} ({key})" if sess_name else key
        return role_arn or arn, typ, arn, session
    if typ == "AWSService":
        return ui.get("invokedBy"), typ, ui.get("invokedBy"), None
    if typ == "Root":
        account = ui.get("accountId")
        return arn or (f"arn:aws:iam::{account}:root" if account else "root"), typ, arn, key
    if typ in ("IAMUser",):
        return arn or ui.get("userName"), typ, arn or ui.get("principalId"), key
    if typ in ("FederatedUser", "WebIdentityUser", "SAMLUser", "IdentityCenterUser", "AWSAccount", "Unknown"):
        who = arn or ui.get("userName") or ui.get("principalId") or ui.get("accountId")
        return who, typ, arn or ui.get("principalId"), key
    who = arn or ui.get("userName") or ui.get("principalId") or ui.get("invokedBy")
    return who, typ, arn, key


def _resource(rec: dict[str, Any]) -> str | None:
    res = rec.get("resources")
    params = rec.get("requestParameters")
    if isinstance(params, dict):
        bucket = params.get("bucketName")
        key = params.get("key")
        if isinstance(bucket, str):
            return f"arn:aws:s3:::{bucket}/{key}" if isinstance(key, str) else f"arn:aws:s3:::{bucket}"
    if isinstance(res, list):
        for r in res:
            if isinstance(r, dict) and isinstance(r.get("ARN"), str):
                return r["ARN"]
    if isinstance(params, dict):
        for k in _RESOURCE_PARAMS:
            v = params.get(k)
            if isinstance(v, str) and v:
                return v
        items = dig(params, "instancesSet.items")
        if isinstance(items, list) and items and isinstance(items[0], dict) and items[0].get("instanceId"):
            ids = [str(i.get("instanceId")) for i in items if isinstance(i, dict)]
            return ",".join(ids)
    return None


def _target_user(rec: dict[str, Any]) -> str | None:
    params = rec.get("requestParameters")
    if isinstance(params, dict):
        v = params.get("userName")
        if isinstance(v, str):
            return v
    return None
