#!/usr/bin/env python3
"""Sigma rules over an index: every rule for the formats present, from scratch.

    python benchmarks/bench_rules.py --db INDEX --rules PATH [--rules PATH ...] [--json]

Works on a copy of INDEX (the original is never written), with no stored hits
or watermarks, so every rule reads every event: ``logconsole rules run`` in a
fresh process, wall time and peak RSS.  The baseline, measured in the same run,
is one pass that decodes and parses every raw record in one process (the floor
of anything that reads fields outside the normalized columns); the ratio is
rules / baseline.  Then an incremental run with nothing new (the cost of the
step after an ingest that added nothing to match).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(args: list[str]) -> tuple[float, int, str]:
    """Run logconsole in a fresh process; output goes to a file (a pipe would fill up and block)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryFile("w+") as out_f, tempfile.TemporaryFile("w+") as err_f:
        t0 = time.perf_counter()
        p = subprocess.Popen([sys.executable, "-m", "logconsole.cli", *args], stdout=out_f, stderr=err_f, env=env)
        _pid, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        out_f.seek(0)
        err_f.seek(0)
        out, err = out_f.read(), err_f.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"logconsole {' '.join(args)} failed: {err.strip()[-500:]}")
    return wall, ru.ru_maxrss // 1024, out


def _baseline(db: str) -> tuple[float, int]:
    sys.path.insert(0, str(ROOT))
    import orjson

    from logconsole.store.rawcodec import decode_bytes

    con = sqlite3.connect(db)
    t0 = time.perf_counter()
    n = 0
    for (raw,) in con.execute("SELECT raw FROM events"):
        orjson.loads(decode_bytes(raw))
        n += 1
    con.close()
    return time.perf_counter() - t0, n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", required=True)
    ap.add_argument("--rules", action="append", default=[])
    ap.add_argument("--workdir", default=None, help="where the copy of the index goes (default: next to it)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    work = Path(a.workdir or Path(a.db).parent)
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        db = str(Path(tmp) / "bench.db")
        src = sqlite3.connect(a.db)
        dst = sqlite3.connect(db)
        src.backup(dst)
        src.close()
        for t in ("sigma_hits", "sigma_rules", "sigma_rule_paths"):
            try:
                dst.execute(f"DELETE FROM {t}")
            except sqlite3.OperationalError:
                pass
        dst.commit()
        dst.close()
        load = os.getloadavg()[0]
        base_s, n_events = _baseline(db)
        args = ["rules", "run", "--db", db, "--json"] + [x for r in a.rules for x in ("--rules", r)]
        wall, rss, out = _run(args)
        res = json.loads(out)
        again_s, _rss2, out2 = _run(args)
        again = json.loads(out2)
    fig = {
        "events": n_events, "load_at_start": round(load, 2), "cpus": os.cpu_count(),
        "rules_loaded": res["rules"]["loaded"], "rules_ran": res["rules"]["ran"],
        "rules_unmapped": res["rules"]["unmapped"], "rules_with_hits": len(res["hits"]),
        "hits": sum(len(h["events"]) for h in res["hits"]),
        "wall_s": round(wall, 2), "build_s": res["timing"]["build_s"], "match_s": res["timing"]["match_s"],
        "peak_rss_mb": rss, "baseline_decode_s": round(base_s, 2), "ratio_to_baseline": round(wall / base_s, 2),
        "incremental_nothing_new_s": round(again_s, 2), "incremental_events_read": again["timing"]["events_read"],
    }
    if a.json:
        print(json.dumps(fig, indent=2))
    else:
        for k, v in fig.items():
            print(f"{k:28} {v}")
    return 0


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    sys.exit(main())
