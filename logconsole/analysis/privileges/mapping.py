"""From normalized events to privilege actions.

AWS CloudTrail -> IAM action: ``eventSource`` prefix + ``eventName`` with the
known exceptions (trailscraper's rules, see docs/privileges.md); for denied
calls the action named in ``errorMessage`` ("... is not authorized to perform:
cloudtrail:StopLogging on resource: ...") wins when present.

Kubernetes: ``events.action`` is ``"VERB GROUP/RESOURCE[/SUB]"`` (or ``"VERB
/url"`` for non-resource requests); it becomes ``k8s:GROUP/RESOURCE[/SUB]:VERB``
(``core`` for the empty group) with resource ``NAMESPACE/NAME``.
"""

from __future__ import annotations

import re
from functools import lru_cache

_PREFIX = {
    "monitoring": "cloudwatch",
    "appstream2": "appstream",
    "models.lex": "lex",
    "runtime.lex": "lex",
    "mturk-requester": "mechanicalturk",
    "streams.dynamodb": "dynamodb",
    "tagging": "tag",
    "email": "ses",
    "s3-control": "s3",
}

_S3 = {
    "ListObjects": "ListBucket",
    "ListObjectsV2": "ListBucket",
    "HeadBucket": "ListBucket",
    "HeadObject": "GetObject",
    "ListBuckets": "ListAllMyBuckets",
    "CopyObject": "PutObject",
    "UploadPart": "PutObject",
    "UploadPartCopy": "PutObject",
    "CreateMultipartUpload": "PutObject",
    "CompleteMultipartUpload": "PutObject",
    "DeleteObjects": "DeleteObject",
    "ListObjectVersions": "ListBucketVersions",
    "GetBucketLifecycle": "GetLifecycleConfiguration",
    "GetBucketLifecycleConfiguration": "GetLifecycleConfiguration",
    "PutBucketLifecycle": "PutLifecycleConfiguration",
    "PutBucketLifecycleConfiguration": "PutLifecycleConfiguration",
    "DeleteBucketLifecycle": "PutLifecycleConfiguration",
    "ListMultipartUploads": "ListBucketMultipartUploads",
    "ListParts": "ListMultipartUploadParts",
    "GetObjectAcl": "GetObjectAcl",
}

_OTHER = {
    ("kms", "ReEncrypt"): "kms:ReEncrypt*",
}

#: events that are not privileges at all (always allowed, never need a grant)
IGNORED = {"sts:GetCallerIdentity", "signin:ConsoleLogin", "signin:CheckMfa", "signin:ExternalIdPDirectoryLogin"}

_VERSION_SUFFIX = re.compile(r"^(.*?[A-Za-z])(\d{8})(v\d+)?$")
_NOT_AUTH = re.compile(r"not authorized to perform:?\s+([A-Za-z0-9-]+:[A-Za-z0-9*]+)", re.IGNORECASE)
_NO_PERM = re.compile(r"\b(?:perform|permission to)\s+([a-z0-9-]+:[A-Za-z0-9*]+)", re.IGNORECASE)

DENIED_CODES = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "Client.UnauthorizedOperation",
                "Client.AccessDenied", "UnauthorizedAccess", "AuthorizationError", "Forbidden")


def is_denied_code(code: str | None) -> bool:
    if not code:
        return False
    return "AccessDenied" in code or "UnauthorizedOperation" in code or code in DENIED_CODES


def iam_prefix(event_source: str | None) -> str:
    if not event_source:
        return "unknown"
    s = event_source.lower()
    for suffix in (".amazonaws.com", ".aws.internal", ".amazonaws.com.cn"):
        if s.endswith(suffix):
            s = s[: -len(suffix)]
            break
    if s in _PREFIX:
        return _PREFIX[s]
    return s.split(".")[0]


def iam_action(event_source: str | None, event_name: str | None, error_message: str | None = None) -> str:
    """The IAM action an API call needs, e.g. ``("s3.amazonaws.com", "ListObjects") -> "s3:ListBucket"``."""
    if error_message:
        m = _NOT_AUTH.search(error_message) or _NO_PERM.search(error_message)
        if m:
            return m.group(1)
    return _iam_action(event_source, event_name)


@lru_cache(maxsize=65536)
def _iam_action(event_source: str | None, event_name: str | None) -> str:
    prefix = iam_prefix(event_source)
    name = event_name or ""
    m = _VERSION_SUFFIX.match(name)
    if m:  # Lambda CreateFunction20150331, GetFunction20150331v2
        name = m.group(1)
    if prefix == "s3":
        name = _S3.get(name, name)
    mapped = _OTHER.get((prefix, name))
    if mapped:
        return mapped
    if prefix == "apigateway":
        verb = re.match(r"^(Get|Create|Update|Delete|Put)", name)
        http = {"Get": "GET", "Create": "POST", "Update": "PATCH", "Delete": "DELETE", "Put": "PUT"}
        if verb:
            return f"apigateway:{http[verb.group(1)]}"
    return f"{prefix}:{name}"


# ---------------------------------------------------------------- kubernetes

#: API groups that have no dot in their name (everything else has one)
_DOTLESS_GROUPS = {"apps", "batch", "autoscaling", "policy", "extensions", "core"}


def k8s_action(action: str | None) -> tuple[str, str | None, bool]:
    """``"list pods"`` -> ``("k8s:core/pods:list", None, False)``;
    ``"get /api"`` -> ``("k8s:nonresource:get", "/api", True)``.

    Returns (action key, url for non-resource requests, is_nonresource)."""
    if not action:
        return "k8s:unknown", None, False
    verb, _, rest = action.partition(" ")
    verb = verb.lower()
    rest = rest.strip()
    if not rest:
        return f"k8s:unknown:{verb}", None, False
    if rest.startswith("/"):
        return f"k8s:nonresource:{verb}", rest, True
    parts = rest.split("/")
    if len(parts) >= 3:
        group, res, sub = parts[0], parts[1], "/".join(parts[2:])
    elif len(parts) == 2:
        if "." in parts[0] or parts[0] in _DOTLESS_GROUPS:
            group, res, sub = parts[0], parts[1], ""
        else:
            group, res, sub = "core", parts[0], parts[1]
    else:
        group, res, sub = "core", parts[0], ""
    key = f"k8s:{group or 'core'}/{res}{'/' + sub if sub else ''}:{verb}"
    return key, None, False


def k8s_resource(action: str | None, resource: str | None, namespace: str | None) -> str:
    """``NAMESPACE/NAME`` for RBAC matching (empty parts when absent)."""
    if not resource:
        return f"{namespace or ''}/"
    res = ""
    if action:
        rest = action.partition(" ")[2].strip()
        parts = rest.split("/")
        if len(parts) >= 2 and ("." in parts[0] or parts[0] in _DOTLESS_GROUPS):
            res = parts[1]
        else:
            res = parts[0]
    name = ""
    if res and resource.startswith(res):
        tail = resource[len(res):].lstrip("/")
        if namespace and (tail == namespace or tail.startswith(namespace + "/")):
            tail = tail[len(namespace):].lstrip("/")
        name = tail
    return f"{namespace or ''}/{name}"


def k8s_display(key: str) -> str:
    """``k8s:core/pods/exec:create`` -> ``create pods/exec`` (the events.action spelling)."""
    if key.startswith("k8s:nonresource:"):
        return key.rsplit(":", 1)[-1]
    body = key[4:]
    gr, _, verb = body.rpartition(":")
    group, _, rest = gr.partition("/")
    return f"{verb} {rest if group == 'core' else gr}"
