"""Importer for ``aws iam get-account-authorization-details`` output.

Users, groups (membership flattened into each user), roles, customer and AWS
managed policies (only the version marked ``IsDefaultVersion`` is in effect),
inline policies and permission boundaries.  Each statement becomes one
:class:`~logconsole.analysis.privileges.model.Rule` per principal with:

* ``via`` - the human path (``group Admins -> managed policy ReadOnlyAccess (v3)``),
* ``provenance`` - ``FILE#/JSON/pointer`` to the statement in the file,
* ``effective_from`` - the later of the principal's and the policy version's
  CreateDate (a grant newer than the window cannot be judged unused).

Policy documents may be URL-encoded (raw API) or decoded (CLI); both work.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from logconsole.analysis.privileges.model import GrantFormatError, ParsedSnapshot, Principal, Rule

_TOP_KEYS = ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")


def looks_like(obj: Any) -> bool:
    return isinstance(obj, dict) and any(k in obj for k in _TOP_KEYS)


def _ptr(*parts: Any) -> str:
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _time(value: Any) -> int | None:
    if not isinstance(value, str) or not value:
        return None
    from logconsole.util.errors import ParseError
    from logconsole.util.timeparse import parse_iso

    try:
        return parse_iso(value)
    except ParseError:
        return None


def _doc(value: Any, where: str) -> dict[str, Any]:
    if isinstance(value, str):
        text = value
        if ("%" in text and not text.lstrip().startswith("{")) or text.lstrip().startswith("%7B") or "%22" in text:
            text = urllib.parse.unquote(text)
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise GrantFormatError(f"{where}: policy document is not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise GrantFormatError(f"{where}: policy document is not a JSON object")
    return value


def _as_list(v: Any) -> list[str]:
    if v is None:
        return []
    if isinstance(v, list):
        return [str(x) for x in v]
    return [str(v)]


def _list(obj: dict[str, Any], key: str, where: str) -> list[Any]:
    """``obj[key]`` as a list (absent/null -> []); anything else is a format error."""
    v = obj.get(key)
    if v is None:
        return []
    if not isinstance(v, list):
        raise GrantFormatError(f"{where}/{key}: expected a list, got {type(v).__name__}")
    return v


def statements(doc: dict[str, Any]) -> list[tuple[int | None, dict[str, Any]]]:
    st = doc.get("Statement")
    if isinstance(st, dict):
        return [(None, st)]
    if isinstance(st, list):
        return [(i, s) for i, s in enumerate(st) if isinstance(s, dict)]
    return []


def rules_from_document(
    doc: dict[str, Any], *, subject: str, via: str, container: str, file: str, pointer: tuple[Any, ...],
    policy_type: str = "identity", effective_from: int | None = None,
) -> list[Rule]:
    out = []
    for idx, st in statements(doc):
        ptr = pointer + (("Statement",) if idx is None else ("Statement", idx))
        effect = str(st.get("Effect", "")).lower()
        if effect not in ("allow", "deny"):
            continue
        not_action = "NotAction" in st and "Action" not in st
        not_resource = "NotResource" in st and "Resource" not in st
        actions = _as_list(st.get("NotAction") if not_action else st.get("Action"))
        resources = _as_list(st.get("NotResource") if not_resource else st.get("Resource")) or ["*"]
        cond = st.get("Condition") if isinstance(st.get("Condition"), dict) and st.get("Condition") else None
        out.append(Rule(
            provider="aws", subject=subject, effect=effect, actions=actions, resources=resources,
            not_action=not_action, not_resource=not_resource, condition=cond, policy_type=policy_type,
            via=via, container=container, provenance=f"{file}#{_ptr(*ptr)}", sid=st.get("Sid"),
            effective_from=effective_from,
        ))
    return out


def parse(obj: Any, file: str) -> ParsedSnapshot:
    if not looks_like(obj):
        raise GrantFormatError(f"{file}: not get-account-authorization-details output (no UserDetailList/RoleDetailList/Policies)")
    snap = ParsedSnapshot(format="aws-iam", label="")
    if obj.get("IsTruncated"):
        snap.warnings.append(f"{file}: IsTruncated is true - the output is one page only; principals may be missing")

    # managed policies: arn -> (name, default document, pointer, version id, create date)
    managed: dict[str, tuple[str, dict[str, Any] | None, tuple[Any, ...], str | None, int | None]] = {}
    for i, pol in enumerate(_list(obj, "Policies", f"{file}#")):
        if not isinstance(pol, dict) or not pol.get("Arn"):
            continue
        default = None
        versions = _list(pol, "PolicyVersionList", f"{file}#{_ptr('Policies', i)}")
        for j, ver in enumerate(versions):
            if isinstance(ver, dict) and (ver.get("IsDefaultVersion") or (ver.get("VersionId") and ver.get("VersionId") == pol.get("DefaultVersionId"))):
                default = (j, ver)
                break
        if default is None:
            managed[pol["Arn"]] = (pol.get("PolicyName") or pol["Arn"], None, ("Policies", i), None, None)
            snap.warnings.append(f"{file}#{_ptr('Policies', i)}: managed policy {pol.get('PolicyName')} has no default version")
            continue
        j, ver = default
        where = f"{file}#{_ptr('Policies', i, 'PolicyVersionList', j, 'Document')}"
        managed[pol["Arn"]] = (
            pol.get("PolicyName") or pol["Arn"], _doc(ver.get("Document"), where),
            ("Policies", i, "PolicyVersionList", j, "Document"), ver.get("VersionId"), _time(ver.get("CreateDate")),
        )

    def attach(subject: str, via_prefix: str, attached: Any, base_ptr: tuple[Any, ...], since: int | None) -> None:
        for k, ap in enumerate(attached if isinstance(attached, list) else []):
            if not isinstance(ap, dict):
                continue
            arn = ap.get("PolicyArn")
            if arn not in managed:
                snap.warnings.append(
                    f"{file}#{_ptr(*base_ptr, k)}: managed policy {ap.get('PolicyName') or arn} ({arn}) is attached "
                    "but not in Policies (not imported)"
                )
                continue
            pname, doc, ptr, vid, vdate = managed[arn]
            if doc is None:
                continue
            eff = max([t for t in (since, vdate) if t is not None], default=None)
            snap.rules.extend(rules_from_document(
                doc, subject=subject, via=f"{via_prefix}managed policy {pname} ({vid})", container=pname,
                file=file, pointer=ptr, effective_from=eff,
            ))

    def inline(subject: str, via_prefix: str, lst: Any, key: str, base_ptr: tuple[Any, ...], since: int | None) -> None:
        for k, ip in enumerate(lst if isinstance(lst, list) else []):
            if not isinstance(ip, dict):
                continue
            ptr = base_ptr + (key, k, "PolicyDocument")
            doc = _doc(ip.get("PolicyDocument"), f"{file}#{_ptr(*ptr)}")
            snap.rules.extend(rules_from_document(
                doc, subject=subject, via=f"{via_prefix}inline policy {ip.get('PolicyName')}",
                container=str(ip.get("PolicyName")), file=file, pointer=ptr, effective_from=since,
            ))

    def boundary(subject: str, pb: Any, base_ptr: tuple[Any, ...]) -> None:
        if not isinstance(pb, dict) or not pb.get("PermissionsBoundaryArn"):
            return
        arn = pb["PermissionsBoundaryArn"]
        if arn not in managed or managed[arn][1] is None:
            snap.warnings.append(f"{file}#{_ptr(*base_ptr)}: permission boundary {arn} not in Policies; boundary ignored")
            return
        pname, doc, ptr, vid, vdate = managed[arn]
        if doc is None:
            return
        snap.rules.extend(rules_from_document(
            doc, subject=subject, via=f"permission boundary {pname} ({vid})", container=pname, file=file,
            pointer=ptr, policy_type="boundary", effective_from=vdate,
        ))

    groups: dict[str, tuple[int, dict[str, Any]]] = {}
    for i, g in enumerate(_list(obj, "GroupDetailList", f"{file}#")):
        if isinstance(g, dict) and g.get("GroupName"):
            groups[g["GroupName"]] = (i, g)
            snap.principals.append(Principal(
                "aws", "aws_group", g.get("Arn") or g["GroupName"], [g["GroupName"], g.get("GroupId") or ""],
                _time(g.get("CreateDate")), {"path": g.get("Path")},
            ))

    accounts = set()
    for i, u in enumerate(_list(obj, "UserDetailList", f"{file}#")):
        if not isinstance(u, dict) or not u.get("Arn"):
            continue
        arn = u["Arn"]
        accounts.add(arn.split(":")[4] if arn.count(":") >= 5 else "")
        created = _time(u.get("CreateDate"))
        info: dict[str, Any] = {"path": u.get("Path"), "groups": u.get("GroupList") or [], "tags": u.get("Tags") or [],
                "pointer": f"{file}#{_ptr('UserDetailList', i)}"}
        if isinstance(u.get("PermissionsBoundary"), dict):
            info["boundary"] = u["PermissionsBoundary"].get("PermissionsBoundaryArn")
        snap.principals.append(Principal("aws", "aws_user", arn, [u.get("UserName") or "", u.get("UserId") or ""], created, info))
        inline(arn, "", u.get("UserPolicyList"), "UserPolicyList", ("UserDetailList", i), created)
        attach(arn, "", u.get("AttachedManagedPolicies"), ("UserDetailList", i, "AttachedManagedPolicies"), created)
        boundary(arn, u.get("PermissionsBoundary"), ("UserDetailList", i, "PermissionsBoundary"))
        for gname in u.get("GroupList") or []:
            if gname not in groups:
                snap.warnings.append(f"{file}#{_ptr('UserDetailList', i, 'GroupList')}: group {gname} not in GroupDetailList")
                continue
            gi, g = groups[gname]
            inline(arn, f"group {gname} -> ", g.get("GroupPolicyList"), "GroupPolicyList", ("GroupDetailList", gi), created)
            attach(arn, f"group {gname} -> ", g.get("AttachedManagedPolicies"), ("GroupDetailList", gi, "AttachedManagedPolicies"), created)

    for i, r in enumerate(_list(obj, "RoleDetailList", f"{file}#")):
        if not isinstance(r, dict) or not r.get("Arn"):
            continue
        arn = r["Arn"]
        accounts.add(arn.split(":")[4] if arn.count(":") >= 5 else "")
        created = _time(r.get("CreateDate"))
        info = {"path": r.get("Path"), "tags": r.get("Tags") or [], "pointer": f"{file}#{_ptr('RoleDetailList', i)}"}
        trust = r.get("AssumeRolePolicyDocument")
        if trust:
            try:
                info["trust"] = _doc(trust, f"{file}#{_ptr('RoleDetailList', i, 'AssumeRolePolicyDocument')}")
            except GrantFormatError as exc:
                snap.warnings.append(str(exc))
        if isinstance(r.get("RoleLastUsed"), dict) and r["RoleLastUsed"].get("LastUsedDate"):
            info["role_last_used"] = r["RoleLastUsed"].get("LastUsedDate")
        if isinstance(r.get("PermissionsBoundary"), dict):
            info["boundary"] = r["PermissionsBoundary"].get("PermissionsBoundaryArn")
        if "/aws-service-role/" in (r.get("Path") or "") or "/aws-service-role/" in arn:
            info["service_linked"] = True
        snap.principals.append(Principal("aws", "aws_role", arn, [r.get("RoleName") or "", r.get("RoleId") or ""], created, info))
        inline(arn, "", r.get("RolePolicyList"), "RolePolicyList", ("RoleDetailList", i), created)
        attach(arn, "", r.get("AttachedManagedPolicies"), ("RoleDetailList", i, "AttachedManagedPolicies"), created)
        boundary(arn, r.get("PermissionsBoundary"), ("RoleDetailList", i, "PermissionsBoundary"))

    accounts.discard("")
    snap.label = ",".join(sorted(accounts)) if accounts else "aws"
    snap.meta = {"accounts": sorted(accounts), "policies": len(managed)}
    return snap
