"""Binary .evtx ingest throughput (target: >= 20,000 records/s).

Input: ``benchmarks/gen_evtx.py`` builds N records (default 200,000) of real
Sysmon process-creation, file and registry events from the SigmaHQ regression
cases in ``tests/data/sigma_regression`` into one valid multi-chunk ``.evtx``
(cached in ``--workdir``).  Measured, each in a fresh process, best of
``--repeat``:

* ``logconsole ingest --json FILE.evtx`` into a fresh index: wall time,
  records/s, CPU time (user+system of the process and its parse worker, from
  ``os.wait4``), peak RSS; the run checks that every record became an event;
* baselines in the same run, on the same records:
  - the ``evtx`` package alone rendering every record to JSON (its default
    threads): the ceiling no ingest can pass;
  - ``logconsole ingest`` of the same renderings as JSON lines (format
    ``windows-security``): the same events through the JSON path;
* in-process split of the CPU per record: render + map (``EvtxParser.parse``)
  and ``prepare_batch`` (hashing, compression, full-text text).

Usage: .venv/bin/python benchmarks/bench_evtx.py [--records N] [--repeat K] [--workdir DIR] [--json-out F]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import gen_evtx  # noqa: E402
from run import machine, remove_db, run_measured  # noqa: E402

PY = sys.executable


def build_inputs(workdir: Path, n: int) -> tuple[Path, Path]:
    evtx_path = workdir / f"sysmon-{n}.evtx"
    jsonl_path = workdir / f"sysmon-{n}.jsonl"
    if not evtx_path.exists():
        gen_evtx.build(n, evtx_path, [ROOT / "tests" / "data" / "sigma_regression"])
    if not jsonl_path.exists():
        import evtx

        tmp = jsonl_path.with_suffix(".part")
        with open(tmp, "w", encoding="utf-8") as f:
            for rec in evtx.PyEvtxParser(str(evtx_path)).records_json():
                f.write(rec["data"])
                f.write("\n")
        os.replace(tmp, jsonl_path)
    return evtx_path, jsonl_path


def ingest_once(path: Path, db: Path, fmt: str | None = None) -> dict:
    remove_db(db)
    cmd = [PY, "-m", "logconsole.cli", "ingest", "--db", str(db), "--json", str(path)]
    if fmt:
        cmd[4:4] = ["--format", fmt]
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL, cwd=str(ROOT),
                             env=dict(os.environ, PYTHONPATH=str(ROOT)))
        _pid, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        out.seek(0)
        res = json.loads(out.read().decode() or "{}")
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"ingest of {path} failed")
    remove_db(db)
    return {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "rss": ru.ru_maxrss * 1024,
            "events": res.get("events"), "quarantined": res.get("quarantined"), "records": res.get("records")}


def crate_only(path: Path) -> float:
    code = ("import evtx,sys,time\nt=time.perf_counter()\nn=sum(1 for _ in evtx.PyEvtxParser(sys.argv[1]).records_json())\n"
            "print(n, time.perf_counter()-t)")
    wall, _rss, out, _err, _rc = run_measured([PY, "-c", code, str(path)])
    return float(out.split()[1])


def split_cpu(path: Path, n: int) -> dict:
    from logconsole.ingest.evtx_file import EvtxParser
    from logconsole.ingest.batches import prepare_batch
    from logconsole.ingest.reader import Input

    inp = Input.open(path)
    t = time.process_time()
    items = list(EvtxParser().parse(inp))
    parse = time.process_time() - t
    t = time.process_time()
    for i in range(0, len(items), 5000):
        prepare_batch(items[i:i + 5000])
    prep = time.process_time() - t
    return {"parse_us": parse / len(items) * 1e6, "prepare_us": prep / len(items) * 1e6}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "logconsole-bench")
    ap.add_argument("--json-out", type=Path)
    args = ap.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    n = args.records
    print(machine())
    evtx_path, jsonl_path = build_inputs(args.workdir, n)
    print(f"input: {evtx_path} ({evtx_path.stat().st_size / 1e6:.0f} MB, {n:,} records); "
          f"same records as JSON lines: {jsonl_path.stat().st_size / 1e6:.0f} MB")
    db = args.workdir / "idx-evtx-bench.db"
    runs = {"evtx": [], "jsonl": []}
    crate = []
    for _ in range(args.repeat):
        crate.append(crate_only(evtx_path))
        r = ingest_once(evtx_path, db)
        if r["events"] != n or r["quarantined"]:
            raise SystemExit(f"evtx ingest lost records: {r}")
        runs["evtx"].append(r)
        r = ingest_once(jsonl_path, db, "windows-security")
        if r["events"] != n or r["quarantined"]:
            raise SystemExit(f"JSON ingest lost records: {r}")
        runs["jsonl"].append(r)
    best = {k: min(v, key=lambda r: r["wall"]) for k, v in runs.items()}
    split = split_cpu(evtx_path, n)
    ev, js = best["evtx"], best["jsonl"]
    fig = {
        "records": n,
        "evtx_ingest_wall_s": round(ev["wall"], 2),
        "evtx_records_per_s": round(n / ev["wall"]),
        "evtx_cpu_us_per_record": round(ev["cpu"] / n * 1e6, 1),
        "evtx_peak_rss_mb": round(ev["rss"] / 2**20),
        "jsonl_ingest_wall_s": round(js["wall"], 2),
        "jsonl_records_per_s": round(n / js["wall"]),
        "jsonl_cpu_us_per_record": round(js["cpu"] / n * 1e6, 1),
        "crate_only_records_per_s": round(n / min(crate)),
        "ratio_evtx_vs_jsonl_wall": round(ev["wall"] / js["wall"], 2),
        "parse_cpu_us_per_record": round(split["parse_us"], 1),
        "prepare_cpu_us_per_record": round(split["prepare_us"], 1),
        "load_at_end": round(os.getloadavg()[0], 1),
    }
    print(f"evtx ingest:        {fig['evtx_ingest_wall_s']} s = {fig['evtx_records_per_s']:,} records/s "
          f"(CPU {fig['evtx_cpu_us_per_record']} µs/record, peak RSS {fig['evtx_peak_rss_mb']} MB)")
    print(f"JSON-lines ingest:  {fig['jsonl_ingest_wall_s']} s = {fig['jsonl_records_per_s']:,} records/s "
          f"(CPU {fig['jsonl_cpu_us_per_record']} µs/record); evtx/JSON wall ratio {fig['ratio_evtx_vs_jsonl_wall']}")
    print(f"evtx package alone: {fig['crate_only_records_per_s']:,} records/s rendered")
    print(f"CPU per record in process: render+map {fig['parse_cpu_us_per_record']} µs, "
          f"prepare {fig['prepare_cpu_us_per_record']} µs; load at end {fig['load_at_end']}")
    if args.json_out:
        args.json_out.write_text(json.dumps(fig, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
