"""The ``privilege_escalation`` alert kind: escalation exercised (from the
events) and escalation granted but not exercised (from the grants), for AWS
IAM and Kubernetes RBAC; generic logs only by the exercised catalogue."""

from __future__ import annotations

from typing import TYPE_CHECKING

from logconsole.analysis.privileges import catalog as cat
from logconsole.analysis.privileges import mapping, risk
from logconsole.analysis.privileges.evaluate import match_eff
from logconsole.analysis.privileges.usage import Used, used_by_action
from logconsole.analysis.privileges.views import ActorView, PrivilegeAlert, format_us, rule_provenance, short_list

if TYPE_CHECKING:
    from logconsole.analysis.privileges.alerts import AlertContext

KIND = "privilege_escalation"


def privilege_escalation(v: ActorView, ctx: AlertContext) -> list[PrivilegeAlert]:
    if v.provider == "aws":
        return _aws_exercised(v) + _aws_granted(v)
    out = _pattern_exercised(v)
    if v.covered and v.provider == "k8s":
        out += _k8s_granted(v, out)
    return out


# ---------------------------------------------------------------- AWS


def _self_username(name: str) -> str | None:
    if ":user/" in name:
        return name.rsplit("/", 1)[-1]
    return None


def _granted(v: ActorView) -> set[str]:
    return v.aws_effective.actions if v.aws_effective is not None and v.covered else set()


def _aws_exercised(v: ActorView) -> list[PrivilegeAlert]:
    if v.usage is None:
        return []
    out = []
    me = _self_username(v.name)
    granted = _granted(v)
    for (key, _r), uu in v.usage.used.items():
        k = key.lower()
        label = cat.canonical(key) if cat.known(key) else key
        if k in risk.AWS_ESCALATION_EVENTS:
            alert = _escalation_event(k, label, uu, me)
            if alert is not None:
                out.append(alert)
        elif k in risk.AWS_PASSROLE_COMPUTE and ("iam:passrole" in granted or not v.covered):
            # iam:PassRole has no event of its own: a compute creation by an actor that may pass
            # roles is reported; the roles named in the requests are added in the detail view
            out.append(PrivilegeAlert(KIND, f"exercised: {label} by an actor allowed iam:PassRole (PassRole is not "
                                      f"logged; inferred), {uu.count} time(s), last {format_us(uu.last)}", "high",
                                      raw=set(uu.raw),
                                      extra={"exercised": True, "action": label, "passrole_inferred": True}))
        elif k == "sts:assumerole":
            out.append(PrivilegeAlert(KIND, f"exercised: sts:AssumeRole {uu.count} time(s) (role chaining: the "
                                      "assumed role's permissions apply to the new session)", "medium",
                                      raw=set(uu.raw), extra={"exercised": True, "action": "sts:AssumeRole"}))
    return out


def _escalation_event(k: str, label: str, uu: Used, me: str | None) -> PrivilegeAlert | None:
    target_not = None
    if k in risk.AWS_OTHER_USER:
        others = sorted(t for t in uu.targets if t != me)
        if not others:
            return None  # only for itself: not an escalation
        target_not = me or ""
        detail = f"exercised: {label} for another user ({', '.join(others[:5])}), {uu.count} time(s)"
    else:
        detail = f"exercised: {label}, {uu.count} time(s), last {format_us(uu.last)}"
    return PrivilegeAlert(KIND, detail, "high", raw=set(uu.raw), target_not=target_not,
                          extra={"exercised": True, "action": label})


def _aws_exercised_actions(v: ActorView) -> set[str]:
    """Lowercase actions whose use counts as an exercised escalation step."""
    if v.usage is None:
        return set()
    me = _self_username(v.name)
    granted = _granted(v)
    out: set[str] = set()
    for (key, _r), uu in v.usage.used.items():
        k = key.lower()
        if k in risk.AWS_ESCALATION_EVENTS:
            if k in risk.AWS_OTHER_USER and not any(t != me for t in uu.targets):
                continue
            out.add(k)
        elif k in risk.AWS_PASSROLE_COMPUTE and ("iam:passrole" in granted or not v.covered):
            out |= {k, "iam:passrole"}
        elif k == "sts:assumerole":
            out.add(k)
    return out


def _aws_granted(v: ActorView) -> list[PrivilegeAlert]:
    """Escalation methods the grants allow and the events do not show."""
    granted = _granted(v)
    if not granted or v.aws_effective is None:
        return []
    exercised = _aws_exercised_actions(v)
    methods = []
    provs: set[str] = set()
    for mname, (need, desc) in risk.AWS_ESCALATION.items():
        if all(n in granted for n in need) and not all(n in exercised for n in need if n != "iam:passrole"):
            methods.append(f"{mname} ({desc})")
            if v.detail:
                for r in v.aws_effective.granting(need[0])[:1]:
                    provs.add(rule_provenance(r))
    if not methods:
        return []
    return [PrivilegeAlert(KIND, f"granted, not exercised: {len(methods)} method(s): " + short_list(methods, 6),
                           "medium", provenance=sorted(provs)[:20], extra={"exercised": False, "methods": methods})]


# ---------------------------------------------------------------- K8s / generic


def _pattern_exercised(v: ActorView) -> list[PrivilegeAlert]:
    if v.usage is None:
        return []
    out = []
    for key, (cnt, _first, last, raws, ress) in used_by_action(v.usage).items():
        desc = risk.k8s_match(risk.K8S_ESCALATION, key)
        if desc:
            out.append(PrivilegeAlert(KIND, f"exercised: {mapping.k8s_display(key)} on {short_list(ress, 5)} ({desc}), "
                                      f"{cnt} time(s), last {format_us(last)}", "high", raw=raws,
                                      extra={"exercised": True, "action": key, "resources": ress}))
    return out


def _k8s_granted(v: ActorView, exercised_alerts: list[PrivilegeAlert]) -> list[PrivilegeAlert]:
    eff = v.effective_rules
    exercised = {x.extra.get("action") for x in exercised_alerts}
    exercised_desc = {risk.k8s_match(risk.K8S_ESCALATION, a) for a in exercised if a}
    granted_desc: dict[str, list[str]] = {}
    for pat, verbs, desc in risk.K8S_ESCALATION:
        for verb in verbs:
            key = f"k8s:{pat.replace('/*', '/x')}:{verb}"
            allow, _deny = match_eff(eff, key, None)
            if allow is None:
                allow = next((er for er in eff if er.rule.effect == "allow"
                              and any(cat.glob_match(p, key) for p in er.rule.actions)), None)
            if allow is not None and key not in exercised and desc not in exercised_desc:
                granted_desc.setdefault(desc, []).append(f"{allow.via} @ {allow.provenance}")
                break
    if not granted_desc:
        return []
    return [PrivilegeAlert(KIND, "granted, not exercised: " + "; ".join(sorted(granted_desc)), "medium",
                           provenance=sorted({p for ps in granted_desc.values() for p in ps})[:20],
                           extra={"exercised": False, "methods": sorted(granted_desc)})]
