"""What an alias and a link are: the kinds, their strength and whether they merge.

An *alias* is one name an actor is known by in one source: ``aws_key`` AKIA…,
``aws_user`` arn:aws:iam::…:user/x, ``aws_session`` arn:aws:sts::…:assumed-role/R/s,
``k8s_user``, ``k8s_sa``, ``host_session`` ``ses:3@host``, ``db_session`` … (the table
:data:`ALIAS_KINDS`).  A *link* joins two aliases, with a kind, a strength and its
evidence events.

An *identity* is a connected component over the **merging** strong links: the links
that say "these two names are one principal" (a key and its user, a role session and
the credentials it was issued, an sshd login and its auditd session).  The other
strong links are directed "acts as / entered / created" facts (a session of a role,
an exec into a pod, a sudo to root, a key created for another user): they are shown
and followed from the caller, but never merge the two sides, so that every principal
that assumes a shared role, or sudo-s to ``root``, does not become one identity.
Weak links (same name across sources, a credential read followed by a use from the
same address) are labelled and never merge anything.
"""

from __future__ import annotations

from dataclasses import dataclass

STRONG = "strong"
WEAK = "weak"

#: alias kind -> (label, is a session kind)
ALIAS_KINDS: dict[str, tuple[str, bool]] = {
    "aws_key": ("AWS access key", False),
    "aws_user": ("IAM user", False),
    "aws_root": ("AWS root user", False),
    "aws_session": ("AWS role session", True),
    "aws_role": ("IAM role", False),
    "aws_federated": ("AWS federated user", True),
    "aws_service": ("AWS service", False),
    "aws_principal": ("AWS principal", False),
    "k8s_user": ("Kubernetes user", False),
    "k8s_sa": ("Kubernetes service account", False),
    "k8s_node": ("Kubernetes node", False),
    "k8s_pod": ("Kubernetes pod", False),
    "host_user": ("host account", False),
    "host_uid": ("host login uid (auid)", False),
    "host_session": ("auditd login session", True),
    "ssh_session": ("sshd login", True),
    "db_user": ("database user", False),
    "db_session": ("database session", True),
    "gcp_principal": ("GCP principal", False),
    "azure_principal": ("Azure caller", False),
    "azure_object": ("Azure object id", False),
    "azure_token": ("Azure token", True),
    "win_user": ("Windows account", False),
    "win_logon": ("Windows logon session", True),
    "app_user": ("application user", False),
}

SESSION_KINDS = frozenset(k for k, (_, s) in ALIAS_KINDS.items() if s)

#: Kinds that are shared by unrelated principals: a link to one of them never merges.
SHARED_KINDS = frozenset({"aws_role", "aws_service", "k8s_pod", "k8s_node"})


@dataclass(frozen=True)
class LinkKind:
    name: str
    strength: str
    merges: bool  # part of the identity (component); False: directed, followed from -> to
    label: str
    evidence: str  # what the evidence events are (docs, console)


LINK_KINDS: dict[str, LinkKind] = {k.name: k for k in (
    LinkKind("access_key", STRONG, True, "access key of",
             "events signed with the key whose userIdentity names the user (arn, accessKeyId)"),
    LinkKind("session_credential", STRONG, True, "credentials of session",
             "events of the role session signed with the temporary key (userIdentity.arn, accessKeyId)"),
    LinkKind("assumed_session", STRONG, True, "became session",
             "the AssumeRole*/GetFederationToken/GetSessionToken call: its caller and its "
             "responseElements (assumedRoleUser.arn, credentials.accessKeyId, federatedUser, sourceIdentity)"),
    LinkKind("source_identity", STRONG, True, "source identity of",
             "a role session whose sourceIdentity names the caller"),
    LinkKind("session_role", STRONG, False, "session of role",
             "the AssumeRole call's roleArn, or the session's sessionContext.sessionIssuer"),
    LinkKind("created_credential", STRONG, False, "created credential",
             "the CreateAccessKey/CreateLoginProfile call: its actor and responseElements.accessKey"),
    LinkKind("console_login", STRONG, True, "console login to",
             "the ConsoleLogin event and the first event of the console session's temporary key"),
    LinkKind("impersonation", STRONG, False, "impersonated",
             "Kubernetes requests whose user impersonates impersonatedUser"),
    LinkKind("pod_exec", STRONG, False, "exec into pod",
             "the create pods/exec (or attach) request"),
    LinkKind("pod_service_account", STRONG, False, "runs as service account",
             "service-account requests whose token names the pod (user.extra authentication.kubernetes.io/pod-name)"),
    LinkKind("ssh_login", STRONG, True, "sshd login of",
             "the sshd 'Accepted' line (pid, user, address, method)"),
    LinkKind("ssh_audit_session", STRONG, True, "auditd session of sshd login",
             "the auditd USER_LOGIN/USER_START of the same sshd pid, address and time (ses, auid)"),
    LinkKind("login_uid", STRONG, True, "login uid of session", "auditd records carrying both ses and auid"),
    LinkKind("uid_name", STRONG, True, "account name of uid",
             "the login's auditd USER_START/USER_LOGIN: auid and acct"),
    LinkKind("sudo", STRONG, False, "switched user to",
             "sudo/su records: the invoking session or user and the target user (USER=, acct=)"),
    LinkKind("db_login", STRONG, True, "database session of",
             "pgAudit/PostgreSQL session lines: the session id, user name and client address"),
    LinkKind("sa_delegation", STRONG, False, "acted as service account",
             "GCP authenticationInfo.serviceAccountDelegationInfo: the first-party principal and principalEmail"),
    LinkKind("azure_claims", STRONG, True, "token claims of",
             "Azure Activity caller with its claims (object id, token id)"),
    LinkKind("logon_session", STRONG, True, "logon session of", "Windows events with a user and a logon id"),
    LinkKind("same_name", WEAK, False, "same name as",
             "the first event of each alias: the names are equal, the sources differ"),
    LinkKind("exec_service_account", WEAK, False, "may run as service account",
             "an exec into the pod, then requests of the namespace's service account named like the pod, "
             "within the window (no pod-name claim in the records)"),
    LinkKind("credential_use", WEAK, False, "read credential, then used from the same address",
             "the read of a secret or key file, (the exec that put the reader there,) and the first use "
             "by another principal from the same address within the window"),
)}

#: name values too common to link by name across sources
GENERIC_NAMES = frozenset({
    "root", "admin", "administrator", "nobody", "unknown", "system", "guest", "user", "test", "default",
    "ec2-user", "ubuntu", "centos", "daemon", "postgres", "anonymous", "-", "?", "none", "null",
})

UNSET_ID = "4294967295"  # auditd's unset auid/ses (-1)


def ref(kind: str, value: str) -> str:
    """The text form of an alias in JSON and on screen: ``kind:value``."""
    return f"{kind}:{value}"


def short_name(kind: str, value: str) -> str | None:
    """The bare name compared by ``same_name`` (None: this kind is not compared)."""
    if kind in ("aws_user",) and "/" in value:
        return value.rsplit("/", 1)[1]
    if kind in ("k8s_user", "app_user"):
        return value
    if kind in ("host_user", "db_user", "win_user"):
        name = value.rsplit("@", 1)[0]
        return name.rsplit("\\", 1)[-1]
    if kind in ("gcp_principal", "azure_principal"):
        return value if "@" in value else None
    return None
