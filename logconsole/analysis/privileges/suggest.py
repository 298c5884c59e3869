"""Least-privilege policies from what an actor actually did in the window.

* AWS: an IAM policy document (JSON) with one statement per service, listing the
  used actions (``used`` and ``used_not_granted``) and the resources seen in the
  events when every one of them is an ARN (at most 20), else ``"*"``.
* Kubernetes: a Role per namespace (plus a ClusterRole for cluster-scoped,
  all-namespace and non-resource requests) with matching bindings, as YAML.
* generic: a ``logconsole-policy`` document.

Denied attempts are never included: they are what the actor must *not* get.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from sqlalchemy import Engine, distinct, select

from logconsole.analysis.privileges import catalog as cat
from logconsole.analysis.privileges import mapping
from logconsole.analysis.privileges.actors import ActorView
from logconsole.store.schema import events

MAX_RESOURCES = 20


def suggest(engine: Engine, v: ActorView, since: int | None = None, until: int | None = None) -> str:
    if v.provider == "aws":
        return json.dumps(suggest_aws(engine, v, since, until), indent=2)
    if v.provider == "k8s":
        return yaml.safe_dump_all(suggest_k8s(v), sort_keys=False)
    return yaml.safe_dump(suggest_generic(v), sort_keys=False)


def _resources(engine: Engine, actor: str, raw: set[tuple[str | None, str | None]], since, until) -> list[str]:
    E = events.c
    out: set[str] = set()
    with engine.connect() as conn:
        for svc, act in raw:
            q = select(distinct(E.resource)).where(E.actor == actor, E.action == act)
            q = q.where(E.service.is_(None) if svc is None else E.service == svc)
            if since is not None:
                q = q.where(E.ts_us >= since)
            if until is not None:
                q = q.where(E.ts_us <= until)
            for (res,) in conn.execute(q.limit(MAX_RESOURCES + 1)):
                if res is None or not str(res).startswith("arn:"):
                    return ["*"]
                out.add(str(res))
            if len(out) > MAX_RESOURCES:
                return ["*"]
    return sorted(out) or ["*"]


def suggest_aws(engine: Engine, v: ActorView, since=None, until=None) -> dict[str, Any]:
    by_service: dict[str, dict[str, set]] = {}
    for r in v.rows:
        if r.state not in ("used", "used_not_granted") or r.action in mapping.IGNORED:
            continue
        svc = r.action.split(":", 1)[0]
        d = by_service.setdefault(svc, {"actions": set(), "raw": set()})
        d["actions"].add(cat.canonical(r.action) if cat.known(r.action) else r.action)
        d["raw"] |= r.raw
    statements = []
    for svc, d in sorted(by_service.items()):
        res = _resources(engine, v.name, d["raw"], since, until)
        sid = "Used" + "".join(p.capitalize() for p in svc.replace("_", "-").split("-"))
        statements.append({"Sid": sid, "Effect": "Allow", "Action": sorted(d["actions"]),
                           "Resource": res[0] if res == ["*"] else res})
    return {"Version": "2012-10-17", "Statement": statements}


def _k8s_parts(key: str) -> tuple[str, str, str] | None:
    """``k8s:apps/deployments/scale:get`` -> ("apps", "deployments/scale", "get"); core -> ""."""
    if not key.startswith("k8s:") or key.startswith("k8s:nonresource:"):
        return None
    gr, _, verb = key[4:].rpartition(":")
    group, _, res = gr.partition("/")
    return ("" if group == "core" else group), res, verb


def suggest_k8s(v: ActorView) -> list[dict[str, Any]]:
    ns_rules: dict[str | None, dict[tuple[str, str], dict[str, set]]] = {}
    urls: dict[str, set[str]] = {}
    u = v.usage
    if u is None:
        return []
    for (key, rkey), used in sorted(u.used.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        if key.startswith("k8s:nonresource:"):
            urls.setdefault(rkey or "/", set()).add(key.rsplit(":", 1)[-1])
            continue
        parts = _k8s_parts(key)
        if parts is None:
            continue
        group, res, verb = parts
        ns, _, name = (rkey or "/").partition("/")
        d = ns_rules.setdefault(ns or None, {}).setdefault((group, res), {"verbs": set(), "names": set(), "unnamed": set()})
        d["verbs"].add(verb)
        (d["names"] if name else d["unnamed"]).add(name or verb)
    subject = _subject(v.name)
    safe = "".join(c if c.isalnum() or c in "-." else "-" for c in v.name).strip("-").lower()[:50] or "actor"
    docs: list[dict[str, Any]] = []

    def rules_of(table: dict[tuple[str, str], dict[str, set]]) -> list[dict[str, Any]]:
        out = []
        for (group, res), d in sorted(table.items()):
            rule: dict[str, Any] = {"apiGroups": [group], "resources": [res], "verbs": sorted(d["verbs"])}
            if d["names"] and not d["unnamed"]:
                rule["resourceNames"] = sorted(d["names"])
            out.append(rule)
        return out

    cluster = ns_rules.pop(None, {})
    for ns, table in sorted(ns_rules.items()):
        docs.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                     "metadata": {"name": f"{safe}-used", "namespace": ns}, "rules": rules_of(table)})
        docs.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                     "metadata": {"name": f"{safe}-used", "namespace": ns}, "subjects": [subject],
                     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": f"{safe}-used"}})
    crules = rules_of(cluster)
    for url, verbs in sorted(urls.items()):
        crules.append({"nonResourceURLs": [url], "verbs": sorted(verbs)})
    if crules:
        docs.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                     "metadata": {"name": f"{safe}-used"}, "rules": crules})
        docs.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                     "metadata": {"name": f"{safe}-used"}, "subjects": [subject],
                     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": f"{safe}-used"}})
    return docs


def _subject(name: str) -> dict[str, Any]:
    if name.startswith("system:serviceaccount:") and name.count(":") >= 3:
        _s, _a, ns, sa = name.split(":", 3)
        return {"kind": "ServiceAccount", "name": sa, "namespace": ns}
    return {"kind": "User", "name": name, "apiGroup": "rbac.authorization.k8s.io"}


def suggest_generic(v: ActorView) -> dict[str, Any]:
    rules: dict[str, set[str]] = {}
    for (key, rkey), _u in (v.usage.used.items() if v.usage else []):
        rules.setdefault(key, set()).add(rkey or "*")
    role = f"{v.name}-used"
    return {
        "logconsole-policy": 1,
        "system": "suggested",
        "formats": sorted(v.usage.formats) if v.usage else [],
        "principals": {v.name: {"roles": [role]}},
        "roles": {role: [{"effect": "allow", "actions": [k], "resources": sorted(r) if "*" not in r else ["*"]}
                         for k, r in sorted(rules.items())]},
    }
