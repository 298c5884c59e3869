"""Which aliases an event names, from its normalized columns.

:func:`combo_aliases` maps one distinct ``(format, scope, actor, actor_type,
actor_uid, session)`` combination to the event's *primary* alias (the most
specific name of who acted: the session before the key, the key before the user)
and the merging links the combination itself proves (a key and its user, a session
and its temporary key and role, ``ses`` and ``auid``...).  The graph build calls it
once per distinct combination, not per event.
"""

from __future__ import annotations

import re

from logconsole.analysis.identity.model import UNSET_ID

Alias = tuple[str, str]  # (kind, value)
LinkSpec = tuple[str, Alias, Alias]  # (link kind, from, to)

_AWS_KEY = re.compile(r"^(?:AKIA|ASIA|AROA|AIDA|ABIA|ACCA)[A-Z0-9]{12,}$")
_SESSION_KEY = re.compile(r"^(?P<name>.*) \((?P<key>[A-Z0-9]{16,})\)$")


def aws_key_of(session: str | None) -> str | None:
    """The access key in a CloudTrail ``session`` column (``KEY`` or ``name (KEY)``)."""
    if not session:
        return None
    m = _SESSION_KEY.match(session)
    if m:
        return m.group("key")
    return session if _AWS_KEY.match(session) else None


def k8s_alias(username: str) -> Alias:
    if username.startswith("system:serviceaccount:"):
        return ("k8s_sa", username)
    if username.startswith("system:node:"):
        return ("k8s_node", username)
    return ("k8s_user", username)


def aws_principal_alias(actor: str, actor_type: str | None, actor_uid: str | None) -> Alias:
    if actor_type == "IAMUser":
        return ("aws_user", actor_uid if actor_uid and actor_uid.startswith("arn:") else actor)
    if actor_type == "Root":
        return ("aws_root", actor)
    if actor_type == "AssumedRole":
        if (actor_uid or "").startswith("arn:aws:sts:") or ":assumed-role/" in (actor_uid or ""):
            return ("aws_session", actor_uid or actor)
        return ("aws_role", actor)
    if actor_type == "FederatedUser":
        return ("aws_federated", actor_uid or actor)
    if actor_type == "AWSService":
        return ("aws_service", actor)
    if actor.startswith("arn:aws:iam::") and ":user/" in actor:
        return ("aws_user", actor)
    return ("aws_principal", actor)


def combo_aliases(fmt: str, scope: str, actor: str | None, actor_type: str | None, actor_uid: str | None,
                  session: str | None) -> tuple[Alias | None, list[LinkSpec]]:
    """(primary alias or None, merging links) for one combination of an event's columns.

    *scope* is the host (or, for host-local formats without one, the source file's
    name): ``ses``, uids, local accounts and database sessions are only unique there.
    """
    links: list[LinkSpec] = []
    if fmt == "cloudtrail":
        if not actor:
            return None, links
        who = aws_principal_alias(actor, actor_type, actor_uid)
        key = aws_key_of(session)
        if actor_type == "AssumedRole":
            if who[0] == "aws_session":
                links.append(("session_role", who, ("aws_role", actor)))
                if key:
                    links.append(("session_credential", ("aws_key", key), who))
                return who, links
            return (("aws_key", key) if key else who), links
        if key and who[0] not in ("aws_service",):
            links.append(("access_key", ("aws_key", key), who))
            return ("aws_key", key), links
        return who, links
    if fmt == "k8s-audit":
        return (k8s_alias(actor) if actor else None), links
    if fmt == "auditd":
        ses = session if session and session != UNSET_ID else None
        auid = actor_uid if actor_uid and actor_uid != UNSET_ID else None
        if ses:
            primary: Alias = ("host_session", f"ses:{ses}@{scope}")
            if auid:
                links.append(("login_uid", primary, ("host_uid", f"uid:{auid}@{scope}")))
            return primary, links
        if auid:
            return ("host_uid", f"uid:{auid}@{scope}"), links
        if actor:
            return ("host_user", f"{actor}@{scope}"), links
        return None, links
    if fmt == "syslog-auth":
        return (("host_user", f"{actor}@{scope}") if actor else None), links
    if fmt == "pgaudit":
        sess = ("db_session", f"{session}@{scope}") if session else None
        user = ("db_user", f"{actor}@{scope}") if actor else None
        if sess and user:
            links.append(("db_login", user, sess))
        return (sess or user), links
    if fmt == "gcp-audit":
        return (("gcp_principal", actor) if actor else None), links
    if fmt == "azure-activity":
        if not actor:
            return None, links
        who = ("azure_principal", actor)
        if actor_uid and actor_uid != actor:
            links.append(("azure_claims", who, ("azure_object", actor_uid)))
        if session:
            links.append(("azure_claims", who, ("azure_token", session)))
        return who, links
    if fmt == "windows-security":
        user = ("win_user", f"{actor}@{scope}") if actor else None
        logon = ("win_logon", f"{session}@{scope}") if session and session not in ("0x0", "0") else None
        if user and logon:
            links.append(("logon_session", user, logon))
        return (logon or user), links
    return (("app_user", actor) if actor else None), links
