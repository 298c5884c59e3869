"""Golden file: the commands in sample_data/README.md ("The sample report") produce docs/example-report.md.

Regenerate after an intended change with::

    LOGCONSOLE_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_report_golden.py
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner
from markdown_it import MarkdownIt

from logconsole.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "sample_data" / "README.md"
GOLDEN = ROOT / "docs" / "example-report.md"


def readme_commands() -> list[list[str]]:
    sec = README.read_text(encoding="utf-8").split("## The sample report", 1)[1]
    block = sec.split("```console\n", 1)[1].split("```", 1)[0]
    return [shlex.split(line[2:]) for line in block.splitlines() if line.startswith("$ ")]


def normalize(text: str) -> str:
    """Blank the only wall-clock values: when the index checkpoint was recorded."""
    text = re.sub(r"recorded \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "recorded <ingest time>", text)
    text = re.sub(r"index checkpoint #(\d+) \(\d{4}-\d\d-\d\dT[0-9:.]+Z,", r"index checkpoint #\1 (<ingest time>,", text)
    return text


@pytest.fixture(scope="module")
def built_report(tmp_path_factory) -> str:
    tmp = tmp_path_factory.mktemp("golden")
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        out = None
        for argv in readme_commands():
            assert argv[0] == "logconsole"
            args = [str(tmp / "case.db") if a == "case.db" else a for a in argv[1:]]
            if "-o" in args:
                out = tmp / "example-report.md"
                args[args.index("-o") + 1] = str(out)
            r = CliRunner().invoke(main, args, catch_exceptions=False)
            ok = (0, 1) if args[0] == "verify" else (0,)  # the tampered copy makes verify exit 1
            assert r.exit_code in ok, (argv, r.output)
    finally:
        os.chdir(cwd)
    assert out is not None and out.exists()
    return out.read_text(encoding="utf-8")


def test_readme_commands_reproduce_the_committed_report(built_report: str) -> None:
    if os.environ.get("LOGCONSOLE_UPDATE_GOLDEN") and (
        not GOLDEN.exists() or normalize(GOLDEN.read_text(encoding="utf-8")) != normalize(built_report)
    ):
        GOLDEN.write_text(built_report, encoding="utf-8")
    golden = GOLDEN.read_text(encoding="utf-8")
    a, b = normalize(golden), normalize(built_report)
    if a != b:
        import difflib

        diff = "".join(list(difflib.unified_diff(a.splitlines(True), b.splitlines(True), "docs/example-report.md", "built"))[:60])
        pytest.fail("the sample report changed; if intended, regenerate with "
                    "`LOGCONSOLE_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_report_golden.py`\n" + diff)


def test_sample_report_content(built_report: str) -> None:
    text = built_report
    md = MarkdownIt("commonmark").enable("table")
    toks = md.parse(text)
    assert not any(t.type in ("html_block", "html_inline") for t in toks)
    # every table row has its header's cell count
    n_header = None
    for t in toks:
        if t.type == "thead_open":
            n_header = 0
            counting = "head"
        elif t.type == "tbody_open":
            counting = "body"
        elif t.type == "tr_open":
            cells = 0
        elif t.type in ("th_open", "td_open"):
            cells += 1
        elif t.type == "tr_close":
            if counting == "head":
                n_header = cells
            else:
                assert cells == n_header
    assert "| Generated at (UTC) | 2026-03-15T09:00:00Z |" in text
    assert "| critical | 4 |" in text and "| high | 3 |" in text and "| info | 1 |" in text
    # verification: the tampered copy and its two failures
    assert "| app/audit.tampered.jsonl | hash-chain | tampered | 110 |" in text
    assert "| app/audit.tampered.jsonl | modified | 2 | 2 |" in text
    assert "| app/audit.tampered.jsonl | deleted | 5 | 6 |" in text
    # the long exfiltration table is cut 20 + 5 with the count and the commands
    assert "| … | 231 more events (rows 21-251) |" in text
    assert "`logconsole finding show 4 --all`" in text
    # notes from `finding note`, and the CloudTrail silence
    assert "last CloudTrail event until 07:41:33" in text
    assert "| cloudtrail | 2026-03-14T01:52:07Z | 2026-03-14T07:41:33Z | 5h49m |" in text
    # privileges (grants imported): ci-deploy's row in the actors section
    sec6 = text.split("## 6. Actors involved", 1)[1].split("## 7.", 1)[0]
    assert "arn:aws:iam::111122223333:user/ci-deploy" in sec6 and "privilege\\_escalation" in sec6
