#!/usr/bin/env python3
"""Query latency on an existing index: re-open + first page, filters, jump to end.

    .venv/bin/python benchmarks/bench_query.py --db PATH [--json] [--repeat 3]

Run in a fresh process (``benchmarks/run.py`` does) so "re-open" includes
opening the SQLite file and the schema check, but not Python start-up or
imports (those are reported separately as ``import_s``).

Every filter goes through the real filter language
(:func:`logconsole.store.filter.compile_filter`) and is timed as what the
console does for it: compile, ``count`` of matches, and the first page (100
rows, time order).  Filter values are taken from the index itself
(deterministically: the most frequent actors/actions/IPs, and values of events
at fixed positions), so the script works on any CloudTrail-like index.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

T_IMPORT0 = time.perf_counter()
from sqlalchemy import func, select  # noqa: E402

from logconsole.store import queries  # noqa: E402
from logconsole.store.db import open_db  # noqa: E402
from logconsole.store.schema import events  # noqa: E402

IMPORT_S = time.perf_counter() - T_IMPORT0
PAGE = 100


def pct(values: list[float], p: float) -> float:
    v = sorted(values)
    if not v:
        return float("nan")
    k = (len(v) - 1) * p
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def q(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def pick_values(conn, n_events: int) -> dict[str, list[str]]:
    """Deterministic filter values present in the index."""
    def top(col, k, where=None):
        s = select(col, func.count()).where(col.is_not(None))
        if where is not None:
            s = s.where(where)
        # sample the first 200k rows only, so picking values stays cheap at 10M
        s = s.where(events.c.id <= 200_000).group_by(col).order_by(func.count().desc(), col).limit(k)
        return [r[0] for r in conn.execute(s)]

    def at(col, fractions):
        out = []
        for f in fractions:
            eid = max(1, int(n_events * f))
            v = conn.execute(select(col).where(events.c.id >= eid, col.is_not(None)).order_by(events.c.id).limit(1)).scalar()
            if v is not None:
                out.append(v)
        return out

    ts = conn.execute(select(func.min(events.c.ts_us), func.max(events.c.ts_us))).one()
    return {
        "actors_top": top(events.c.actor, 3),
        "actors_rare": at(events.c.actor, [0.11, 0.37, 0.73]),
        "actions_top": top(events.c.action, 2),
        "actions_rare": ["StopLogging", "DeleteTrail", "CreateAccessKey", "PutBucketPolicy"],
        "ips": at(events.c.src_ip, [0.05, 0.5, 0.95]),
        "sessions": at(events.c.session, [0.2, 0.6]),
        "records": at(events.c.record_id, [0.3, 0.9]),
        "resources": at(events.c.resource, [0.25, 0.85]),
        "ts": list(ts),
    }


def iso(us: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(us / 1e6))


def build_filters(v: dict[str, list]) -> tuple[list[str], list[str], list[str]]:
    lo, hi = v["ts"]
    span = hi - lo
    mid = lo + span // 2
    indexed = []
    for a in v["actors_top"] + v["actors_rare"]:
        indexed.append(f"actor:{q(a)}")
    for a in v["actions_top"] + v["actions_rare"]:
        indexed.append(f"action:{a}")
    for ip in v["ips"]:
        indexed.append(f"ip:{ip}")
    if v["ips"] and ":" not in v["ips"][0]:
        indexed.append("ip:" + ".".join(v["ips"][0].split(".")[:2]) + ".0.0/16")
    indexed.append(f"since:{iso(mid)} until:{iso(mid + 3_600_000_000)}")
    indexed.append(f"since:{iso(hi - 86_400_000_000)}")
    if v["actors_rare"]:
        indexed.append(f"actor:{q(v['actors_rare'][0])} since:{iso(lo + span // 4)} until:{iso(lo + span // 2)}")
    indexed.append(f"action:{v['actions_rare'][0]} OR action:{v['actions_rare'][1]}")
    indexed.append("action:Delete*")
    indexed = list(dict.fromkeys(indexed))[:20]
    free = []
    for ip in v["ips"][:2]:
        free.append(q(ip))
    for s in v["sessions"]:
        free.append(q(s.split(" ")[-1].strip("()")))
    for r in v["records"]:
        free.append(q(r))
    for r in v["resources"]:
        free.append(q(r))
    free += ["AccessDenied", "StopLogging", "payroll", "tfstate", "BreakGlass*", "\"not authorized\"", "p3.16xlarge",
             "0.0.0.0", "AdministratorAccess", "ConsoleLogin Failure", "sg-0*", "LeaveOrganization"]
    free = list(dict.fromkeys(free))[:20]
    # substrings inside indexed words (the default form of a bare word): fragments of
    # error codes, event names, ARNs, user agents, bucket names; and multi-part ones
    substring = ["denied", "ccessdenie", "secret", "admin", "deploy", "trail", "payroll", "xlarge", "organization",
                 "policy", "unauthorized", "s3:getobj", "instances", "breakglass", "terraform", "snapshot",
                 "iam::", "keypair", "logging", "ingress"]
    other = ["outcome:failure", "error:AccessDenied", "service:iam.amazonaws.com", "region:sa-east-1",
             "actor_type:Root", "outcome:failure actor:" + q(v["actors_top"][0]) if v["actors_top"] else "outcome:failure"]
    # the same words as whole words (the index's own form): the baseline of the substring
    # group, measured in the same run
    whole = ['"' + w + '"' for w in substring]
    return indexed, free, substring, whole, other


def time_filter(conn, compile_filter, ftext: str, now_us: int) -> tuple[float, int]:
    t0 = time.perf_counter()
    f = compile_filter(ftext, now_us=now_us)
    n = queries.count(conn, f.where)
    queries.search(conn, f.where, limit=PAGE)
    return time.perf_counter() - t0, n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", required=True)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--repeat", type=int, default=1, help="run each filter N times (latencies of all runs)")
    ap.add_argument("--verbose", action="store_true", help="print every filter with its latency")
    a = ap.parse_args(argv)
    out: dict = {"import_s": round(IMPORT_S, 3)}

    # ---- re-open + first page (the timeline's first screen)
    t0 = time.perf_counter()
    eng = open_db(a.db, create=False)
    with eng.connect() as conn:
        first = queries.search(conn, None, limit=PAGE)
    out["reopen_first_page_s"] = round(time.perf_counter() - t0, 4)
    out["first_page_rows"] = len(first)

    with eng.connect() as conn:
        # ---- jump to end: the last page in time order
        t0 = time.perf_counter()
        last = queries.search(conn, None, limit=PAGE, descending=True)
        out["jump_to_end_s"] = round(time.perf_counter() - t0, 4)
        out["last_page_rows"] = len(last)
        t0 = time.perf_counter()
        n_events = queries.count(conn)
        out["count_all_s"] = round(time.perf_counter() - t0, 4)
        out["events"] = n_events

        try:
            from logconsole.store.filter import compile_filter
        except ImportError as exc:
            out["filters"] = f"n/a (not built yet: {exc})"
            compile_filter = None
        if compile_filter is not None:
            vals = pick_values(conn, n_events)
            now_us = vals["ts"][1] + 3_600_000_000
            groups = dict(zip(("indexed", "free_text", "substring", "whole_word", "unindexed"), build_filters(vals)))
            for name, flist in groups.items():
                lat: list[float] = []
                detail = []
                for ftext in flist:
                    for _ in range(max(1, a.repeat)):
                        try:
                            dt, n = time_filter(conn, compile_filter, ftext, now_us)
                        except Exception as exc:  # a filter the language rejects is reported, not fatal
                            detail.append({"filter": ftext, "error": str(exc)})
                            break
                        lat.append(dt)
                        detail.append({"filter": ftext, "s": round(dt, 4), "matches": n})
                        if a.verbose:
                            print(f"{name:10} {dt * 1000:8.1f} ms {n:>9} {ftext}", file=sys.stderr)
                out[name] = {
                    "n": len(flist), "median_s": round(statistics.median(lat), 4) if lat else None,
                    "p95_s": round(pct(lat, 0.95), 4) if lat else None, "max_s": round(max(lat), 4) if lat else None,
                    "detail": detail,
                }
    if a.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            if isinstance(v, dict):
                print(f"{k}: median {v['median_s']} s, p95 {v['p95_s']} s over {v['n']} filters")
            else:
                print(f"{k}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
