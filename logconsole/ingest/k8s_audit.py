"""Kubernetes audit logs (``audit.k8s.io/v1`` Event, one JSON object per line).

An API request produces up to four stage records (RequestReceived,
ResponseStarted, ResponseComplete, Panic) sharing one ``auditID``.  They become
one event: the most complete stage wins (ResponseComplete > Panic >
ResponseStarted > RequestReceived); the other stages count as duplicates.
Stages are buffered in a bounded window keyed by auditID, so memory does not
grow with file size; a stage arriving after its event was emitted is a
duplicate of it (the pipeline matches it by auditID).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any
from collections.abc import Iterator

from logconsole.ingest.base import (
    Event, Evidence, FormatFacts, ParseError, Parser, Quarantined, as_dict, as_list,
)
from logconsole.ingest.jsonstream import iter_json_lines
from logconsole.ingest.reader import Input, Sample
from logconsole.util.timeparse import parse_time

_STAGE_RANK = {"ResponseComplete": 4, "Panic": 3, "ResponseStarted": 2, "RequestReceived": 1}
WINDOW = 2048


class K8sAuditParser(Parser):
    name = "k8s-audit"
    version = "1"
    description = "Kubernetes audit log (audit.k8s.io/v1 Event per line); stages merged per auditID"
    facts = FormatFacts(short_label="k8s", timestamp_desc="Kubernetes request received")

    def sniff(self, sample: Sample) -> Evidence | None:
        lines = sample.first_nonblank(5)
        if not lines:
            return None
        hits = sum(1 for ln in lines if b'"audit.k8s.io/' in ln and b'"auditID"' in ln)
        if hits == len(lines):
            return Evidence(95, f'{hits} line(s) with apiVersion "audit.k8s.io/..." and auditID')
        if hits and hits >= len(lines) - 1:
            return Evidence(70, f"{hits} of {len(lines)} lines are Kubernetes audit events")
        return None

    def parse(self, inp: Input) -> Iterator[Event | Quarantined]:
        pending: OrderedDict[str, tuple[int, dict, str, int, int]] = OrderedDict()  # auditID -> (rank, obj, raw, line, n)
        for item in iter_json_lines(inp):
            if isinstance(item, Quarantined):
                yield item
                continue
            lineno, raw, obj = item
            try:
                self._validate(obj)
            except ParseError as exc:
                yield Quarantined(str(exc), raw, line=lineno)
                continue
            aid = obj.get("auditID")
            stage = obj.get("stage")
            rank = _STAGE_RANK.get(stage, 0) if isinstance(stage, str) else 0
            if not isinstance(aid, str) or not aid:
                yield self._event(obj, raw, lineno, 1)
                continue
            prev = pending.get(aid)
            if prev is None:
                pending[aid] = (rank, obj, raw, lineno, 1)
            else:
                n = prev[4] + 1
                if rank > prev[0]:
                    pending[aid] = (rank, obj, raw, lineno, n)
                else:
                    pending[aid] = (prev[0], prev[1], prev[2], prev[3], n)
            if rank == 4 or rank == 3:  # final stage: emit now
                r, o, rw, ln, n = pending.pop(aid)
                yield self._event(o, rw, ln, n)
            while len(pending) > WINDOW:
                _aid, (r, o, rw, ln, n) = pending.popitem(last=False)
                yield self._event(o, rw, ln, n)
        for (_r, o, rw, ln, n) in pending.values():
            yield self._event(o, rw, ln, n)

    @staticmethod
    def _validate(obj: dict[str, Any]) -> None:
        ts = obj.get("stageTimestamp") or obj.get("requestReceivedTimestamp") or obj.get("timestamp")
        if ts in (None, ""):
            raise ParseError("missing stageTimestamp/requestReceivedTimestamp/timestamp")
        if not isinstance(ts, str):
            raise ParseError(f"timestamp has wrong type {type(ts).__name__}")
        if obj.get("user") is not None and not isinstance(obj.get("user"), dict):
            raise ParseError("user is not an object")
        if obj.get("objectRef") is not None and not isinstance(obj.get("objectRef"), dict):
            raise ParseError("objectRef is not an object")
        if obj.get("verb") is not None and not isinstance(obj.get("verb"), str):
            raise ParseError("verb has wrong type")
        obj["__ts"] = parse_time(ts)  # raises ParseError; removed in _event

    def _event(self, obj: dict[str, Any], raw: str, lineno: int, n: int) -> Event:
        ts = obj.pop("__ts")
        ts_raw = obj.get("requestReceivedTimestamp") or obj.get("timestamp") or obj.get("stageTimestamp")
        if obj.get("requestReceivedTimestamp"):
            ts = parse_time(obj["requestReceivedTimestamp"])  # when the request happened
        user = obj.get("user") or {}
        imp = obj.get("impersonatedUser") if isinstance(obj.get("impersonatedUser"), dict) else None
        ref = obj.get("objectRef") or {}
        verb = obj.get("verb")
        group = ref.get("apiGroup") or ""
        res = ref.get("resource") or ""
        sub = ref.get("subresource")
        gr = f"{group}/{res}" if group else res
        if sub:
            gr += f"/{sub}"
        if not res:
            uri = obj.get("requestURI") or ""
            gr = uri.split("?", 1)[0] if uri else ""
        action = f"{verb} {gr}".strip() if verb else (gr or None)
        ns = ref.get("namespace")
        name = ref.get("name")
        resource = "/".join(x for x in (ns, name) if x) or None
        if resource and res:
            resource = f"{res}/{resource}" if not name else f"{res}/{ns + '/' if ns else ''}{name}"
        elif res:
            resource = f"{res}/{ns}" if ns else res
        status = obj.get("responseStatus") or {}
        code = status.get("code") if isinstance(status, dict) else None
        ann = as_dict(obj.get("annotations"))
        decision = ann.get("authorization.k8s.io/decision")
        outcome = "unknown"
        error = None
        if isinstance(code, int):
            outcome = "success" if code < 400 else "failure"
            if code >= 400:
                error = f"{code} {status.get('reason') or ''}".strip()
        if decision == "forbid":
            outcome = "failure"
            error = error or "forbidden"
        if obj.get("stage") == "Panic":
            outcome = "failure"
            error = error or "panic"
        ips = as_list(obj.get("sourceIPs"))
        username = user.get("username") if isinstance(user, dict) else None
        actor_type = None
        if isinstance(username, str):
            if username.startswith("system:serviceaccount:"):
                actor_type = "ServiceAccount"
            elif username.startswith("system:node:"):
                actor_type = "Node"
            elif username.startswith("system:"):
                actor_type = "System"
            else:
                actor_type = "User"
        extra: dict[str, Any] = {"stage": obj.get("stage"), "level": obj.get("level")}
        if isinstance(user, dict) and user.get("groups"):
            extra["groups"] = user.get("groups")
        if imp:
            extra["impersonated_user"] = imp.get("username")
            if imp.get("groups"):
                extra["impersonated_groups"] = imp.get("groups")
        if decision:
            extra["decision"] = decision
        if ann.get("authorization.k8s.io/reason"):
            extra["authz_reason"] = ann.get("authorization.k8s.io/reason")
        if ns:
            extra["namespace"] = ns
        if obj.get("requestURI"):
            extra["requestURI"] = obj.get("requestURI")
        if len(ips) > 1:
            extra["sourceIPs"] = ips
        if code is not None:
            extra["code"] = code
        extra = {k: v for k, v in extra.items() if v is not None}
        who = username or "?"
        msg = f"{who}{' as ' + str(imp.get('username')) if imp else ''} {action or '?'}"
        if resource:
            msg += f" {resource}"
        if error:
            msg += f" -> {error}"
        aid = obj.get("auditID") if isinstance(obj.get("auditID"), str) else None
        return Event(
            ts_us=ts, ts_raw=str(ts_raw), raw=raw, format=self.name, line=lineno, record_id=aid, dedup_key=aid,
            service="kubernetes", action=action, outcome=outcome, error_code=error, actor=username,
            actor_type=actor_type, actor_uid=user.get("uid") if isinstance(user, dict) else None,
            session=None, target_user=imp.get("username") if imp else None,
            src_ip=str(ips[0]) if ips else None, user_agent=obj.get("userAgent") if isinstance(obj.get("userAgent"), str) else None,
            resource=resource, message=msg, extra=extra, records=n, dup=n - 1,
        )
