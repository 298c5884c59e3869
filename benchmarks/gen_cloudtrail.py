#!/usr/bin/env python3
"""Deterministic generator of CloudTrail-like events for benchmarks.

    python benchmarks/gen_cloudtrail.py N SEED OUT [--format jsonl|records-gz|records]

* ``jsonl``: one record per line (what Logstash/Athena exports look like);
* ``records-gz``: S3 delivery shape, ``{"Records":[...]}`` gzip-compressed
  (one document; real S3 objects hold a few hundred records, the benchmark
  uses one big document to exercise the streaming reader);
* ``records``: the same, uncompressed.

The same (N, SEED) always produces the same bytes.  Records are 1-2 KB, with
hundreds of users and roles, thousands of source IPs, ~40 services and ~150
event names, requestParameters / responseElements / resources shaped like the
real API calls, ~5 % errors (AccessDenied, NoSuchEntity, ...), console sign-ins,
AWS service calls and assumed-role sessions.  Time advances ~0.3 s per event
from 2024-03-01T00:00:00Z with jitter (so files are roughly, not strictly,
ordered, like CloudTrail deliveries).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
import time
from datetime import datetime, timezone

ACCOUNTS = ["111122223333", "444455556666", "777788889999", "123456789012"]
REGIONS = ["us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2", "ap-northeast-1", "sa-east-1"]
FIRST = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj",
         "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yara", "zoe", "amir", "bea", "chen",
         "dmitri", "eva", "farah", "goran", "hana", "ines"]
TEAMS = ["ops", "dev", "data", "sec", "fin", "ml", "web", "qa"]
ROLES = ["Admin", "ReadOnly", "DeployRole", "LambdaExec", "EC2InstanceRole", "DataPipeline", "BreakGlass",
         "OrganizationAccountAccessRole", "AWSReservedSSO_PowerUser_3f2a1b", "AWSReservedSSO_ViewOnly_9c8d7e",
         "GitHubActionsOIDC", "TerraformApply", "BackupOperator", "SecurityAudit", "EKSNodeRole", "RDSMonitoring"]
AGENTS = [
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.0-18-amd64 exe/x86_64.debian.12 prompt/off command/{svc}.{op}",
    "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#5.10.210 md/arch#x86_64 lang/python#3.12.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69",
    "aws-sdk-go-v2/1.25.3 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/{svc}#1.30.0",
    "APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.41.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.25.3",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Safari/605.1.15",
    "console.amazonaws.com",
    "aws-internal/3 aws-sdk-java/1.12.660 Linux/5.10.210-178.855.amzn2int.x86_64 OpenJDK_64-Bit_Server_VM/25.402-b08 java/1.8.0_402 vendor/Oracle_Corporation cfg/retry-mode/standard",
]

# service -> list of (eventName, readOnly, params-kind)
SERVICES: dict[str, list[tuple[str, bool, str]]] = {
    "s3": [("GetObject", True, "s3obj"), ("PutObject", False, "s3obj"), ("DeleteObject", False, "s3obj"),
           ("ListBuckets", True, "none"), ("GetBucketPolicy", True, "s3bucket"), ("PutBucketPolicy", False, "s3policy"),
           ("GetBucketAcl", True, "s3bucket"), ("PutBucketAcl", False, "s3bucket"), ("ListObjects", True, "s3bucket"),
           ("HeadObject", True, "s3obj"), ("CreateBucket", False, "s3bucket"), ("GetBucketLocation", True, "s3bucket")],
    "ec2": [("DescribeInstances", True, "ec2desc"), ("RunInstances", False, "ec2run"), ("TerminateInstances", False, "ec2ids"),
            ("StartInstances", False, "ec2ids"), ("StopInstances", False, "ec2ids"), ("DescribeSecurityGroups", True, "sg"),
            ("AuthorizeSecurityGroupIngress", False, "sgingress"), ("CreateSnapshot", False, "vol"),
            ("DescribeVolumes", True, "none"), ("CreateKeyPair", False, "key"), ("DescribeRegions", True, "none"),
            ("ModifyInstanceAttribute", False, "ec2ids"), ("DescribeImages", True, "none")],
    "iam": [("CreateUser", False, "iamuser"), ("DeleteUser", False, "iamuser"), ("AttachUserPolicy", False, "iampol"),
            ("AttachRolePolicy", False, "iamrolepol"), ("CreateAccessKey", False, "iamuser"), ("DeleteAccessKey", False, "iamkey"),
            ("ListUsers", True, "none"), ("GetUser", True, "iamuser"), ("ListRoles", True, "none"),
            ("PutRolePolicy", False, "iamrolepol"), ("CreateRole", False, "iamrole"), ("UpdateAssumeRolePolicy", False, "iamrole"),
            ("ListAttachedRolePolicies", True, "iamrole"), ("GetAccountAuthorizationDetails", True, "none"),
            ("AddUserToGroup", False, "iamgroup"), ("CreateLoginProfile", False, "iamuser")],
    "sts": [("AssumeRole", False, "assume"), ("GetCallerIdentity", True, "none"), ("GetSessionToken", True, "none"),
            ("AssumeRoleWithWebIdentity", False, "assume"), ("GetFederationToken", False, "none")],
    "kms": [("Decrypt", True, "kms"), ("Encrypt", True, "kms"), ("GenerateDataKey", True, "kms"), ("ScheduleKeyDeletion", False, "kms"),
            ("DisableKey", False, "kms"), ("CreateGrant", False, "kms")],
    "lambda": [("Invoke", False, "fn"), ("CreateFunction20150331", False, "fn"), ("UpdateFunctionCode20150331v2", False, "fn"),
               ("GetFunction20150331v2", True, "fn"), ("ListFunctions20150331", True, "none"), ("AddPermission20150331v2", False, "fn")],
    "cloudtrail": [("StopLogging", False, "trail"), ("DeleteTrail", False, "trail"), ("UpdateTrail", False, "trail"),
                   ("LookupEvents", True, "none"), ("DescribeTrails", True, "none"), ("PutEventSelectors", False, "trail")],
    "secretsmanager": [("GetSecretValue", True, "secret"), ("PutSecretValue", False, "secret"), ("ListSecrets", True, "none"),
                       ("DeleteSecret", False, "secret")],
    "dynamodb": [("GetItem", True, "table"), ("PutItem", False, "table"), ("Scan", True, "table"), ("DescribeTable", True, "table"),
                 ("DeleteTable", False, "table")],
    "rds": [("DescribeDBInstances", True, "rds"), ("CreateDBSnapshot", False, "rds"), ("ModifyDBInstance", False, "rds"),
            ("DeleteDBInstance", False, "rds")],
    "logs": [("CreateLogStream", False, "loggroup"), ("DeleteLogGroup", False, "loggroup"), ("FilterLogEvents", True, "loggroup"),
             ("PutRetentionPolicy", False, "loggroup")],
    "eks": [("DescribeCluster", True, "cluster"), ("ListClusters", True, "none"), ("CreateNodegroup", False, "cluster")],
    "ecr": [("GetAuthorizationToken", True, "none"), ("BatchGetImage", True, "repo"), ("PutImage", False, "repo")],
    "sns": [("Publish", False, "topic"), ("Subscribe", False, "topic"), ("ListTopics", True, "none")],
    "sqs": [("SendMessage", False, "queue"), ("PurgeQueue", False, "queue"), ("ListQueues", True, "none")],
    "guardduty": [("ListDetectors", True, "none"), ("DeleteDetector", False, "detector"), ("UpdateDetector", False, "detector")],
    "config": [("StopConfigurationRecorder", False, "recorder"), ("DescribeConfigRules", True, "none")],
    "organizations": [("DescribeOrganization", True, "none"), ("ListAccounts", True, "none"), ("LeaveOrganization", False, "none")],
    "ssm": [("GetParameter", True, "param"), ("PutParameter", False, "param"), ("SendCommand", False, "ssmcmd"),
            ("StartSession", False, "ec2ids1")],
    "cloudformation": [("CreateStack", False, "stack"), ("DeleteStack", False, "stack"), ("DescribeStacks", True, "stack")],
    "monitoring": [("PutMetricAlarm", False, "alarm"), ("DeleteAlarms", False, "alarm"), ("DescribeAlarms", True, "none")],
    "elasticloadbalancing": [("DescribeLoadBalancers", True, "none"), ("DeleteLoadBalancer", False, "lb")],
    "route53": [("ChangeResourceRecordSets", False, "zone"), ("ListHostedZones", True, "none")],
    "acm": [("DescribeCertificate", True, "cert"), ("ListCertificates", True, "none")],
    "athena": [("StartQueryExecution", False, "athena"), ("GetQueryResults", True, "athenaq")],
    "glue": [("GetTables", True, "gluedb"), ("CreateCrawler", False, "gluedb")],
    "ecs": [("RunTask", False, "ecs"), ("DescribeServices", True, "ecs"), ("UpdateService", False, "ecs")],
    "autoscaling": [("DescribeAutoScalingGroups", True, "none"), ("UpdateAutoScalingGroup", False, "asg")],
    "backup": [("StartBackupJob", False, "backup"), ("DeleteBackupVault", False, "backup")],
    "sso": [("ListAccountAssignments", True, "none"), ("CreateAccountAssignment", False, "none")],
    "signin": [("ConsoleLogin", False, "console"), ("SwitchRole", False, "none")],
    "access-analyzer": [("ListAnalyzers", True, "none")],
    "securityhub": [("GetFindings", True, "none"), ("BatchUpdateFindings", False, "none")],
    "waf": [("GetWebACL", True, "none"), ("UpdateWebACL", False, "none")],
    "kinesis": [("PutRecord", False, "stream"), ("DescribeStream", True, "stream")],
    "elasticfilesystem": [("DescribeFileSystems", True, "none"), ("DeleteFileSystem", False, "none")],
    "apigateway": [("GetRestApis", True, "none"), ("CreateDeployment", False, "none")],
    "events": [("PutRule", False, "rule"), ("DeleteRule", False, "rule"), ("PutTargets", False, "rule")],
    "codebuild": [("StartBuild", False, "none"), ("BatchGetProjects", True, "none")],
}
# weights: reads dominate, like real trails
SERVICE_WEIGHTS = {"s3": 30, "ec2": 14, "sts": 12, "kms": 9, "iam": 6, "lambda": 5, "logs": 4, "dynamodb": 4,
                   "secretsmanager": 3, "ssm": 3, "ecr": 2, "sqs": 2, "sns": 2, "monitoring": 2, "signin": 1}
ERRORS = [
    ("AccessDenied", "User: {arn} is not authorized to perform: {svc}:{op} on resource: {res} because no identity-based policy allows the {svc}:{op} action"),
    ("Client.UnauthorizedOperation", "You are not authorized to perform this operation. Encoded authorization failure message: {blob}"),
    ("NoSuchEntityException", "The user with name {user} cannot be found."),
    ("ThrottlingException", "Rate exceeded"),
    ("ResourceNotFoundException", "Requested resource not found"),
    ("ValidationException", "1 validation error detected: Value null at 'name' failed to satisfy constraint"),
    ("NoSuchBucket", "The specified bucket does not exist"),
    ("AccessDeniedException", "User: {arn} is not authorized to perform: {svc}:{op} with an explicit deny in a service control policy"),
]
BASE_TS = int(datetime(2024, 3, 1, tzinfo=timezone.utc).timestamp())
HEX = "0123456789abcdef"
B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


class Gen:
    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)
        r = self.r
        self.services = list(SERVICES)
        self.svc_w = [SERVICE_WEIGHTS.get(s, 1) for s in self.services]
        # principals
        self.users = []
        for i in range(300):
            acct = ACCOUNTS[i % len(ACCOUNTS)]
            name = f"{r.choice(FIRST)}.{r.choice(TEAMS)}{i}"
            self.users.append((acct, name, "AIDA" + self._b32(17), "AKIA" + self._b32(16)))
        self.roles = []
        for i in range(120):
            acct = ACCOUNTS[i % len(ACCOUNTS)]
            self.roles.append((acct, f"{r.choice(ROLES)}-{r.choice(TEAMS)}{i}", "AROA" + self._b32(17)))
        self.ips = [f"{r.randint(1, 223)}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}" for _ in range(5000)]
        self.ips += [f"2600:1f18:{r.randint(0, 65535):x}:{r.randint(0, 65535):x}::{r.randint(1, 65535):x}" for _ in range(200)]
        self.buckets = [f"{r.choice(TEAMS)}-{r.choice(['logs', 'backups', 'artifacts', 'data-lake', 'reports', 'public-web', 'tfstate'])}-{r.randint(1000, 9999)}"
                        for _ in range(80)]
        self.instances = ["i-0" + "".join(r.choice(HEX) for _ in range(16)) for _ in range(2000)]
        self.keys = [f"arn:aws:kms:{r.choice(REGIONS)}:{r.choice(ACCOUNTS)}:key/{self.uuid()}" for _ in range(40)]
        self.words = ["invoice", "report", "2024", "q1", "export", "customer", "backup", "db", "dump", "img", "logo",
                      "config", "prod", "staging", "users", "payroll", "archive", "tmp", "build", "release"]
        self.ts = float(BASE_TS)

    # ------------------------------------------------------------ helpers
    def _b32(self, n: int) -> str:
        r = self.r
        return "".join(r.choice(B32) for _ in range(n))

    def uuid(self) -> str:
        h = f"{self.r.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def path(self) -> str:
        r = self.r
        return "/".join(r.choice(self.words) for _ in range(r.randint(1, 4))) + r.choice([".csv", ".json.gz", ".parquet", ".png", ".tar.gz", ""])

    def iso(self, t: float) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))

    # ------------------------------------------------------------ identity
    def identity(self, svc: str, op: str) -> tuple[dict, str, str]:
        r = self.r
        x = r.random()
        created = self.iso(self.ts - r.randint(60, 36000))
        if x < 0.45:
            acct, role, rid = r.choice(self.roles)
            sess = r.choice([f"{r.choice(FIRST)}@example.com", f"i-0{r.getrandbits(64):016x}", f"botocore-session-{r.randint(10**9, 10**10)}",
                             f"GitHubActions-{r.randint(1000, 99999)}", "aws-go-sdk-" + str(r.randint(10**12, 10**13))])
            arn = f"arn:aws:sts::{acct}:assumed-role/{role}/{sess}"
            ui = {"type": "AssumedRole", "principalId": f"{rid}:{sess}", "arn": arn, "accountId": acct,
                  "accessKeyId": "ASIA" + self._b32(16),
                  "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": rid, "arn": f"arn:aws:iam::{acct}:role/{role}",
                                                       "accountId": acct, "userName": role},
                                     "webIdFederationData": {},
                                     "attributes": {"creationDate": created, "mfaAuthenticated": "false"}}}
            return ui, acct, arn
        if x < 0.85:
            acct, name, pid, key = r.choice(self.users)
            arn = f"arn:aws:iam::{acct}:user/{name}"
            ui = {"type": "IAMUser", "principalId": pid, "arn": arn, "accountId": acct, "accessKeyId": key, "userName": name}
            if r.random() < 0.5:
                ui["sessionContext"] = {"sessionIssuer": {}, "webIdFederationData": {},
                                        "attributes": {"creationDate": created, "mfaAuthenticated": r.choice(["true", "false"])}}
            return ui, acct, arn
        if x < 0.97:
            invoked = r.choice(["ec2.amazonaws.com", "lambda.amazonaws.com", "cloudformation.amazonaws.com", "config.amazonaws.com",
                                "autoscaling.amazonaws.com", "backup.amazonaws.com", "ecs-tasks.amazonaws.com", "access-analyzer.amazonaws.com"])
            return {"type": "AWSService", "invokedBy": invoked}, r.choice(ACCOUNTS), invoked
        acct = r.choice(ACCOUNTS)
        arn = f"arn:aws:iam::{acct}:root"
        return ({"type": "Root", "principalId": acct, "arn": arn, "accountId": acct, "accessKeyId": "ASIA" + self._b32(16),
                 "sessionContext": {"sessionIssuer": {}, "webIdFederationData": {},
                                    "attributes": {"creationDate": created, "mfaAuthenticated": "true"}}}, acct, arn)

    # ------------------------------------------------------------ params
    def params(self, kind: str, acct: str, region: str) -> tuple[dict | None, dict | None, list | None, str]:
        r = self.r
        res: list | None = None
        resp: dict | None = None
        if kind == "none":
            return None, None, None, "*"
        if kind in ("s3obj", "s3bucket", "s3policy"):
            b = r.choice(self.buckets)
            p: dict = {"bucketName": b, "Host": f"{b}.s3.{region}.amazonaws.com"}
            if kind == "s3obj":
                k = self.path()
                p["key"] = k
                if r.random() < 0.3:
                    p["x-id"] = r.choice(["GetObject", "PutObject"])
                res = [{"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{b}/{k}"},
                       {"accountId": acct, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{b}"}]
                return p, None, res, f"arn:aws:s3:::{b}/{k}"
            if kind == "s3policy":
                p["bucketPolicy"] = {"Version": "2012-10-17", "Statement": [
                    {"Effect": r.choice(["Allow", "Deny"]), "Principal": r.choice(["*", {"AWS": f"arn:aws:iam::{r.choice(ACCOUNTS)}:root"}]),
                     "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{b}/*"}]}
                p["policy"] = ""
            res = [{"accountId": acct, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{b}"}]
            return p, None, res, f"arn:aws:s3:::{b}"
        if kind == "ec2desc":
            ids = r.sample(self.instances, r.randint(1, 3))
            return ({"instancesSet": {"items": [{"instanceId": i} for i in ids]}, "filterSet": {}}, None, None, ids[0])
        if kind in ("ec2ids", "ec2ids1"):
            ids = r.sample(self.instances, 1 if kind == "ec2ids1" else r.randint(1, 3))
            if kind == "ec2ids1":
                return {"target": ids[0]}, {"sessionId": f"{r.choice(FIRST)}-{r.getrandbits(64):016x}", "streamUrl": "wss://ssmmessages." + region + ".amazonaws.com/v1/data-channel/x"}, None, ids[0]
            resp = {"requestId": self.uuid(), "instancesSet": {"items": [
                {"instanceId": i, "currentState": {"code": 32, "name": "shutting-down"}, "previousState": {"code": 16, "name": "running"}} for i in ids]}}
            return {"instancesSet": {"items": [{"instanceId": i} for i in ids]}}, resp, None, ids[0]
        if kind == "ec2run":
            i = r.choice(self.instances)
            p = {"instancesSet": {"items": [{"imageId": f"ami-0{r.getrandbits(64):016x}", "minCount": 1, "maxCount": r.randint(1, 4)}]},
                 "instanceType": r.choice(["t3.micro", "m5.large", "c5.4xlarge", "p3.16xlarge", "g4dn.xlarge"]),
                 "blockDeviceMapping": {}, "monitoring": {"enabled": False}, "disableApiTermination": False,
                 "clientToken": self.uuid(), "keyName": f"{r.choice(FIRST)}-key"}
            resp = {"requestId": self.uuid(), "reservationId": f"r-0{r.getrandbits(64):016x}", "ownerId": acct,
                    "instancesSet": {"items": [{"instanceId": i, "imageId": p["instancesSet"]["items"][0]["imageId"],
                                                "instanceState": {"code": 0, "name": "pending"},
                                                "privateIpAddress": f"10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}",
                                                "instanceType": p["instanceType"], "launchTime": int(self.ts * 1000)}]}}
            return p, resp, [{"accountId": acct, "type": "AWS::EC2::Instance", "ARN": f"arn:aws:ec2:{region}:{acct}:instance/{i}"}], i
        if kind in ("sg", "sgingress"):
            g = f"sg-0{r.getrandbits(64):016x}"
            p = {"groupId": g}
            if kind == "sgingress":
                p["ipPermissions"] = {"items": [{"ipProtocol": "tcp", "fromPort": r.choice([22, 3389, 443, 5432]),
                                                 "toPort": r.choice([22, 3389, 443, 5432]),
                                                 "ipRanges": {"items": [{"cidrIp": r.choice(["0.0.0.0/0", "10.0.0.0/8", r.choice(self.ips[:5000]) + "/32"])}]}}]}
            return p, None, None, g
        if kind == "vol":
            v = f"vol-0{r.getrandbits(64):016x}"
            return {"volumeId": v, "description": "nightly"}, {"snapshotId": f"snap-0{r.getrandbits(64):016x}", "volumeId": v, "status": "pending"}, None, v
        if kind == "key":
            n = f"{r.choice(FIRST)}-{r.randint(1, 99)}"
            return {"keyName": n}, {"keyName": n, "keyFingerprint": ":".join(f"{r.getrandbits(8):02x}" for _ in range(20)), "keyMaterial": "<sensitiveDataRemoved>"}, None, n
        if kind in ("iamuser", "iamkey", "iamgroup"):
            _a, name, _p, key = r.choice(self.users)
            p = {"userName": name}
            if kind == "iamkey":
                p["accessKeyId"] = key
            if kind == "iamgroup":
                p["groupName"] = r.choice(TEAMS) + "-admins"
            return p, None, None, name
        if kind in ("iampol", "iamrolepol"):
            pol = r.choice(["arn:aws:iam::aws:policy/AdministratorAccess", "arn:aws:iam::aws:policy/ReadOnlyAccess",
                            "arn:aws:iam::aws:policy/AmazonS3FullAccess", f"arn:aws:iam::{acct}:policy/{r.choice(TEAMS)}-boundary"])
            if kind == "iampol":
                return {"userName": r.choice(self.users)[1], "policyArn": pol}, None, None, pol
            role = r.choice(self.roles)[1]
            return {"roleName": role, "policyArn": pol, "policyName": "inline-" + r.choice(TEAMS),
                    "policyDocument": json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": r.choice(["s3:*", "iam:PassRole", "*"]), "Resource": "*"}]})}, None, None, role
        if kind == "iamrole":
            role = r.choice(self.roles)[1]
            return {"roleName": role, "assumeRolePolicyDocument": json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{r.choice(ACCOUNTS)}:root"}, "Action": "sts:AssumeRole"}]})}, None, None, role
        if kind == "assume":
            racct, role, rid = r.choice(self.roles)
            sess = f"{r.choice(FIRST)}-{r.randint(1, 10**6)}"
            rarn = f"arn:aws:iam::{racct}:role/{role}"
            p = {"roleArn": rarn, "roleSessionName": sess, "durationSeconds": r.choice([900, 3600, 43200])}
            resp = {"credentials": {"accessKeyId": "ASIA" + self._b32(16), "sessionToken": "IQoJb3JpZ2luX2VjE" + self._b32(60),
                                    "expiration": "Mar 1, 2024, 1:00:00 PM"},
                    "assumedRoleUser": {"assumedRoleId": f"{rid}:{sess}", "arn": f"arn:aws:sts::{racct}:assumed-role/{role}/{sess}"}}
            return p, resp, [{"accountId": racct, "type": "AWS::IAM::Role", "ARN": rarn}], rarn
        if kind == "kms":
            k = r.choice(self.keys)
            return ({"keyId": k, "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
                     "encryptionContext": {"aws:s3:arn": f"arn:aws:s3:::{r.choice(self.buckets)}/{self.path()}"}},
                    None, [{"accountId": acct, "type": "AWS::KMS::Key", "ARN": k}], k)
        if kind == "console":
            return None, {"ConsoleLogin": "Success"}, None, "*"
        # generic: one named resource parameter
        pname = {"fn": "functionName", "trail": "name", "secret": "secretId", "table": "tableName", "rds": "dBInstanceIdentifier",
                 "loggroup": "logGroupName", "cluster": "name", "repo": "repositoryName", "topic": "topicArn", "queue": "queueUrl",
                 "detector": "detectorId", "recorder": "configurationRecorderName", "param": "name", "ssmcmd": "documentName",
                 "stack": "stackName", "alarm": "alarmName", "lb": "loadBalancerArn", "zone": "hostedZoneId", "cert": "certificateArn",
                 "athena": "queryString", "athenaq": "queryExecutionId", "gluedb": "databaseName", "ecs": "cluster",
                 "asg": "autoScalingGroupName", "backup": "backupVaultName", "stream": "streamName", "rule": "name"}.get(kind, "name")
        val = f"{r.choice(TEAMS)}-{r.choice(self.words)}-{r.randint(1, 500)}"
        if pname == "queueUrl":
            val = f"https://sqs.{region}.amazonaws.com/{acct}/{val}"
        elif pname == "topicArn":
            val = f"arn:aws:sns:{region}:{acct}:{val}"
        elif pname == "queryString":
            val = f"SELECT * FROM {val} WHERE day = '2024-03-{r.randint(1, 28):02d}' LIMIT {r.randint(10, 10000)}"
        p = {pname: val}
        if r.random() < 0.5:
            p["maxResults"] = r.choice([50, 100, 1000])
        return p, None, None, val

    # ------------------------------------------------------------ record
    def record(self) -> dict:
        r = self.r
        self.ts += r.expovariate(1 / 0.3)
        t = self.ts + r.uniform(-30, 30)  # delivery jitter
        svc = r.choices(self.services, self.svc_w)[0]
        op, ro, kind = r.choice(SERVICES[svc])
        region = r.choice(REGIONS) if r.random() < 0.6 else "us-east-1"
        ui, acct, arn = self.identity(svc, op)
        ip = ui["invokedBy"] if ui["type"] == "AWSService" else r.choice(self.ips)
        if svc == "signin":
            ip = r.choice(self.ips)
        agent = ui["invokedBy"] if ui["type"] == "AWSService" else r.choice(AGENTS).format(svc=svc, op=op.lower())
        params, resp, res, resname = self.params(kind, acct, region)
        rec: dict = {
            "eventVersion": r.choice(["1.08", "1.09", "1.10"]),
            "userIdentity": ui,
            "eventTime": self.iso(t),
            "eventSource": f"{svc}.amazonaws.com",
            "eventName": op,
            "awsRegion": region,
            "sourceIPAddress": ip,
            "userAgent": agent,
        }
        if r.random() < 0.05 and svc != "signin":
            code, tmpl = r.choice(ERRORS)
            rec["errorCode"] = code
            rec["errorMessage"] = tmpl.format(arn=arn, svc=svc, op=op, res=resname, user=(params and params.get("userName")) or "x",
                                              blob=self._b32(120))
            resp = None
        rec["requestParameters"] = params
        rec["responseElements"] = resp
        if svc == "s3" and r.random() < 0.7:
            rec["additionalEventData"] = {"SignatureVersion": "SigV4", "CipherSuite": "ECDHE-RSA-AES128-GCM-SHA256",
                                          "bytesTransferredIn": r.randint(0, 10**6), "AuthenticationMethod": "AuthHeader",
                                          "x-amz-id-2": self._b32(56), "bytesTransferredOut": r.randint(0, 10**7)}
        if svc == "signin":
            rec["additionalEventData"] = {"LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No",
                                          "MFAUsed": r.choice(["Yes", "No"])}
            if r.random() < 0.15:
                rec["responseElements"] = {"ConsoleLogin": "Failure"}
                rec["errorMessage"] = "Failed authentication"
        rec["requestID"] = self.uuid() if svc != "s3" else self._b32(16)
        rec["eventID"] = self.uuid()
        rec["readOnly"] = ro
        if res:
            rec["resources"] = res
        rec["eventType"] = "AwsConsoleSignIn" if svc == "signin" else ("AwsServiceEvent" if r.random() < 0.01 else "AwsApiCall")
        data_event = (svc, kind) in (("s3", "s3obj"), ("lambda", "fn"), ("dynamodb", "table")) and ro is not None and op not in (
            "CreateFunction20150331", "UpdateFunctionCode20150331v2", "AddPermission20150331v2", "DescribeTable", "DeleteTable")
        rec["managementEvent"] = not data_event
        rec["recipientAccountId"] = acct
        if r.random() < 0.02:
            rec["sharedEventID"] = self.uuid()
        rec["eventCategory"] = "Data" if data_event else "Management"
        if ui["type"] != "AWSService":
            rec["tlsDetails"] = {"tlsVersion": r.choice(["TLSv1.2", "TLSv1.3"]),
                                 "cipherSuite": r.choice(["ECDHE-RSA-AES128-GCM-SHA256", "TLS_AES_128_GCM_SHA256"]),
                                 "clientProvidedHostHeader": f"{svc}.{region}.amazonaws.com"}
        if ui["type"] != "AWSService" and r.random() < 0.1:
            rec["sessionCredentialFromConsole"] = "true"
        return rec


def generate(n: int, seed: int, out: str, fmt: str = "jsonl") -> int:
    """Write *n* records; returns the number of bytes written (uncompressed)."""
    g = Gen(seed)
    dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    total = 0
    if fmt == "jsonl":
        with open(out, "w", encoding="utf-8", buffering=1 << 20) as f:
            for _ in range(n):
                s = dumps(g.record()) + "\n"
                total += len(s)
                f.write(s)
        return total
    opener = (lambda p: gzip.open(p, "wt", encoding="utf-8", compresslevel=6)) if fmt == "records-gz" else (
        lambda p: open(p, "w", encoding="utf-8", buffering=1 << 20))
    with opener(out) as f:
        f.write('{"Records":[')
        for i in range(n):
            s = ("," if i else "") + dumps(g.record())
            total += len(s)
            f.write(s)
        f.write("]}\n")
    return total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("n", type=int, help="number of events")
    ap.add_argument("seed", type=int, help="random seed (same seed, same bytes)")
    ap.add_argument("out", help="output path")
    ap.add_argument("--format", choices=["jsonl", "records-gz", "records"], default=None,
                    help="default: records-gz if OUT ends with .gz, else jsonl")
    a = ap.parse_args(argv)
    fmt = a.format or ("records-gz" if a.out.endswith(".gz") else "jsonl")
    t0 = time.perf_counter()
    size = generate(a.n, a.seed, a.out, fmt)
    print(f"{a.out}: {a.n} events, {size / 1e6:.1f} MB uncompressed, {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
