"""Evidence safety: commands that must never write where they should not, and
terminal/text safety (docs/evidence-safety.md).  One test per reported case."""

from __future__ import annotations

import hashlib
import json
import os
import pty
import select
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from logconsole.ingest.pipeline import ingest_paths
from logconsole.report.escape import md
from logconsole.store.db import open_db
from logconsole.store.sanitize import one_line
from logconsole.util.termsafe import json_dumps

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"

HOSTILE = "\x1b]0;PWNED\x07\x1b]52;c;ZXZpbA==\x07\x1b[2J"


def cli(*args: str, cwd: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "logconsole.cli", *args], capture_output=True, text=True,
                          env=env, cwd=cwd)


def on_tty(*args: str) -> bytes:
    """Run the CLI with stdout and stderr on a pseudo-terminal; everything it printed."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), TERM="xterm")
    master, slave = pty.openpty()
    p = subprocess.Popen([sys.executable, "-m", "logconsole.cli", *args], stdout=slave, stderr=slave,
                         stdin=subprocess.DEVNULL, env=env)
    os.close(slave)
    out = b""
    while True:
        r, _, _ = select.select([master], [], [], 60)
        if not r:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    p.wait(60)
    os.close(master)
    return out


def sha(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture()
def index(tmp_path) -> str:
    db = str(tmp_path / "case.db")
    eng = open_db(db)
    ingest_paths(eng, [str(SAMPLE / "app")])
    eng.dispose()
    return db


@pytest.fixture()
def hostile_index(tmp_path) -> tuple[str, Path]:
    """An index of JSON lines whose values (and file name) carry terminal escapes,
    zero-width and bidi characters."""
    d = tmp_path / "ev"
    d.mkdir()
    f = d / "a\x1b]0;T\x07.jsonl"
    recs = [{"ts": "2026-03-14T01:00:00Z", "actor": "ad\u200bmin", "action": "Get" + HOSTILE,
             "resource": "exe\u202etxt.\u0085\x9b31m", "outcome": "success"}] * 1
    f.write_text("".join(json.dumps(r) + "\n" for r in recs))
    db = str(tmp_path / "h.db")
    p = cli("ingest", "--db", db, "--format", "jsonl", str(d))
    assert p.returncode == 0, p.stderr
    return db, d


# ------------------------------------------------- commands that must never write


def _foreign(tmp_path) -> Path:
    other = tmp_path / "foreign.db"
    c = sqlite3.connect(other)
    c.execute("CREATE TABLE customers(id INTEGER, name TEXT)")
    c.execute("INSERT INTO customers VALUES (1, 'x')")
    c.commit()
    c.close()
    return other


@pytest.mark.parametrize("args", [
    ["search", "--count"], ["sources"], ["quarantine"], ["pivot", "actor", "action"], ["sql", "SELECT 1"],
    ["export", "--output", "csv"], ["freq", "actor"], ["readiness"],
    ["ingest", str(SAMPLE / "app" / "audit.jsonl")], ["finding", "list"],
])
def test_a_foreign_sqlite_file_is_refused_untouched(tmp_path, args) -> None:
    other = _foreign(tmp_path)
    before = sha(other)
    p = cli(*args, "--db", str(other))
    assert p.returncode == 2, (args, p.stdout, p.stderr)
    assert "not a logconsole index" in p.stderr and "Traceback" not in p.stderr
    assert sha(other) == before
    assert not Path(str(other) + "-wal").exists() or Path(str(other) + "-wal").stat().st_size == 0
    c = sqlite3.connect(f"file:{other}?mode=ro", uri=True)
    assert [r[0] for r in c.execute("SELECT name FROM sqlite_master")] == ["customers"]
    assert c.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    c.close()


def test_readers_never_run_ddl(index) -> None:
    """A search while a first large ingest has dropped the secondary indexes must not
    build them (it slowed that ingest down): a reader leaves the schema as it is."""
    c = sqlite3.connect(index)
    c.execute("DROP INDEX ix_events_ts")
    c.commit()
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    schema_before = c.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()
    c.close()
    before = sha(index)
    for args in (["search", "--count", "outcome:failure"], ["sources"], ["pivot", "actor", "hour"],
                 ["export", "--output", "jsonl"], ["histogram"]):
        p = cli(*args, "--db", index)
        assert p.returncode == 0, (args, p.stderr)
    assert sha(index) == before
    c = sqlite3.connect(f"file:{index}?mode=ro", uri=True)
    assert c.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall() == schema_before
    c.close()


def _can_drop_privileges() -> bool:
    return os.geteuid() != 0 or shutil.which("setpriv") is not None


@pytest.mark.skipif(not _can_drop_privileges(), reason="needs a non-root user (setpriv) to make a file read-only")
def test_a_read_only_index_file_and_directory_can_be_read(index) -> None:
    import tempfile

    top = Path(tempfile.mkdtemp(prefix="lc-ro-", dir="/tmp"))  # pytest's tmp is private to root
    ro = top / "ro"
    ro.mkdir()
    c = sqlite3.connect(index)
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.close()
    shutil.copy(index, ro / "case.db")
    for p in (ro / "case.db", ro, top):
        os.chmod(p, 0o555 if p.is_dir() else 0o444)
    before = sha(ro / "case.db")
    cmd = [sys.executable, "-m", "logconsole.cli", "search", "--count", "--db", str(ro / "case.db")]
    if os.geteuid() == 0:  # root ignores permissions: run as nobody
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd="/")
        if p.returncode == 126 or ("Permission denied" in p.stderr and "case.db" not in p.stderr):
            pytest.skip(f"the interpreter is not usable by an unprivileged user here: {p.stderr[:200]}")
        if "No module named 'logconsole'" in p.stderr:  # a checkout in a private directory (mktemp -d: 0700)
            pytest.skip(f"the checkout is not readable by an unprivileged user here: {p.stderr[:200]}")
        assert p.returncode == 0, p.stderr
        assert int(p.stdout) > 0
        assert not (ro / "case.db-wal").exists()
        assert sha(ro / "case.db") == before
    finally:
        os.chmod(top, 0o755)
        os.chmod(ro, 0o755)
        shutil.rmtree(top, ignore_errors=True)


@pytest.mark.parametrize("value", ["0", "-1", "abc", None])
def test_a_bad_or_missing_schema_version_is_a_clear_error(index, value) -> None:
    c = sqlite3.connect(index)
    if value is None:
        c.execute("DELETE FROM meta WHERE key='schema_version'")
    else:
        c.execute("UPDATE meta SET value=? WHERE key='schema_version'", (value,))
    c.commit()
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.close()
    before = sha(index)
    for args in (["search", "--count"], ["ingest", str(SAMPLE / "k8s")], ["finding", "list"]):
        p = cli(*args, "--db", index)
        assert p.returncode == 2, (value, args, p.stderr)
        assert "Traceback" not in p.stderr and "KeyError" not in p.stderr
        msg = p.stderr.strip()
        assert len(msg.splitlines()) == 1
        assert ("no schema version" in msg) if value is None else (f"schema version {value!r}" in msg
                                                                  or f"schema version {value} " in msg)
    assert sha(index) == before


def test_an_older_index_is_refused_by_readers_and_upgraded_by_migrate(index) -> None:
    c = sqlite3.connect(index)
    c.execute("UPDATE meta SET value='1' WHERE key='schema_version'")
    c.commit()
    c.close()
    p = cli("search", "--count", "--db", index)
    assert p.returncode == 2 and "logconsole migrate" in p.stderr
    assert cli("migrate", "--db", index).returncode == 0
    assert cli("search", "--count", "--db", index).returncode == 0


# --------------------------------------------------------------- export -o


def test_export_refuses_existing_files_evidence_and_the_index(index, tmp_path) -> None:
    evidence = SAMPLE / "app" / "audit.jsonl"
    # an evidence file of the test's own (never the repository's), ingested
    own = tmp_path / "own.jsonl"
    own.write_text(evidence.read_text().replace("ci-deploy", "ci-deploy2", 1))
    eng = open_db(index)
    ingest_paths(eng, [str(own)])
    eng.dispose()
    link = tmp_path / "link.jsonl"
    link.symlink_to(own)
    hard = tmp_path / "hard.jsonl"
    os.link(own, hard)
    idx_link = tmp_path / "idx.md"
    idx_link.symlink_to(index)
    ev_before, idx_before = sha(own), sha(index)
    # each target refused even with --force, in both output kinds (the report and a data export);
    # without --force once per target kind
    cases = [(t, ["--force"], fmt) for t in (own, link, hard, Path(index), idx_link)
             for fmt in (["--output", "csv"], [])]
    cases += [(own, [], []), (Path(index), [], ["--output", "csv"])]
    for target, force, fmt in cases:
        p = cli("export", *fmt, "-o", str(target), *force, "--db", index)
        assert p.returncode == 2, (target, force, fmt, p.stderr)
        assert "refusing" in p.stderr
    assert sha(own) == ev_before and sha(index) == idx_before
    # an ordinary existing file: only with --force
    out = tmp_path / "out.csv"
    out.write_text("keep me")
    os.chmod(out, 0o644)
    p = cli("export", "--output", "csv", "-o", str(out), "--db", index)
    assert p.returncode == 2 and "--force" in p.stderr and out.read_text() == "keep me"
    p = cli("export", "--output", "csv", "-o", str(out), "--force", "--db", index)
    assert p.returncode == 0, p.stderr
    assert out.read_text() != "keep me"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    # new files are 0600: report and its checksum, jsonl
    rep = tmp_path / "r.md"
    assert cli("export", "-o", str(rep), "--db", index).returncode == 0
    assert stat.S_IMODE(rep.stat().st_mode) == 0o600
    assert stat.S_IMODE(Path(str(rep) + ".sha256").stat().st_mode) == 0o600
    # the checksum file is an output too: refused when it exists
    rep.unlink()
    p = cli("export", "-o", str(rep), "--db", index)
    assert p.returncode == 2 and "r.md.sha256" in p.stderr
    # -o - is standard output, never a file named "-"
    p = cli("export", "--output", "jsonl", "-o", "-", "--db", index, cwd=str(tmp_path))
    assert p.returncode == 0 and p.stdout.startswith("{") and not (tmp_path / "-").exists()


# --------------------------------------------------------- terminal and text


def test_values_never_reach_a_terminal_in_any_output_format(hostile_index) -> None:
    db, _ = hostile_index
    for args in (["search", "--output", "csv", "--limit", "0"], ["search", "--output", "jsonl"], ["search"],
                 ["sql", "SELECT action, resource, actor FROM events"], ["sql", "--output", "csv", "SELECT * FROM events"],
                 ["pivot", "actor", "action"], ["sources"], ["export", "--output", "csv"], ["export"]):
        out = on_tty(*args, "--db", db)
        assert out, args
        assert b"\x1b" not in out and b"\x07" not in out, (args, out[:400])
        assert "\u200b".encode() not in out and "\u202e".encode() not in out, args
        assert "\x9b".encode() not in out and "\x85".encode() not in out, args


def test_file_names_never_reach_a_terminal(hostile_index, tmp_path) -> None:
    _, d = hostile_index
    db2 = str(tmp_path / "other.db")
    for args in (["ingest", "--db", db2, "--format", "jsonl", str(d)], ["ingest", "--json", "--db", str(tmp_path / "o3.db"),
                 "--format", "jsonl", str(d)], ["detect", str(d)], ["detect", "--json", str(d)]):
        out = on_tty(*args)
        assert out, args
        assert b"\x1b]" not in out and b"\x07" not in out, (args, out[:400])


def test_json_escapes_control_zero_width_and_bidi(hostile_index) -> None:
    db, _ = hostile_index
    p = cli("search", "--output", "jsonl", "--db", db)
    line = p.stdout.strip()
    assert "\\u001b]0;PWNED\\u0007" in line and "ad\\u200bmin" in line and "\\u202e" in line and "\\u009b" in line
    rec = json.loads(line)
    assert rec["actor"] == "ad\u200bmin"  # the same data
    for ch in "\x1b\x07\u200b\u202e\x9b\x85":
        assert ch not in line
    assert json.loads(json_dumps({"a": "\u2066x\u2069"})) == {"a": "\u2066x\u2069"}
    p = cli("sql", "--json", "SELECT actor FROM events", "--db", db)
    assert "ad\\u200bmin" in p.stdout


def test_zero_width_and_bidi_are_visible_in_tables_and_the_report(hostile_index) -> None:
    assert one_line("ad\u200bmin") == "ad\\u200bmin"
    assert one_line("exe\u202etxt") == "exe\\u202etxt"
    assert "\\u200b" in md("ad\u200bmin") or "u200b" in md("ad\u200bmin")
    db, _ = hostile_index
    p = cli("search", "--db", db)
    assert "ad\\u200bmin" in p.stdout
    p = cli("export", "--db", db)
    assert "\u200b" not in p.stdout and "\u202e" not in p.stdout


def test_console_export_refuses_evidence_and_writes_0600(index, tmp_path) -> None:
    from logconsole.report.output import OutputRefused
    from logconsole.tui.screens.export import export_to_file

    own = tmp_path / "own.jsonl"
    own.write_text((SAMPLE / "app" / "audit.jsonl").read_text().replace("ci-deploy", "ci-deploy3", 1))
    eng = open_db(index)
    ingest_paths(eng, [str(own)])
    before = sha(own)
    link = tmp_path / "l.csv"
    link.symlink_to(own)
    for target, fmt in ((own, "csv"), (link, "markdown"), (Path(index), "jsonl")):
        with pytest.raises(OutputRefused):
            export_to_file(eng, str(target), fmt)
    assert sha(own) == before
    out = tmp_path / "ok.csv"
    export_to_file(eng, str(out), "csv")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    eng.dispose()


def test_a_file_that_is_not_a_database_is_refused_untouched(tmp_path) -> None:
    bad = tmp_path / "notes.db"
    bad.write_bytes(b"not sqlite at all\n" * 100)
    before = sha(bad)
    for args in (["search", "--count"], ["ingest", str(SAMPLE / "app")], ["sql", "SELECT 1"]):
        p = cli(*args, "--db", str(bad))
        assert p.returncode == 2 and "Traceback" not in p.stderr, (args, p.stderr)
    assert sha(bad) == before
