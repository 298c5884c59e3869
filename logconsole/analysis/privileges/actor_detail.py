"""What is shown of one actor outside the analysis itself: the JSON detail of
``logconsole actor NAME --json`` (:func:`actor_report`), the filter that opens
the timeline at an actor or one of its rows (:func:`timeline_filter`), and the
``--since/--until`` window (:func:`window_us`)."""

from __future__ import annotations

import time
from typing import Any

from logconsole.analysis.privileges.views import ActorView, Analysis, PermRow, format_us
from logconsole.store.filter import Context, Value, parse_when, quote_value


def actor_report(v: ActorView, analysis: Analysis) -> dict[str, Any]:
    u = v.usage
    out = v.summary()
    out.update({
        "window": {"since": format_us(analysis.since) if analysis.since else None,
                   "until": format_us(analysis.until) if analysis.until else None,
                   "text": analysis.window_text()},
        "grants_imported": v.covered,
        "source_ips": sorted(u.ips, key=lambda ip: -u.ips[ip])[:50] if u else [],
        "sessions": [{"session": s, "events": n} for s, n in sorted(u.sessions.items(), key=lambda kv: -kv[1])][:100] if u else [],
        "groups": sorted(u.groups) if u else [],
        "impersonated_by": sorted(u.impersonated_by) if u else [],
        "denied_events": len(u.denied) if u else 0,
        "permissions": [r.as_dict() for r in v.rows],
        "denied": [{k: d[k] for k in ("action", "resource", "count", "first", "last", "events", "error")} for d in v.denied],
        "findings": [a.as_dict() for a in v.alerts],
    })
    if v.admission_denied:
        out["admission_denied"] = v.admission_denied
    if v.principal is not None:
        out["principal"] = {"kind": v.principal.kind, "aliases": v.principal.aliases,
                            "created": format_us(v.principal.created_at) if v.principal.created_at else None}
    if v.warnings:
        out["warnings"] = v.warnings
    return out


def timeline_filter(v: ActorView, row: PermRow | dict[str, Any] | None = None) -> str:
    """A filter-language string selecting this actor's events (and the row's action)."""
    if v.provider == "k8s" and v.usage is not None and v.usage.impersonated_by:
        who = f"(actor:{quote_value(v.name)} OR extra.impersonated_user:{quote_value(v.name)})"
    else:
        who = f"actor:{quote_value(v.name)}"
    # names are per system: the same user name may exist in the cluster and in an application log
    if v.provider == "k8s":
        who = f"format:k8s-audit {who}"
    elif v.provider == "generic" and v.usage is not None and v.usage.formats:
        fm = sorted(v.usage.formats)
        who = (f"format:{quote_value(fm[0])} " if len(fm) == 1
               else "(" + " OR ".join(f"format:{quote_value(x)}" for x in fm) + ") ") + who
    raws: set[tuple[str | None, str | None]] = set()
    action = None
    if isinstance(row, PermRow):
        raws = row.raw
        action = row.action
    elif isinstance(row, dict):
        raws = {(None, a) for a in row.get("raw_actions") or []}
        action = row.get("action")
    imps = sorted({a.split(" ", 1)[1] for _s, a in raws if a and a.startswith("impersonate ")})
    if imps:
        return (f"format:k8s-audit actor:{quote_value(v.name)} ("
                + " OR ".join(f"extra.impersonated_user:{quote_value(i)}" for i in imps) + ")")
    names = sorted({a for _s, a in raws if a})
    if not names and action and v.provider == "aws" and ":" in action and "*" not in action:
        names = [action.split(":", 1)[1]]
    if not names:
        return who
    if len(names) == 1:
        out = f"{who} action:{quote_value(names[0])}"
    else:
        out = f"{who} (" + " OR ".join(f"action:{quote_value(n)}" for n in names) + ")"
    if v.provider == "aws":
        # the same API name exists in several services (ListTags, DescribeRegions ...)
        services = {svc for svc, a in raws if svc}
        if not services and isinstance(row, dict) and row.get("service"):
            services = {row["service"]}
        if len(services) == 1:
            out += f" service:{quote_value(services.pop())}"
    resource = row.resource if isinstance(row, PermRow) else (row.get("resource") if isinstance(row, dict) else None)
    if v.provider == "k8s" and resource and "/" in resource and not resource.startswith("/"):
        ns = resource.split("/", 1)[0]
        if ns and "*" not in ns and "?" not in ns:
            out += f" extra.namespace:{quote_value(ns)}"
    if isinstance(row, PermRow) and row.state in ("used", "used_not_granted"):
        out += " outcome:success" if v.provider == "k8s" else ""
    elif isinstance(row, dict):
        out += " outcome:failure"
    return out


def window_us(since: str | None, until: str | None) -> tuple[int | None, int | None]:
    """Parse --since/--until (ISO 8601 or 15m/24h/7d) to µs."""
    ctx = Context(int(time.time() * 1_000_000))
    lo = parse_when(Value(since, True, 0), ctx) if since else None
    hi = parse_when(Value(until, True, 0), ctx) if until else None
    return lo, hi
