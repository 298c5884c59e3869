"""Hostile and malformed grants files: every input either imports or fails with
one GrantFormatError naming the file - never a traceback."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logconsole.analysis.privileges.grants import parse_bytes
from logconsole.analysis.privileges.model import GrantFormatError

scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=8),
                    st.sampled_from(["*", "s3:*", "Allow", "Deny", "iam:Get*", "arn:aws:s3:::b/*"]))
json_values = st.recursive(scalars, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                            st.dictionaries(st.text(max_size=6), kids, max_size=4)),
                           max_leaves=20)
KEYS = ["UserDetailList", "GroupDetailList", "RoleDetailList", "Policies", "UserName", "Arn", "GroupList",
        "AttachedManagedPolicies", "UserPolicyList", "PolicyDocument", "Statement", "Effect", "Action", "NotAction",
        "Resource", "Condition", "PolicyVersionList", "IsDefaultVersion", "Document", "PolicyArn", "PermissionsBoundary",
        "PermissionsBoundaryArn", "RolePolicyList", "GroupPolicyList", "GroupName", "DefaultVersionId", "VersionId"]
aws_like = st.recursive(
    scalars,
    lambda kids: st.one_of(st.lists(kids, max_size=3), st.dictionaries(st.sampled_from(KEYS), kids, max_size=5)),
    max_leaves=30,
)


def _check(data: bytes, fmt=None) -> None:
    try:
        parse_bytes(data, "/x/grants.file", fmt)
    except GrantFormatError as exc:
        assert str(exc).startswith("/x/grants.file") or "unknown grants format" in str(exc)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(KEYS[:4]), aws_like, min_size=1, max_size=4))
def test_aws_shaped_garbage(doc):
    _check(json.dumps(doc).encode())
    _check(json.dumps(doc).encode(), "aws-iam")


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_any_json_with_forced_formats(doc):
    data = json.dumps(doc).encode()
    for fmt in (None, "aws-iam", "k8s-rbac", "policy"):
        _check(data, fmt)


RBAC_KEYS = ["kind", "metadata", "name", "namespace", "rules", "apiGroups", "resources", "verbs", "resourceNames",
             "nonResourceURLs", "roleRef", "subjects", "items", "logconsole-policy", "principals", "roles", "groups",
             "effect", "actions"]
k8s_like = st.recursive(
    st.one_of(scalars, st.sampled_from(["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "List", "User",
                                        "Group", "ServiceAccount", 1])),
    lambda kids: st.one_of(st.lists(kids, max_size=3), st.dictionaries(st.sampled_from(RBAC_KEYS), kids, max_size=5)),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(k8s_like, min_size=1, max_size=3))
def test_rbac_and_policy_shaped_garbage(docs):
    import yaml

    data = yaml.safe_dump_all(docs).encode()
    for fmt in (None, "k8s-rbac", "policy"):
        _check(data, fmt)


def test_binary_and_bad_encoding():
    _check(b"\xff\xfe\x00garbage")
    _check(b"")
    _check(b"---\n- a\n- b\n")
    _check(b"&a [*a, *a]")
