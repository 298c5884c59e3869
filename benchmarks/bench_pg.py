#!/usr/bin/env python3
"""The PostgreSQL column: the same CloudTrail events in SQLite and in PostgreSQL, same machine, same run.

    .venv/bin/python benchmarks/bench_pg.py --url postgresql+psycopg://postgres@127.0.0.1:PORT/postgres
    .venv/bin/python benchmarks/bench_pg.py --events 200000 --query-events 1000000

(``--url`` defaults to ``$LOGCONSOLE_TEST_PG``; ``eval "$(.ci/pg_cluster.sh start)"`` starts a
throwaway server on loopback.)  For N events (``benchmarks/gen_cloudtrail.py``, cached in
--workdir) it measures, each ingest a ``logconsole ingest --json`` subprocess into a fresh index:

* ingest into SQLite and into PostgreSQL (a new database), and the ratio;
* two ingests of two different files (the two halves) into PostgreSQL at once, against the two
  one after the other into another new database;
* on the PostgreSQL index of --query-events events: re-open + first page, indexed filter and
  free-text p50/p95 (``benchmarks/bench_query.py``), ``logconsole actors --json`` wall time.

Prints one Markdown table and, with --json, the raw figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT) + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    return e


def generate(n: int, workdir: Path) -> Path:
    path = workdir / f"ct_{n}.jsonl"
    if not path.exists():
        subprocess.run([PY, str(HERE / "gen_cloudtrail.py"), str(n), "42", str(path), "--format", "jsonl"],
                       check=True, env=env())
    return path


def halves(path: Path) -> tuple[Path, Path]:
    a, b = path.with_suffix(".a.jsonl"), path.with_suffix(".b.jsonl")
    if not (a.exists() and b.exists()):
        lines = path.read_bytes().splitlines(keepends=True)
        a.write_bytes(b"".join(lines[: len(lines) // 2]))
        b.write_bytes(b"".join(lines[len(lines) // 2:]))
    return a, b


def new_database(admin: str) -> str:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    name = "bench_" + uuid.uuid4().hex[:12]
    eng = create_engine(admin, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    eng.dispose()
    return make_url(admin).set(database=name).render_as_string(hide_password=False)


def drop_database(admin: str, url: str) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    eng = create_engine(admin, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
    eng.dispose()


def ingest_cmd(db: str, *files: Path) -> list[str]:
    return [PY, "-m", "logconsole.cli", "ingest", "--db", db, *map(str, files), "--json"]


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default=os.environ.get("LOGCONSOLE_TEST_PG"), help="an admin URL of the server")
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--query-events", type=int, default=None, help="index size for the query figures (default --events)")
    ap.add_argument("--workdir", default="/tmp/logconsole-bench")
    ap.add_argument("--keep", action="store_true", help="keep the databases")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    if not a.url:
        ap.error("no server: pass --url or set LOGCONSOLE_TEST_PG")
    work = Path(a.workdir)
    work.mkdir(parents=True, exist_ok=True)
    made: list[str] = []
    out: dict = {"events": a.events, "machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "date": time.strftime("%Y-%m-%d %H:%M")}
    try:
        src = generate(a.events, work)
        sqlite_db = work / f"sqlite_{a.events}_{uuid.uuid4().hex[:6]}.db"
        out["ingest_sqlite_s"] = timed(ingest_cmd(str(sqlite_db), src))
        pg = new_database(a.url)
        made.append(pg)
        out["ingest_pg_s"] = timed(ingest_cmd(pg, src))
        out["ingest_ratio"] = out["ingest_pg_s"] / out["ingest_sqlite_s"]
        for f in sqlite_db.parent.glob(sqlite_db.name + "*"):
            f.unlink()

        part_a, part_b = halves(src)
        seq = new_database(a.url)
        made.append(seq)
        out["two_sequential_s"] = timed(ingest_cmd(seq, part_a)) + timed(ingest_cmd(seq, part_b))
        par = new_database(a.url)
        made.append(par)
        # the schema first, so that both ingests start on an initialised database
        subprocess.run([PY, "-m", "logconsole.cli", "db", "init", par], check=True, env=env(), stdout=subprocess.DEVNULL)
        t0 = time.perf_counter()
        procs = [subprocess.Popen(ingest_cmd(par, p), env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for p in (part_a, part_b)]
        codes = [p.wait() for p in procs]
        out["two_concurrent_s"] = time.perf_counter() - t0
        out["two_concurrent_ok"] = codes == [0, 0]

        q_db = pg
        if a.query_events and a.query_events != a.events:
            q_db = new_database(a.url)
            made.append(q_db)
            out["query_ingest_pg_s"] = timed(ingest_cmd(q_db, generate(a.query_events, work)))
        out["query_events"] = a.query_events or a.events
        r = subprocess.run([PY, str(HERE / "bench_query.py"), "--db", q_db, "--json"], check=True, env=env(),
                           capture_output=True, text=True)
        q = json.loads(r.stdout)
        out["reopen_first_page_s"] = q["reopen_first_page_s"]
        for g in ("indexed", "free_text", "substring"):
            if isinstance(q.get(g), dict):
                out[f"{g}_p50_s"], out[f"{g}_p95_s"] = q[g]["median_s"], q[g]["p95_s"]
        out["actors_s"] = timed([PY, "-m", "logconsole.cli", "actors", "--db", q_db, "--json"])
    finally:
        if not a.keep:
            for url in made:
                drop_database(a.url, url)
    if a.json:
        print(json.dumps(out))
    rows = [
        ("ingest, SQLite", f"{out['ingest_sqlite_s']:.1f} s ({out['events'] / out['ingest_sqlite_s']:,.0f} ev/s)"),
        ("ingest, PostgreSQL", f"{out['ingest_pg_s']:.1f} s ({out['events'] / out['ingest_pg_s']:,.0f} ev/s)"),
        ("ingest ratio PostgreSQL/SQLite (target ≤ 1.5)", f"{out['ingest_ratio']:.2f}x"),
        ("two halves one after the other, PostgreSQL", f"{out['two_sequential_s']:.1f} s"),
        ("two halves at once, PostgreSQL", f"{out['two_concurrent_s']:.1f} s" + ("" if out["two_concurrent_ok"] else " (FAILED)")),
        (f"re-open + first page, {out['query_events']:,} events", f"{out['reopen_first_page_s'] * 1000:.0f} ms"),
    ]
    for g in ("indexed", "free_text", "substring"):
        if f"{g}_p95_s" in out:
            rows.append((f"{g.replace('_', ' ')} filter p50 / p95", f"{out[f'{g}_p50_s'] * 1000:.0f} / {out[f'{g}_p95_s'] * 1000:.0f} ms"))
    rows.append(("actors (after ingest)", f"{out['actors_s']:.2f} s"))
    print(f"PostgreSQL column, {out['date']}, {out['machine']}, {out['events']:,} CloudTrail events\n")
    print("| measure | value |\n|---|---|")
    for k, v in rows:
        print(f"| {k} | {v} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
