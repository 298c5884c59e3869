"""Hostile input for the cloudtrail, k8s-audit and jsonl parsers: quarantined, never a crash,
and the good records around it survive."""

import json

import pytest

from logconsole.ingest.pipeline import ingest_paths
from logconsole.store.queries import list_quarantine

from .conftest import REALDATA

CT_LINES = (REALDATA / "cloudtrail" / "ec2_proxy_s3_exfiltration_2020-09-14011940.json").read_bytes().splitlines()
K8S_LINES = (REALDATA / "k8s-audit" / "demo.log").read_bytes().splitlines()
JSONL_LINES = [json.dumps({"ts": f"2026-03-14T01:00:0{i}Z", "user": f"u{i}", "action": "read"}).encode() for i in range(5)]

HOSTILE = {
    "truncated": lambda good: good[: len(good) // 2],
    "binary": lambda good: bytes(b for b in range(256) if b != 10) * 4,
    "ten_mb_line": lambda good: b'{"pad": "' + b"A" * (10 * 1024 * 1024) + b'"}',
    "utf16": lambda good: good.decode().encode("utf-16"),
    "latin1": lambda good: good.replace(b'"', b'"\xe9', 1),
    "deep_nesting": lambda good: b'{"a":' * 100000 + b"1" + b"}" * 100000,
    "nul_bytes": lambda good: good.replace(b",", b"\x00,", 3),
    "ansi_and_markup": None,  # valid record carrying terminal escapes: must be an event, stored verbatim
}


@pytest.mark.parametrize("fmt,lines", [("cloudtrail", CT_LINES), ("k8s-audit", K8S_LINES), ("jsonl", JSONL_LINES)])
@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_line_is_quarantined_and_neighbours_survive(tmp_path, engine, fmt, lines, kind):
    good = lines[:3]
    if HOSTILE[kind] is None:
        rec = json.loads(good[1])
        rec["userAgent" if fmt != "jsonl" else "user"] = "\x1b]52;c;ZXZpbA==\x07\x1b[2J[bold red]x[/]"
        bad = json.dumps(rec).encode()
    else:
        bad = HOSTILE[kind](good[1])
    f = tmp_path / "evil.log"
    f.write_bytes(good[0] + b"\n" + bad + b"\n" + good[2] + b"\n")
    res = ingest_paths(engine, [str(f)], fmt=fmt)
    s = res.sources[0]
    assert s.records == s.events + s.duplicates + s.merged + s.quarantined == 3
    if HOSTILE[kind] is None:
        assert (s.events, s.quarantined) == (3, 0)
        return
    assert (s.events, s.quarantined) == (2, 1), kind
    with engine.connect() as conn:
        q = list_quarantine(conn)[0]
    assert q["line"] == 2 and q["reason"]
    assert q["raw"] is None or len(q["raw"]) <= 64 * 1024
