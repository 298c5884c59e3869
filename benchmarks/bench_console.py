"""Console benchmark: a 1,000,000-event index, measured headless.

Not a test.  Run::

    .venv/bin/python benchmarks/bench_console.py            # build (cached) + measure
    .venv/bin/python benchmarks/bench_console.py --events 200000 --rebuild
    .venv/bin/python benchmarks/bench_console.py --json      # machine-readable figures

It builds a synthetic but realistic CloudTrail-like index (Zipf-distributed
actors, actions, source IPs and resources; ~8% failures with AWS error codes;
a sprinkle of Kubernetes audit and sshd events; 30 days; FTS rows included) by
inserting directly with ``executemany`` (ingest speed is the perf engineer's
benchmark, not this one), then reports:

* time to first paint: ``App.run_test`` until the timeline shows rows;
* filter repaint: median time from setting a filter (indexed fields) until the
  timeline shows the new rows;
* jump to end: ``End`` until the last event is on screen;
* the histogram / facet / frequency queries the console runs.

Targets on the 2-core machines: first paint <= 1 s, filter repaint <= 150 ms
median, end <= 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import true  # noqa: E402

from logconsole.util.timeparse import format_us  # noqa: E402
from logconsole.store import aggregates, rawcodec, schema  # noqa: E402

try:  # what the ingest puts in the full-text index (JSON values, not keys)
    from logconsole.store.fulltext import fts_raw
except ImportError:  # pragma: no cover - older trees index the raw text
    def fts_raw(raw: str) -> str:
        return raw
from logconsole.store.db import open_db  # noqa: E402

DEFAULT_DB = Path(os.environ.get("LOGCONSOLE_BENCH_DIR", "/tmp/logconsole-bench")) / "console-{n}.db"
START_US = 1_700_000_000_000_000  # 2023-11-14T22:13:20Z
SPAN_US = 30 * 86400 * 1_000_000

SERVICES = {
    "iam.amazonaws.com": ["GetUser", "ListRoles", "CreateUser", "AttachUserPolicy", "PutRolePolicy", "CreateAccessKey",
                          "ListAttachedRolePolicies", "GetRole", "DeleteUser", "UpdateAssumeRolePolicy"],
    "s3.amazonaws.com": ["GetObject", "PutObject", "ListBucket", "DeleteObject", "GetBucketPolicy", "PutBucketPolicy",
                         "ListBuckets", "GetBucketAcl", "HeadObject"],
    "ec2.amazonaws.com": ["DescribeInstances", "RunInstances", "TerminateInstances", "DescribeSecurityGroups",
                          "AuthorizeSecurityGroupIngress", "CreateSnapshot", "DescribeVolumes", "StopInstances"],
    "sts.amazonaws.com": ["AssumeRole", "GetCallerIdentity", "GetSessionToken", "AssumeRoleWithWebIdentity"],
    "kms.amazonaws.com": ["Decrypt", "Encrypt", "GenerateDataKey", "DescribeKey", "ScheduleKeyDeletion"],
    "lambda.amazonaws.com": ["Invoke", "ListFunctions20150331", "UpdateFunctionCode20150331v2", "GetFunction"],
    "cloudtrail.amazonaws.com": ["LookupEvents", "StopLogging", "DescribeTrails", "DeleteTrail"],
    "logs.amazonaws.com": ["PutLogEvents", "CreateLogStream", "DescribeLogGroups", "FilterLogEvents"],
    "secretsmanager.amazonaws.com": ["GetSecretValue", "ListSecrets", "PutSecretValue"],
    "signin.amazonaws.com": ["ConsoleLogin", "SwitchRole"],
    "rds.amazonaws.com": ["DescribeDBInstances", "CreateDBSnapshot", "ModifyDBInstance"],
    "dynamodb.amazonaws.com": ["GetItem", "PutItem", "Query", "Scan", "DescribeTable"],
}
K8S_VERBS = ["get", "list", "watch", "create", "update", "patch", "delete"]
K8S_RES = ["pods", "secrets", "configmaps", "deployments", "serviceaccounts", "clusterrolebindings", "nodes"]
REGIONS = ["us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2", "ap-northeast-1",
           "sa-east-1"]
ACCOUNTS = ["111122223333", "444455556666", "777788889999", "123456789012", "210987654321"]
ERRORS = ["AccessDenied", "UnauthorizedOperation", "AccessDeniedException", "ThrottlingException",
          "NoSuchEntityException", "InvalidClientTokenId", "ResourceNotFoundException", "ExpiredToken"]
AGENTS = ["aws-cli/2.13.0 Python/3.11.4 Linux/5.10.184", "Boto3/1.28.1 Python/3.10.12 Linux/6.1",
          "console.amazonaws.com", "terraform/1.5.7", "aws-sdk-go/1.44.300 (go1.20.6; linux; amd64)",
          "kubectl/v1.28.2 (linux/amd64)", "Mozilla/5.0 (X11; Linux x86_64) Firefox/118.0"]


def _zipf_choice(rng: random.Random, items: list, s: float = 1.1):
    # inverse-CDF sampling over precomputed weights (cached per list id)
    key = (id(items), s)
    cdf = _CDF.get(key)
    if cdf is None:
        w = [1.0 / (i + 1) ** s for i in range(len(items))]
        tot = sum(w)
        acc, cdf = 0.0, []
        for x in w:
            acc += x / tot
            cdf.append(acc)
        _CDF[key] = cdf
    import bisect

    return items[min(len(items) - 1, bisect.bisect_left(cdf, rng.random()))]


_CDF: dict = {}


def _vocab(rng: random.Random):
    users = [f"arn:aws:iam::{rng.choice(ACCOUNTS)}:user/{n}" for n in (
        ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj",
         "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "ci-deploy", "terraform", "backup"]
        + [f"svc-{i:03d}" for i in range(120)])]
    roles = [f"arn:aws:sts::{rng.choice(ACCOUNTS)}:assumed-role/{r}/{s}" for r in
             ["Admin", "ReadOnly", "DevOps", "Lambda-Exec", "EKS-Node", "Billing", "SecurityAudit", "Deploy"]
             for s in ("i-0a1b2c3d", "session-1", "botocore-session-17", "alice@example.com", "GitHubActions")]
    k8s_users = [f"system:serviceaccount:{ns}:{sa}" for ns in ("kube-system", "default", "prod", "monitoring")
                 for sa in ("default", "deployer", "prometheus", "argo", "coredns")] + ["kubernetes-admin", "alice"]
    ssh_users = ["root", "ubuntu", "ec2-user", "admin", "deploy", "git", "oracle", "test", "postgres"]
    ips = [f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
           for _ in range(5000)] + ["2001:db8::" + format(i, "x") for i in range(1, 200)]
    buckets = [f"corp-{w}-{i}" for w in ("logs", "data", "backup", "web", "ml") for i in range(40)]
    resources = [f"arn:aws:s3:::{rng.choice(buckets)}/{p}/{rng.randint(0, 99999):05d}.parquet"
                 for p in ("raw", "curated", "exports", "tmp") for _ in range(5000)]
    resources += [f"arn:aws:iam::{rng.choice(ACCOUNTS)}:role/{r}" for r in
                  ("Admin", "ReadOnly", "DevOps", "Lambda-Exec", "EKS-Node", "Billing")]
    resources += [f"arn:aws:ec2:{rng.choice(REGIONS)}:{rng.choice(ACCOUNTS)}:instance/i-{rng.getrandbits(56):014x}"
                  for _ in range(3000)]
    rng.shuffle(resources)
    return users + roles, k8s_users, ssh_users, ips, resources


def build(path: Path, n: int, seed: int = 7, batch: int = 20_000) -> float:
    """Create a fresh *n*-event index at *path*; returns seconds taken."""
    t0 = time.perf_counter()
    for suffix in ("", "-wal", "-shm"):
        p = Path(str(path) + suffix)
        if p.exists():
            p.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    eng = open_db(path)
    rng = random.Random(seed)
    aws_actors, k8s_users, ssh_users, ips, resources = _vocab(rng)
    services = list(SERVICES)
    with eng.begin() as conn:
        src_ids = {}
        for fmt in ("cloudtrail", "k8s_audit", "syslog_auth"):
            r = conn.execute(schema.sources.insert().values(
                path=f"/cases/bench/{fmt}.log", format=fmt, sha256=hashlib.sha256(fmt.encode()).hexdigest(),
                bytes=0, parser=fmt, parser_version="1", ingested_at=int(time.time() * 1e6),
                first_ts=START_US, last_ts=START_US + SPAN_US, records=0, events=0, status="complete"))
            src_ids[fmt] = r.inserted_primary_key[0]
    import ipaddress

    def ip_key(s: str) -> bytes:
        ip = ipaddress.ip_address(s)
        if ip.version == 4:
            return b"\0" * 10 + b"\xff\xff" + ip.packed
        return ip.packed

    ip_keys = {s: ip_key(s) for s in ips}
    # timestamps: sorted, with a diurnal rhythm and a couple of bursts (an "incident")
    times = []
    for _ in range(n):
        t = rng.randrange(SPAN_US)
        if rng.random() < 0.04:  # burst on day 21
            t = 21 * 86400 * 1_000_000 + int(rng.gauss(0, 1800e6))
        times.append(START_US + max(0, min(SPAN_US - 1, t)))
    times.sort()
    cols = [c.name for c in schema.events.columns if c.name != "id"]
    ins = f"INSERT INTO events ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})"
    fts = "INSERT INTO events_fts (rowid, message, raw) VALUES (?, ?, ?)"
    raw_conn = eng.raw_connection()
    try:
        cur = raw_conn.cursor()
        cur.execute("PRAGMA synchronous=OFF")
        next_id = 1
        lines = dict.fromkeys(src_ids, 0)
        for b0 in range(0, n, batch):
            rows, frows = [], []
            for i in range(b0, min(n, b0 + batch)):
                ts = times[i]
                r = rng.random()
                fmt = "cloudtrail" if r < 0.88 else ("k8s_audit" if r < 0.96 else "syslog_auth")
                lines[fmt] += 1
                out = rng.random()
                outcome = "success" if out < 0.90 else ("failure" if out < 0.98 else "unknown")
                err = rng.choice(ERRORS) if outcome == "failure" else None
                ip = _zipf_choice(rng, ips, 1.05)
                region = account = None
                if fmt == "cloudtrail":
                    svc = _zipf_choice(rng, services, 0.8)
                    action = rng.choice(SERVICES[svc])
                    actor = _zipf_choice(rng, aws_actors, 1.0)
                    actor_type = "AssumedRole" if ":assumed-role/" in actor else "IAMUser"
                    resource = _zipf_choice(rng, resources, 0.9) if rng.random() < 0.7 else None
                    region = _zipf_choice(rng, REGIONS, 1.2)
                    account = actor.split(":")[4]
                    agent = _zipf_choice(rng, AGENTS, 1.0)
                    eid = f"{rng.getrandbits(128):032x}"
                    rec = {"eventVersion": "1.08", "userIdentity": {"type": actor_type, "arn": actor,
                           "accountId": account}, "eventTime": "", "eventSource": svc, "eventName": action,
                           "awsRegion": region, "sourceIPAddress": ip, "userAgent": agent, "eventID": eid}
                    if err:
                        rec["errorCode"] = err
                        rec["errorMessage"] = f"User: {actor} is not authorized to perform: {svc.split('.')[0]}:{action}"
                    if resource:
                        rec["resources"] = [{"ARN": resource}]
                    host = None
                    msg = f"{action} on {resource or svc} by {actor.rsplit('/', 1)[-1]}" + (f" ({err})" if err else "")
                elif fmt == "k8s_audit":
                    svc = "k8s.io"
                    verb = rng.choice(K8S_VERBS)
                    res = rng.choice(K8S_RES)
                    action = verb
                    actor = rng.choice(k8s_users)
                    actor_type = "ServiceAccount" if actor.startswith("system:serviceaccount") else "User"
                    resource = f"{res}/{rng.choice(['default', 'prod', 'kube-system'])}/{res[:-1]}-{rng.randint(0, 300)}"
                    agent = "kubectl/v1.28.2 (linux/amd64)"
                    eid = f"{rng.getrandbits(128):032x}"
                    err = {"failure": "403"}.get(outcome)
                    rec = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "auditID": eid, "verb": verb,
                           "user": {"username": actor}, "sourceIPs": [ip], "objectRef": {"resource": res},
                           "responseStatus": {"code": 403 if err else 200}}
                    host = "k8s-apiserver-1"
                    msg = f"{verb} {resource} by {actor}"
                else:
                    svc = "sshd"
                    actor = rng.choice(ssh_users)
                    actor_type = None
                    action = "ssh_login" if outcome != "failure" else "ssh_login_failed"
                    resource = None
                    agent = None
                    eid = None
                    host = f"bastion-{rng.randint(1, 3)}"
                    word = "Accepted publickey" if outcome != "failure" else "Failed password"
                    rec = f"{host} sshd[{rng.randint(1000, 65000)}]: {word} for {actor} from {ip} port {rng.randint(1024, 65535)} ssh2"
                raw_s = rec if isinstance(rec, str) else json.dumps(rec, separators=(",", ":"))
                raw_b = raw_s.encode()
                ts_raw = format_us(ts)
                row = {
                    "source_id": src_ids[fmt], "line": lines[fmt], "rec_index": None, "record_id": eid,
                    "format": fmt, "ts_us": ts, "ts_raw": ts_raw, "service": svc, "action": action,
                    "outcome": outcome, "error_code": err, "actor": actor, "actor_type": actor_type,
                    "actor_uid": actor if fmt == "cloudtrail" else None, "session": None, "target_user": None,
                    "src_ip": ip, "src_ip_key": ip_keys[ip], "user_agent": agent, "host": host,
                    "resource": resource, "account": account, "region": region, "message": msg, "extra": "{}",
                    "raw": rawcodec.encode(raw_b), "raw_sha256": hashlib.sha256(raw_b).hexdigest(),
                    "dedup": (next_id * 2654435761) & 0x7FFFFFFFFFFFFFFF,
                }
                rows.append(tuple(row[c] for c in cols))
                frows.append((next_id, msg, fts_raw(raw_s)))
                next_id += 1
            cur.execute("BEGIN")
            cur.executemany(ins, rows)
            cur.executemany(fts, frows)
            cur.execute("COMMIT")
            print(f"\r  built {min(n, b0 + batch):,}/{n:,} events", end="", file=sys.stderr, flush=True)
        for fmt, sid in src_ids.items():
            cur.execute("UPDATE sources SET records=?, events=? WHERE id=?", (lines[fmt], lines[fmt], sid))
        raw_conn.commit()
        cur.execute("ANALYZE")
        raw_conn.commit()
    finally:
        raw_conn.close()
        eng.dispose()
    print(file=sys.stderr)
    return time.perf_counter() - t0


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def measure_queries(path: Path, repeat: int = 3) -> dict:
    """Histogram / facet / frequency query times (best of *repeat*, warm cache)."""
    from logconsole.store.db import open_db as _open

    eng = _open(path, create=False)
    out: dict = {}
    wheres = {"all events": true()}
    try:
        from logconsole.store.filter import compile_filter  # lead's filter language

        with eng.connect() as conn:
            actor = aggregates.facet(conn, true(), "actor", 3)[2].value  # a busy actor of this index
        for text in ("outcome:failure", aggregates.drill_term("actor", actor), "action:AssumeRole"):
            try:
                wheres[text] = compile_filter(text).where
            except Exception as exc:  # pragma: no cover - depends on the filter language
                print(f"  (skipping filter {text!r}: {exc})", file=sys.stderr)
    except ImportError:
        ev = schema.events
        wheres["outcome=failure (SQL)"] = ev.c.outcome == "failure"
        wheres["action=AssumeRole (SQL)"] = ev.c.action == "AssumeRole"

    def best(fn):
        """Median of *repeat* uncached runs (the OS page cache is warm)."""
        times = []
        for _ in range(repeat):
            aggregates.clear_cache()
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return _ms(statistics.median(times))

    with eng.connect() as conn:
        for label, w in wheres.items():
            res: dict = {}
            bounds = aggregates.time_bounds(conn, w)
            res["time_bounds_ms"] = best(lambda: aggregates.time_bounds(conn, w))
            if bounds:
                s, width, nb = aggregates.plan_buckets(bounds[0], bounds[1], 100)
                res["histogram_100_ms"] = best(lambda: aggregates.histogram(conn, w, s, s + width * nb, nb, width=width))
            for col in aggregates.DEFAULT_FACETS:
                res[f"facet_{col}_ms"] = best(lambda: aggregates.facet(conn, w, col, 5))
            res["frequency_resource_page_ms"] = best(lambda: aggregates.frequency(conn, w, "resource", 200, 0))
            aggregates.frequency(conn, w, "resource", 200, 0)
            t0 = time.perf_counter()
            aggregates.frequency(conn, w, "resource", 200, 0)
            res["frequency_resource_cached_ms"] = _ms(time.perf_counter() - t0)
            out[label] = res
    eng.dispose()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--db", type=Path, default=None, help="index path (default /tmp/logconsole-bench/console-N.db)")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the index even if it exists")
    ap.add_argument("--only", choices=("build", "queries", "console"), default=None)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-analytics", action="store_true", help="console without histogram and facets (comparison)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--size", default="120x40", help="terminal WxH for the headless console (default 120x40)")
    ap.add_argument("--no-tmux", action="store_true", help="skip the process-start measurement in tmux")
    ap.add_argument("--open-fresh", action="store_true",
                    help="only: `logconsole open BUNDLE` on a fresh index, time to the first painted rows "
                         "(BUNDLE: a generated --events-event CloudTrail JSONL, cached in the bench directory)")
    ap.add_argument("--bundle", type=Path, default=None,
                    help="with --open-fresh: this JSONL file instead of a generated one (--events: its events)")
    args = ap.parse_args(argv)
    if args.open_fresh:
        w, _, h = args.size.partition("x")
        res = measure_open_fresh(args.events, size=(int(w), int(h)), runs=args.runs, bundle=args.bundle)
        print(json.dumps(res, indent=2))
        return 0
    path = args.db or Path(str(DEFAULT_DB).format(n=args.events))
    figures: dict = {"events": args.events, "db": str(path)}
    if args.rebuild or not path.exists():
        print(f"building {args.events:,}-event index at {path} ...", file=sys.stderr)
        figures["build_s"] = round(build(path, args.events), 1)
    if args.only == "build":
        print(json.dumps(figures, indent=2))
        return 0
    if args.only in (None, "queries"):
        figures["queries"] = measure_queries(path)
    if args.only in (None, "console"):
        w, _, h = args.size.partition("x")
        figures["console"] = asyncio.run(
            measure_console(path, size=(int(w), int(h)), runs=args.runs, analytics=not args.no_analytics))
        if not args.no_tmux:
            figures["console"].update(measure_process_start(path, size=(int(w), int(h)), runs=args.runs))
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        _print_report(figures)
    return 0


def _visible_text(widget) -> str:
    """Render the widget's visible lines (this is what a repaint does; pages are fetched here)."""
    return "\n".join("".join(seg.text for seg in widget.render_line(y)) for y in range(widget.size.height))


async def _until(cond, timeout: float = 30.0, step: float = 0.002) -> float:
    t0 = time.perf_counter()
    while not cond():
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError("the console did not get there")
        await asyncio.sleep(step)
    return time.perf_counter()


async def measure_console(path: Path, size=(120, 40), runs: int = 3, analytics: bool = True) -> dict:
    """First paint, filter repaint and jump-to-end, headless (``App.run_test``)."""
    try:
        from logconsole.tui.app import create_app
        from logconsole.tui.widgets.event_list import EventList
    except ImportError as exc:  # the console is another engineer's work in progress
        return {"error": f"console not importable: {exc}"}
    from logconsole.store.db import open_db as _open

    # filters on indexed fields, with values that exist in this index
    eng = _open(path, create=False)
    with eng.connect() as conn:
        top_actor = aggregates.facet(conn, true(), "actor", 3)[2].value
        top_action = aggregates.facet(conn, true(), "action", 5)[4].value
        top_ip = aggregates.facet(conn, true(), "src_ip", 2)[1].value
        lo, hi = aggregates.time_bounds(conn, true())
    eng.dispose()
    from logconsole.util.timeparse import format_us as fmt

    mid = (lo + hi) // 2
    filters = [
        aggregates.drill_term("actor", top_actor),
        aggregates.drill_term("action", top_action),
        aggregates.drill_term("src_ip", top_ip),
        "outcome:failure",
        f"since:{fmt(mid)} until:{fmt(mid + 3600 * 1_000_000)}",
        aggregates.drill_term("actor", top_actor) + " outcome:failure",
        "",  # back to everything
    ]
    out: dict = {"terminal": f"{size[0]}x{size[1]}", "analytics": analytics, "filters": filters}
    per_filter: dict[str, list[float]] = {t: [] for t in filters}
    first, repaint, end, facets_first, hist_first, analytics_after = [], [], [], [], [], []
    end_pilot: list[float] = []
    for _run in range(runs):
        aggregates.clear_cache()
        t0 = time.perf_counter()
        engine = _open(path, create=False)
        app = create_app(engine, cursor_blink=False, analytics=analytics)
        async with app.run_test(size=size) as pilot:
            def shows_rows() -> bool:
                q = app.screen.query(EventList)
                if not q:
                    return False
                ev = q.first()
                return ev.row_count > 0 and "Z " in _visible_text(ev)

            first.append(await _until(shows_rows) - t0)
            screen = app.screen
            ev = screen.query_one(EventList)
            # the histogram and facets fill in behind, in workers
            hist = screen.query("#histogram")
            if hist:
                h = hist.first()
                hist_first.append(await _until(lambda: getattr(h, "data", None) is not None and not h.busy) - t0)
            fac = screen.query("#facets")
            if fac and fac.first().display:
                f = fac.first()
                facets_first.append(await _until(lambda: not f.busy) - t0)
            await pilot.pause()
            analytics_widgets = [w for w in (screen.query("#histogram") or []) if w.display] + \
                [w for w in (screen.query("#facets") or []) if w.display]

            def quiet() -> bool:
                return all(not getattr(w, "busy", False) for w in analytics_widgets)

            for text in filters:
                # steady state: the previous filter's histogram/facets have finished
                await _until(quiet, timeout=60)
                await pilot.pause()
                t1 = time.perf_counter()
                screen.apply_filter(text)
                await _until(lambda: screen.filter is not None and screen.filter.text == text)
                _visible_text(ev)
                repaint.append(time.perf_counter() - t1)
                per_filter[text].append(repaint[-1])
                await pilot.pause()
                if analytics_widgets:
                    await _until(lambda: all(getattr(w, "busy", False) for w in analytics_widgets) or quiet(), timeout=5)
                    await _until(quiet, timeout=60)
                    analytics_after.append(time.perf_counter() - t1)
            # jump to the end of everything
            await _until(quiet, timeout=60)
            await pilot.pause()
            ev.focus()
            await pilot.press("home")
            await pilot.pause()
            # the End key as the terminal driver delivers it (Pilot.press would add its own
            # idle-detection sleeps, >= 40 ms), until the last event is rendered
            from textual import events as tevents

            t2 = time.perf_counter()
            app.post_message(tevents.Key("end", None))
            await _until(lambda: ev.cursor == ev.row_count - 1, step=0.0005)
            txt = _visible_text(ev)
            end.append(time.perf_counter() - t2)
            assert fmt(hi)[:19] in txt, "the last event is not on screen after End"
            await pilot.press("home")
            t3 = time.perf_counter()
            await pilot.press("end")
            _visible_text(ev)
            end_pilot.append(time.perf_counter() - t3)
        engine.dispose()
    out["first_paint_ms"] = _ms(statistics.median(first))
    out["first_paint_runs_ms"] = [_ms(x) for x in first]
    out["filter_repaint_median_ms"] = _ms(statistics.median(repaint))
    out["filter_repaint_max_ms"] = _ms(max(repaint))
    out["filter_repaint_samples"] = len(repaint)
    out["filter_repaint_per_filter_ms"] = {t or "(none)": _ms(statistics.median(v)) for t, v in per_filter.items()}
    out["jump_to_end_ms"] = _ms(statistics.median(end))
    out["jump_to_end_runs_ms"] = [_ms(x) for x in end]
    out["jump_to_end_via_pilot_press_ms"] = _ms(statistics.median(end_pilot))
    if analytics_after:
        out["histogram_facets_done_after_filter_median_ms"] = _ms(statistics.median(analytics_after))
    if hist_first:
        out["histogram_ready_after_start_ms"] = _ms(statistics.median(hist_first))
    if facets_first:
        out["facets_ready_after_start_ms"] = _ms(statistics.median(facets_first))
    return out


def measure_process_start(path: Path, size=(120, 40), runs: int = 3) -> dict:
    """``logconsole open --db INDEX`` as a person runs it (new process, imports included), in tmux,
    until the first event row is on the terminal (polled with ``capture-pane`` every 10 ms)."""
    import re
    import shlex
    import shutil
    import subprocess

    if shutil.which("tmux") is None:
        return {"process_first_paint": "tmux not installed"}
    exe = Path(sys.executable).parent / "logconsole"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c", "from logconsole.cli import main; main()"]
    cmd += ["open", "--db", str(path)]
    row = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+\S+\s+\S+")
    times = []
    for i in range(runs):
        sock = f"lc-bench-{os.getpid()}-{i}"
        tmux = ["tmux", "-L", sock]
        try:
            t0 = time.perf_counter()
            subprocess.run(tmux + ["-f", "/dev/null", "new-session", "-d", "-s", "b", "-x", str(size[0]), "-y",
                                   str(size[1]), "env -u COLUMNS -u LINES " + shlex.join(cmd)], check=True)
            while time.perf_counter() - t0 < 30:
                out = subprocess.run(tmux + ["capture-pane", "-p", "-t", "b"], capture_output=True, text=True).stdout
                if row.search(out):
                    times.append(time.perf_counter() - t0)
                    break
                time.sleep(0.01)
        finally:
            subprocess.run(tmux + ["kill-server"], capture_output=True)
    if not times:
        return {"process_first_paint": "no rows within 30 s"}
    return {"process_first_paint_ms": _ms(statistics.median(times)), "process_first_paint_runs_ms": [_ms(x) for x in times]}


def _bundle(n: int, seed: int = 42) -> Path:
    """A fresh-bundle input: *n* generated CloudTrail JSONL events (benchmarks/run.py's file, cached)."""
    here = Path(__file__).resolve().parent
    sys.path.insert(0, str(here))
    import gen_cloudtrail

    path = DEFAULT_DB.parent / f"ct-{n}-s{seed}.jsonl"
    done = Path(str(path) + ".done")
    if not (path.exists() and done.exists()):
        path.parent.mkdir(parents=True, exist_ok=True)
        print(f"generating {path} ...", file=sys.stderr)
        tmp = Path(str(path) + ".tmp")
        gen_cloudtrail.generate(n, seed, str(tmp), "jsonl")
        tmp.rename(path)
        done.write_text("ok\n")
    return path


def measure_open_fresh(n: int, size=(120, 40), runs: int = 3, bundle: Path | None = None) -> dict:
    """``logconsole open BUNDLE`` on a fresh (new, empty) index, as a person runs it in a terminal
    (tmux; a new process, imports included), until the first event row is painted (``capture-pane``
    every 10 ms); also when the status line first shows a rate.  Then ``q``: the background ingest
    is stopped, and the time from ``q`` until the process has ended (the ingest stopped cleanly) is
    the stop time.  Baseline of the same run: ``logconsole open --db`` of the index that run left (a
    few thousand events), until its first row: the console's own start-up at the moment's load."""
    import re
    import shlex
    import shutil
    import subprocess
    import tempfile

    if shutil.which("tmux") is None:
        return {"open_fresh": "tmux not installed"}
    src = bundle or _bundle(n)
    exe = Path(sys.executable).parent / "logconsole"
    base = [str(exe)] if exe.exists() else [sys.executable, "-m", "logconsole"]
    row = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+\S+\s+\S+")
    first, status, stops, counts, baseline = [], [], [], [], []
    load0 = os.getloadavg()
    for i in range(runs):
        work = Path(tempfile.mkdtemp(prefix="lc-open-", dir=str(DEFAULT_DB.parent)))
        db = work / "case.db"
        sock = f"lc-open-{os.getpid()}-{i}"
        tmux = ["tmux", "-L", sock]
        marker = work / "ended"
        cmd = shlex.join(base + ["open", "--db", str(db), str(src)]) + f"; touch {shlex.quote(str(marker))}"
        try:
            t0 = time.perf_counter()
            subprocess.run(tmux + ["-f", "/dev/null", "new-session", "-d", "-s", "b", "-x", str(size[0]), "-y",
                                   str(size[1]), "env -u COLUMNS -u LINES sh -c " + shlex.quote(cmd)], check=True)
            t_row = t_status = None
            while time.perf_counter() - t0 < 60 and t_row is None:
                out = subprocess.run(tmux + ["capture-pane", "-p", "-t", "b"], capture_output=True,
                                     text=True).stdout
                now = time.perf_counter() - t0
                if t_status is None and "ev/s" in out:
                    t_status = now
                if row.search(out):
                    t_row = now
                    m = re.search(r"([\d,]+) of ([\d,]+) events", out)
                    counts.append(int(m.group(2).replace(",", "")) if m else None)
                    break
                time.sleep(0.01)
            if t_row is not None:
                first.append(t_row)
            if t_status is not None:
                status.append(t_status)
            time.sleep(1.0)  # a person reads the first screen; the ingest goes on behind it
            tq = time.perf_counter()
            subprocess.run(tmux + ["send-keys", "-t", "b", "q"], check=True)
            while not marker.exists() and time.perf_counter() - tq < 60:
                time.sleep(0.02)
            if marker.exists():
                stops.append(time.perf_counter() - tq)
            subprocess.run(tmux + ["kill-server"], capture_output=True)
            plain = measure_process_start(db, size=size, runs=1)
            if "process_first_paint_ms" in plain:
                baseline.append(plain["process_first_paint_ms"] / 1000)
        finally:
            subprocess.run(tmux + ["kill-server"], capture_output=True)
            shutil.rmtree(work, ignore_errors=True)
    out: dict = {"events": n, "bundle": str(src), "bundle_bytes": src.stat().st_size,
                 "load_average_at_start": load0, "load_average_at_end": os.getloadavg()}
    if first:
        out["open_fresh_first_rows_ms"] = _ms(statistics.median(first))
        out["open_fresh_first_rows_runs_ms"] = [_ms(x) for x in first]
        out["events_indexed_at_first_paint"] = counts
    else:
        out["open_fresh_first_rows"] = "no rows within 60 s"
    if baseline:
        out["baseline_open_existing_index_first_rows_ms"] = _ms(statistics.median(baseline))
        if first:
            out["ratio_to_baseline"] = round(statistics.median(first) / statistics.median(baseline), 2)
    if status:
        out["open_fresh_status_rate_shown_ms"] = _ms(statistics.median(status))
    if stops:
        out["quit_until_process_ended_ms"] = _ms(statistics.median(stops))
        out["quit_until_process_ended_runs_ms"] = [_ms(x) for x in stops]
    return out


def _print_report(f: dict) -> None:
    print(f"index: {f['db']} ({f['events']:,} events)" + (f", built in {f['build_s']} s" if "build_s" in f else ""))
    for label, res in f.get("queries", {}).items():
        print(f"  [{label}]")
        for k, v in res.items():
            print(f"    {k:32s} {v:8.1f} ms")
    c = f.get("console") or {}
    for k, v in c.items():
        print(f"  {k:36s} {v}")


if __name__ == "__main__":
    raise SystemExit(main())
