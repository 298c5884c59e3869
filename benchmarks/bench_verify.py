"""hash-chain verification throughput (target: >= 150,000 records/s on 1,000,000 records).

Builds a deterministic hash-chained JSON-lines log (default profile: seq / prev_hash /
hash over RFC 8785 JCS) in a temporary directory, then measures:

* end-to-end ``verify_files`` throughput (records/s) with the canonical-line fast path
  (the writer emits the canonical form of each record, so the line without its hash
  member is exactly the hashed bytes) and without it (every record re-canonicalised);
* the same for ``--canon sorted`` and with HMAC-SHA256;
* the cost of the parts on a sample: json.loads / orjson.loads, JCS via ``rfc8785``,
  the JCS fast path (orjson with sorted keys for string/int-only records, byte-identical
  to RFC 8785; property-tested), sorted JSON, SHA-256, HMAC-SHA256.

Also (``--index-events N``, default 200,000; 0 skips): the index chain of custody on a
synthetic index: the first checkpoint (full tree), an incremental checkpoint after an
ingest of 5,000 more events, and ``verify --index`` with and without re-hashing every
raw record.

Usage: .venv/bin/python benchmarks/bench_verify.py [--records N] [--index-events N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import rfc8785

from logconsole.analysis.chain.canon import canon_jcs, canon_sorted
from logconsole.analysis.chain.hashchain import ChainOptions, verify_files

ACTORS = ["alice", "bob", "svc-deploy", "mallory", "renée"]
ACTIONS = ["login", "read", "update", "delete", "grant", "export"]
KEY = b"bench-hmac-key"


def build(path: Path, n: int, *, mode: str = "jcs", key: bytes | None = None) -> None:
    dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
    prev = "0" * 64
    t0 = 1_772_355_600
    with open(path, "w", encoding="utf-8") as f:
        for i in range(1, n + 1):
            ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 + i // 4))
            rec = {"seq": i, "prev_hash": prev, "time": ts,
                   "actor": ACTORS[i % 5], "action": ACTIONS[i % 6], "object": f"/records/{(i * 7919) % 100000:05d}",
                   "ok": i % 10 != 0, "src_ip": f"10.0.{i % 256}.{(i * 13) % 256}", "session": f"s-{t0 + i // 50:x}"}
            body = dumps(rec).encode("utf-8")  # == RFC 8785 for str/int/bool records (tests prove it)
            h = hmac.new(key, body, hashlib.sha256).hexdigest() if key else hashlib.sha256(body).hexdigest()
            rec["hash"] = h
            f.write(dumps(rec))
            f.write("\n")
            prev = h


def timed(label: str, n: int, fn) -> float:
    t = time.perf_counter()
    res = fn()
    dt = time.perf_counter() - t
    ok = ""
    if isinstance(res, list) and res and hasattr(res[0], "status"):
        ok = f"  status={res[0].status} failures={len(res[0].failures)}"
    print(f"{label:<48} {n:>10,} in {dt:7.2f}s = {n / dt:>10,.0f} /s{ok}")
    return n / dt


def bench_index(d: Path, n: int) -> None:
    from sqlalchemy import insert

    from logconsole.analysis.chain.custody import record_checkpoint, verify_index
    from logconsole.store import rawcodec
    from logconsole.store.db import open_db
    from logconsole.store.schema import events, sources

    db = d / "custody.db"
    eng = open_db(db)
    with eng.begin() as conn:
        conn.execute(insert(sources).values(id=1, path="/bench", format="jsonl", sha256="0" * 64, bytes=0,
                                            parser="bench", parser_version="1", ingested_at=0, status="complete"))

    def add(first: int, count: int) -> None:
        rows = []
        for i in range(first, first + count):
            raw = (f'{{"seq":{i},"actor":"{ACTORS[i % 5]}","action":"{ACTIONS[i % 6]}",'
                   f'"object":"/records/{(i * 7919) % 100000:05d}"}}').encode()
            rows.append(dict(id=i, source_id=1, line=i, format="jsonl", ts_us=1_772_355_600_000_000 + i,
                             outcome="success", raw=rawcodec.encode(raw), raw_sha256=hashlib.sha256(raw).hexdigest(),
                             dedup=i))
            if len(rows) == 20_000:
                with eng.begin() as conn:
                    conn.execute(insert(events), rows)
                rows = []
        if rows:
            with eng.begin() as conn:
                conn.execute(insert(events), rows)

    add(1, n)
    print(f"\n== index chain of custody ({n:,} events, RFC 9162 tree in blocks of 1,024)")
    timed("first checkpoint (whole tree)", n, lambda: record_checkpoint(eng, "manual"))
    add(n + 1, 5000)
    timed("incremental checkpoint after 5,000 new events", 5000, lambda: record_checkpoint(eng, "manual"))
    timed("verify --index (re-hash every raw record)", n + 5000, lambda: [verify_index(eng)])
    timed("verify --index --quick", n + 5000, lambda: [verify_index(eng, check_raw=False)])
    eng.dispose()
    for suffix in ("", "-wal", "-shm", ".lock"):
        p = Path(str(db) + suffix)
        if p.exists():
            p.unlink()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--sample", type=int, default=100_000, help="records for the per-part measurements")
    ap.add_argument("--index-events", type=int, default=200_000, help="events for the custody benchmark (0: skip)")
    ap.add_argument("--keep", default=None, help="build the logs in this directory and keep them")
    args = ap.parse_args()
    n = args.records
    d = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-verify-"))
    d.mkdir(parents=True, exist_ok=True)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpu(s); logs in {d}")
    log = d / "chain-jcs.log"
    t = time.perf_counter()
    build(log, n)
    print(f"built {n:,} records ({log.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f}s")

    print("\n== end to end (verify_files, default profile)")
    runs = [timed(f"hash-chain jcs, canonical-line fast path (run {k})", n,
                  lambda: verify_files([str(log)], ChainOptions())) for k in (1, 2, 3)]
    fast = max(runs)
    print(f"{'  best of 3 / median':<48} {fast:>27,.0f} /s / {sorted(runs)[1]:,.0f} /s "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus: other work halves these figures)")
    timed("hash-chain jcs, fast path off (canonicalise all)", n,
          lambda: verify_files([str(log)], ChainOptions(fast_path=False)))
    timed("hash-chain sorted, fast path off", n,
          lambda: verify_files([str(log)], ChainOptions(canon="sorted", fast_path=False)))
    hlog = d / "chain-hmac.log"
    build(hlog, n, key=KEY)
    timed("hash-chain jcs + HMAC-SHA256, fast path", n, lambda: verify_files([str(hlog)], ChainOptions(hmac_key=KEY)))

    print(f"\n== parts, on {args.sample:,} records")
    lines = []
    with open(log, "rb") as f:
        for _ in range(args.sample):
            lines.append(f.readline().rstrip(b"\n"))
    m = len(lines)
    objs = [json.loads(x) for x in lines]
    for o in objs:
        del o["hash"]
    timed("json.loads", m, lambda: [json.loads(x) for x in lines])
    try:
        import orjson

        timed("orjson.loads (what verify uses)", m, lambda: [orjson.loads(x) for x in lines])
    except ImportError:
        pass
    timed("canonicalise: rfc8785.dumps (exact, slow)", m, lambda: [rfc8785.dumps(o) for o in objs])
    timed("canonicalise: JCS fast path (orjson, == RFC 8785)", m, lambda: [canon_jcs(o) for o in objs])
    timed("canonicalise: sorted (fast path)", m, lambda: [canon_sorted(o) for o in objs])
    bodies = [canon_jcs(o) for o in objs]
    timed("SHA-256 of canonical bytes", m, lambda: [hashlib.sha256(b).hexdigest() for b in bodies])
    timed("HMAC-SHA256 of canonical bytes", m, lambda: [hmac.new(KEY, b, hashlib.sha256).hexdigest() for b in bodies])
    assert all(rfc8785.dumps(o) == b for o, b in zip(objs[:2000], bodies[:2000]))
    if args.index_events:
        bench_index(d, args.index_events)
    print(f"\ntarget >= 150,000 records/s: {'MET' if fast >= 150_000 else 'NOT met'} ({fast:,.0f} records/s, best of 3)")
    if not args.keep:
        for p in (log, hlog):
            p.unlink()
        d.rmdir()


if __name__ == "__main__":
    main()
