"""The core (store, ingest, analysis, report, cli) never imports Textual."""

import subprocess
import sys


def test_core_imports_do_not_pull_in_textual():
    code = (
        "import sys\n"
        "import logconsole.store.db, logconsole.store.filter, logconsole.store.queries\n"
        "import logconsole.ingest.formats, logconsole.ingest.pipeline\n"
        "import logconsole.cli\n"
        "from click.testing import CliRunner\n"
        "from logconsole.cli import main\n"
        "r = CliRunner().invoke(main, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "for name in ('search', 'ingest', 'sources', 'quarantine', 'formats', 'detect'):\n"
        "    assert CliRunner().invoke(main, [name, '--help']).exit_code == 0, name\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(','.join(bad))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "", f"textual imported by the core: {r.stdout}"


def test_no_core_module_imports_textual_statically():
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parent.parent / "logconsole"
    offenders = []
    for p in root.rglob("*.py"):
        rel = p.relative_to(root)
        if rel.parts[0] == "tui" or rel.as_posix() == "commands/console.py":
            continue
        for line in p.read_text().splitlines():
            if re.match(r"\s*(from|import)\s+textual\b", line):
                offenders.append(str(rel))
    assert offenders == []


def test_open_db_adds_indexes_that_a_newer_version_defines(tmp_path):
    import sqlite3

    from logconsole.store.db import open_db

    p = str(tmp_path / "old.db")
    open_db(p).dispose()
    con = sqlite3.connect(p)
    con.execute("DROP INDEX ix_events_action")  # an index built by an older version lacks it
    con.commit()
    con.close()
    open_db(p).dispose()
    con = sqlite3.connect(p)
    names = {r[1] for r in con.execute("PRAGMA index_list(events)")}
    assert "ix_events_action" in names
