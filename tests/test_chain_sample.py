"""What `logconsole verify` reports for the sample incident's hash-chained portal log (sample_data/README.md)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from logconsole.cli import main

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "sample_data" / "app"

pytestmark = pytest.mark.skipif(not (APP / "audit.tampered.jsonl").exists(), reason="sample_data not generated")


def _verify(*paths, json_out=True):
    args = ["verify", *map(str, paths), "--no-store"] + (["--json"] if json_out else [])
    return CliRunner().invoke(main, args, catch_exceptions=False)


def test_original_chain_holds():
    r = _verify(APP / "audit.jsonl")
    assert r.exit_code == 0
    (t,) = json.loads(r.stdout)["targets"]
    assert (t["scheme"], t["status"], t["records"], t["failures"]) == ("hash-chain", "consistent", 111, [])


def test_tampered_copy_is_localised_as_documented():
    r = _verify(APP / "audit.tampered.jsonl")
    assert r.exit_code == 1
    (t,) = json.loads(r.stdout)["targets"]
    assert t["status"] == "tampered"
    assert [(f["kind"], f["line"], f["seq"], f.get("missing")) for f in t["failures"]] == [
        ("modified", 2, 2, None), ("deleted", 5, 6, 1)]


def test_readme_shows_the_real_output():
    """The console block in sample_data/README.md is what the command prints today."""
    readme = (ROOT / "sample_data" / "README.md").read_text(encoding="utf-8")
    m = re.search(r"\$ logconsole verify sample_data/app/audit.jsonl sample_data/app/audit.tampered.jsonl\n(.*?)\$ echo",
                  readme, re.S)
    assert m, "README section missing"
    import os

    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        r = CliRunner().invoke(main, ["verify", "sample_data/app/audit.jsonl", "sample_data/app/audit.tampered.jsonl",
                                      "--no-store"], catch_exceptions=False, color=False)
    finally:
        os.chdir(cwd)
    assert r.output == m.group(1)
