#!/usr/bin/env python3
"""logconsole performance benchmark: prints ONE table (Markdown) with the machine and date.

    .venv/bin/python benchmarks/run.py                      # 200,000 and 1,000,000 events
    .venv/bin/python benchmarks/run.py --quick              # 20,000 events, a minute or so
    .venv/bin/python benchmarks/run.py --sizes 200000 --no-lnav --workdir /tmp/lcb

For each size N it generates (once, cached in --workdir) a deterministic
CloudTrail-like JSONL file and the same events as a ``{"Records":[...]}``
``.json.gz`` document (``benchmarks/gen_cloudtrail.py``), then:

* ingests each file into a fresh index with ``logconsole ingest --db ... --json``
  in a subprocess: wall time, events/s, peak RSS (``os.wait4`` rusage of that
  child) and the index size on disk (database + WAL) against the raw JSONL size;
* loads the same JSONL file with ``lnav`` headless
  (``lnav -n -c ';SELECT count(*) FROM aws_cloudtrail_log' FILE``) using the
  format definition shipped in ``benchmarks/lnav/cloudtrail.json`` (installed
  into a private ``HOME`` under --workdir, so the user's lnav set-up is neither
  used nor changed), when ``lnav`` is on PATH, and prints the ratio;
  lnav reads JSON lines only, so the ``.json.gz`` ``Records`` document has no
  lnav figure;
* on the largest JSONL index: re-open + first page, filter latency median/p95
  over 20 indexed-field filters and 20 free-text searches, jump to end
  (``benchmarks/bench_query.py``), console first paint
  (``benchmarks/bench_console.py``), hash-chain verification
  (``benchmarks/bench_verify.py`` on a hash-chained log of the same size),
  actors (``benchmarks/bench_actors.py`` on the index) and the Markdown
  export (``logconsole export``).  A benchmark whose code does
  not exist yet is shown as "n/a (not built yet)".

With a PostgreSQL server (``--pg URL`` or ``$LOGCONSOLE_BENCH_PG``: an admin URL such as
``postgresql+psycopg://postgres@127.0.0.1:PORT/postgres``) the table gets a PostgreSQL column:
every JSONL ingest is repeated into a fresh database (``benchmarks/bench_pg.py``'s helpers),
with its ratio to the SQLite ingest of the same file in the same run; the file's two halves are
ingested one after the other and at once; and on the largest size the query figures
(``bench_query.py``) and ``logconsole actors --json`` (whole command, both engines) are measured
on the PostgreSQL index too.  The databases are dropped at the end.

Other engineers' benchmark scripts are called with their own options:
``bench_console.py --db INDEX --events N --only console --json`` (JSON),
``bench_verify.py --records N --index-events 0`` and
``bench_actors.py --db INDEX --events N`` (their text output is parsed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable
LNAV_FORMAT = HERE / "lnav" / "cloudtrail.json"
LNAV_TABLE = "aws_cloudtrail_log"


# ------------------------------------------------------------------ helpers
def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}" if n < 100 else f"{n:.0f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def fmt_s(s: float | None) -> str:
    if s is None:
        return "n/a"
    if s < 1:
        return f"{s * 1000:.0f} ms" if s >= 0.01 else f"{s * 1000:.1f} ms"
    return f"{s:.2f} s" if s < 100 else f"{s:.0f} s"


def fmt_n(n: int) -> str:
    return f"{n:,}"


def machine() -> str:
    cores = os.cpu_count()
    mem = "?"
    model = platform.processor() or ""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    return f"{cores} cores ({model}), {mem} RAM, load {load:.1f} at start"


def run_measured(cmd: list[str], *, env: dict | None = None, cwd: str | None = None,
                 timeout: float | None = None) -> tuple[float, int, str, str, int]:
    """Run *cmd*; returns (wall seconds, peak RSS bytes of the child, stdout, stderr, rc)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=cwd)
        deadline = None if timeout is None else t0 + timeout
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if deadline and time.perf_counter() > deadline:
                p.kill()
                pid, status, ru = os.wait4(p.pid, 0)
                break
            time.sleep(0.005)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return wall, ru.ru_maxrss * 1024, out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"), p.returncode


def db_size(path: Path) -> int:
    return sum(Path(str(path) + s).stat().st_size for s in ("", "-wal") if Path(str(path) + s).exists())


def checkpoint(path: Path) -> None:
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()


def remove_db(path: Path) -> None:
    for s in ("", "-wal", "-shm", ".lock"):
        try:
            os.unlink(str(path) + s)
        except FileNotFoundError:
            pass


def parse_json_output(stdout: str) -> dict | None:
    s = stdout.strip()
    if not s:
        return None
    try:
        return json.loads(s)
    except ValueError:
        pass
    for line in reversed(s.splitlines()):
        try:
            v = json.loads(line)
            if isinstance(v, dict):
                return v
        except ValueError:
            continue
    i = s.rfind("\n{")
    if i >= 0:
        try:
            return json.loads(s[i + 1:])
        except ValueError:
            pass
    return None


def find_key(obj, patterns: list[str]):
    """First scalar value whose (nested) key matches one of *patterns*, in pattern order."""
    flat: list[tuple[str, object]] = []

    def walk(o, prefix=""):
        if isinstance(o, dict):
            for k, v in o.items():
                walk(v, f"{prefix}{k}.")
        elif not isinstance(o, list):
            flat.append((prefix[:-1], o))

    walk(obj)
    for pat in patterns:
        rx = re.compile(pat)
        for k, v in flat:
            if rx.search(k) and isinstance(v, (int, float)) and not isinstance(v, bool):
                return k, v
    return None, None


# ------------------------------------------------------------------ steps
def ensure_data(workdir: Path, n: int, seed: int, log) -> dict[str, Path]:
    sys.path.insert(0, str(HERE))
    import gen_cloudtrail

    files = {"jsonl": workdir / f"ct-{n}-s{seed}.jsonl", "json.gz": workdir / f"ct-{n}-s{seed}.json.gz"}
    for kind, path in files.items():
        done = Path(str(path) + ".done")
        if path.exists() and done.exists():
            continue
        log(f"generating {path.name} ...")
        tmp = Path(str(path) + ".tmp")
        gen_cloudtrail.generate(n, seed, str(tmp), "jsonl" if kind == "jsonl" else "records-gz")
        tmp.rename(path)
        done.write_text("ok\n")
    return files


def ingest(workdir: Path, src: Path, label: str, log) -> dict:
    db = workdir / f"idx-{label}.db"
    remove_db(db)
    exe = str(Path(PY).parent / "logconsole")
    cmd = [exe, "ingest", "--db", str(db), "--json", str(src)] if os.path.exists(exe) else \
        [PY, "-m", "logconsole.cli", "ingest", "--db", str(db), "--json", str(src)]
    log(f"ingest {src.name} ...")
    wall, rss, out, err, rc = run_measured(cmd, cwd=str(ROOT))
    res = parse_json_output(out) or {}
    if rc != 0:
        raise SystemExit(f"ingest of {src} failed (exit {rc}): {err.strip()[-2000:]}")
    size_before_ckpt = db_size(db)
    checkpoint(db)
    return {"db": db, "wall": wall, "rss": rss, "result": res, "events": res.get("events"),
            "quarantined": res.get("quarantined"), "duplicates": res.get("duplicates"),
            "db_bytes": db_size(db), "db_bytes_with_wal": size_before_ckpt}


def lnav_home(workdir: Path) -> Path | None:
    if not shutil.which("lnav"):
        return None
    home = workdir / "lnav-home"
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
    subprocess.run(["lnav", "-i", str(LNAV_FORMAT)], env=env, capture_output=True, check=False)
    return home


def lnav_load(home: Path, src: Path, log) -> dict:
    env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), TERM="dumb")
    log(f"lnav {src.name} ...")
    wall, rss, out, err, rc = run_measured(
        ["lnav", "-n", "-c", f";SELECT count(*) FROM {LNAV_TABLE}", str(src)], env=env)
    m = re.search(r"(\d+)\s*$", out.strip())
    count = int(m.group(1)) if m else None
    return {"wall": wall, "rss": rss, "count": count, "rc": rc, "err": err.strip()[-500:]}


def lnav_version() -> str:
    try:
        return subprocess.run(["lnav", "-V"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "lnav"


def run_script(name: str, args: list[str], log, timeout: float = 1800,
               text_patterns: dict[str, str] | None = None) -> tuple[dict | None, str | None, float]:
    """Run benchmarks/<name> with *args*; (figures, error, wall).  Figures come from a
    JSON object on stdout, or, with *text_patterns*, from regexes over its text output."""
    path = HERE / name
    if not path.exists():
        return None, "n/a (not built yet)", 0.0
    log(f"{name} {' '.join(args)} ...")
    wall, _rss, out, err, rc = run_measured([PY, str(path), *args], cwd=str(ROOT), timeout=timeout)
    if rc != 0:
        last = (err.strip().splitlines() or ["?"])[-1][:160]
        return None, f"failed (exit {rc}): {last}", wall
    if text_patterns:
        data = {}
        for key, rx in text_patterns.items():
            m = re.search(rx, out)
            if m:
                data[key] = float(m.group(1).replace(",", ""))
        if not data:
            return None, "failed: figures not found in its output", wall
        return data, None, wall
    data = parse_json_output(out)
    if data is None:
        return None, "failed: no JSON on stdout", wall
    return data, None, wall


def cli_has(command: str) -> bool:
    try:
        sys.path.insert(0, str(ROOT))
        from logconsole.cli import LAZY_COMMANDS

        return command in LAZY_COMMANDS
    except Exception:
        return False


# ------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="200000,1000000", help="comma-separated event counts (default 200000,1000000)")
    ap.add_argument("--quick", action="store_true", help="sizes 20000 only (smoke run)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--workdir", default=os.environ.get("LOGCONSOLE_BENCH_DIR", "/tmp/logconsole-bench"),
                    help="where data files and indexes go (default $LOGCONSOLE_BENCH_DIR or /tmp/logconsole-bench)")
    ap.add_argument("--formats", default="jsonl,json.gz", help="jsonl, json.gz or both (default both)")
    ap.add_argument("--no-lnav", action="store_true", help="skip the lnav comparison")
    ap.add_argument("--no-queries", action="store_true", help="skip the post-ingest benchmarks")
    ap.add_argument("--keep", action="store_true", help="keep the indexes (default: keep only the largest JSONL one)")
    ap.add_argument("--json-out", help="also write all figures as JSON to this file")
    ap.add_argument("--pg", default=os.environ.get("LOGCONSOLE_BENCH_PG"),
                    help="admin URL of a PostgreSQL server: adds the PostgreSQL column (default $LOGCONSOLE_BENCH_PG)")
    ap.add_argument("--no-pg-halves", action="store_true",
                    help="skip the two PostgreSQL ingests of the file's halves (one after the other, then at once)")
    a = ap.parse_args(argv)
    sizes = [20000] if a.quick else [int(s) for s in a.sizes.split(",") if s.strip()]
    kinds = [k.strip() for k in a.formats.split(",") if k.strip()]
    workdir = Path(a.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.timezone.utc)
    mach = machine()

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    home = None if a.no_lnav else lnav_home(workdir)
    lnav_v = lnav_version() if home else None
    rows: list[tuple[str, str, str, str, str, str]] = []  # measure, input, logconsole, lnav, ratio, target
    pg_cells: dict[int, tuple[str, str]] = {}  # row index -> (PostgreSQL value, PostgreSQL/SQLite ratio)
    figures: dict = {"machine": mach, "date": started.isoformat(timespec="seconds"), "sizes": {}}
    query_db: tuple[int, Path] | None = None
    pg = PgColumn(a.pg, workdir, log) if a.pg else None
    pg_query: str | None = None
    try:
        _sizes(a, sizes, kinds, workdir, home, rows, pg_cells, figures, log, pg)
        query_db = figures.pop("_query_db", None)
        pg_query = figures.pop("_pg_query_db", None)
        if query_db and not a.no_queries:
            _queries(a, query_db, rows, pg_cells, figures, log, pg, pg_query)
    finally:
        if pg is not None:
            pg.drop_all()
    _table(a, started, mach, lnav_v, rows, pg_cells if pg else None, figures)
    return 0


class PgColumn:
    """The PostgreSQL column: fresh databases on the server at *admin* (dropped at the end)."""

    def __init__(self, admin: str, workdir: Path, log) -> None:
        sys.path.insert(0, str(HERE))
        import bench_pg

        self.bench_pg = bench_pg
        self.admin = admin
        self.workdir = workdir
        self.log = log
        self.made: list[str] = []

    def new(self) -> str:
        url = self.bench_pg.new_database(self.admin)
        self.made.append(url)
        return url

    def drop(self, url: str) -> None:
        self.bench_pg.drop_database(self.admin, url)
        if url in self.made:
            self.made.remove(url)

    def drop_all(self) -> None:
        for url in list(self.made):
            self.drop(url)

    def ingest(self, src: Path) -> dict:
        url = self.new()
        self.log(f"ingest {src.name} into PostgreSQL ...")
        wall, rss, out, err, rc = run_measured(self.bench_pg.ingest_cmd(url, src), cwd=str(ROOT), env=self.bench_pg.env())
        if rc != 0:
            raise SystemExit(f"PostgreSQL ingest of {src} failed (exit {rc}): {err.strip()[-2000:]}")
        res = parse_json_output(out) or {}
        return {"db": url, "wall": wall, "rss": rss, "events": res.get("events"), "quarantined": res.get("quarantined"),
                "db_bytes": self.size(url)}

    def size(self, url: str) -> int:
        from sqlalchemy import create_engine

        eng = create_engine(url)
        try:
            with eng.connect() as conn:
                return int(conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar() or 0)
        finally:
            eng.dispose()

    def two_ingests(self, src: Path) -> tuple[float, float, bool]:
        """(one after the other, at once, both succeeded) for the two halves of *src*."""
        bp = self.bench_pg
        part_a, part_b = bp.halves(src)
        seq = self.new()
        self.log("two halves one after the other into PostgreSQL ...")
        one_by_one = bp.timed(bp.ingest_cmd(seq, part_a)) + bp.timed(bp.ingest_cmd(seq, part_b))
        self.drop(seq)
        par = self.new()
        subprocess.run([PY, "-m", "logconsole.cli", "db", "init", par], check=True, env=bp.env(), stdout=subprocess.DEVNULL)
        self.log("two halves at once into PostgreSQL ...")
        t0 = time.perf_counter()
        procs = [subprocess.Popen(bp.ingest_cmd(par, p), env=bp.env(), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL) for p in (part_a, part_b)]
        codes = [p.wait() for p in procs]
        at_once = time.perf_counter() - t0
        self.drop(par)
        return one_by_one, at_once, codes == [0, 0]


def _ratio(pg_value: float | None, sqlite_value: float | None) -> str:
    return f"{pg_value / sqlite_value:.2f}x" if pg_value and sqlite_value else ""


def _sizes(a, sizes, kinds, workdir, home, rows, pg_cells, figures, log, pg) -> None:
    query_db: tuple[int, Path] | None = None

    for n in sizes:
        files = ensure_data(workdir, n, a.seed, log)
        raw_jsonl = files["jsonl"].stat().st_size
        for kind in kinds:
            src = files[kind]
            label = f"{n}-{kind.replace('.', '')}"
            r = ingest(workdir, src, label, log)
            desc = f"{fmt_n(n)} {'JSONL' if kind == 'jsonl' else 'Records .json.gz'} ({human_bytes(src.stat().st_size)})"
            ok = r["events"] == n and not r["quarantined"]
            evs = (r["events"] or 0) / r["wall"] if r["wall"] else 0
            lc = f"{fmt_s(r['wall'])} ({evs:,.0f} ev/s)" + ("" if ok else f" [events {r['events']}, quarantined {r['quarantined']}!]")
            ln = ratio = "n/a"
            lr = None
            if kind == "jsonl" and home:
                lr = lnav_load(home, src, log)
                ln = f"{fmt_s(lr['wall'])}" + ("" if lr["count"] == n else f" [count {lr['count']}!]")
                ratio = f"{r['wall'] / lr['wall']:.2f}x"
            elif kind != "jsonl" and home:
                ln = "n/a (JSON lines only)"
            target = "<= 4x lnav (aim 2x)" if (kind == "jsonl" and n == 200000) else ("<= 5x lnav" if kind == "jsonl" and n == 1000000 else "")
            rows.append(("ingest wall time", desc, lc, ln, ratio, target))
            steps = r["result"].get("step_seconds") or {}
            if steps:  # where the wall time goes: the rows, then each workflow step
                split = ", ".join([f"rows {r['result'].get('seconds', 0):.1f}"]
                                  + [f"{k} {v:.1f}" for k, v in steps.items() if v >= 0.05])
                rows.append(("  of which (s)", desc, split, "", "", ""))
            rows.append(("ingest peak RSS", desc, human_bytes(r["rss"]),
                         human_bytes(lr["rss"]) if lr else "n/a", f"{r['rss'] / lr['rss']:.2f}x" if lr else "", "<= 500 MB, flat"))
            rows.append(("index size on disk", desc, f"{human_bytes(r['db_bytes'])} = {r['db_bytes'] / raw_jsonl:.2f}x raw JSONL",
                         "(no index)", "", "<= 1.5x raw JSONL"))
            if pg is not None and kind == "jsonl":
                p = pg.ingest(src)
                pg_ok = p["events"] == n and not p["quarantined"]
                pev = (p["events"] or 0) / p["wall"] if p["wall"] else 0
                at_row = {m: i for i, (m, d, *_rest) in enumerate(rows) if d == desc}  # this input's rows
                pg_cells[at_row["ingest wall time"]] = (f"{fmt_s(p['wall'])} ({pev:,.0f} ev/s)"
                                           + ("" if pg_ok else f" [events {p['events']}, quarantined {p['quarantined']}!]"),
                                           _ratio(p["wall"], r["wall"]) + (" (target <= 1.5x)" if n == 200000 else ""))
                pg_cells[at_row["ingest peak RSS"]] = (human_bytes(p["rss"]) + " (client)", _ratio(p["rss"], r["rss"]))
                pg_cells[at_row["index size on disk"]] = (f"{human_bytes(p['db_bytes'])} = {p['db_bytes'] / raw_jsonl:.2f}x raw JSONL "
                                           "(database size)", _ratio(p["db_bytes"], r["db_bytes"]))
                one_by_one = at_once = float("nan")
                both_ok = False
                if not a.no_pg_halves:
                    one_by_one, at_once, both_ok = pg.two_ingests(src)
                    rows.append(("two ingests of the two halves: one after the other / at once", desc, "(one writer)",
                                 "", "", "at once < one after the other"))
                    pg_cells[len(rows) - 1] = (f"{fmt_s(one_by_one)} / {fmt_s(at_once)}" + ("" if both_ok else " (FAILED)"),
                                               f"{at_once / one_by_one:.2f}x")
                figures.setdefault("postgresql", {})[str(n)] = {
                    "ingest_s": round(p["wall"], 3), "events_per_s": round(pev), "client_peak_rss_bytes": p["rss"],
                    "database_bytes": p["db_bytes"], "events": p["events"], "quarantined": p["quarantined"],
                    "ratio_to_sqlite": round(p["wall"] / r["wall"], 3), "two_halves_sequential_s": round(one_by_one, 3),
                    "two_halves_concurrent_s": round(at_once, 3), "two_halves_ok": both_ok}
                if figures.get("_pg_query_n", 0) <= n:
                    if figures.get("_pg_query_db"):
                        pg.drop(figures["_pg_query_db"])
                    figures["_pg_query_db"], figures["_pg_query_n"] = p["db"], n
                else:
                    pg.drop(p["db"])
            figures["sizes"].setdefault(str(n), {})[kind] = {
                "ingest_s": round(r["wall"], 3), "events_per_s": round(evs), "peak_rss_bytes": r["rss"],
                "index_bytes": r["db_bytes"], "raw_jsonl_bytes": raw_jsonl, "events": r["events"],
                "quarantined": r["quarantined"], "ingest_seconds_reported": r["result"].get("seconds"),
                "step_seconds": r["result"].get("step_seconds"),
                "lnav": {k: v for k, v in (lr or {}).items() if k != "err"} or None,
            }
            if kind == "jsonl" and (query_db is None or n >= query_db[0]):
                if query_db is not None and not a.keep:
                    remove_db(query_db[1])
                query_db = (n, r["db"])
            elif not a.keep:
                remove_db(r["db"])
    figures.pop("_pg_query_n", None)
    figures["_query_db"] = query_db


def _queries(a, query_db, rows, pg_cells, figures, log, pg, pg_query) -> None:
    if True:
        n, db = query_db
        at = f"{fmt_n(n)} events"
        q, qerr, _ = run_script("bench_query.py", ["--db", str(db), "--json", "--repeat", "1"], log)
        figures["queries"] = q or qerr
        pq, pqerr = None, None
        if pg_query:
            pq, pqerr, _ = run_script("bench_query.py", ["--db", pg_query, "--json", "--repeat", "1"], log)
            figures.setdefault("postgresql", {})["queries"] = pq or pqerr
        if q:
            rows.append(("re-open + first page", at, fmt_s(q.get("reopen_first_page_s")), "", "", "<= 0.3 s"))
            if pg_query:
                pv = (pq or {}).get("reopen_first_page_s")
                pg_cells[len(rows) - 1] = (fmt_s(pv) if pq else (pqerr or "n/a"), _ratio(pv, q.get("reopen_first_page_s")))
            for key, label, target in (("indexed", "filter, indexed field (20)", "p95 <= 150 ms"),
                                       ("free_text", "free-text search (20)", "p95 <= 300 ms"),
                                       ("substring", "free-text substring (20)", "p95 <= 300 ms"),
                                       ("whole_word", "the same 20 as whole words", ""),
                                       ("unindexed", "filter, other fields (6)", "")):
                g = q.get(key)
                if isinstance(g, dict) and g.get("median_s") is not None:
                    rows.append((label, at, f"median {fmt_s(g['median_s'])}, p95 {fmt_s(g['p95_s'])}", "", "", target))
                else:
                    rows.append((label, at, str(g) if g else "n/a (not built yet)", "", "", target))
                if pg_query:
                    pgg = (pq or {}).get(key)
                    if isinstance(pgg, dict) and pgg.get("median_s") is not None:
                        pg_cells[len(rows) - 1] = (f"median {fmt_s(pgg['median_s'])}, p95 {fmt_s(pgg['p95_s'])}",
                                                   _ratio(pgg["p95_s"], g.get("p95_s") if isinstance(g, dict) else None)
                                                   + " (p95)")
                    else:
                        pg_cells[len(rows) - 1] = (str(pgg) if pgg else (pqerr or "n/a"), "")
            rows.append(("jump to end", at, fmt_s(q.get("jump_to_end_s")), "", "", ""))
            if pg_query:
                pv = (pq or {}).get("jump_to_end_s")
                pg_cells[len(rows) - 1] = (fmt_s(pv) if pq else (pqerr or "n/a"), _ratio(pv, q.get("jump_to_end_s")))
        else:
            rows.append(("re-open + first page / filters / end", at, qerr or "n/a", "", "", ""))

        c, cerr, _ = run_script("bench_console.py", ["--db", str(db), "--events", str(n), "--only", "console", "--json"], log)
        figures["console"] = c or cerr
        k, v = find_key(c or {}, [r"first_paint_s$", r"first_paint_ms$", r"first_paint"])
        val = "n/a" if k is None else (fmt_s(v / 1000) if k.endswith("ms") else fmt_s(v))
        rows.append(("console first paint (headless)", at, val if c else cerr, "", "", "<= 1 s"))

        # hash-chain verification: bench_verify builds its own hash-chained log of n records
        vdata, verr, _ = run_script("bench_verify.py", ["--records", str(n), "--sample", str(min(n, 100_000)),
                                                      "--index-events", "0"], log,
                                    text_patterns={"records_per_s": r"\(([\d,]+) records/s, best of 3\)"})
        figures["verify"] = vdata or verr
        v = (vdata or {}).get("records_per_s")
        rows.append(("hash-chain verification", f"{fmt_n(n)} records", f"{v:,.0f} records/s (best of 3)" if v else (verr or "n/a"),
                     "", "", ">= 150,000 records/s"))

        # actors: bench_actors on this index (first run after ingest, whose ingest workflow step computed the
        # per-source aggregates; warm; cold = without those aggregates)
        adata, aerr, _ = run_script("bench_actors.py", ["--db", str(db), "--events", str(n)], log, text_patterns={
            "first_s": r"first run after ingest: ([\d.]+)s", "pre_s": r"computed at ingest[^:]*: ([\d.]+)s",
            "cold_s": r"actors \(all, summary\), cold[^:]*: ([\d.]+)s", "warm_s": r"warm: best ([\d.]+)s"})
        figures["actors"] = adata or aerr
        if adata and adata.get("first_s") is not None:
            aval = (f"{fmt_s(adata['first_s'])} after ingest, {fmt_s(adata.get('warm_s'))} warm "
                    f"({fmt_s(adata.get('cold_s'))} with no ingest-time aggregates, which cost "
                    f"{fmt_s(adata.get('pre_s'))} at ingest)")
        else:
            aval = aerr or "n/a"
        rows.append(("actors computation", at, aval, "", "", "<= 3 s"))
        if pg_query:
            exe = [PY, "-m", "logconsole.cli", "actors", "--json", "--db"]
            log("logconsole actors --json on both engines ...")
            s_wall, _r, _o, _e, s_rc = run_measured(exe + [str(db)], cwd=str(ROOT))
            p_wall, _r, _o, p_err, p_rc = run_measured(exe + [pg_query], cwd=str(ROOT))
            figures.setdefault("postgresql", {})["actors_command_s"] = {"sqlite": round(s_wall, 3), "postgresql": round(p_wall, 3)}
            rows.append(("actors (logconsole actors --json, whole command)", at,
                         fmt_s(s_wall) if s_rc == 0 else f"failed (exit {s_rc})", "", "", "<= 3 s"))
            pg_cells[len(rows) - 1] = (fmt_s(p_wall) if p_rc == 0 else f"failed (exit {p_rc}): {p_err.strip()[-120:]}",
                                       _ratio(p_wall, s_wall))

        if cli_has("export"):
            out_md = Path(a.workdir) / "bench-report.md"
            exe = str(Path(PY).parent / "logconsole")
            log("logconsole export (Markdown report) ...")
            wall, _rss, _o, err, rc = run_measured(
                [exe, "export", "--db", str(db), "-o", str(out_md), "--at", "2026-01-01T00:00:00Z"], cwd=str(ROOT))
            figures["export"] = {"s": round(wall, 3), "rc": rc}
            rows.append(("Markdown export (logconsole export, whole command)", at,
                         fmt_s(wall) if rc == 0 else f"failed (exit {rc}): {err.strip()[-120:]}", "", "", ""))
        else:
            rows.append(("Markdown export", at, "n/a (not built yet)", "", "", ""))



def _table(a, started, mach, lnav_v, rows, pg_cells, figures) -> None:
    # ------------------------------------------------------------- the table
    sqlite_v = sqlite3.sqlite_version
    print(f"logconsole benchmark, {started.strftime('%Y-%m-%d %H:%M UTC')}")
    print(f"machine: {mach}; Python {platform.python_version()}, SQLite {sqlite_v}"
          + (f", {lnav_v}" if lnav_v else ", lnav not installed"))
    try:
        rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        print(f"logconsole commit {rev}; data: benchmarks/gen_cloudtrail.py seed {a.seed}")
    except OSError:
        pass
    print()
    head: tuple[str, ...] = ("Measure", "Input", "logconsole", lnav_v.split()[0] + " " + lnav_v.split()[-1] if lnav_v else "lnav",
                             "ratio", "Target")
    table: list[tuple[str, ...]] = [head, *rows]
    if pg_cells is not None:  # the PostgreSQL column and its ratio to SQLite, before the target
        head = (*head[:5], "PostgreSQL", "PostgreSQL/SQLite", head[5])
        table = [head] + [(*r[:5], *pg_cells.get(i, ("", "")), r[5]) for i, r in enumerate(rows)]
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    for j, r in enumerate(table):
        print("| " + " | ".join(c.ljust(widths[i]) for i, c in enumerate(r)) + " |")
        if j == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    if a.json_out:
        Path(a.json_out).write_text(json.dumps(figures, indent=2, default=str) + "\n")


if __name__ == "__main__":
    sys.exit(main())
