#!/usr/bin/env python3
"""Identity graph build time against the ingest time of the same events (docs/performance.md).

    python benchmarks/bench_identity.py --events 1000000 [--workdir /tmp/logconsole-bench] [--json]
    python benchmarks/bench_identity.py --input FILE.jsonl          # any log the ingest reads

1. ingest the input into a fresh index through the ingest workflow *without* the
   identity step (wall time = ingest + the other steps);
2. build the identity graph over it (``analysis.identity.build.build``) and report
   its phases, the ratio to step 1 and the graph's size;
3. build it again incrementally with nothing new (the cost of an ingest that adds nothing);
4. the combination pass two ways: SQLite ``GROUP BY`` (what the build does) and polars
   (read the identity columns into a DataFrame, ``group_by``): whether polars would help.

Input: ``benchmarks/gen_cloudtrail.py N 42`` JSON lines (cached in --workdir), where every
assumed-role event carries a new temporary key - a harsher case for the graph than real
CloudTrail, in which a session signs all its calls with one key.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--input", default=None, help="ingest this file instead of generated CloudTrail")
    ap.add_argument("--workdir", default="/tmp/logconsole-bench")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from logconsole.analysis.identity.build import build
    from logconsole.store.db import open_db
    from logconsole.workflows.ingest import INGEST_STEPS, run_ingest

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    if args.input:
        src = Path(args.input)
    else:
        src = work / f"cloudtrail-{args.events}-42.jsonl"
        if not src.exists():
            subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gen_cloudtrail.py"), str(args.events), "42",
                            str(src), "--format", "jsonl"], check=True)
    db = work / f"identity-bench-{os.getpid()}.db"
    for suffix in ("", "-wal", "-shm", ".lock"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    load0 = os.getloadavg()[0]
    engine = open_db(db)
    try:
        steps = tuple(s for s in INGEST_STEPS if s.name != "identity-graph")
        t0 = time.perf_counter()
        result = run_ingest(engine, [str(src)], steps=steps)
        ingest_s = time.perf_counter() - t0
        events = result.total("events")

        t0 = time.perf_counter()
        stats = build(engine)
        graph_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        build(engine)
        noop_s = time.perf_counter() - t0

        combos = _combination_pass(engine)
    finally:
        engine.dispose()
        for suffix in ("", "-wal", "-shm", ".lock"):
            Path(str(db) + suffix).unlink(missing_ok=True)
    out = {
        "input": str(src), "events": events, "load_at_start": round(load0, 2), "load_at_end": round(os.getloadavg()[0], 2),
        "ingest_s": round(ingest_s, 2), "graph_build_s": round(graph_s, 2),
        "graph_vs_ingest": round(graph_s / ingest_s, 3) if ingest_s else None,
        "incremental_nothing_new_s": round(noop_s, 3), "graph": stats.as_json(), "combination_pass": combos,
    }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"{events:,} events from {src.name} (load {load0:.1f} at start)")
        print(f"ingest (without the identity step): {ingest_s:.2f} s")
        print(f"identity graph build: {graph_s:.2f} s = {100 * graph_s / ingest_s:.1f} % of the ingest "
              f"(target <= 10 %); phases {stats.as_json()['phases']}")
        print(f"graph: {stats.combos:,} combinations, {stats.aliases:,} aliases, {stats.links:,} links, "
              f"{stats.identities:,} identities; an ingest that adds nothing: {noop_s * 1000:.0f} ms")
        print(f"combination pass: SQLite GROUP BY {combos['sqlite_group_by_s']} s, polars read + group_by "
              f"{combos['polars_s']} s ({combos['polars_read_s']} s of it reading the columns)")
    return 0


def _combination_pass(engine) -> dict:
    """The build's first phase two ways, on the same index."""
    import polars as pl

    cols = "format, source_id, actor, actor_type, actor_uid, session, host, target_user"
    with engine.connect() as conn:
        t0 = time.perf_counter()
        n_sql = len(conn.exec_driver_sql(
            f"SELECT {cols}, MIN(ts_us), MAX(ts_us), COUNT(*), MIN(id) FROM events "
            f"WHERE actor IS NOT NULL OR session IS NOT NULL GROUP BY {cols}").all())
        sql_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        cur = conn.exec_driver_sql(f"SELECT id, ts_us, {cols} FROM events WHERE actor IS NOT NULL OR session IS NOT NULL")
        names = ["id", "ts_us", *[c.strip() for c in cols.split(",")]]
        df = pl.DataFrame(cur.fetchall(), schema=names, orient="row", infer_schema_length=None)
        read_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        g = df.group_by(names[2:]).agg(pl.col("ts_us").min().alias("first"), pl.col("ts_us").max().alias("last"),
                                       pl.len().alias("n"), pl.col("id").min().alias("min_id"))
        group_s = time.perf_counter() - t1
    return {"combinations": n_sql, "sqlite_group_by_s": round(sql_s, 2), "polars_read_s": round(read_s, 2),
            "polars_group_by_s": round(group_s, 2), "polars_s": round(read_s + group_s, 2),
            "polars_combinations": g.height}


if __name__ == "__main__":
    raise SystemExit(main())
