#!/usr/bin/env python3
"""Generate logconsole's sample incident (deterministic: fixed seed, no wall clock).

    python sample_data/generate.py [OUTDIR]      # default: the directory of this script

Story (all times UTC, 2026-03-14): the long-lived access key of the CI user
``ci-deploy`` leaked and is used from 203.0.113.77 with a Kali Linux boto3
client: reconnaissance, a burst of denied calls, privilege escalation through
``iam:CreatePolicyVersion`` on its own policy, ``AttachUserPolicy
AdministratorAccess``, a new access key for the dormant ``svc-backup`` user,
``AssumeRole`` into ``DataAnalyticsRole``, bulk ``GetObject`` from the
``acme-customer-exports`` bucket, then ``DeleteTrail`` / ``StopLogging``.  The
same identity then execs into a pod of the EKS cluster, the pod's service
account reads secrets in ``kube-system``, a forbidden ClusterRoleBinding
attempt is followed by a RoleBinding, and a token taken from a secret is used
to log in to the admin portal, whose hash-chained audit log records the
export.  Around it: a day of ordinary traffic from people, CI, workloads and
AWS services.

Only the standard library plus ``rfc8785`` (the JCS canonical JSON that the
app audit chain hashes) is used.  Output files are byte-identical on every run
(gzip headers carry mtime 0 and no file name).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import rfc8785

SEED = 20260314
ACCOUNT = "111122223333"
DAY = datetime(2026, 3, 14, tzinfo=timezone.utc)
ATTACKER_IP = "203.0.113.77"
ATTACKER_UA = (
    "Boto3/1.34.11 md/Botocore#1.34.11 ua/2.0 os/linux#6.6.9-kali1-amd64 md/arch#x86_64 "
    "lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.11"
)
ATTACKER_KUBECTL = "kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819"
CI_IP = "192.0.2.50"
CI_UA = "aws-cli/2.15.30 Python/3.11.8 Linux/5.15.0-1057-aws exe/x86_64.ubuntu.22 prompt/off command/{cmd}"
ALICE_IP = "198.51.100.23"
DAVE_IP = "198.51.100.41"
BROWSER_UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Safari/605.1.15"
CONSOLE_UA = "AWS Internal"
LEAKED_KEY = "AKIARZ5EXAMPLE7CIDK2"
CI_KEY_ID = "AIDARZ5EXAMPLECIDEPL"
SVC_BACKUP_NEW_KEY = "AKIARZ5EXAMPLEBK9Q4W"
DATA_ROLE = "DataAnalyticsRole"
EXPORT_BUCKET = "acme-customer-exports"
TRAIL = "management-trail"
DATA_TRAIL = "s3-data-events"

rng = random.Random(SEED)


def uid() -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def hexid(n: int) -> str:
    return "".join(rng.choice("0123456789ABCDEF") for _ in range(n))


def alnum(n: int, alphabet: str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def iso(t: datetime, frac: int = 0) -> str:
    """ISO 8601 UTC with *frac* fractional digits (0, 3 or 6)."""
    s = t.strftime("%Y-%m-%dT%H:%M:%S")
    if frac:
        s += "." + f"{t.microsecond:06d}"[:frac]
    return s + "Z"


def at(hms: str) -> datetime:
    h, m, s = (int(x) for x in hms.split(":"))
    return DAY + timedelta(hours=h, minutes=m, seconds=s)


def jitter(t: datetime, seconds: float) -> datetime:
    return t + timedelta(microseconds=rng.randrange(int(seconds * 1_000_000)))


# ============================================================= CloudTrail
def iam_user(name: str, key: str | None, principal: str, mfa: bool | None = None, console_since: datetime | None = None) -> dict:
    ui = {
        "type": "IAMUser",
        "principalId": principal,
        "arn": f"arn:aws:iam::{ACCOUNT}:user/{name}",
        "accountId": ACCOUNT,
    }
    if key:
        ui["accessKeyId"] = key
    ui["userName"] = name
    if console_since is not None:
        ui["sessionContext"] = {
            "sessionIssuer": {},
            "webIdFederationData": {},
            "attributes": {"creationDate": iso(console_since), "mfaAuthenticated": "true" if mfa else "false"},
        }
    return ui


ROLE_IDS: dict[str, str] = {}


def assumed_role(role: str, session: str, key: str, created: datetime) -> dict:
    rid = ROLE_IDS.setdefault(role, "AROA" + alnum(17))
    return {
        "type": "AssumedRole",
        "principalId": f"{rid}:{session}",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}",
        "accountId": ACCOUNT,
        "accessKeyId": key,
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": rid,
                "arn": f"arn:aws:iam::{ACCOUNT}:role/{role}",
                "accountId": ACCOUNT,
                "userName": role,
            },
            "webIdFederationData": {},
            "attributes": {"creationDate": iso(created), "mfaAuthenticated": "false"},
        },
    }


def aws_service(svc: str) -> dict:
    return {"type": "AWSService", "invokedBy": svc}


CT: list[dict] = []


def ct(
    t: datetime,
    ui: dict,
    source: str,
    name: str,
    *,
    ip: str,
    ua: str,
    region: str = "us-east-1",
    req: dict | None = None,
    resp: dict | None = None,
    error: tuple[str, str] | None = None,
    resources: list[dict] | None = None,
    read_only: bool | None = None,
    data: bool = False,
    additional: dict | None = None,
    event_type: str = "AwsApiCall",
    tls: bool = True,
    console: bool = False,
) -> dict:
    svc = source.split(".")[0]
    rec: dict = {
        "eventVersion": "1.09" if data else "1.08",
        "userIdentity": ui,
        "eventTime": iso(t),
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": ip,
        "userAgent": ua,
    }
    if error:
        rec["errorCode"], rec["errorMessage"] = error
    rec["requestParameters"] = req
    rec["responseElements"] = resp
    if additional:
        rec["additionalEventData"] = additional
    rec["requestID"] = hexid(16) if svc == "s3" else uid()
    rec["eventID"] = uid()
    if read_only is None:
        read_only = name.startswith(("Get", "List", "Describe", "Lookup", "Head"))
    rec["readOnly"] = read_only
    if resources:
        rec["resources"] = resources
    rec["eventType"] = event_type
    rec["managementEvent"] = not data
    rec["recipientAccountId"] = ACCOUNT
    rec["eventCategory"] = "Data" if data else "Management"
    if tls and ui.get("type") != "AWSService":
        if svc == "s3":
            host = f"{(req or {}).get('bucketName', 's3')}.s3.{region}.amazonaws.com" if req and req.get("bucketName") else "s3.amazonaws.com"
        elif svc in ("iam", "sts", "cloudfront", "organizations"):
            host = f"{svc}.amazonaws.com"
        else:
            host = f"{svc}.{region}.amazonaws.com"
        rec["tlsDetails"] = {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256", "clientProvidedHostHeader": host}
    if console:
        rec["sessionCredentialFromConsole"] = "true"
    CT.append(rec)
    return rec


def denied_msg(actor_arn: str, action: str, resource: str) -> str:
    return (
        f"User: {actor_arn} is not authorized to perform: {action} on resource: {resource} "
        f"because no identity-based policy allows the {action} action"
    )


def s3_obj(bucket: str, key: str) -> list[dict]:
    return [
        {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
        {"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"},
    ]


def s3_get(t, ui, bucket, key, ip, ua, size):
    return ct(
        t, ui, "s3.amazonaws.com", "GetObject", ip=ip, ua=ua, data=True,
        req={"bucketName": bucket, "Host": f"{bucket}.s3.us-east-1.amazonaws.com", "key": key},
        resources=s3_obj(bucket, key),
        additional={
            "SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256", "bytesTransferredIn": 0,
            "AuthenticationMethod": "AuthHeader", "x-amz-id-2": alnum(56, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"),
            "bytesTransferredOut": size,
        },
    )


def s3_put(t, ui, bucket, key, ip, ua, size):
    return ct(
        t, ui, "s3.amazonaws.com", "PutObject", ip=ip, ua=ua, data=True, read_only=False,
        req={"bucketName": bucket, "Host": f"{bucket}.s3.us-east-1.amazonaws.com", "key": key, "x-amz-server-side-encryption": "aws:kms"},
        resp={"x-amz-server-side-encryption": "aws:kms", "x-amz-version-id": alnum(32, "abcdefghijklmnopqrstuvwxyz0123456789._")},
        resources=s3_obj(bucket, key),
        additional={"SignatureVersion": "SigV4", "bytesTransferredIn": size, "AuthenticationMethod": "AuthHeader", "bytesTransferredOut": 0},
    )


def gen_cloudtrail_background() -> None:
    """Ordinary traffic: app workload, CI deploys, monitoring, AWS services, people."""
    # --- EC2 workload role: every ~2 min; KMS Decrypt, SSM parameters, S3 assets (data events)
    app_key = "ASIA" + alnum(16)
    t = DAY + timedelta(seconds=37)
    session = "i-0a1b2c3d4e5f60718"
    created = DAY - timedelta(hours=3)
    n = 0
    while t < DAY + timedelta(days=1):
        if t.hour % 6 == 0 and t.minute < 3 and n % 2 == 0:
            # instance profile credentials refreshed by EC2
            ct(t, aws_service("ec2.amazonaws.com"), "sts.amazonaws.com", "AssumeRole", ip="ec2.amazonaws.com",
               ua="ec2.amazonaws.com", req={"roleArn": f"arn:aws:iam::{ACCOUNT}:role/app-backend-role", "roleSessionName": session},
               resp={"credentials": {"accessKeyId": app_key, "sessionToken": "<redacted>", "expiration": "Mar 14, 2026, 12:00:00 PM"}},
               resources=[{"accountId": ACCOUNT, "type": "AWS::IAM::Role", "ARN": f"arn:aws:iam::{ACCOUNT}:role/app-backend-role"}],
               read_only=True)
        ui = assumed_role("app-backend-role", session, app_key, created)
        kind = n % 4
        if kind == 0:
            ct(t, ui, "kms.amazonaws.com", "Decrypt", ip="10.0.2.118", ua="aws-sdk-java/2.25.11 Linux/5.10.213-201.855.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS Java/17.0.10 vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/legacy",
               req={"encryptionAlgorithm": "SYMMETRIC_DEFAULT", "encryptionContext": {"app": "payments"}},
               resources=[{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/5e0f7c1a-2b3d-4e5f-8a9b-0c1d2e3f4a5b"}],
               read_only=True, tls=False)
        elif kind == 1:
            ct(t, ui, "ssm.amazonaws.com", "GetParameter", ip="10.0.2.118", ua="aws-sdk-java/2.25.11 Linux/5.10.213-201.855.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS Java/17.0.10",
               req={"name": "/payments/prod/db-url", "withDecryption": True})
        elif kind == 2:
            key = f"static/img/{rng.choice(['logo', 'banner', 'icon', 'hero'])}-{rng.randrange(100):02d}.png"
            s3_get(t, ui, "acme-app-assets", key, "10.0.2.118", "aws-sdk-java/2.25.11", rng.randrange(2_000, 90_000))
        else:
            ct(t, ui, "logs.amazonaws.com", "CreateLogStream", ip="10.0.2.118", ua="aws-sdk-java/2.25.11",
               req={"logGroupName": "/payments/api", "logStreamName": f"api-{t:%Y%m%d%H%M}"}, read_only=False)
        n += 1
        t += timedelta(seconds=rng.randrange(90, 150))

    # --- monitoring integration (third-party account assumes a read-only role) every 10 min
    dd_key = "ASIA" + alnum(16)
    t = DAY + timedelta(minutes=3, seconds=11)
    while t < DAY + timedelta(days=1):
        ui = assumed_role("datadog-integration-role", "DatadogAWSIntegration", dd_key, t - timedelta(minutes=5))
        ua = "Datadog/1.0 Boto3/1.34.51 Python/3.11.7 Linux/6.1.0 Botocore/1.34.51"
        ip = rng.choice(["3.233.144.12", "3.233.144.17", "3.233.146.40"])
        ct(t, ui, "ec2.amazonaws.com", "DescribeInstances", ip=ip, ua=ua, req={"instancesSet": {}, "filterSet": {}})
        ct(t + timedelta(seconds=2), ui, "monitoring.amazonaws.com", "GetMetricData", ip=ip, ua=ua,
           req={"startTime": iso(t - timedelta(minutes=10)), "endTime": iso(t), "metricDataQueries": [{"id": "m1"}]})
        ct(t + timedelta(seconds=3), ui, "tag.amazonaws.com", "GetResources", ip=ip, ua=ua, req={"resourcesPerPage": 100})
        t += timedelta(minutes=10, seconds=rng.randrange(-20, 20))

    # --- AWS Config recorder, hourly, in two regions
    for h in range(24):
        for region in ("us-east-1", "eu-west-1"):
            t = DAY + timedelta(hours=h, minutes=17, seconds=rng.randrange(60))
            ui = assumed_role("AWSServiceRoleForConfig", "AWSConfig-Describe", "ASIA" + alnum(16), t - timedelta(minutes=1))
            for name, src in (("DescribeSecurityGroups", "ec2"), ("DescribeVpcs", "ec2"), ("GetBucketAcl", "s3"), ("DescribeDBInstances", "rds")):
                req = {"bucketName": "acme-app-assets", "Host": "acme-app-assets.s3.amazonaws.com", "acl": ""} if src == "s3" else {}
                ct(t, ui, f"{src}.amazonaws.com", name, ip="config.amazonaws.com", ua="config.amazonaws.com", region=region, req=req, tls=False)
                t += timedelta(seconds=rng.randrange(1, 5))

    # --- Lambda ETL every 30 min
    t = DAY + timedelta(minutes=5)
    while t < DAY + timedelta(days=1):
        ui = assumed_role("lambda-etl-role", "nightly-etl", "ASIA" + alnum(16), t)
        ua = "Boto3/1.34.34 md/Botocore#1.34.34 ua/2.0 os/linux#5.10.209-218.812.amzn2.x86_64 md/arch#x86_64 lang/python#3.12.2 exec-env/AWS_Lambda_python3.12"
        ct(t, ui, "dynamodb.amazonaws.com", "DescribeTable", ip="34.204.77.10", ua=ua, req={"tableName": "orders"})
        ct(t + timedelta(seconds=4), ui, "s3.amazonaws.com", "ListObjects", ip="34.204.77.10", ua=ua, data=True,
           req={"bucketName": "acme-etl-staging", "Host": "acme-etl-staging.s3.us-east-1.amazonaws.com", "list-type": "2", "prefix": f"orders/{t:%Y/%m/%d}/"},
           resources=[{"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::acme-etl-staging"}])
        s3_put(t + timedelta(seconds=9), ui, "acme-etl-staging", f"orders/{t:%Y/%m/%d/%H%M}.parquet", "34.204.77.10", ua, rng.randrange(400_000, 900_000))
        t += timedelta(minutes=30, seconds=rng.randrange(-30, 30))

    # --- CI pipeline (the legitimate use of ci-deploy): nightly build 00:30 and deploys during the day
    ci_ui = iam_user("ci-deploy", LEAKED_KEY, CI_KEY_ID)
    for start in ("00:30:05", "10:02:41", "14:31:09", "16:12:55"):
        t = at(start)
        build = f"build-{t:%H%M}"
        ct(t, ci_ui, "sts.amazonaws.com", "GetCallerIdentity", ip=CI_IP, ua=CI_UA.format(cmd="sts.get-caller-identity"), req=None)
        t += timedelta(seconds=3)
        ct(t, ci_ui, "ecr.amazonaws.com", "GetAuthorizationToken", ip=CI_IP, ua=CI_UA.format(cmd="ecr.get-login-password"), req={})
        for i in range(6):
            t += timedelta(seconds=rng.randrange(1, 4))
            ct(t, ci_ui, "ecr.amazonaws.com", rng.choice(["BatchCheckLayerAvailability", "InitiateLayerUpload", "CompleteLayerUpload"]),
               ip=CI_IP, ua="docker/24.0.7 go/go1.20.10 git-commit/311b9ff kernel/5.15.0-1057-aws os/linux arch/amd64",
               req={"repositoryName": "payments-api", "registryId": ACCOUNT}, read_only=False)
        t += timedelta(seconds=5)
        ct(t, ci_ui, "ecr.amazonaws.com", "PutImage", ip=CI_IP, ua="docker/24.0.7 go/go1.20.10",
           req={"repositoryName": "payments-api", "imageTag": build, "registryId": ACCOUNT}, read_only=False)
        for j in range(3):
            t += timedelta(seconds=rng.randrange(2, 6))
            s3_put(t, ci_ui, "acme-ci-artifacts", f"payments-api/{build}/artifact-{j}.tar.gz", CI_IP, CI_UA.format(cmd="s3.cp"), rng.randrange(1_000_000, 9_000_000))
        t += timedelta(seconds=4)
        ct(t, ci_ui, "cloudformation.amazonaws.com", "DescribeStacks", ip=CI_IP, ua=CI_UA.format(cmd="cloudformation.describe-stacks"), req={"stackName": "payments-prod"})
        t += timedelta(seconds=6)
        ct(t, ci_ui, "ecs.amazonaws.com", "UpdateService", ip=CI_IP, ua=CI_UA.format(cmd="ecs.update-service"),
           req={"cluster": "payments-prod", "service": "payments-api", "forceNewDeployment": True}, read_only=False)
        for k in range(4):
            t += timedelta(seconds=15)
            ct(t, ci_ui, "ecs.amazonaws.com", "DescribeServices", ip=CI_IP, ua=CI_UA.format(cmd="ecs.wait"),
               req={"cluster": "payments-prod", "services": ["payments-api"]})

    # --- dave (developer, read-only): one failed console login then work in the afternoon
    t = at("13:02:10")
    ct(t, {"type": "IAMUser", "principalId": "AIDARZ5EXAMPLEDAVE01", "accountId": ACCOUNT, "accessKeyId": "", "userName": "dave"},
       "signin.amazonaws.com", "ConsoleLogin", ip=DAVE_IP, ua=BROWSER_UA, event_type="AwsConsoleSignIn",
       error=None, resp={"ConsoleLogin": "Failure"}, read_only=False,
       additional={"LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No", "MFAUsed": "No"})
    CT[-1]["errorMessage"] = "Failed authentication"
    t = at("13:02:51")
    ct(t, iam_user("dave", None, "AIDARZ5EXAMPLEDAVE01"), "signin.amazonaws.com", "ConsoleLogin", ip=DAVE_IP, ua=BROWSER_UA,
       event_type="AwsConsoleSignIn", resp={"ConsoleLogin": "Success"}, read_only=False,
       additional={"LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No", "MFAUsed": "Yes"})
    dave_ui = iam_user("dave", "ASIA" + alnum(16), "AIDARZ5EXAMPLEDAVE01", mfa=True, console_since=t)
    t += timedelta(seconds=20)
    for i in range(60):
        name, src, req = rng.choice([
            ("DescribeInstances", "ec2", {"instancesSet": {}, "filterSet": {}}),
            ("DescribeLogGroups", "logs", {"limit": 50}),
            ("FilterLogEvents", "logs", {"logGroupName": "/payments/api", "filterPattern": "ERROR"}),
            ("GetMetricData", "monitoring", {"metricDataQueries": [{"id": "q1"}]}),
            ("DescribeServices", "ecs", {"cluster": "payments-prod", "services": ["payments-api"]}),
            ("ListBuckets", "s3", {"Host": "s3.amazonaws.com"}),
        ])
        ct(t, dave_ui, f"{src}.amazonaws.com", name, ip=DAVE_IP, ua=CONSOLE_UA, req=req, console=True)
        t += timedelta(seconds=rng.randrange(20, 240))
    # a denied write from a read-only developer: ordinary noise the analyst must tell apart
    ct(t, dave_ui, "ecs.amazonaws.com", "UpdateService", ip=DAVE_IP, ua=CONSOLE_UA,
       req={"cluster": "payments-prod", "service": "payments-api", "desiredCount": 4}, read_only=False, console=True,
       error=("AccessDeniedException", denied_msg(f"arn:aws:iam::{ACCOUNT}:user/dave", "ecs:UpdateService",
              f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/payments-prod/payments-api")))


def gen_attack() -> None:
    arn = f"arn:aws:iam::{ACCOUNT}:user/ci-deploy"
    ui = iam_user("ci-deploy", LEAKED_KEY, CI_KEY_ID)
    A = dict(ip=ATTACKER_IP, ua=ATTACKER_UA)

    # ---- reconnaissance 01:05 - 01:12
    t = at("01:05:12")
    ct(t, ui, "sts.amazonaws.com", "GetCallerIdentity", req=None, **A)
    recon = [
        ("iam", "GetUser", {"userName": "ci-deploy"}),
        ("iam", "ListAttachedUserPolicies", {"userName": "ci-deploy"}),
        ("iam", "ListUserPolicies", {"userName": "ci-deploy"}),
        ("iam", "ListGroupsForUser", {"userName": "ci-deploy"}),
        ("iam", "GetPolicy", {"policyArn": f"arn:aws:iam::{ACCOUNT}:policy/ci-deploy-policy"}),
        ("iam", "GetPolicyVersion", {"policyArn": f"arn:aws:iam::{ACCOUNT}:policy/ci-deploy-policy", "versionId": "v1"}),
        ("iam", "ListUsers", {}),
        ("iam", "ListRoles", {}),
        ("iam", "ListGroups", {}),
        ("iam", "ListPolicies", {"scope": "Local", "onlyAttached": False}),
        ("iam", "GetAccountAuthorizationDetails", {}),
        ("iam", "ListAccessKeys", {"userName": "svc-backup"}),
        ("iam", "GetRole", {"roleName": DATA_ROLE}),
        ("s3", "ListBuckets", {"Host": "s3.amazonaws.com"}),
        ("ec2", "DescribeRegions", {"regionSet": {}}),
    ]
    for svc, name, req in recon:
        t += timedelta(seconds=rng.randrange(2, 9), microseconds=0)
        ct(t, ui, f"{svc}.amazonaws.com", name, req=req or None, **A)
    for region in ("us-east-1", "us-west-2", "eu-west-1", "ap-southeast-1"):
        t += timedelta(seconds=rng.randrange(1, 4))
        ct(t, ui, "ec2.amazonaws.com", "DescribeInstances", region=region, req={"instancesSet": {}, "filterSet": {}}, **A)
    t += timedelta(seconds=3)
    ct(t, ui, "ec2.amazonaws.com", "DescribeSecurityGroups", req={"securityGroupSet": {}, "filterSet": {}}, **A)
    t += timedelta(seconds=4)
    ct(t, ui, "ecs.amazonaws.com", "ListClusters", req={}, **A)
    t += timedelta(seconds=4)
    ct(t, ui, "eks.amazonaws.com", "ListClusters", req={}, **A)
    t += timedelta(seconds=3)
    ct(t, ui, "eks.amazonaws.com", "DescribeCluster", req={"name": "prod-eks"}, **A)

    # ---- enumeration of what the key may do: a burst of denied calls 01:13 - 01:16
    t = at("01:13:02")
    iam = f"arn:aws:iam::{ACCOUNT}"
    denied = [
        ("iam", "CreateUser", {"userName": "backup-admin"}, "AccessDenied", f"{iam}:user/backup-admin"),
        ("iam", "CreateLoginProfile", {"userName": "alice", "passwordResetRequired": False}, "AccessDenied", f"{iam}:user/alice"),
        ("iam", "PutUserPolicy", {"userName": "ci-deploy", "policyName": "ops", "policyDocument": "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}]}"}, "AccessDenied", f"{iam}:user/ci-deploy"),
        ("iam", "AttachUserPolicy", {"userName": "ci-deploy", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}, "AccessDenied", f"{iam}:user/ci-deploy"),
        ("iam", "AttachRolePolicy", {"roleName": "app-backend-role", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}, "AccessDenied", f"{iam}:role/app-backend-role"),
        ("iam", "UpdateAssumeRolePolicy", {"roleName": "BreakGlassAdmin", "policyDocument": "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::111122223333:user/ci-deploy\"},\"Action\":\"sts:AssumeRole\"}]}"}, "AccessDenied", f"{iam}:role/BreakGlassAdmin"),
        ("iam", "CreateAccessKey", {"userName": "alice"}, "AccessDenied", f"{iam}:user/alice"),
        ("sts", "AssumeRole", {"roleArn": f"{iam}:role/BreakGlassAdmin", "roleSessionName": "test"}, "AccessDenied", f"{iam}:role/BreakGlassAdmin"),
        ("secretsmanager", "ListSecrets", {}, "AccessDeniedException", "*"),
        ("secretsmanager", "GetSecretValue", {"secretId": "prod/payments/db"}, "AccessDeniedException", f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:prod/payments/db-AbCdEf"),
        ("kms", "ListKeys", {}, "AccessDeniedException", "*"),
        ("lambda", "CreateFunction20150331", {"functionName": "sync-helper", "runtime": "python3.12", "role": f"{iam}:role/lambda-etl-role"}, "AccessDeniedException", f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:sync-helper"),
        ("ec2", "RunInstances", {"instancesSet": {"items": [{"imageId": "ami-0c7217cdde317cfec", "minCount": 1, "maxCount": 1}]}, "instanceType": "c5.4xlarge"}, "Client.UnauthorizedOperation", f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/*"),
        ("ec2", "CreateKeyPair", {"keyName": "maint"}, "Client.UnauthorizedOperation", f"arn:aws:ec2:us-east-1:{ACCOUNT}:key-pair/maint"),
        ("s3", "GetBucketPolicy", {"bucketName": EXPORT_BUCKET, "Host": f"{EXPORT_BUCKET}.s3.amazonaws.com", "policy": ""}, "AccessDenied", f"arn:aws:s3:::{EXPORT_BUCKET}"),
        ("s3", "ListObjects", {"bucketName": EXPORT_BUCKET, "Host": f"{EXPORT_BUCKET}.s3.us-east-1.amazonaws.com", "list-type": "2", "prefix": ""}, "AccessDenied", f"arn:aws:s3:::{EXPORT_BUCKET}"),
        ("guardduty", "ListDetectors", {}, "AccessDeniedException", f"arn:aws:guardduty:us-east-1:{ACCOUNT}:detector/*"),
        ("organizations", "DescribeOrganization", {}, "AccessDeniedException", None),
        ("cloudtrail", "DescribeTrails", {"includeShadowTrails": True}, "AccessDenied", f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/*"),
        ("iam", "CreateUser", {"userName": "support-sync"}, "AccessDenied", f"{iam}:user/support-sync"),
        ("iam", "CreateRole", {"roleName": "support-sync", "assumeRolePolicyDocument": "{}"}, "AccessDenied", f"{iam}:role/support-sync"),
        ("iam", "AddUserToGroup", {"userName": "ci-deploy", "groupName": "Admins"}, "AccessDenied", f"{iam}:group/Admins"),
    ]
    data_svcs = {"s3"}
    for svc, name, req, code, res in denied:
        t += timedelta(seconds=rng.randrange(3, 11))
        action = f"{svc}:{name.removesuffix('20150331')}"
        if svc == "s3" and name == "ListObjects":
            action = "s3:ListBucket"
        if res is None:
            msg = "You don't have permissions to access this resource."
        elif svc == "ec2":
            msg = ("You are not authorized to perform this operation. " + denied_msg(arn, action, res)
                   + ". Encoded authorization failure message: " + alnum(120, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"))
        else:
            msg = denied_msg(arn, action, res)
        ct(t, ui, f"{svc}.amazonaws.com", name, req=req or None, error=(code, msg), data=svc in data_svcs and name == "ListObjects",
           read_only=name.startswith(("Get", "List", "Describe")), **A)

    # ---- privilege escalation 01:18 - 01:24
    pol = f"arn:aws:iam::{ACCOUNT}:policy/ci-deploy-policy"
    t = at("01:18:40")
    ct(t, ui, "iam.amazonaws.com", "CreatePolicyVersion",
       req={"policyArn": pol, "policyDocument": "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}]}", "setAsDefault": True},
       resp={"policyVersion": {"versionId": "v2", "isDefaultVersion": True, "createDate": "Mar 14, 2026, 1:18:40 AM"}}, read_only=False, **A)
    t = at("01:19:31")
    ct(t, ui, "iam.amazonaws.com", "AttachUserPolicy",
       req={"userName": "ci-deploy", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}, resp=None, read_only=False, **A)
    t = at("01:20:12")
    ct(t, ui, "iam.amazonaws.com", "ListAccessKeys", req={"userName": "svc-backup"}, **A)
    t = at("01:20:44")
    ct(t, ui, "iam.amazonaws.com", "CreateAccessKey", req={"userName": "svc-backup"},
       resp={"accessKey": {"userName": "svc-backup", "accessKeyId": SVC_BACKUP_NEW_KEY, "status": "Active", "createDate": "Mar 14, 2026, 1:20:44 AM"}},
       read_only=False, **A)
    t = at("01:21:30")
    bk_ui = iam_user("svc-backup", SVC_BACKUP_NEW_KEY, "AIDARZ5EXAMPLESVCBK1")
    ct(t, bk_ui, "sts.amazonaws.com", "GetCallerIdentity", req=None, **A)
    t = at("01:22:05")
    ct(t, ui, "iam.amazonaws.com", "GetRole", req={"roleName": DATA_ROLE}, **A)
    sess_key = "ASIA" + "RZ5EXAMPLEEXF1L7"
    t = at("01:23:17")
    session = "ci-sync-1710379397"
    ct(t, ui, "sts.amazonaws.com", "AssumeRole",
       req={"roleArn": f"arn:aws:iam::{ACCOUNT}:role/{DATA_ROLE}", "roleSessionName": session, "durationSeconds": 3600},
       resp={"credentials": {"accessKeyId": sess_key, "sessionToken": "<redacted>", "expiration": "Mar 14, 2026, 2:23:17 AM"},
             "assumedRoleUser": {"assumedRoleId": f"{ROLE_IDS.setdefault(DATA_ROLE, 'AROA' + alnum(17))}:{session}",
                                 "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{DATA_ROLE}/{session}"}},
       resources=[{"accountId": ACCOUNT, "type": "AWS::IAM::Role", "ARN": f"arn:aws:iam::{ACCOUNT}:role/{DATA_ROLE}"}],
       read_only=True, **A)

    # ---- exfiltration 01:25 - 01:49 through the role session
    rs = assumed_role(DATA_ROLE, session, sess_key, t)
    t = at("01:25:02")
    ct(t, rs, "sts.amazonaws.com", "GetCallerIdentity", req=None, **A)
    t += timedelta(seconds=5)
    ct(t, rs, "s3.amazonaws.com", "ListBuckets", req={"Host": "s3.amazonaws.com"}, **A)
    prefixes = ["exports/2026/01/", "exports/2026/02/", "exports/2026/03/", "pii/"]
    for p in prefixes:
        t += timedelta(seconds=rng.randrange(3, 9))
        ct(t, rs, "s3.amazonaws.com", "ListObjects", data=True,
           req={"bucketName": EXPORT_BUCKET, "Host": f"{EXPORT_BUCKET}.s3.us-east-1.amazonaws.com", "list-type": "2", "prefix": p, "max-keys": "1000"},
           resources=[{"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{EXPORT_BUCKET}"}], **A)
    keys = [f"exports/2026/{m:02d}/customers-{i:04d}.csv.gz" for m in (1, 2, 3) for i in range(1, 91 if m < 3 else 41)]
    keys += [f"pii/kyc-scan-{i:03d}.pdf" for i in range(1, 31)]
    t = at("01:26:10")
    for k in keys:
        t += timedelta(milliseconds=rng.randrange(1500, 6500))
        s3_get(t, rs, EXPORT_BUCKET, k, ATTACKER_IP, ATTACKER_UA, rng.randrange(200_000, 4_000_000))

    # ---- covering tracks 01:51 - 01:52 (after StopLogging the trail records nothing more)
    t = at("01:51:48")
    ct(t, ui, "cloudtrail.amazonaws.com", "DeleteTrail", req={"name": DATA_TRAIL}, resp=None, read_only=False,
       resources=[{"accountId": ACCOUNT, "type": "AWS::CloudTrail::Trail", "ARN": f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/{DATA_TRAIL}"}], **A)
    t = at("01:52:07")
    ct(t, ui, "cloudtrail.amazonaws.com", "StopLogging",
       req={"name": f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/{TRAIL}"}, resp=None, read_only=False,
       resources=[{"accountId": ACCOUNT, "type": "AWS::CloudTrail::Trail", "ARN": f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/{TRAIL}"}], **A)


def gen_response() -> None:
    """07:41: the on-call admin notices the trail is off and responds."""
    t = at("07:38:02")
    ct(t, iam_user("alice", None, "AIDARZ5EXAMPLEALICE1"), "signin.amazonaws.com", "ConsoleLogin", ip=ALICE_IP, ua=BROWSER_UA,
       event_type="AwsConsoleSignIn", resp={"ConsoleLogin": "Success"}, read_only=False,
       additional={"LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No", "MFAUsed": "Yes"})
    ui = iam_user("alice", "ASIA" + alnum(16), "AIDARZ5EXAMPLEALICE1", mfa=True, console_since=t)
    C = dict(ip=ALICE_IP, ua=CONSOLE_UA, console=True)
    trail_arn = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/{TRAIL}"
    steps = [
        ("07:41:10", "cloudtrail", "GetTrailStatus", {"name": trail_arn}, False),
        ("07:41:33", "cloudtrail", "StartLogging", {"name": trail_arn}, True),
        ("07:42:05", "cloudtrail", "LookupEvents", {"lookupAttributes": [{"attributeKey": "Username", "attributeValue": "ci-deploy"}], "maxResults": 50}, False),
        ("07:44:51", "iam", "ListAccessKeys", {"userName": "ci-deploy"}, False),
        ("07:45:20", "iam", "UpdateAccessKey", {"userName": "ci-deploy", "accessKeyId": LEAKED_KEY, "status": "Inactive"}, True),
        ("07:45:58", "iam", "DetachUserPolicy", {"userName": "ci-deploy", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}, True),
        ("07:46:40", "iam", "SetDefaultPolicyVersion", {"policyArn": f"arn:aws:iam::{ACCOUNT}:policy/ci-deploy-policy", "versionId": "v1"}, True),
        ("07:47:02", "iam", "DeletePolicyVersion", {"policyArn": f"arn:aws:iam::{ACCOUNT}:policy/ci-deploy-policy", "versionId": "v2"}, True),
        ("07:48:15", "iam", "ListAccessKeys", {"userName": "svc-backup"}, False),
        ("07:48:40", "iam", "DeleteAccessKey", {"userName": "svc-backup", "accessKeyId": SVC_BACKUP_NEW_KEY}, True),
        ("07:52:30", "iam", "PutRolePolicy", {"roleName": DATA_ROLE, "policyName": "deny-all-sessions-before-0750",
                                              "policyDocument": "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Deny\",\"Action\":\"*\",\"Resource\":\"*\",\"Condition\":{\"DateLessThan\":{\"aws:TokenIssueTime\":\"2026-03-14T07:50:00Z\"}}}]}"}, True),
        ("07:55:10", "cloudtrail", "CreateTrail", {"name": DATA_TRAIL, "s3BucketName": "acme-cloudtrail-logs", "isMultiRegionTrail": True}, True),
    ]
    for hms, svc, name, req, write in steps:
        ct(at(hms), ui, f"{svc}.amazonaws.com", name, req=req, read_only=not write, **C)
    # alice keeps working the case through the morning
    t = at("08:00:00")
    for _ in range(40):
        t += timedelta(seconds=rng.randrange(30, 300))
        name, src, req = rng.choice([
            ("LookupEvents", "cloudtrail", {"maxResults": 50}),
            ("GetUser", "iam", {"userName": "ci-deploy"}),
            ("ListAttachedUserPolicies", "iam", {"userName": "ci-deploy"}),
            ("GetBucketPolicy", "s3", {"bucketName": EXPORT_BUCKET, "Host": f"{EXPORT_BUCKET}.s3.amazonaws.com", "policy": ""}),
            ("DescribeInstances", "ec2", {"instancesSet": {}, "filterSet": {}}),
        ])
        ct(t, ui, f"{src}.amazonaws.com", name, req=req, **C)


def in_trail_window(rec: dict) -> bool:
    """The management trail was stopped 01:52:07 - 07:41:33; the data trail deleted 01:51:48 - 07:55:10."""
    t = rec["eventTime"]
    stop, start = iso(at("01:52:07")), iso(at("07:41:33"))
    if stop < t < start:
        return False
    return True


CT_WRITTEN = [0]


def write_cloudtrail(out: Path) -> list[str]:
    recs = [r for r in CT if in_trail_window(r)]
    # data events went to the data trail only; it was deleted 01:51:48 and re-created 07:55:10
    def keep(r):
        if r["eventCategory"] != "Data":
            return True
        return not (iso(at("01:51:48")) < r["eventTime"] < iso(at("07:55:10")))
    recs = [r for r in recs if keep(r)]
    CT_WRITTEN[0] = len(recs)
    buckets: dict[tuple[str, str], list[dict]] = {}
    for r in recs:
        hour = r["eventTime"][:13]  # YYYY-MM-DDTHH
        buckets.setdefault((r["awsRegion"], hour), []).append(r)
    written = []
    for (region, hour), items in sorted(buckets.items()):
        items.sort(key=lambda r: (r["eventTime"], r["eventID"]))
        start = datetime.strptime(hour, "%Y-%m-%dT%H").replace(tzinfo=timezone.utc)
        delivered = start + timedelta(hours=1, minutes=5)
        d = out / "cloudtrail" / "AWSLogs" / ACCOUNT / "CloudTrail" / region / f"{delivered:%Y}" / f"{delivered:%m}" / f"{delivered:%d}"
        d.mkdir(parents=True, exist_ok=True)
        name = f"{ACCOUNT}_CloudTrail_{region}_{delivered:%Y%m%dT%H%M}Z_{alnum(16, 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789')}.json.gz"
        body = json.dumps({"Records": items}, separators=(",", ":")).encode()
        (d / name).write_bytes(gzip.compress(body, compresslevel=9, mtime=0))
        written.append(str((d / name).relative_to(out)))
    return written


# ============================================================= Kubernetes
K8S: list[dict] = []
NODES = ["ip-10-0-1-23.ec2.internal", "ip-10-0-2-57.ec2.internal", "ip-10-0-3-91.ec2.internal"]
API_IP = "10.0.0.12"
EXEC_POD = "payments-api-6d8f7b9c5-x2k4q"


def k8s(
    t: datetime,
    user: dict,
    verb: str,
    resource: str,
    *,
    ns: str | None = None,
    name: str | None = None,
    sub: str | None = None,
    group: str = "",
    version: str = "v1",
    ip: str,
    ua: str,
    code: int = 200,
    decision: str = "allow",
    reason: str = "",
    stages: tuple[str, ...] = ("ResponseComplete",),
    uri: str | None = None,
    level: str = "Metadata",
    request_object: dict | None = None,
    status_message: str | None = None,
    impersonated: dict | None = None,
    latency_ms: int | None = None,
) -> None:
    audit_id = uid()
    base = "/api/v1" if not group else f"/apis/{group}/{version}"
    if uri is None:
        uri = base
        if ns:
            uri += f"/namespaces/{ns}"
        uri += f"/{resource}"
        if name:
            uri += f"/{name}"
        if sub:
            uri += f"/{sub}"
    obj: dict = {"resource": resource}
    if ns:
        obj["namespace"] = ns
    if name:
        obj["name"] = name
    obj["apiGroup"] = group if group else None
    if not group:
        del obj["apiGroup"]
    obj["apiVersion"] = version
    if sub:
        obj["subresource"] = sub
    latency = latency_ms if latency_ms is not None else rng.randrange(2, 40)
    done = t + timedelta(milliseconds=latency)
    for stage in stages:
        ev: dict = {
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "level": level,
            "auditID": audit_id,
            "stage": stage,
            "requestURI": uri,
            "verb": verb,
            "user": user,
        }
        if impersonated:
            ev["impersonatedUser"] = impersonated
        ev["sourceIPs"] = [ip]
        ev["userAgent"] = ua
        ev["objectRef"] = obj
        stamp = t
        if stage != "RequestReceived":
            stamp = done if stage == "ResponseComplete" else t + timedelta(milliseconds=max(1, latency // 4))
            rs: dict = {"metadata": {}, "code": code}
            if code >= 400:
                rs["status"] = "Failure"
                rs["message"] = status_message or ""
                rs["reason"] = {403: "Forbidden", 404: "NotFound", 409: "AlreadyExists"}.get(code, "")
                rs["details"] = {"name": name or "", "kind": resource}
                if group:
                    rs["details"]["group"] = group
            ev["responseStatus"] = rs
        if request_object is not None and level in ("Request", "RequestResponse"):
            ev["requestObject"] = request_object
        ev["requestReceivedTimestamp"] = iso(t, 6)
        ev["stageTimestamp"] = iso(stamp, 6)
        if stage != "RequestReceived":
            ann = {"authorization.k8s.io/decision": decision, "authorization.k8s.io/reason": reason}
            ev["annotations"] = ann
        K8S.append(ev)


def sa(ns: str, name: str, uid_: str) -> dict:
    return {
        "username": f"system:serviceaccount:{ns}:{name}",
        "uid": uid_,
        "groups": ["system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated"],
    }


def eks_user(name: str, groups: list[str], principal: str, arn: str, key: str = "") -> dict:
    return {
        "username": name,
        "uid": f"aws-iam-authenticator:{ACCOUNT}:{principal}",
        "groups": groups + ["system:authenticated"],
        "extra": {
            "accessKeyId": [key] if key else [],
            "arn": [arn],
            "canonicalArn": [arn],
            "principalId": [principal],
            "sessionName": [""],
        },
    }


def gen_k8s() -> None:
    KUBELET_UA = "kubelet/v1.29.1 (linux/amd64) kubernetes/bd5d76a"
    # --- kubelets: node status + lease every 5 minutes
    for i, node in enumerate(NODES):
        user = {"username": f"system:node:{node}", "groups": ["system:nodes", "system:authenticated"]}
        nip = f"10.0.{i + 1}.{[23, 57, 91][i]}"
        t = DAY + timedelta(seconds=11 + i * 17)
        while t < DAY + timedelta(days=1):
            k8s(t, user, "get", "nodes", name=node, ip=nip, ua=KUBELET_UA, reason="")
            k8s(t + timedelta(milliseconds=120), user, "patch", "nodes", name=node, sub="status", ip=nip, ua=KUBELET_UA, reason="")
            k8s(t + timedelta(milliseconds=300), user, "update", "leases", ns="kube-node-lease", name=node, group="coordination.k8s.io",
                ip=nip, ua=KUBELET_UA, reason="")
            t += timedelta(minutes=10, milliseconds=rng.randrange(-800, 800))
    # --- prometheus scraping the API every 15 minutes
    prom = sa("monitoring", "prometheus", "9b7c5d3e-1f2a-4b6c-8d9e-0a1b2c3d4e5f")
    t = DAY + timedelta(minutes=1, seconds=40)
    while t < DAY + timedelta(days=1):
        for res in ("pods", "endpoints", "services", "nodes"):
            k8s(t, prom, "list", res, ip="10.0.2.201", ua="prometheus/2.50.1",
                reason='RBAC: allowed by ClusterRoleBinding "prometheus" of ClusterRole "prometheus" to ServiceAccount "prometheus/monitoring"')
            t += timedelta(milliseconds=rng.randrange(50, 400))
        t += timedelta(minutes=15, seconds=rng.randrange(-20, 20))
    # --- controller-manager housekeeping, hourly
    cm = {"username": "system:kube-controller-manager", "groups": ["system:authenticated"]}
    for h in range(24):
        t = DAY + timedelta(hours=h, minutes=rng.randrange(60), seconds=rng.randrange(60))
        for verb, res, ns, name, sub, grp in (
            ("update", "deployments", "payments", "payments-api", "status", "apps"),
            ("list", "replicasets", None, None, None, "apps"),
            ("update", "endpoints", "payments", "payments-api", None, ""),
        ):
            k8s(t, cm, verb, res, ns=ns, name=name, sub=sub, group=grp, version="v1", ip=API_IP,
                ua="kube-controller-manager/v1.29.1 (linux/amd64) kubernetes/bd5d76a/system:serviceaccount:kube-system:deployment-controller",
                reason='RBAC: allowed by ClusterRoleBinding "system:kube-controller-manager" of ClusterRole "system:kube-controller-manager" to User "system:kube-controller-manager"',
                stages=("RequestReceived", "ResponseComplete") if verb == "update" else ("ResponseComplete",))
            t += timedelta(seconds=1)
    # --- CI deploys (legit) at the same times as in CloudTrail
    ci = eks_user("ci-deploy", ["ci-deployers"], CI_KEY_ID, f"arn:aws:iam::{ACCOUNT}:user/ci-deploy", LEAKED_KEY)
    ci_reason = 'RBAC: allowed by RoleBinding "ci-deploy/payments" of Role "ci-deployer" to Group "ci-deployers"'
    sched = {"username": "system:kube-scheduler", "groups": ["system:authenticated"]}
    for start in ("00:31:40", "10:04:02", "14:32:30", "16:14:20"):
        t = at(start)
        KUA = "kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819"
        k8s(t, ci, "get", "deployments", ns="payments", name="payments-api", group="apps", ip=CI_IP, ua=KUA, reason=ci_reason)
        t += timedelta(seconds=1)
        k8s(t, ci, "patch", "deployments", ns="payments", name="payments-api", group="apps", ip=CI_IP, ua=KUA, reason=ci_reason,
            stages=("RequestReceived", "ResponseComplete"))
        for r in range(3):
            t += timedelta(seconds=rng.randrange(3, 8))
            pod = f"payments-api-{alnum(9, 'bcdfghjklmnpqrstvwxz2456789')}-{alnum(5, 'bcdfghjklmnpqrstvwxz2456789')}"
            k8s(t, sched, "create", "pods", ns="payments", name=pod, sub="binding", ip=API_IP,
                ua="kube-scheduler/v1.29.1 (linux/amd64) kubernetes/bd5d76a/scheduler",
                reason='RBAC: allowed by ClusterRoleBinding "system:kube-scheduler" of ClusterRole "system:kube-scheduler" to User "system:kube-scheduler"',
                code=201, stages=("RequestReceived", "ResponseComplete"))
        for w in range(5):
            t += timedelta(seconds=5)
            k8s(t, ci, "get", "deployments", ns="payments", name="payments-api", group="apps", ip=CI_IP, ua=KUA, reason=ci_reason)
        t += timedelta(seconds=2)
        k8s(t, ci, "list", "pods", ns="payments", ip=CI_IP, ua=KUA, reason=ci_reason)

    # --- the intrusion, 02:03 - 02:13, using the leaked key's EKS token
    A = dict(ip=ATTACKER_IP, ua=ATTACKER_KUBECTL)
    t = at("02:03:11")
    k8s(t, ci, "create", "selfsubjectaccessreviews", group="authorization.k8s.io", code=201, reason="", **A)
    t = at("02:03:19")
    k8s(t, ci, "create", "selfsubjectrulesreviews", group="authorization.k8s.io", code=201, reason="", **A)
    t = at("02:03:40")
    k8s(t, ci, "list", "namespaces", code=403, decision="forbid", reason="",
        status_message='namespaces is forbidden: User "ci-deploy" cannot list resource "namespaces" in API group "" at the cluster scope', **A)
    t = at("02:03:52")
    k8s(t, ci, "list", "pods", ns="payments", reason=ci_reason, **A)
    t = at("02:04:05")
    k8s(t, ci, "list", "secrets", ns="kube-system", code=403, decision="forbid", reason="",
        status_message='secrets is forbidden: User "ci-deploy" cannot list resource "secrets" in API group "" in the namespace "kube-system"', **A)
    t = at("02:04:31")
    k8s(t, ci, "get", "pods", ns="payments", name=EXEC_POD, reason=ci_reason, **A)
    t = at("02:04:40")
    k8s(t, ci, "create", "pods", ns="payments", name=EXEC_POD, sub="exec", reason=ci_reason, code=101,
        uri=f"/api/v1/namespaces/payments/pods/{EXEC_POD}/exec?command=%2Fbin%2Fsh&container=api&stdin=true&stdout=true&tty=true",
        stages=("RequestReceived", "ResponseStarted", "ResponseComplete"), latency_ms=412_000, **A)
    # inside the pod: its service account token talks to the API server
    psa = sa("payments", "payments-api", "4f1d2c3b-5a6e-4d7f-9c8b-7a6e5d4c3b2a")
    pod_ip = "10.0.3.144"
    CURL = "curl/8.5.0"
    legacy = 'RBAC: allowed by ClusterRoleBinding "payments-api-legacy" of ClusterRole "payments-api-legacy" to ServiceAccount "payments-api/payments"'
    t = at("02:05:58")
    k8s(t, psa, "list", "secrets", ns="payments", ip=pod_ip, ua=CURL, reason=legacy)
    t = at("02:06:20")
    k8s(t, psa, "list", "secrets", ns="kube-system", ip=pod_ip, ua=CURL, reason=legacy)
    for nm in ("aws-node-token-7xk2p", "portal-admin-token", "cluster-autoscaler-aws-credentials", "ebs-csi-controller-sa-token-q9v4m"):
        t += timedelta(seconds=rng.randrange(4, 15))
        k8s(t, psa, "get", "secrets", ns="kube-system", name=nm, ip=pod_ip, ua=CURL, reason=legacy)
    t = at("02:08:02")
    k8s(t, psa, "create", "clusterrolebindings", group="rbac.authorization.k8s.io", ip=pod_ip, ua=CURL, code=403, decision="forbid", reason="",
        status_message='clusterrolebindings.rbac.authorization.k8s.io is forbidden: User "system:serviceaccount:payments:payments-api" cannot create resource "clusterrolebindings" in API group "rbac.authorization.k8s.io" at the cluster scope',
        stages=("RequestReceived", "ResponseComplete"))
    t = at("02:09:30")
    k8s(t, ci, "create", "clusterrolebindings", group="rbac.authorization.k8s.io", code=403, decision="forbid", reason="",
        status_message='clusterrolebindings.rbac.authorization.k8s.io is forbidden: User "ci-deploy" cannot create resource "clusterrolebindings" in API group "rbac.authorization.k8s.io" at the cluster scope',
        stages=("RequestReceived", "ResponseComplete"), **A)
    t = at("02:10:12")
    rb = {
        "kind": "RoleBinding", "apiVersion": "rbac.authorization.k8s.io/v1",
        "metadata": {"name": "debug-access", "namespace": "payments"},
        "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "ci-deploy"}],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
    }
    k8s(t, ci, "create", "rolebindings", ns="payments", name="debug-access", group="rbac.authorization.k8s.io", code=201, reason=ci_reason,
        uri="/apis/rbac.authorization.k8s.io/v1/namespaces/payments/rolebindings?fieldManager=kubectl-create&fieldValidation=Strict",
        stages=("RequestReceived", "ResponseComplete"), level="RequestResponse", request_object=rb, **A)
    t = at("02:11:05")
    k8s(t, ci, "get", "secrets", ns="payments", name="payments-db", reason='RBAC: allowed by RoleBinding "debug-access/payments" of ClusterRole "admin" to User "ci-deploy"', **A)
    t = at("02:12:40")
    k8s(t, ci, "delete", "pods", ns="payments", name=EXEC_POD, reason=ci_reason, stages=("RequestReceived", "ResponseComplete"), **A)

    # --- response: alice (cluster admin) cleans up at 07:58
    alice = eks_user("alice", ["cluster-admins"], "AIDARZ5EXAMPLEALICE1", f"arn:aws:iam::{ACCOUNT}:user/alice")
    ar = 'RBAC: allowed by ClusterRoleBinding "cluster-admins" of ClusterRole "cluster-admin" to Group "cluster-admins"'
    AU = dict(ip=ALICE_IP, ua="kubectl/v1.29.3 (darwin/arm64) kubernetes/6813625", reason=ar)
    t = at("07:58:03")
    k8s(t, alice, "list", "rolebindings", ns="payments", group="rbac.authorization.k8s.io", **AU)
    t = at("07:58:40")
    k8s(t, alice, "get", "rolebindings", ns="payments", name="debug-access", group="rbac.authorization.k8s.io", **AU)
    t = at("07:59:15")
    k8s(t, alice, "delete", "rolebindings", ns="payments", name="debug-access", group="rbac.authorization.k8s.io",
        stages=("RequestReceived", "ResponseComplete"), **AU)
    t = at("08:01:00")
    for nm in ("portal-admin-token", "aws-node-token-7xk2p"):
        t += timedelta(seconds=30)
        k8s(t, alice, "delete", "secrets", ns="kube-system", name=nm, stages=("RequestReceived", "ResponseComplete"), **AU)
    t = at("08:03:00")
    k8s(t, alice, "patch", "clusterroles", name="payments-api-legacy", group="rbac.authorization.k8s.io",
        stages=("RequestReceived", "ResponseComplete"), **AU)


def write_k8s(out: Path) -> str:
    K8S.sort(key=lambda e: (e["stageTimestamp"], e["auditID"], ["RequestReceived", "ResponseStarted", "ResponseComplete"].index(e["stage"])))
    d = out / "k8s"
    d.mkdir(parents=True, exist_ok=True)
    with open(d / "audit.log", "w", encoding="utf-8", newline="\n") as fh:
        for ev in K8S:
            fh.write(json.dumps(ev, separators=(",", ":")) + "\n")
    return "k8s/audit.log"


# ============================================================= app audit chain
APP: list[dict] = []


def app(t: datetime, actor: str, action: str, resource: str, outcome: str, ip: str, **details) -> None:
    APP.append({"ts": iso(t, 3), "actor": actor, "action": action, "resource": resource, "outcome": outcome,
                "src_ip": ip, "details": details})


def gen_app() -> None:
    staff = [("carol@acme.example", "198.51.100.60"), ("erin@acme.example", "198.51.100.61"), ("frank@acme.example", "198.51.100.62")]
    for who, ip in staff:
        t = at("08:30:00") + timedelta(minutes=rng.randrange(0, 60))
        app(t, who, "auth.login", "portal", "success", ip, method="sso", mfa=True)
        for _ in range(rng.randrange(25, 40)):
            t += timedelta(seconds=rng.randrange(60, 900))
            act, res = rng.choice([
                ("customer.view", f"customer:{rng.randrange(10000, 99999)}"),
                ("customer.view", f"customer:{rng.randrange(10000, 99999)}"),
                ("customer.search", "customers"),
                ("ticket.update", f"ticket:{rng.randrange(4000, 5000)}"),
                ("report.view", "report:daily-revenue"),
            ])
            app(t, who, act, res, "success", ip)
        app(t + timedelta(minutes=5), who, "auth.logout", "portal", "success", ip)
    # a failed login in the afternoon (typo) -> success
    app(at("13:40:02"), "erin@acme.example", "auth.login", "portal", "failure", "198.51.100.61", method="password", reason="bad_password")
    # deploys by CI (the portal logs its releases)
    for hms in ("00:33:02", "10:06:10", "14:34:45", "16:16:30"):
        app(at(hms), "ci-deploy", "release.deploy", "service:portal", "success", CI_IP, version=f"2026.03.14-{hms[:2]}{hms[3:5]}")
    # the intrusion: a service token read from kube-system/portal-admin-token
    app(at("02:14:07"), "svc-portal-admin", "auth.token_login", "portal", "success", ATTACKER_IP, method="api_token", token_id="tok_7f3a91")
    app(at("02:14:40"), "svc-portal-admin", "user.role.grant", "user:ci-deploy", "success", ATTACKER_IP, role="admin")
    app(at("02:15:22"), "svc-portal-admin", "customer.export.create", "export:all-customers", "success", ATTACKER_IP, rows=184233, fields="all")
    app(at("02:16:49"), "svc-portal-admin", "customer.export.download", "export:all-customers", "success", ATTACKER_IP, bytes=91345011)
    app(at("02:17:30"), "svc-portal-admin", "audit.settings.update", "audit:retention", "success", ATTACKER_IP, retention_days={"old": 365, "new": 1})
    app(at("02:17:55"), "svc-portal-admin", "auth.logout", "portal", "success", ATTACKER_IP)
    # response
    app(at("08:05:30"), "alice@acme.example", "auth.login", "portal", "success", ALICE_IP, method="sso", mfa=True)
    app(at("08:06:10"), "alice@acme.example", "token.revoke", "token:tok_7f3a91", "success", ALICE_IP)
    app(at("08:06:42"), "alice@acme.example", "user.role.revoke", "user:ci-deploy", "success", ALICE_IP, role="admin")
    app(at("08:07:15"), "alice@acme.example", "audit.settings.update", "audit:retention", "success", ALICE_IP, retention_days={"old": 1, "new": 365})


def chain(records: list[dict]) -> list[dict]:
    out = []
    prev = "0" * 64
    for i, r in enumerate(records, start=1):
        rec = {"seq": i, **r, "prev_hash": prev}
        h = hashlib.sha256(rfc8785.dumps(rec)).hexdigest()
        rec["hash"] = h
        out.append(rec)
        prev = h
    return out


#: what the tampered copy changes (documented in README.md)
TAMPER_MODIFY_ACTION = "auth.token_login"
TAMPER_DELETE_ACTION = "customer.export.download"
TAMPER_FORGED_IP = "10.0.4.12"


def write_app(out: Path) -> dict:
    APP.sort(key=lambda r: (r["ts"], r["actor"], r["action"]))
    recs = chain(APP)
    d = out / "app"
    d.mkdir(parents=True, exist_ok=True)

    def dump(path: Path, rows: list[dict]) -> None:
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            for r in rows:
                fh.write(json.dumps(r, separators=(",", ":"), ensure_ascii=False) + "\n")

    dump(d / "audit.jsonl", recs)
    # Tampered copy: the attacker rewrote the source IP of their token login
    # (keeping the stored hash, which no longer matches) and deleted the
    # export-download record; the rest is byte-identical.
    tampered = []
    mod_seq = del_seq = None
    for r in recs:
        if r["action"] == TAMPER_DELETE_ACTION and r["actor"] == "svc-portal-admin":
            del_seq = r["seq"]
            continue
        if r["action"] == TAMPER_MODIFY_ACTION:
            r = dict(r, src_ip=TAMPER_FORGED_IP)
            mod_seq = r["seq"]
        tampered.append(r)
    dump(d / "audit.tampered.jsonl", tampered)
    return {"records": len(recs), "modified_seq": mod_seq, "deleted_seq": del_seq,
            "modified_line": next(i for i, r in enumerate(tampered, 1) if r["seq"] == mod_seq),
            "after_hole_line": next(i for i, r in enumerate(tampered, 1) if r["seq"] == del_seq + 1)}


# ============================================================= grants
def doc(*stmts: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(stmts)}


def allow(action, resource="*", sid=None, **extra) -> dict:
    s = {"Sid": sid} if sid else {}
    s.update({"Effect": "Allow", "Action": action, "Resource": resource})
    s.update(extra)
    return s


def managed(name: str, arn: str, versions: list[tuple[str, dict, str]], default: str, attachments: int, path: str = "/") -> dict:
    pid = "ANPA" + alnum(17)
    return {
        "PolicyName": name,
        "PolicyId": pid,
        "Arn": arn,
        "Path": path,
        "DefaultVersionId": default,
        "AttachmentCount": attachments,
        "PermissionsBoundaryUsageCount": 0,
        "IsAttachable": True,
        "CreateDate": versions[0][2],
        "UpdateDate": versions[-1][2],
        "PolicyVersionList": [
            {"Document": d, "VersionId": v, "IsDefaultVersion": v == default, "CreateDate": c} for v, d, c in reversed(versions)
        ],
    }


def trust(principal: dict, condition: dict | None = None) -> dict:
    s = {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
    if condition:
        s["Condition"] = condition
    return doc(s)


def gen_grants(after: bool) -> dict:
    """``aws iam get-account-authorization-details``; *after* = the snapshot taken at 07:40 before clean-up."""
    a = f"arn:aws:iam::{ACCOUNT}"
    uids = {n: "AIDA" + alnum(17) for n in ("alice", "bob", "ci-deploy", "dave", "svc-backup")}
    uids["ci-deploy"], uids["alice"], uids["dave"], uids["svc-backup"] = CI_KEY_ID, "AIDARZ5EXAMPLEALICE1", "AIDARZ5EXAMPLEDAVE01", "AIDARZ5EXAMPLESVCBK1"

    def user(name, created, groups=(), attached=(), inline=(), tags=(), boundary=None):
        u = {"Path": "/", "UserName": name, "UserId": uids[name], "Arn": f"{a}:user/{name}", "CreateDate": created,
             "UserPolicyList": [{"PolicyName": n, "PolicyDocument": d} for n, d in inline],
             "GroupList": list(groups),
             "AttachedManagedPolicies": [{"PolicyName": p.rsplit("/", 1)[-1], "PolicyArn": p} for p in attached],
             "Tags": [{"Key": k, "Value": v} for k, v in tags]}
        if boundary:
            u["PermissionsBoundary"] = {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": boundary}
        return u

    ci_attached = [f"{a}:policy/ci-deploy-policy"] + (["arn:aws:iam::aws:policy/AdministratorAccess"] if after else [])
    users = [
        user("alice", "2021-04-12T09:14:22Z", groups=["Admins"], tags=[("team", "platform")]),
        user("bob", "2020-11-03T16:40:05Z", groups=["Admins"], tags=[("team", "platform"), ("status", "left-company-2025-10")]),
        user("ci-deploy", "2022-06-01T12:00:00Z", attached=ci_attached, tags=[("owner", "platform"), ("purpose", "github-actions")]),
        user("dave", "2023-02-20T10:05:41Z", groups=["Developers"],
             boundary=f"{a}:policy/developer-boundary", tags=[("team", "payments")]),
        user("svc-backup", "2019-08-14T07:22:10Z", inline=[("backup-s3", doc(
            allow(["s3:GetObject", "s3:ListBucket", "s3:PutObject"], ["arn:aws:s3:::acme-backups", "arn:aws:s3:::acme-backups/*"]),
            allow("s3:ListAllMyBuckets")))], tags=[("owner", "legacy-ops")]),
    ]
    groups = [
        {"Path": "/", "GroupName": "Admins", "GroupId": "AGPA" + alnum(17), "Arn": f"{a}:group/Admins", "CreateDate": "2019-05-02T08:00:00Z",
         "GroupPolicyList": [], "AttachedManagedPolicies": [{"PolicyName": "AdministratorAccess", "PolicyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}]},
        {"Path": "/", "GroupName": "Developers", "GroupId": "AGPA" + alnum(17), "Arn": f"{a}:group/Developers", "CreateDate": "2019-05-02T08:00:00Z",
         "GroupPolicyList": [{"PolicyName": "deny-iam-writes", "PolicyDocument": doc(
             {"Effect": "Deny", "NotAction": ["iam:Get*", "iam:List*", "iam:Generate*", "iam:Simulate*"], "Resource": "*",
              "Condition": {"StringLike": {"aws:PrincipalArn": f"{a}:user/*"}}})}],
         "AttachedManagedPolicies": [{"PolicyName": "ReadOnlyAccess", "PolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}]},
    ]

    def role(name, created, trust_doc, attached=(), inline=(), last_used=None, boundary=None, profile=False):
        r = {"Path": "/" if not name.startswith("AWSService") else "/aws-service-role/config.amazonaws.com/",
             "RoleName": name, "RoleId": ROLE_IDS.setdefault(name, "AROA" + alnum(17)), "Arn": f"{a}:role/{name}",
             "CreateDate": created, "AssumeRolePolicyDocument": trust_doc,
             "InstanceProfileList": [], "RolePolicyList": [{"PolicyName": n, "PolicyDocument": d} for n, d in inline],
             "AttachedManagedPolicies": [{"PolicyName": p.rsplit("/", 1)[-1], "PolicyArn": p} for p in attached],
             "Tags": [], "RoleLastUsed": {"LastUsedDate": last_used, "Region": "us-east-1"} if last_used else {}}
        if boundary:
            r["PermissionsBoundary"] = {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": boundary}
        if profile:
            r["InstanceProfileList"] = [{"Path": "/", "InstanceProfileName": name, "InstanceProfileId": "AIPA" + alnum(17),
                                         "Arn": f"{a}:instance-profile/{name}", "CreateDate": created, "Roles": []}]
        return r

    root = {"AWS": f"{a}:root"}
    inline_deny = [("deny-all-sessions-before-0750", doc({"Effect": "Deny", "Action": "*", "Resource": "*",
                                                           "Condition": {"DateLessThan": {"aws:TokenIssueTime": "2026-03-14T07:50:00Z"}}}))]
    roles = [
        role("app-backend-role", "2022-01-10T11:11:11Z", trust({"Service": "ec2.amazonaws.com"}), profile=True,
             inline=[("app", doc(allow("kms:Decrypt", f"arn:aws:kms:us-east-1:{ACCOUNT}:key/5e0f7c1a-2b3d-4e5f-8a9b-0c1d2e3f4a5b"),
                                 allow(["ssm:GetParameter", "ssm:GetParameters"], f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/payments/*"),
                                 allow(["s3:GetObject"], "arn:aws:s3:::acme-app-assets/*"),
                                 allow(["logs:CreateLogStream", "logs:PutLogEvents"], f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/payments/*"),
                                 allow(["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage"], f"arn:aws:sqs:us-east-1:{ACCOUNT}:payments-*")))],
             last_used="2026-03-13T23:58:40Z"),
        role(DATA_ROLE, "2023-09-05T14:30:00Z", trust(root), attached=[f"{a}:policy/data-analytics-read"],
             inline=inline_deny if after else [], last_used="2026-03-10T16:22:03Z"),
        role("lambda-etl-role", "2022-03-14T09:00:00Z", trust({"Service": "lambda.amazonaws.com"}),
             inline=[("etl", doc(allow(["dynamodb:DescribeTable", "dynamodb:Scan", "dynamodb:Query"], f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/orders"),
                                 allow(["s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                                       ["arn:aws:s3:::acme-etl-staging", "arn:aws:s3:::acme-etl-staging/*"])))],
             boundary=f"{a}:policy/workload-boundary", last_used="2026-03-13T23:35:12Z"),
        role("datadog-integration-role", "2021-07-19T13:45:00Z",
             trust({"AWS": "arn:aws:iam::464622532012:root"}, {"StringEquals": {"sts:ExternalId": "8d1c2b3a4f5e6d7c"}}),
             attached=["arn:aws:iam::aws:policy/ReadOnlyAccess"], last_used="2026-03-13T23:53:20Z"),
        role("BreakGlassAdmin", "2020-02-01T10:00:00Z", trust(root, {"Bool": {"aws:MultiFactorAuthPresent": "true"}}),
             inline=[("everything", doc(allow("*", "*")))], last_used="2024-06-11T03:12:44Z"),
        role("AWSServiceRoleForConfig", "2019-05-02T08:30:00Z", trust({"Service": "config.amazonaws.com"}),
             attached=["arn:aws:iam::aws:policy/aws-service-role/AWSConfigServiceRolePolicy"], last_used="2026-03-13T23:17:30Z"),
    ]
    ci_v1 = doc(
        allow(["ecr:GetAuthorizationToken"], "*", sid="EcrLogin"),
        allow(["ecr:*"], f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/*", sid="EcrPush"),
        allow(["s3:*"], "*", sid="Artifacts"),
        allow(["ecs:UpdateService", "ecs:Describe*", "ecs:List*", "ecs:RegisterTaskDefinition"], "*", sid="Deploy"),
        allow(["cloudformation:*"], "*", sid="Stacks"),
        allow(["iam:PassRole"], f"{a}:role/ecs-task-*", sid="PassTaskRole"),
        allow(["iam:Get*", "iam:List*"], "*", sid="SelfInspect"),
        allow(["iam:CreatePolicyVersion", "iam:DeletePolicyVersion", "iam:SetDefaultPolicyVersion"], f"{a}:policy/ci-deploy-*", sid="SelfManagePolicy"),
        allow(["ec2:Describe*"], "*", sid="Describe"),
        allow(["eks:DescribeCluster", "eks:ListClusters"], "*", sid="Kubeconfig"),
    )
    ci_v2 = doc(allow("*", "*"))
    ci_versions = [("v1", ci_v1, "2022-06-01T12:00:00Z")] + ([("v2", ci_v2, "2026-03-14T01:18:40Z")] if after else [])
    admin = doc(allow("*", "*"))
    read_only = doc(allow([
        "cloudformation:Describe*", "cloudformation:Get*", "cloudformation:List*", "cloudtrail:Describe*", "cloudtrail:Get*",
        "cloudtrail:LookupEvents", "cloudwatch:Describe*", "cloudwatch:Get*", "cloudwatch:List*", "dynamodb:Describe*",
        "dynamodb:List*", "ec2:Describe*", "ec2:Get*", "ecr:Describe*", "ecr:List*", "ecs:Describe*", "ecs:List*",
        "eks:Describe*", "eks:List*", "iam:Get*", "iam:List*", "kms:Describe*", "kms:List*", "lambda:Get*", "lambda:List*",
        "logs:Describe*", "logs:FilterLogEvents", "logs:Get*", "rds:Describe*", "s3:GetBucket*", "s3:GetObject",
        "s3:List*", "sqs:Get*", "sqs:List*", "ssm:Describe*", "ssm:Get*", "tag:Get*",
    ]))
    policies = [
        managed("AdministratorAccess", "arn:aws:iam::aws:policy/AdministratorAccess", [("v1", admin, "2015-02-06T18:39:46Z")], "v1", 2 + (1 if after else 0)),
        managed("ReadOnlyAccess", "arn:aws:iam::aws:policy/ReadOnlyAccess", [("v118", read_only, "2025-11-20T17:02:11Z")], "v118", 2),
        managed("AWSConfigServiceRolePolicy", "arn:aws:iam::aws:policy/aws-service-role/AWSConfigServiceRolePolicy",
                [("v51", doc(allow(["ec2:Describe*", "s3:GetBucketAcl", "s3:GetBucketPolicy", "rds:Describe*", "iam:Get*", "iam:List*"])), "2025-09-01T10:00:00Z")],
                "v51", 1, path="/aws-service-role/"),
        managed("ci-deploy-policy", f"{a}:policy/ci-deploy-policy", ci_versions, "v2" if after else "v1", 1),
        managed("data-analytics-read", f"{a}:policy/data-analytics-read", [("v3", doc(
            allow(["s3:GetObject", "s3:ListBucket", "s3:ListAllMyBuckets", "s3:GetBucketLocation"],
                  ["arn:aws:s3:::acme-customer-exports", "arn:aws:s3:::acme-customer-exports/*", "arn:aws:s3:::*"]),
            allow("kms:Decrypt", f"arn:aws:kms:us-east-1:{ACCOUNT}:key/0b9a8c7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d"),
            allow("athena:*", "*")), "2024-02-12T09:30:00Z")], "v3", 1),
        managed("developer-boundary", f"{a}:policy/developer-boundary", [("v1", doc(
            allow(["ec2:*", "ecs:*", "logs:*", "cloudwatch:*", "s3:*", "iam:Get*", "iam:List*", "eks:*"])), "2023-02-20T10:00:00Z")], "v1", 0),
        managed("workload-boundary", f"{a}:policy/workload-boundary", [("v2", doc(
            allow(["s3:*", "dynamodb:*", "logs:*", "kms:Decrypt", "ssm:GetParameter*", "sqs:*"]),
            {"Effect": "Deny", "Action": ["iam:*", "organizations:*", "cloudtrail:*"], "Resource": "*"}), "2023-06-01T10:00:00Z")], "v2", 0),
    ]
    policies[5]["PermissionsBoundaryUsageCount"] = 1
    policies[6]["PermissionsBoundaryUsageCount"] = 1
    return {"UserDetailList": users, "GroupDetailList": groups, "RoleDetailList": roles, "Policies": policies, "IsTruncated": False}


RBAC = """\
# Kubernetes RBAC of the prod-eks cluster (kubectl get roles,clusterroles,rolebindings,clusterrolebindings -A -o yaml,
# trimmed to the objects that matter for the sample incident).  Snapshot taken 2026-03-13T22:00Z (before the incident).
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: cluster-admin
rules:
- apiGroups: ["*"]
  resources: ["*"]
  verbs: ["*"]
- nonResourceURLs: ["*"]
  verbs: ["*"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: cluster-admin
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: Group
  name: system:masters
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: cluster-admin
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: cluster-admins
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: Group
  name: cluster-admins
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: cluster-admin
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: admin
rules:
- apiGroups: [""]
  resources: ["pods", "pods/exec", "pods/log", "services", "endpoints", "configmaps", "secrets", "serviceaccounts", "persistentvolumeclaims"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
- apiGroups: ["apps"]
  resources: ["deployments", "replicasets", "statefulsets", "daemonsets"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
- apiGroups: ["rbac.authorization.k8s.io"]
  resources: ["roles", "rolebindings"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: ci-deployer
  namespace: payments
rules:
- apiGroups: ["apps"]
  resources: ["deployments", "replicasets"]
  verbs: ["get", "list", "watch", "create", "update", "patch"]
- apiGroups: [""]
  resources: ["pods", "pods/log", "services", "configmaps"]
  verbs: ["get", "list", "watch", "delete"]
- apiGroups: [""]
  resources: ["pods/exec"]
  verbs: ["create"]
- apiGroups: ["rbac.authorization.k8s.io"]
  resources: ["rolebindings"]
  verbs: ["create", "update", "patch"]
- apiGroups: ["rbac.authorization.k8s.io"]
  resources: ["clusterroles"]
  verbs: ["bind"]
  resourceNames: ["admin", "edit", "view"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: ci-deploy
  namespace: payments
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: Group
  name: ci-deployers
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: ci-deployer
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: payments-api-legacy
  annotations:
    note: "granted in 2022 for a config reloader that no longer exists"
rules:
- apiGroups: [""]
  resources: ["secrets", "configmaps"]
  verbs: ["get", "list", "watch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: payments-api-legacy
subjects:
- kind: ServiceAccount
  name: payments-api
  namespace: payments
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: payments-api-legacy
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: prometheus
rules:
- apiGroups: [""]
  resources: ["nodes", "nodes/metrics", "services", "endpoints", "pods"]
  verbs: ["get", "list", "watch"]
- nonResourceURLs: ["/metrics"]
  verbs: ["get"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: prometheus
subjects:
- kind: ServiceAccount
  name: prometheus
  namespace: monitoring
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: prometheus
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: ops-wildcard
rules:
- apiGroups: ["*"]
  resources: ["*"]
  verbs: ["*"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: ops-oncall
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: ops-oncall
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: ops-wildcard
---
apiVersion: rbac.authorization.k8s.io/v1
kind: List
items:
- apiVersion: rbac.authorization.k8s.io/v1
  kind: ClusterRole
  metadata:
    name: system:kube-scheduler
  rules:
  - apiGroups: [""]
    resources: ["pods/binding", "bindings"]
    verbs: ["create"]
  - apiGroups: [""]
    resources: ["pods", "nodes"]
    verbs: ["get", "list", "watch"]
- apiVersion: rbac.authorization.k8s.io/v1
  kind: ClusterRoleBinding
  metadata:
    name: system:kube-scheduler
  subjects:
  - apiGroup: rbac.authorization.k8s.io
    kind: User
    name: system:kube-scheduler
  roleRef:
    apiGroup: rbac.authorization.k8s.io
    kind: ClusterRole
    name: system:kube-scheduler
- apiVersion: rbac.authorization.k8s.io/v1
  kind: ClusterRole
  metadata:
    name: system:kube-controller-manager
  rules:
  - apiGroups: ["", "apps"]
    resources: ["deployments", "deployments/status", "replicasets", "endpoints", "pods"]
    verbs: ["get", "list", "watch", "update", "patch", "create", "delete"]
- apiVersion: rbac.authorization.k8s.io/v1
  kind: ClusterRoleBinding
  metadata:
    name: system:kube-controller-manager
  subjects:
  - apiGroup: rbac.authorization.k8s.io
    kind: User
    name: system:kube-controller-manager
  roleRef:
    apiGroup: rbac.authorization.k8s.io
    kind: ClusterRole
    name: system:kube-controller-manager
- apiVersion: rbac.authorization.k8s.io/v1
  kind: ClusterRole
  metadata:
    name: system:node
  rules:
  - apiGroups: [""]
    resources: ["nodes", "nodes/status"]
    verbs: ["get", "list", "watch", "patch", "update"]
  - apiGroups: ["coordination.k8s.io"]
    resources: ["leases"]
    verbs: ["get", "create", "update"]
- apiVersion: rbac.authorization.k8s.io/v1
  kind: ClusterRoleBinding
  metadata:
    name: system:node
  subjects:
  - apiGroup: rbac.authorization.k8s.io
    kind: Group
    name: system:nodes
  roleRef:
    apiGroup: rbac.authorization.k8s.io
    kind: ClusterRole
    name: system:node
"""


def write_grants(out: Path) -> list[str]:
    d = out / "grants"
    d.mkdir(parents=True, exist_ok=True)
    state = rng.getstate()  # both snapshots draw the same ids
    before = gen_grants(after=False)
    rng.setstate(state)
    (d / "authorization-details.json").write_text(json.dumps(before, indent=4) + "\n", encoding="utf-8")
    after = gen_grants(after=True)
    (d / "authorization-details-after.json").write_text(json.dumps(after, indent=4) + "\n", encoding="utf-8")
    (d / "rbac.yaml").write_text(RBAC, encoding="utf-8")
    return ["grants/authorization-details.json", "grants/authorization-details-after.json", "grants/rbac.yaml"]


# ============================================================= main
def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent
    gen_cloudtrail_background()
    gen_attack()
    gen_response()
    gen_k8s()
    gen_app()
    # remove previous outputs of this script (never anything else)
    for sub in ("cloudtrail/AWSLogs",):
        p = out / sub
        if p.exists():
            for f in sorted(p.rglob("*.json.gz")):
                f.unlink()
    files = write_cloudtrail(out)
    files.append(write_k8s(out))
    info = write_app(out)
    files += ["app/audit.jsonl", "app/audit.tampered.jsonl"]
    files += write_grants(out)
    summary = {
        "cloudtrail_records": CT_WRITTEN[0],
        "k8s_lines": len(K8S),
        "k8s_requests": len({e["auditID"] for e in K8S}),
        "app_records": info["records"],
        "tampered": info,
        "files": len(files),
    }
    print(json.dumps(summary, indent=2), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
