#!/usr/bin/env python3
"""Follow latency: how long after a record is written is it in the index?

    .venv/bin/python benchmarks/bench_follow.py                       # 1,000 events/s for 60 s
    .venv/bin/python benchmarks/bench_follow.py --rate 1000 --seconds 60 --json

A writer appends CloudTrail JSON lines (``benchmarks/gen_cloudtrail.py``, seed 42) to a file at
``--rate`` records per second, in chunks every ``--tick`` seconds, while ``logconsole ingest
--follow`` (a real subprocess) follows that file into a fresh index.  This process polls the index
read-only every 10 ms (``count(*)`` of the events, the same rows every query sees: free-text searches
scan what the full-text index has not reached yet); a record's latency is the first poll that sees
it minus the moment its chunk was written and flushed.  At the end the writer stops, the follow is
stopped with SIGINT (its clean stop) and the run checks that every written record is an event and
none was quarantined.  Prints p50/p95/max latency, the events lost (must be 0) and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CLI = "from logconsole.cli import main; main(prog_name='logconsole')"


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT) + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    return e


def source_lines(n: int, workdir: Path) -> list[bytes]:
    path = workdir / f"follow-{n}.jsonl"
    if not path.exists():
        subprocess.run([sys.executable, str(HERE / "gen_cloudtrail.py"), str(n), "42", str(path)], check=True,
                       env=env())
    with open(path, "rb") as f:
        return f.read().splitlines(keepends=True)


def count(db: str) -> int:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.05)
        try:
            return con.execute("SELECT count(*) FROM events").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return -1


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def run(rate: int, seconds: float, tick: float, workdir: Path) -> dict:
    total = int(rate * seconds)
    lines = source_lines(total, workdir)
    tmp = tempfile.mkdtemp(dir=workdir)
    try:
        log = Path(tmp) / "growing.jsonl"
        db = str(Path(tmp) / "follow.db")
        log.write_bytes(b"")
        proc = subprocess.Popen([sys.executable, "-c", CLI, "ingest", "--follow", "--json", "--db", db,
                                 str(log)], env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while count(db) < 0:  # the follow has created the index
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"the follow did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
            time.sleep(0.05)
        per_tick = max(1, int(rate * tick))
        written_at: list[float] = []  # per record: when its chunk was flushed
        seen_at: list[float] = []
        start = time.monotonic()
        i = 0
        with open(log, "ab") as out:
            while i < total:
                due = start + len(written_at) / rate
                now = time.monotonic()
                if now >= due:
                    chunk = lines[i:i + per_tick]
                    out.write(b"".join(chunk))
                    out.flush()
                    t = time.monotonic()
                    written_at.extend([t] * len(chunk))
                    i += len(chunk)
                c = count(db)
                t = time.monotonic()
                while len(seen_at) < min(c, len(written_at)):
                    seen_at.append(t)
                time.sleep(0.01)
        end = time.monotonic() + 30
        while len(seen_at) < total and time.monotonic() < end:
            c = count(db)
            t = time.monotonic()
            while len(seen_at) < min(c, total):
                seen_at.append(t)
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        out_text, err_text = proc.communicate(timeout=600)
        if os.environ.get("BENCH_KEEP"):
            Path(tmp, "follow.out").write_bytes(out_text + b"\n" + err_text)
        final = count(db)
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        quarantined = con.execute("SELECT count(*) FROM quarantine").fetchone()[0]
        con.close()
        lat = [s - w for s, w in zip(seen_at, written_at)]
        result = {
            "rate": rate, "seconds": seconds, "written": total, "indexed": final, "lost": total - final,
            "quarantined": quarantined, "p50_ms": round(pct(lat, 50) * 1000, 1),
            "p95_ms": round(pct(lat, 95) * 1000, 1), "max_ms": round(max(lat) * 1000, 1),
            "follow_exit": proc.returncode, "load_avg": round(os.getloadavg()[0], 2),
            "follow_stderr": err_text.decode(errors="replace")[-2000:] if proc.returncode not in (0, 130) or final != total
            else "",
            "follow_result": out_text.decode(errors="replace")[-2000:] if final != total else "",
        }
    finally:
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=int, default=1000, help="records written per second (default 1000)")
    ap.add_argument("--seconds", type=float, default=60, help="how long to write (default 60)")
    ap.add_argument("--tick", type=float, default=0.02, help="the writer flushes a chunk this often (s)")
    ap.add_argument("--workdir", default="/tmp/logconsole-bench")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    workdir = Path(a.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    r = run(a.rate, a.seconds, a.tick, workdir)
    r["load_at_start"] = round(load, 2)
    if a.json:
        print(json.dumps(r, indent=2))
    else:
        print(f"follow at {r['rate']:,} ev/s for {r['seconds']:g} s (load {load:.1f} at start): "
              f"{r['written']:,} written, {r['indexed']:,} indexed, lost {r['lost']}, quarantined {r['quarantined']}; "
              f"latency p50 {r['p50_ms']:.0f} ms, p95 {r['p95_ms']:.0f} ms, max {r['max_ms']:.0f} ms")
    if r["lost"]:
        print(r["follow_stderr"], r["follow_result"], sep="\n", file=sys.stderr)
    return 0 if r["lost"] == 0 and r["quarantined"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
