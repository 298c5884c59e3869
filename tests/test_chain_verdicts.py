"""Verification verdicts that must never be wrong: a FIFO is refused (never read, so never a hang), a
record with a duplicated key is never intact, and a key or field the log cannot be checked with is
``unverifiable`` (exit 2, with the reason), never ``tampered``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import chainfixtures as cf

ROOT = Path(__file__).resolve().parents[1]


def verify(*args: object, timeout: float = 120) -> tuple[int, dict, str]:
    """`logconsole verify ARGS --json --no-store` in a child process (a hang fails the test, not the suite)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, "-m", "logconsole.cli", "verify", *map(str, args), "--json", "--no-store"],
                       capture_output=True, text=True, timeout=timeout, env=env)
    return p.returncode, (json.loads(p.stdout) if p.stdout.strip() else {}), p.stderr


needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this platform")


# ---------------------------------------------------------------- FIFOs


@needs_fifo
def test_named_fifo_is_refused_not_read(tmp_path):
    fifo = tmp_path / "audit.jsonl"
    os.mkfifo(fifo)
    code, doc, _err = verify(fifo)
    t = doc["targets"][0]
    assert code == 2 and t["status"] == "unverifiable"
    assert "FIFO, not a regular file" in " ".join(t["notes"])


@needs_fifo
def test_fifo_inside_a_directory_is_skipped_with_a_warning(tmp_path):
    ch = cf.make_chain(10)
    ch.write(tmp_path / "app.log")
    os.mkfifo(tmp_path / "pipe.log")
    code, doc, err = verify(tmp_path)
    assert code == 0
    assert [Path(t["path"]).name for t in doc["targets"]] == ["app.log"]
    assert "pipe.log: a FIFO, not a regular file: refused; skipped" in err


@needs_fifo
def test_fifo_inside_cloudtrail_digest_does_not_hang(tmp_path):
    key = cf.rsa_key(3)
    b = cf.make_bucket(tmp_path / "bucket", hours=3, key=key)
    victim = b.digests[1]
    victim.unlink()
    os.mkfifo(victim)
    code, doc, _err = verify(b.root, "--public-keys", b.keys_file)
    t = doc["targets"][0]
    assert code == 1 and t["status"] == "tampered"
    assert any(f["kind"] == "malformed" and "cannot read: a FIFO" in f["detail"] for f in t["failures"])


@needs_fifo
def test_fifo_as_key_or_checkpoint_is_refused(tmp_path):
    ch = cf.make_chain(10)
    log = ch.write(tmp_path / "app.log")
    keyfifo = tmp_path / "key.pem"
    os.mkfifo(keyfifo)
    code, _doc, err = verify(log, "--pubkey", keyfifo)
    assert code == 2 and "not a regular file" in err
    os.mkfifo(tmp_path / "app.log.checkpoint")
    code, doc, _err = verify(log)
    assert code == 1  # an unreadable checkpoint is reported, not waited for
    assert any("not a regular file" in f["detail"] for f in doc["targets"][0]["failures"])


# ---------------------------------------------------------------- duplicate keys


def _prepend_member(line: str, member: str) -> str:
    assert line.startswith("{")
    return "{" + member + "," + line[1:]


@pytest.mark.parametrize("style", ["canonical", "plain"])
def test_duplicated_key_is_never_intact(tmp_path, style):
    """`"actor":"mallory",` prepended before the real actor: a JSON parser keeps the last value, so the
    recomputed hash still matches; the verdict must not be intact or consistent."""
    ch = cf.make_chain(20, style=style)
    lines = ch.lines()
    real = ch.records[1]["actor"]
    lines[1] = _prepend_member(lines[1], '"actor":"mallory"' if real != "mallory" else '"actor":"bob"')
    log = ch.write(tmp_path / "audit.jsonl", lines)
    code, doc, _err = verify(log)
    t = doc["targets"][0]
    assert code == 1 and t["status"] == "tampered"
    assert [(f["kind"], f["line"]) for f in t["failures"]] == [("malformed", 2)]
    assert "duplicate key 'actor'" in t["failures"][0]["detail"]


def test_duplicated_key_in_a_nested_object(tmp_path):
    ch = cf.make_chain(12, style="plain")
    lines = ch.lines()
    i = 10  # payload 11 carries "tags": ["a", {"z": 1, "a": null}]
    assert '"z": 1' in lines[i]
    lines[i] = lines[i].replace('"z": 1', '"z": 9, "z": 1')
    code, doc, _err = verify(ch.write(tmp_path / "n.jsonl", lines))
    t = doc["targets"][0]
    assert code == 1 and [(f["kind"], f["line"]) for f in t["failures"]] == [("malformed", 11)]


def test_a_value_holding_quote_colon_is_not_a_duplicate(tmp_path):
    ch = cf.make_chain(8, style="plain")
    recs = [dict(r) for r in ch.records]
    recs[3]["object"] = 'say "a": "b" and "object": 1'
    recs = ch.reseal_from(3, recs)
    lines = [ch.line(r) for r in recs]
    code, doc, _err = verify(ch.write(tmp_path / "q.jsonl", lines))
    assert code == 0 and doc["targets"][0]["status"] == "consistent"


# ---------------------------------------------------------------- keys and fields the log cannot be checked with


def _signed_log(tmp_path: Path) -> Path:
    ch = cf.make_chain(15)
    log = ch.write(tmp_path / "audit.jsonl")
    priv, _pem = cf.ed25519_keypair()
    cf.write_checkpoint(log, 15, ch.records[-1]["hash"], priv)
    return log


@pytest.mark.parametrize(("content", "why"), [
    (b"", "the key file is empty"),
    (b"this is not a key\n", "not a PEM public key"),
    (bytes(range(256)) * 4, "not a PEM public key"),
    (b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "cannot load the PEM public key"),
])
def test_unusable_pubkey_is_unverifiable_with_the_reason(tmp_path, content, why):
    log = _signed_log(tmp_path)
    key = tmp_path / "key.pem"
    key.write_bytes(content)
    code, doc, _err = verify(log, "--pubkey", key)
    t = doc["targets"][0]
    assert code == 2 and t["status"] == "unverifiable" and t["failures"] == []
    assert any(why in n and "key.pem" in n for n in t["notes"])


def test_rsa_pubkey_is_unverifiable_not_tampered(tmp_path):
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    log = _signed_log(tmp_path)
    key = tmp_path / "rsa.pem"
    key.write_bytes(cf.rsa_key(5).public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    code, doc, _err = verify(log, "--pubkey", key)
    t = doc["targets"][0]
    assert code == 2 and t["status"] == "unverifiable"
    assert any("not an Ed25519 public key" in n for n in t["notes"])


def test_right_pubkey_still_anchors(tmp_path):
    log = _signed_log(tmp_path)
    _priv, pem = cf.ed25519_keypair()
    (tmp_path / "good.pem").write_bytes(pem)
    code, doc, _err = verify(log, "--pubkey", tmp_path / "good.pem")
    assert code == 0 and doc["targets"][0]["status"] == "intact"


def test_bad_pubkey_does_not_hide_tampering(tmp_path):
    ch = cf.make_chain(15)
    lines, _ = cf.t_modified(ch, 4)
    log = ch.write(tmp_path / "audit.jsonl", lines)
    (tmp_path / "key.pem").write_bytes(b"garbage")
    code, doc, _err = verify(log, "--pubkey", tmp_path / "key.pem")
    assert code == 1 and doc["targets"][0]["status"] == "tampered"


@pytest.mark.parametrize("field", ["digest", "actor", "seq"])
def test_wrong_hash_field_is_unverifiable_with_the_reason(tmp_path, field):
    """An absent field, another string field, a number: the options do not fit, nothing was tampered."""
    log = cf.make_chain(20).write(tmp_path / "audit.jsonl")
    code, doc, _err = verify(log, "--hash-field", field)
    t = doc["targets"][0]
    assert code == 2 and t["status"] == "unverifiable" and t["failures"] == []
    note = " ".join(t["notes"])
    assert "wrong --hash-field" in note and "fields of the first record: action, actor, hash, object" in note


def test_wrong_prev_field_is_unverifiable(tmp_path):
    log = cf.make_chain(20).write(tmp_path / "audit.jsonl")
    code, doc, _err = verify(log, "--prev-field", "previous")
    assert code == 2 and doc["targets"][0]["status"] == "unverifiable"

