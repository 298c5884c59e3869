"""The generic policy format, for systems without a native grant export
(PostgreSQL roles for pgAudit, sudoers-style rules for auditd/sshd, ...).

A YAML document (see ``docs/privileges.md``)::

    logconsole-policy: 1          # marks the file (required)
    system: pg-prod                # label for snapshots and diffs
    formats: [pgaudit]             # events.format values the rules apply to (optional)
    principals:
      alice: {roles: [dba], groups: [admins]}
      bob:
        rules:
          - {effect: allow, actions: ["select"], resources: ["public.*"]}
    groups:
      admins: {roles: [dba]}
    roles:
      dba:
        - {effect: allow, actions: ["select", "insert", "update", "delete"], resources: ["app.*"]}
        - {effect: deny, actions: ["drop*"]}

Actions and resources are case-insensitive globs (``*``, ``?``) matched against
``events.action`` and ``events.resource``; principals are matched against
``events.actor``.  An explicit deny wins; ``resources`` defaults to ``["*"]``;
a rule with ``condition:`` is kept and marked conditional.
"""

from __future__ import annotations

from typing import Any

from logconsole.analysis.privileges.model import Edge, GrantFormatError, ParsedSnapshot, Principal, Rule

MARK = "logconsole-policy"


def looks_like(docs: list[Any]) -> bool:
    return any(isinstance(d, dict) and MARK in d for d in docs)


def _list(v: Any, where: str) -> list[str]:
    if v is None:
        return []
    if isinstance(v, str):
        return [v]
    if isinstance(v, list) and all(isinstance(x, (str, int, float)) for x in v):
        return [str(x) for x in v]
    raise GrantFormatError(f"{where}: expected a string or a list of strings")


def _rules(lst: Any, subject: str, subject_kind: str, container: str, where: str, file: str) -> list[Rule]:
    if lst is None:
        return []
    if not isinstance(lst, list):
        raise GrantFormatError(f"{file}#{where}: rules must be a list")
    out = []
    for i, r in enumerate(lst):
        w = f"{where}/{i}"
        if not isinstance(r, dict):
            raise GrantFormatError(f"{file}#{w}: a rule must be a mapping")
        effect = str(r.get("effect", "allow")).lower()
        if effect not in ("allow", "deny"):
            raise GrantFormatError(f"{file}#{w}: effect must be allow or deny, not {effect!r}")
        actions = _list(r.get("actions"), f"{file}#{w}/actions")
        if not actions:
            raise GrantFormatError(f"{file}#{w}: rule without actions")
        resources = _list(r.get("resources"), f"{file}#{w}/resources") or ["*"]
        cond = r.get("condition")
        out.append(Rule(
            provider="generic", subject=subject, subject_kind=subject_kind, effect=effect, actions=actions,
            resources=resources, condition={"condition": cond} if cond else None, via=container,
            container=container, provenance=f"{file}#{w}", sid=r.get("id"),
        ))
    return out


def parse(docs: list[Any], file: str) -> ParsedSnapshot:
    doc = next((d for d in docs if isinstance(d, dict) and MARK in d), None)
    if doc is None:
        raise GrantFormatError(f"{file}: not a logconsole policy file (missing 'logconsole-policy: 1')")
    if str(doc.get(MARK)) != "1":
        raise GrantFormatError(f"{file}: unsupported logconsole-policy version {doc.get(MARK)!r} (expected 1)")
    system = str(doc.get("system") or file.rsplit("/", 1)[-1])
    formats = _list(doc.get("formats"), f"{file}#/formats")
    snap = ParsedSnapshot(format="policy", label=system, meta={"system": system, "formats": formats})
    roles = doc.get("roles") or {}
    if not isinstance(roles, dict):
        raise GrantFormatError(f"{file}#/roles: must be a mapping of role name to rules")
    for rname, rules in roles.items():
        snap.rules.extend(_rules(rules, f"role:{rname}", "role", f"role {rname}", f"/roles/{rname}", file))
    for section, kind in (("principals", "principal"), ("groups", "group")):
        block = doc.get(section) or {}
        if not isinstance(block, dict):
            raise GrantFormatError(f"{file}#/{section}: must be a mapping of name to {{roles, groups, rules}}")
        for name, spec in block.items():
            spec = spec or {}
            if not isinstance(spec, dict):
                raise GrantFormatError(f"{file}#/{section}/{name}: must be a mapping")
            subject = f"{kind}:{name}"
            if kind == "principal":
                snap.principals.append(Principal("generic", "generic", str(name), _list(spec.get("aliases"), f"{file}#/{section}/{name}/aliases"), info={"formats": formats, "system": system}))
            for role in _list(spec.get("roles"), f"{file}#/{section}/{name}/roles"):
                if role not in roles:
                    raise GrantFormatError(f"{file}#/{section}/{name}/roles: unknown role {role!r}")
                snap.edges.append(Edge("generic", subject, f"role:{role}", "member", provenance=f"{file}#/{section}/{name}/roles"))
            for grp in _list(spec.get("groups"), f"{file}#/{section}/{name}/groups"):
                snap.edges.append(Edge("generic", subject, f"group:{grp}", "member", provenance=f"{file}#/{section}/{name}/groups"))
            snap.rules.extend(_rules(spec.get("rules"), subject, kind, f"{kind} {name}", f"/{section}/{name}/rules", file))
    for r in snap.rules:
        r.scope = None
    return snap
