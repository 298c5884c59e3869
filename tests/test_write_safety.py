"""Commands that must never write where they should not, and an ingest that
cannot write (issue: evidence safety): one writer per index file whatever the
path, O_NOATIME on evidence, odd --db values, the index's own files, the stdin
spool, disk full and the file size limit."""

from __future__ import annotations

import json
import os
import resource
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from logconsole.ingest import reader
from logconsole.ingest.pipeline import ingest_paths
from logconsole.store import dialect
from logconsole.store.db import IndexError_, open_db

DATA = Path(__file__).parent / "data"
K8S = DATA / "realdata" / "k8s-audit" / "demo.log"


def _cli(*args, env=None, **kw):
    return subprocess.run([sys.executable, "-m", "logconsole.cli", *args], capture_output=True, text=True,
                          env=env, **kw)


def _records(n: int, start: int = 0) -> str:
    return "".join(json.dumps({"@timestamp": f"2024-03-01T00:00:{i % 60:02d}Z", "user": f"user-{i}",
                               "action": "read", "pad": "x" * 300, "n": i}) + "\n" for i in range(start, start + n))


# ------------------------------------------------------------------ one writer per file
def test_the_writer_lock_holds_through_a_symlink(tmp_path):
    db = tmp_path / "s.db"
    eng = open_db(str(db))
    (tmp_path / "sym.db").symlink_to(db)
    (tmp_path / "sub").mkdir()
    with dialect.of(eng).writer_lock(eng):
        for other in (tmp_path / "sym.db", tmp_path / "sub" / ".." / "s.db"):
            with pytest.raises(RuntimeError, match="another ingest is writing"):
                ingest_paths(open_db(str(other)), [str(K8S)])
    assert ingest_paths(open_db(str(tmp_path / "sym.db")), [str(K8S)]).sources[0].status == "ingested"


# ------------------------------------------------------------------ odd --db values
def test_memory_and_uri_db_names_are_refused(tmp_path):
    for name in (":memory:", "file:x.db?mode=memory"):
        with pytest.raises(IndexError_, match="not a file name"):
            open_db(name)
    r = _cli("ingest", "--db", ":memory:", str(K8S), cwd=tmp_path)
    assert r.returncode == 2 and "not a file name" in r.stderr and "Traceback" not in r.stderr


def test_a_question_mark_in_the_db_name_is_part_of_the_name(tmp_path):
    r = _cli("ingest", "--db", "case?1.db", str(K8S), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "case?1.db").exists() and not (tmp_path / "case").exists()
    assert stat.S_IMODE((tmp_path / "case?1.db").stat().st_mode) == 0o600


def test_a_pre_existing_empty_file_becomes_a_private_index(tmp_path):
    db = tmp_path / "empty.db"
    db.touch(mode=0o644)
    os.chmod(db, 0o644)
    r = _cli("ingest", "--db", str(db), str(K8S))
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


def test_a_directory_ingest_skips_the_index_own_files(tmp_path):
    case = tmp_path / "case"
    case.mkdir()
    (case / "app.jsonl").write_text(_records(20))
    db = case / "case.db"
    first = ingest_paths(open_db(str(db)), [str(case)])
    assert [Path(s.path).name for s in first.sources] == ["app.jsonl"]
    (case / "more.jsonl").write_text(_records(3))
    again = ingest_paths(open_db(str(db)), [str(case)])  # case.db, -wal, -shm, .lock now exist in the walk
    names = sorted(Path(s.path).name for s in again.sources)
    assert names == ["app.jsonl", "more.jsonl"] and not again.errors
    assert not any("case.db" in w for w in again.warnings)
    named = ingest_paths(open_db(str(db)), [str(db)])
    assert named.errors == [f"{db}: this is the index's own file; not ingested"]


# ------------------------------------------------------------------ stdin
def test_a_killed_stdin_ingest_leaves_no_spool(tmp_path):
    spool_dir = tmp_path / "tmp"
    spool_dir.mkdir()
    env = dict(os.environ, TMPDIR=str(spool_dir))
    proc = subprocess.Popen([sys.executable, "-m", "logconsole.cli", "ingest", "-", "--db", str(tmp_path / "s.db")],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    assert proc.stdin is not None
    proc.stdin.write(_records(2000).encode())
    proc.stdin.flush()
    # wait (bounded) until the spool exists - unnamed from the start - then kill the ingest mid-read
    for _ in range(400):
        fds = []
        try:
            fds = [os.readlink(f"/proc/{proc.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{proc.pid}/fd")]
        except OSError:
            pass
        if any(str(spool_dir) in f for f in fds):
            break
        time.sleep(0.05)
    assert any("(deleted)" in f for f in fds if str(spool_dir) in f)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list(spool_dir.iterdir()) == []


def test_stdin_ingest_works_and_leaves_nothing(tmp_path):
    spool_dir = tmp_path / "tmp"
    spool_dir.mkdir()
    r = _cli("ingest", "-", "--db", str(tmp_path / "s.db"), "--format", "jsonl", "--json", input=_records(50),
             env=dict(os.environ, TMPDIR=str(spool_dir)))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["events"] == 50 and list(spool_dir.iterdir()) == []


# ------------------------------------------------------------------ O_NOATIME wherever evidence is opened
def test_evidence_is_opened_with_o_noatime(tmp_path, monkeypatch):
    from logconsole.analysis.privileges.grants import detect_format, import_file
    from logconsole.commands.common import ingest_warnings
    from logconsole.report.markdown import rehash_status

    opened: list[str] = []
    real = reader.open_readonly_fd

    def spy(path):
        opened.append(os.fspath(path))
        return real(path)

    monkeypatch.setattr(reader, "open_readonly_fd", spy)
    rbac = str(DATA / "rbac" / "demo-rbac.yaml")
    eng = open_db(str(tmp_path / "g.db"))
    import_file(eng, rbac)
    detect_format(rbac)
    assert rehash_status(str(K8S), "0" * 64).startswith("CHANGED")
    case = tmp_path / "case"
    case.mkdir()
    (case / "rbac.yaml").write_bytes(Path(rbac).read_bytes())
    res = ingest_paths(eng, [str(case)])
    ingest_warnings(res)  # grants-file detection of a skipped file
    assert opened.count(os.path.abspath(rbac)) + opened.count(rbac) >= 2
    assert str(K8S) in opened and str(case / "rbac.yaml") in opened
    if hasattr(os, "O_NOATIME"):
        fd = real(K8S)
        try:
            import fcntl

            assert fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NOATIME
        finally:
            os.close(fd)


# ------------------------------------------------------------------ disk full / file size limit
def _limit_fsize(nbytes: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))

    return apply


@pytest.mark.parametrize("as_json", [False, True])
def test_file_size_limit_gives_one_line_exit_2_and_a_consistent_index(tmp_path, as_json):
    src = tmp_path / "big.jsonl"
    src.write_text(_records(20_000))  # ~8 MB: its index does not fit in 3 MB
    small = tmp_path / "small.jsonl"
    small.write_text(_records(5, start=1_000_000))
    db = tmp_path / "full.db"
    args = ["ingest", "--db", str(db), "--format", "jsonl", str(small), str(src)] + (["--json"] if as_json else [])
    r = subprocess.run([sys.executable, "-m", "logconsole.cli", *args], capture_output=True, text=True,
                       preexec_fn=_limit_fsize(3 * 1024 * 1024), env=dict(os.environ, LOGCONSOLE_INGEST_WORKER="0"))
    assert r.returncode == 2, (r.stdout, r.stderr)
    err = [ln for ln in r.stderr.splitlines() if ln.startswith("logconsole: error:")]
    assert len(err) == 1 and "cannot write the index" in err[0] and "Traceback" not in r.stderr
    if as_json:
        doc = json.loads(r.stdout)
        assert "cannot write the index" in doc["error"] and doc["exit_status"] == 2
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = con.execute("SELECT path, status, records, events, quarantined FROM sources").fetchall()
    finally:
        con.close()
    complete = [r for r in rows if r[1] == "complete"]
    assert all(r[2] == r[3] + r[4] for r in complete)
    assert any(r[0].endswith("small.jsonl") for r in complete)
    # without the limit, the next ingest redoes the interrupted file and the accounting is exact
    again = ingest_paths(open_db(str(db)), [str(small), str(src)], fmt="jsonl")
    assert [s.status for s in again.sources] == ["skipped", "ingested"]
    assert again.sources[1].events == 20_000
