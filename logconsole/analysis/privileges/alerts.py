"""Privilege alerts: what the analysis points out about one actor.

Each kind is one function ``(view, context) -> list[PrivilegeAlert]`` listed in
:data:`ALERT_KINDS`; the table's order is the display order of kinds of the same
severity.  Adding a kind = one function here (or in its own module), one entry
in the table, a test.

Kinds (exact names, also in ``logconsole actor --json``): ``unused_permission``,
``used_not_granted``, ``denied_attempt``, ``privilege_escalation``, ``dormant``,
``wildcard_grant``, ``sensitive_action``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, select

from logconsole.analysis.privileges import catalog as cat
from logconsole.analysis.privileges import mapping, risk
from logconsole.analysis.privileges.escalation import privilege_escalation
from logconsole.analysis.privileges.evaluate import rule_action_set
from logconsole.analysis.privileges.usage import DeniedEvent, Used, UsageData, event_ids, used_by_action
from logconsole.analysis.privileges.views import (
    EVIDENCE_LIMIT,
    ActorView,
    PermRow,
    PrivilegeAlert,
    format_us,
    rule_provenance,
    short_list,
)
from logconsole.store.schema import events
from logconsole.util.severity import severity_rank

#: alert severities, most severe first (the order alerts of one actor are listed in)
#: enumeration burst: at least this many distinct denied actions ...
BURST_ACTIONS = 5
#: ... within this many microseconds
BURST_WINDOW_US = 10 * 60 * 1_000_000
#: above this many wholly unused services, one alert for all of them instead of one per service
_WHOLE_SERVICES_ONE_ALERT = 10


@dataclass(frozen=True)
class AlertContext:
    conn: Connection
    usage: UsageData
    window_start: int | None
    window_end: int | None


AlertRule = Callable[[ActorView, AlertContext], list[PrivilegeAlert]]


# ---------------------------------------------------------------- unused_permission


def unused_permissions(v: ActorView, ctx: AlertContext) -> list[PrivilegeAlert]:
    """Granted and never used in the window: per service (AWS) or per grant (K8s / generic)."""
    if not v.covered or not v.usage or v.usage.events == 0:
        return []
    out: list[PrivilegeAlert] = []
    groups: dict[str, list[PermRow]] = {}
    for r in v.rows:
        if r.state == "unused":
            gk = (r.action.split(":", 1)[0] if v.provider == "aws"
                  else (r.provenance[0].split(" @ ", 1)[0] if r.provenance else "?"))
            groups.setdefault(gk, []).append(r)
    whole = {gk: rows for gk, rows in groups.items() if v.provider == "aws" and len(rows) == 1
             and rows[0].action.endswith(":*")}
    if len(whole) > _WHOLE_SERVICES_ONE_ALERT:  # e.g. "*": one alert for all untouched services, not hundreds
        n = sum(rows[0].actions for rows in whole.values())
        provs = sorted({p for rows in whole.values() for p in rows[0].provenance})
        out.append(PrivilegeAlert("unused_permission", f"{n} action(s) in {len(whole)} service(s) granted and never "
                                  f"used in the window: {short_list(sorted(whole), 12)}", "low", provenance=provs[:20],
                                  extra={"services": sorted(whole), "count": n}))
        for gk in whole:
            groups.pop(gk)
    totals: dict[str, int] = {}
    if v.provider == "aws":
        for r in v.rows:
            if r.state != "used_not_granted":
                sk = r.action.split(":", 1)[0]
                totals[sk] = totals.get(sk, 0) + r.actions
    for gk, rows in sorted(groups.items()):
        out.append(_unused_group(v, gk, rows, totals))
    return out


def _unused_group(v: ActorView, gk: str, rows: list[PermRow], totals: dict[str, int]) -> PrivilegeAlert:
    n = sum(r.actions for r in rows)
    if v.provider == "aws":
        total = totals.get(gk, n)
        detail = f"{n} of {total} granted {gk} action(s) unused in the window: " + short_list([r.action for r in rows])
    else:
        detail = (f"{n} granted rule(s) of {gk} unused in the window: "
                  + short_list([f"{r.action} on {r.resource}" for r in rows]))
    provs = sorted({p for r in rows for p in r.provenance})
    return PrivilegeAlert("unused_permission", detail, "low", provenance=provs[:20],
                          extra={"service" if v.provider == "aws" else "grant": gk, "count": n,
                                 "actions": [r.action if v.provider == "aws" else f"{r.action} on {r.resource}"
                                             for r in rows][:200]})


# ---------------------------------------------------------------- used_not_granted


def used_not_granted(v: ActorView, ctx: AlertContext) -> list[PrivilegeAlert]:
    out = []
    for r in v.rows:
        if r.state == "used_not_granted":
            detail = f"{r.action} used {r.count} time(s) (last {format_us(r.last_used)}) but granted by nothing imported"
            if r.note:
                detail += f"; {r.note}"
            sev = "low" if r.note and "default ClusterRole" in r.note else "medium"
            out.append(PrivilegeAlert("used_not_granted", detail, sev, raw=set(r.raw), extra={"action": r.action}))
    return out


# ---------------------------------------------------------------- denied_attempt


def denied_attempts(v: ActorView, ctx: AlertContext) -> list[PrivilegeAlert]:
    """Each denied action (noting when it was allowed later), then each enumeration burst."""
    u = v.usage
    later: dict[str, Used] = {}
    if u is not None:
        for (key, _r), uu in u.used.items():
            k = key.lower()
            if k not in later or (uu.last or 0) > (later[k].last or 0):
                later[k] = uu
    out = [_denied_alert(d, later.get(str(d["action"]).lower())) for d in v.denied]
    if u is not None:
        out.extend(_burst_alert(ds) for _i, _j, ds in enumeration_bursts(u.denied))
    return out


def _denied_alert(d: dict[str, Any], later: Used | None) -> PrivilegeAlert:
    res = f" on {d['resource']}" if d["resource"] else ""
    detail = f"{d['action']}{res} denied {d['count']} time(s) ({d['first']} .. {d['last']}), {d['error'] or 'denied'}"
    extra: dict[str, Any] = {"action": d["action"], "resource": d["resource"]}
    sev = "low"
    if later is not None and later.last is not None and d["last_us"] is not None and later.last > d["last_us"]:
        # denied, then allowed: the privileges changed in between (or another resource was used)
        detail += f"; later allowed: used {later.count} time(s), last {format_us(later.last)}"
        extra["later_allowed"] = True
        sev = "medium"
    return PrivilegeAlert("denied_attempt", detail, sev, ids=list(d["events"]), extra=extra)


def _burst_alert(ds: list[DeniedEvent]) -> PrivilegeAlert:
    acts = sorted({d.key for d in ds})
    services = sorted({a.split(":", 1)[0] for a in acts})
    span = (ds[-1].ts - ds[0].ts) / 1_000_000
    return PrivilegeAlert(
        "denied_attempt",
        f"enumeration: {len(acts)} distinct denied actions across {len(services)} service(s) in "
        f"{_duration(span)} ({format_us(ds[0].ts)} .. {format_us(ds[-1].ts)}): {short_list(acts, 8)}",
        "high", ids=[d.id for d in ds][:EVIDENCE_LIMIT], extra={"enumeration": True, "actions": acts},
    )


def enumeration_bursts(denied: list[DeniedEvent]) -> list[tuple[int, int, list[DeniedEvent]]]:
    """Maximal runs where >= BURST_ACTIONS distinct denied actions fall within BURST_WINDOW_US.

    Returns (start index, end index, events) per burst, non-overlapping."""
    out = []
    ds = sorted(denied, key=lambda d: (d.ts, d.id))
    i = 0
    n = len(ds)
    while i < n:
        j = i
        while j + 1 < n and ds[j + 1].ts - ds[i].ts <= BURST_WINDOW_US:
            j += 1
        distinct = {d.key for d in ds[i:j + 1]}
        if len(distinct) >= BURST_ACTIONS:
            # extend while the next event stays within the window of the previous one
            while j + 1 < n and ds[j + 1].ts - ds[j].ts <= BURST_WINDOW_US:
                j += 1
            out.append((i, j, ds[i:j + 1]))
            i = j + 1
        else:
            i += 1
    return out


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


# ---------------------------------------------------------------- dormant


def dormant(v: ActorView, ctx: AlertContext) -> list[PrivilegeAlert]:
    """A granted principal with no events in the window (not too new, not only assumed)."""
    u = v.usage
    if not v.covered or v.principal is None or (u.events if u else 0) != 0:
        return []
    wstart, wend = ctx.window_start, ctx.window_end
    created = v.principal.created_at
    if created is not None and wend is not None and created > wend:
        return []  # created after the window: too new to be dormant
    if v.provider == "aws" and ctx.usage.assumed.get(v.name, 0):
        return []  # assumed (sts:AssumeRole) but its sessions made no logged call: not dormant
    c = v.counts()
    info = v.principal.info
    detail = (f"no events in the window ({format_us(wstart) or 'start'} .. {format_us(wend) or 'end'}); "
              f"{c['unused'] + c['unknown'] + c['used']} permission(s) granted")
    if info.get("role_last_used"):
        detail += f"; IAM RoleLastUsed says {info['role_last_used']}"
    if info.get("service_linked"):
        detail += " (service-linked role)"
    if created is not None and wstart is not None and created > wstart:
        detail += f"; created {format_us(created)}, inside the window"
    if u is not None and u.impersonated_by:
        detail += f"; impersonated by {', '.join(sorted(u.impersonated_by))}"
    prov = [info["pointer"]] if info.get("pointer") else []
    return [PrivilegeAlert("dormant", detail, "medium" if c["unused"] else "low", provenance=prov)]


# ---------------------------------------------------------------- wildcard_grant


def wildcard_grants(v: ActorView, ctx: AlertContext) -> list[PrivilegeAlert]:
    """Grants by wildcard (one alert per policy statement / binding)."""
    return _aws_wildcards(v) if v.provider == "aws" else _pattern_wildcards(v)


def _aws_wildcards(v: ActorView) -> list[PrivilegeAlert]:
    out = []
    seen: set[str] = set()
    for r in v.aws_rules:
        if r.effect != "allow" or r.policy_type == "boundary" or r.provenance in seen:
            continue
        why = []
        if any(a.strip() == "*" for a in r.actions) and not r.not_action:
            why.append('Action "*"')
        svcw = [a for a in r.actions if a.endswith(":*") and not r.not_action]
        if svcw:
            why.append("service wildcard " + ", ".join(svcw))
        if r.not_action:
            why.append("Allow with NotAction " + ", ".join(r.actions))
        if "*" in r.resources and not r.not_resource and not r.conditional and not why:
            if _has_write(tuple(r.actions), r.not_action):
                why.append('Resource "*" on write/permissions-management actions')
        if why:
            seen.add(r.provenance)
            sev = "high" if ('Action "*"' in why or r.not_action) else "medium"
            if r.conditional:
                sev = "low"
            out.append(PrivilegeAlert("wildcard_grant", "; ".join(why) + f" via {r.via}"
                                      + (" (conditional)" if r.conditional else ""),
                                      sev, provenance=[rule_provenance(r)],
                                      extra={"actions": r.actions, "resources": r.resources}))
    return out


def _pattern_wildcards(v: ActorView) -> list[PrivilegeAlert]:
    out = []
    seen: set[str] = set()
    for er in v.effective_rules:
        r = er.rule
        if r.effect != "allow":
            continue
        why = []
        if r.provider == "k8s":
            if "system:masters" in er.via:
                why.append("member of system:masters (bypasses RBAC)")
            elif "cluster-admin" in er.via:
                why.append("bound to cluster-admin")
            elif any(a.endswith(":*") or "/*:" in a or a.startswith("k8s:*") for a in r.actions):
                why.append("wildcard in apiGroups/resources/verbs: " + short_list(r.actions, 4))
        elif any("*" in a for a in r.actions):
            why.append("wildcard actions: " + short_list(r.actions, 4))
        key = er.via if ("cluster-admin" in er.via or "system:masters" in er.via) else er.provenance + er.via
        if why and key not in seen:
            seen.add(key)
            sev = "high" if "masters" in why[0] or "cluster-admin" in why[0] else "medium"
            out.append(PrivilegeAlert("wildcard_grant", "; ".join(why) + f" via {er.via}", sev,
                                      provenance=[f"{er.via} @ {er.provenance}"],
                                      extra={"actions": r.actions, "resources": r.resources}))
    return out


@lru_cache(maxsize=4096)
def _has_write(actions: tuple[str, ...], not_action: bool) -> bool:
    return any(cat.access_level(a) in ("write", "permissions management") for a in rule_action_set(actions, not_action))


# ---------------------------------------------------------------- sensitive_action


#: categories whose use is high severity (others are medium)
_HIGH_CATEGORIES = ("credentials", "secrets", "log tampering", "exec")


def sensitive_actions(v: ActorView, ctx: AlertContext) -> list[PrivilegeAlert]:
    """Sensitive actions used (credentials, secrets, log tampering, exec, ...), one alert per action."""
    if v.usage is None:
        return []
    out = []
    for key, (cnt, first, last, raws, ress) in sorted(used_by_action(v.usage).items()):
        if v.provider == "aws":
            catg = risk.AWS_SENSITIVE.get(key.lower())
            label = cat.canonical(key) if cat.known(key) else key
        elif v.provider == "k8s":
            catg = risk.k8s_match(risk.K8S_SENSITIVE, key)
            label = mapping.k8s_display(key)
        else:
            catg = None
            label = key
        if catg:
            on = f" on {short_list(ress, 5)}" if ress else ""
            out.append(PrivilegeAlert("sensitive_action", f"{label}{on} ({catg}) used {cnt} time(s), "
                                      f"{format_us(first)} .. {format_us(last)}",
                                      "high" if catg in _HIGH_CATEGORIES else "medium",
                                      raw=raws, extra={"action": label, "category": catg, "resources": ress}))
    return out


# ====================================================================== the table


#: every privilege alert kind and the function that finds it, in display order
ALERT_KINDS: tuple[tuple[str, AlertRule], ...] = (
    ("unused_permission", unused_permissions),
    ("used_not_granted", used_not_granted),
    ("denied_attempt", denied_attempts),
    ("privilege_escalation", privilege_escalation),
    ("dormant", dormant),
    ("wildcard_grant", wildcard_grants),
    ("sensitive_action", sensitive_actions),
)
KINDS = tuple(kind for kind, _rule in ALERT_KINDS)


def find_alerts(v: ActorView, ctx: AlertContext) -> list[PrivilegeAlert]:
    """Every alert of *v*, most severe first (kinds in table order within a severity)."""
    out: list[PrivilegeAlert] = []
    for kind, rule in ALERT_KINDS:
        found = rule(v, ctx)
        wrong = [a.kind for a in found if a.kind != kind]
        if wrong:
            raise ValueError(f"{rule.__name__} returned alerts of kind {wrong[0]!r}, not {kind!r}")
        out.extend(found)
    out.sort(key=lambda a: (severity_rank(a.severity), KINDS.index(a.kind)))
    return out


# ====================================================================== evidence


def fill_evidence(conn: Connection, v: ActorView, since: int | None, until: int | None) -> None:
    """Event ids of each alert (fetched lazily: only the actor detail needs them), and the roles
    named in requests for an inferred iam:PassRole."""
    for a in v.alerts:
        if a.extra.get("passrole_inferred") and v.usage is not None:
            key = a.extra["action"]
            uu = next((x for (k, _r), x in v.usage.used.items() if k.lower() == key.lower()), None)
            if uu is not None:
                roles = _passed_roles(conn, v.name, uu)
                a.extra["roles"] = roles
                if roles:
                    a.detail += f"; roles in the requests: {', '.join(roles[:5])}"
                else:
                    a.detail += "; no role named in the requests read"
        if a.ids:
            a.events = a.ids[:EVIDENCE_LIMIT]
        elif a.raw:
            a.events = event_ids(conn, v.name, v.provider, a.raw, since=since, until=until, limit=EVIDENCE_LIMIT,
                                 target_not=a.target_not)


_ROLE_PARAMETERS = ("role", "roleArn", "roleARN", "iamInstanceProfile", "taskRoleArn", "executionRoleArn",
                    "serviceRole")


def _passed_roles(conn: Connection, actor: str, uu: Used) -> list[str]:
    from logconsole.store.rawcodec import decode

    ids = event_ids(conn, actor, "aws", uu.raw, limit=20)
    roles: list[str] = []
    for (raw,) in conn.execute(select(events.c.raw).where(events.c.id.in_(ids))) if ids else []:
        try:
            rec = json.loads(decode(raw))
        except ValueError:
            continue
        if "CloudTrailEvent" in rec and isinstance(rec["CloudTrailEvent"], str):
            try:
                rec = json.loads(rec["CloudTrailEvent"])
            except ValueError:
                continue
        params = rec.get("requestParameters") or {}
        if not isinstance(params, dict):
            continue
        for k in _ROLE_PARAMETERS:
            val = params.get(k)
            if isinstance(val, dict):
                val = val.get("arn") or val.get("name")
            if isinstance(val, str) and val and val not in roles:
                roles.append(val)
    return roles
