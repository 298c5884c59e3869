"""Risk catalogues: privilege escalation (AWS after Cloudsplaining / Rhino
Security Labs' methods; Kubernetes after KubiScan / rbac-police), sensitive
actions (credential, secret and data access, log tampering) and actions that
CloudTrail does not record by default (data events, ``iam:PassRole``).

Action names are lowercase ``service:action``.
"""

from __future__ import annotations

#: AWS escalation methods: name -> (required actions (all), description)
AWS_ESCALATION: dict[str, tuple[tuple[str, ...], str]] = {
    "CreatePolicyVersion": (("iam:createpolicyversion",), "create a new default version of a managed policy"),
    "SetDefaultPolicyVersion": (("iam:setdefaultpolicyversion",), "switch a managed policy to an older, broader version"),
    "AttachUserPolicy": (("iam:attachuserpolicy",), "attach any managed policy to a user"),
    "AttachGroupPolicy": (("iam:attachgrouppolicy",), "attach any managed policy to a group"),
    "AttachRolePolicy": (("iam:attachrolepolicy",), "attach any managed policy to a role"),
    "PutUserPolicy": (("iam:putuserpolicy",), "write an inline policy on a user"),
    "PutGroupPolicy": (("iam:putgrouppolicy",), "write an inline policy on a group"),
    "PutRolePolicy": (("iam:putrolepolicy",), "write an inline policy on a role"),
    "AddUserToGroup": (("iam:addusertogroup",), "join a more privileged group"),
    "CreateAccessKey": (("iam:createaccesskey",), "create access keys for another user"),
    "CreateLoginProfile": (("iam:createloginprofile",), "set a console password for another user"),
    "UpdateLoginProfile": (("iam:updateloginprofile",), "change another user's console password"),
    "UpdateAssumeRolePolicy": (("iam:updateassumerolepolicy",), "let yourself assume a role"),
    "DeleteUserPermissionsBoundary": (("iam:deleteuserpermissionsboundary",), "remove a user's permission boundary"),
    "DeleteRolePermissionsBoundary": (("iam:deleterolepermissionsboundary",), "remove a role's permission boundary"),
    "PutUserPermissionsBoundary": (("iam:putuserpermissionsboundary",), "replace a user's permission boundary"),
    "PutRolePermissionsBoundary": (("iam:putrolepermissionsboundary",), "replace a role's permission boundary"),
    "PassRole+RunInstances": (("iam:passrole", "ec2:runinstances"), "launch an instance with a more privileged role"),
    "PassRole+CreateFunction+InvokeFunction": (("iam:passrole", "lambda:createfunction", "lambda:invokefunction"), "run code as a more privileged role in Lambda"),
    "PassRole+CreateFunction+CreateEventSourceMapping": (("iam:passrole", "lambda:createfunction", "lambda:createeventsourcemapping"), "run code as a more privileged role via a Lambda trigger"),
    "UpdateFunctionCode": (("lambda:updatefunctioncode",), "replace the code of a function that has a privileged role"),
    "PassRole+CreateStack": (("iam:passrole", "cloudformation:createstack"), "deploy a stack with a more privileged role"),
    "PassRole+CreateDevEndpoint": (("iam:passrole", "glue:createdevendpoint"), "start a Glue endpoint with a more privileged role"),
    "UpdateDevEndpoint": (("glue:updatedevendpoint",), "add an SSH key to a Glue endpoint"),
    "PassRole+RunTask": (("iam:passrole", "ecs:runtask"), "run an ECS task with a more privileged role"),
    "PassRole+CreateProject": (("iam:passrole", "codebuild:createproject", "codebuild:startbuild"), "run a build with a more privileged role"),
    "PassRole+CreateNotebookInstance": (("iam:passrole", "sagemaker:createnotebookinstance"), "start a notebook with a more privileged role"),
    "ExecuteCommand": (("ecs:executecommand", "ecs:describetasks"), "shell into a running container"),
    "SendCommand": (("ssm:sendcommand",), "run commands on managed instances (and their roles)"),
    "StartSession": (("ssm:startsession",), "open a shell on managed instances"),
    "SendSSHPublicKey": (("ec2-instance-connect:sendsshpublickey",), "push an SSH key to an instance"),
    "AssumeRole": (("sts:assumerole",), "assume another role (check its trust policy)"),
}

#: actions whose *use* is an exercised escalation (the API call itself grants more)
AWS_ESCALATION_EVENTS = {
    "iam:createpolicyversion", "iam:setdefaultpolicyversion", "iam:attachuserpolicy", "iam:attachgrouppolicy",
    "iam:attachrolepolicy", "iam:putuserpolicy", "iam:putgrouppolicy", "iam:putrolepolicy", "iam:addusertogroup",
    "iam:createaccesskey", "iam:createloginprofile", "iam:updateloginprofile", "iam:updateassumerolepolicy",
    "iam:deleteuserpermissionsboundary", "iam:deleterolepermissionsboundary", "iam:putuserpermissionsboundary",
    "iam:putrolepermissionsboundary", "lambda:updatefunctioncode", "glue:updatedevendpoint",
    "ec2-instance-connect:sendsshpublickey", "ssm:sendcommand", "ssm:startsession", "ecs:executecommand",
}
#: "for another user" methods: only an escalation when the target user is not the actor
AWS_OTHER_USER = {"iam:createaccesskey", "iam:createloginprofile", "iam:updateloginprofile"}
#: compute creation that takes a role (PassRole is not logged: inferred)
AWS_PASSROLE_COMPUTE = {
    "ec2:runinstances", "lambda:createfunction", "cloudformation:createstack", "glue:createdevendpoint",
    "ecs:runtask", "codebuild:createproject", "sagemaker:createnotebookinstance", "ec2:associateiaminstanceprofile",
    "ec2:replaceiaminstanceprofileassociation",
}

#: sensitive actions: lowercase action -> category
AWS_SENSITIVE: dict[str, str] = {
    "iam:createaccesskey": "credentials", "iam:updateaccesskey": "credentials", "iam:createloginprofile": "credentials",
    "iam:updateloginprofile": "credentials", "sts:getsessiontoken": "credentials", "sts:getfederationtoken": "credentials",
    "ecr:getauthorizationtoken": "credentials", "ec2:getpassworddata": "credentials", "redshift:getclustercredentials": "credentials",
    "rds:generatedbauthtoken": "credentials", "sso:getrolecredentials": "credentials", "codeartifact:getauthorizationtoken": "credentials",
    "secretsmanager:getsecretvalue": "secrets", "ssm:getparameter": "secrets", "ssm:getparameters": "secrets",
    "ssm:getparametersbypath": "secrets", "kms:decrypt": "secrets", "lambda:getfunction": "secrets",
    "s3:getobject": "data access", "s3:listbucket": "data access", "dynamodb:scan": "data access",
    "dynamodb:query": "data access", "dynamodb:getitem": "data access", "rds:copydbsnapshot": "data access",
    "rds:createdbsnapshot": "data access", "rds:modifydbsnapshotattribute": "data access", "ec2:createsnapshot": "data access",
    "ec2:modifysnapshotattribute": "data access", "s3:putbucketpolicy": "data access", "s3:putbucketacl": "data access",
    "s3:putobjectacl": "data access", "s3:deletebucketpolicy": "data access",
    "cloudtrail:stoplogging": "log tampering", "cloudtrail:deletetrail": "log tampering", "cloudtrail:updatetrail": "log tampering",
    "cloudtrail:puteventselectors": "log tampering", "logs:deleteloggroup": "log tampering", "logs:deletelogstream": "log tampering",
    "guardduty:deletedetector": "log tampering", "config:stopconfigurationrecorder": "log tampering",
}

#: CloudTrail data events (not recorded unless data events are configured)
AWS_DATA_EVENTS = {
    "s3:getobject", "s3:getobjectversion", "s3:putobject", "s3:deleteobject", "s3:deleteobjectversion",
    "s3:getobjectacl", "s3:putobjectacl", "s3:getobjecttagging", "s3:putobjecttagging", "s3:deleteobjecttagging",
    "s3:restoreobject", "s3:listbucket", "s3:listbucketversions", "s3:listbucketmultipartuploads",
    "s3:listmultipartuploadparts", "s3:abortmultipartupload", "s3:getobjectattributes", "s3:getobjectretention",
    "s3:putobjectretention", "s3:getobjectlegalhold", "s3:putobjectlegalhold",
    "lambda:invokefunction", "lambda:invokefunctionurl",
    "dynamodb:getitem", "dynamodb:putitem", "dynamodb:updateitem", "dynamodb:deleteitem", "dynamodb:query",
    "dynamodb:scan", "dynamodb:batchgetitem", "dynamodb:batchwriteitem", "dynamodb:conditioncheckitem",
    "dynamodb:partiqlselect", "dynamodb:partiqlinsert", "dynamodb:partiqlupdate", "dynamodb:partiqldelete",
    "sns:publish", "sqs:sendmessage", "sqs:receivemessage", "sqs:deletemessage", "sqs:changemessagevisibility",
    "kinesis:putrecord", "kinesis:putrecords", "kinesis:getrecords", "secretsmanager:batchgetsecretvalue",
}
#: never recorded as an event of its own
AWS_NEVER_LOGGED = {"iam:passrole"}


def unobservable_reason(action_lower: str, data_services_seen: set[str]) -> str | None:
    """Why a granted AWS action cannot be judged from these logs, or None."""
    if action_lower in AWS_NEVER_LOGGED:
        return "never logged by CloudTrail (no event of its own)"
    if action_lower in AWS_DATA_EVENTS:
        svc = action_lower.split(":", 1)[0]
        if svc not in data_services_seen:
            return f"CloudTrail data event; no {svc} data events in these logs"
    return None


# ---------------------------------------------------------------- kubernetes

#: k8s escalation: (group/resource glob, verbs) -> description
K8S_ESCALATION: list[tuple[str, tuple[str, ...], str]] = [
    ("rbac.authorization.k8s.io/rolebindings", ("create", "update", "patch"), "create or change role bindings"),
    ("rbac.authorization.k8s.io/clusterrolebindings", ("create", "update", "patch"), "create or change cluster role bindings"),
    ("rbac.authorization.k8s.io/roles", ("create", "update", "patch", "escalate", "bind"), "create, escalate or bind roles"),
    ("rbac.authorization.k8s.io/clusterroles", ("create", "update", "patch", "escalate", "bind"), "create, escalate or bind cluster roles"),
    ("core/users", ("impersonate",), "impersonate users"),
    ("core/groups", ("impersonate",), "impersonate groups"),
    ("core/serviceaccounts", ("impersonate",), "impersonate service accounts"),
    ("authentication.k8s.io/userextras/*", ("impersonate",), "impersonate user extras"),
    ("core/pods/exec", ("create", "get"), "exec into pods (and their service account tokens)"),
    ("core/pods/attach", ("create", "get"), "attach to pods"),
    ("core/serviceaccounts/token", ("create",), "mint service account tokens"),
    ("certificates.k8s.io/certificatesigningrequests/approval", ("update", "patch"), "approve certificate requests"),
    ("core/nodes/proxy", ("get", "create"), "proxy to the kubelet API"),
    ("core/pods/ephemeralcontainers", ("update", "patch"), "add debug containers to pods"),
    ("admissionregistration.k8s.io/mutatingwebhookconfigurations", ("create", "update", "patch"), "install a mutating webhook"),
]

K8S_SENSITIVE: list[tuple[str, tuple[str, ...], str]] = [
    ("core/secrets", ("get", "list", "watch"), "secrets"),
    ("core/pods/exec", ("create", "get"), "exec"),
    ("core/pods/attach", ("create", "get"), "exec"),
    ("core/serviceaccounts/token", ("create",), "credentials"),
    ("core/configmaps", ("get", "list"), "data access"),
    ("certificates.k8s.io/certificatesigningrequests", ("create",), "credentials"),
]


def k8s_match(table: list[tuple[str, tuple[str, ...], str]], key: str) -> str | None:
    """Match a concrete ``k8s:GROUP/RES[/SUB]:VERB`` against a catalogue; return the description."""
    if not key.startswith("k8s:") or key.startswith("k8s:nonresource:"):
        return None
    body = key[4:]
    gr, _, verb = body.rpartition(":")
    from logconsole.analysis.privileges.catalog import glob_match

    for pat, verbs, desc in table:
        if verb in verbs and glob_match(pat, gr):
            return desc
    return None


# ---------------------------------------------------------------- suggested policies: review before granting

#: services that record or watch activity: changing them is changing the evidence
_LOGGING_SERVICES = {"cloudtrail", "logs", "config", "guardduty", "securityhub", "cloudwatch", "events",
                     "access-analyzer", "detective", "inspector2", "macie2"}
#: KMS calls that use a key (not manage it)
_KMS_USE = ("kms:decrypt", "kms:encrypt", "kms:reencrypt", "kms:generatedatakey", "kms:describekey",
            "kms:getpublickey", "kms:sign", "kms:verify", "kms:generatemac", "kms:verifymac")
_MANAGING = ("write", "permissions management", "tagging")


def review_reason(action_lower: str, access_level: str) -> str | None:
    """Why a used AWS action must not be granted by a suggested policy without a person's review,
    or None: identity and access management, logging, key management, policy management."""
    svc = action_lower.split(":", 1)[0]
    sensitive = AWS_SENSITIVE.get(action_lower)
    if sensitive == "log tampering" or (svc in _LOGGING_SERVICES and access_level in _MANAGING):
        return "logging"
    if svc in ("iam", "sso", "identitystore", "organizations") and access_level in _MANAGING:
        return "IAM"
    if svc == "kms" and access_level in _MANAGING and not action_lower.startswith(_KMS_USE):
        return "key management"
    if access_level == "permissions management":
        return "policy management"
    return None
