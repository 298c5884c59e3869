"""Deterministic fixtures for chain verification tests.

Everything here is derived from fixed seeds, so every run builds byte-identical
files: clean hash chains (SHA-256 or HMAC, JCS or sorted canonicalisation, with
or without a signed Ed25519 checkpoint, across rotated files), one tampered
variant per failure kind, a CloudTrail bucket signed with a test RSA key
(digests, S3 head-object sidecars, list-public-keys output) and auditd / Windows
sequence logs.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac as hmac_mod
import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, UTC
from pathlib import Path
from typing import Any
from collections.abc import Callable

import rfc8785

GENESIS = "0" * 64
T0 = datetime(2026, 3, 1, 9, 0, 0, tzinfo=UTC)
HMAC_KEY = b"test-hmac-key-\x01\x02 not a real secret"


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


# ----------------------------------------------------------------------------- hash chains


def canon(obj: Any, mode: str) -> bytes:
    if mode == "jcs":
        return rfc8785.dumps(obj)
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def digest(data: bytes, key: bytes | None) -> str:
    if key is not None:
        return hmac_mod.new(key, data, hashlib.sha256).hexdigest()
    return hashlib.sha256(data).hexdigest()


def seal(rec: dict[str, Any], mode: str = "jcs", key: bytes | None = None) -> dict[str, Any]:
    """Set rec['hash'] from the record without it."""
    body = {k: v for k, v in rec.items() if k != "hash"}
    rec = dict(body)
    rec["hash"] = digest(canon(body, mode), key)
    return rec


def payload(i: int, rng: random.Random) -> dict[str, Any]:
    actors = ["alice", "bob", "svc-deploy", "mallory", "renée"]
    actions = ["login", "read", "update", "delete", "grant", "export"]
    p: dict[str, Any] = {
        "time": iso(T0 + timedelta(seconds=7 * i, milliseconds=rng.randrange(1000))),
        "actor": actors[rng.randrange(len(actors))],
        "action": actions[rng.randrange(len(actions))],
        "object": f"/records/{rng.randrange(10_000):05d}",
        "ok": rng.random() > 0.1,
    }
    if i % 5 == 0:
        p["note"] = "ünïcödé ☃ \"quoted\" \\ tab\t"
    if i % 7 == 0:
        p["amount"] = 12.5 if i % 14 else 3.0  # floats take the exact RFC 8785 path
    if i % 11 == 0:
        p["tags"] = ["a", {"z": 1, "a": None}]
    return p


@dataclass
class Chain:
    records: list[dict[str, Any]]
    mode: str
    key: bytes | None
    style: str  # "canonical": lines are the canonical form of the whole record; "plain": json.dumps

    def line(self, rec: dict[str, Any]) -> str:
        if self.style == "canonical":
            return canon(rec, self.mode).decode("utf-8")
        return json.dumps(rec, ensure_ascii=False)

    def lines(self) -> list[str]:
        return [self.line(r) for r in self.records]

    def write(self, path: Path, lines: list[str] | None = None) -> Path:
        text = "\n".join(self.lines() if lines is None else lines) + "\n"
        path.write_text(text, encoding="utf-8")
        return path

    def reseal_from(self, i: int, records: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """Recompute links and hashes from index *i* on (an attacker rewriting the chain)."""
        recs = [dict(r) for r in (records if records is not None else self.records)]
        for k in range(i, len(recs)):
            recs[k]["prev_hash"] = GENESIS if k == 0 else recs[k - 1]["hash"]
            recs[k] = seal(recs[k], self.mode, self.key)
        return recs


def make_chain(n: int = 40, *, mode: str = "jcs", key: bytes | None = None, seed: int = 7, start_seq: int = 1,
               prev: str = GENESIS, style: str = "canonical", skip_seq_at: int | None = None,
               time_back_at: int | None = None) -> Chain:
    rng = random.Random(seed)
    recs: list[dict[str, Any]] = []
    seq = start_seq
    for i in range(n):
        if skip_seq_at is not None and i == skip_seq_at:
            seq += 3  # the writer skipped numbers (links still hold)
        rec = {"seq": seq, "prev_hash": prev}
        rec.update(payload(i + start_seq, rng))
        if time_back_at is not None and i == time_back_at:
            rec["time"] = iso(T0 - timedelta(hours=1))
        rec = seal(rec, mode, key)
        recs.append(rec)
        prev = rec["hash"]
        seq += 1
    return Chain(recs, mode, key, style)


def ed25519_keypair(seed: bytes = b"logconsole-test-checkpoint-key!!"):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    priv = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(seed).digest())
    pem = priv.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    return priv, pem


def write_checkpoint(log: Path, size: int, head: str, priv=None, *, signature: str | None = None) -> Path:
    if signature is None:
        signature = base64.b64encode(priv.sign(f"{size}\n{head}\n".encode())).decode()
    cp = log.with_name(log.name + ".checkpoint")
    cp.write_text(json.dumps({"size": size, "head": head, "signature": signature}) + "\n")
    return cp


# tampering: each returns (lines, expected (kind, 1-based line, seq)) --------------------


def t_modified(ch: Chain, i: int):
    recs = [dict(r) for r in ch.records]
    recs[i]["actor"] = "nobody"  # content changed, hash kept
    return [ch.line(r) for r in recs], ("modified", i + 1, recs[i]["seq"])


def t_modified_rehashed(ch: Chain, i: int):
    recs = [dict(r) for r in ch.records]
    recs[i]["action"] = "read"
    recs[i]["actor"] = "nobody"
    recs[i] = seal(recs[i], ch.mode, ch.key)  # hash recomputed; the next record still links to the old one
    return [ch.line(r) for r in recs], ("modified", i + 1, recs[i]["seq"])


def t_deleted(ch: Chain, i: int, count: int = 1):
    recs = ch.records[:i] + ch.records[i + count:]
    return [ch.line(r) for r in recs], ("deleted", i + 1, recs[i]["seq"])


def t_inserted(ch: Chain, i: int, *, valid_hash: bool = True):
    recs = [dict(r) for r in ch.records]
    fake = {"seq": recs[i]["seq"], "prev_hash": recs[i - 1]["hash"], "time": recs[i]["time"],
            "actor": "mallory", "action": "grant", "object": "/records/00000", "ok": True}
    fake = seal(fake, ch.mode, ch.key if valid_hash else b"wrong key")
    recs.insert(i, fake)
    return [ch.line(r) for r in recs], ("inserted", i + 1, fake["seq"])


def t_replayed(ch: Chain, src: int, at: int):
    recs = list(ch.records)
    recs.insert(at, ch.records[src])
    return [ch.line(r) for r in recs], ("inserted", at + 1, ch.records[src]["seq"])


def t_swapped(ch: Chain, i: int):
    recs = list(ch.records)
    recs[i], recs[i + 1] = recs[i + 1], recs[i]
    return [ch.line(r) for r in recs], ("reordered", i + 1, recs[i]["seq"])


def t_moved(ch: Chain, src: int, dst: int):
    recs = list(ch.records)
    r = recs.pop(src)
    recs.insert(dst, r)
    first = min(src, dst)
    return [ch.line(r) for r in recs], ("reordered", first + 1, recs[first]["seq"])


def t_malformed(ch: Chain, i: int):
    lines = ch.lines()
    lines[i] = lines[i][: len(lines[i]) // 2]
    return lines, ("malformed", i + 1, None)


def t_truncated_tail(ch: Chain, keep: int):
    return ch.lines()[:keep], ("truncated", keep + 1, ch.records[keep]["seq"])


# ----------------------------------------------------------------------------- CloudTrail bucket

ACCOUNT = "123456789012"
REGION = "us-east-1"
TRAIL = "org-audit"
BUCKET = "audit-bucket"


def rsa_key(seed: int = 1):
    """A fresh RSA-2048 key (generation cannot be seeded; the bucket layout is deterministic)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _ct_time(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _ct_stamp(dt: datetime) -> str:
    return dt.strftime("%Y%m%dT%H%MZ")


@dataclass
class Bucket:
    root: Path
    keys_file: Path
    digests: list[Path]  # oldest first
    logs: list[Path]
    end: datetime  # end of the newest digest window
    fingerprint: str

    def rel(self, p: Path) -> str:
        return p.relative_to(self.root).as_posix()


def make_bucket(root: Path, *, hours: int = 4, logs_per_hour: int = 2, key=None, spki: bool = False,
                empty_hour: int | None = None, with_sidecars: bool = True, overlap_at: int | None = None,
                hole_at: int | None = None, region: str = REGION, first: datetime | None = None) -> Bucket:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    key = key or rsa_key()
    der = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo if spki else PublicFormat.PKCS1)
    fp = hashlib.md5(der).hexdigest()
    keys_file = root / "public-keys.json"
    root.mkdir(parents=True, exist_ok=True)
    keys_file.write_text(json.dumps({"PublicKeyList": [{
        "Value": base64.b64encode(der).decode(), "ValidityStartTime": _ct_time(T0 - timedelta(days=30)),
        "ValidityEndTime": _ct_time(T0 + timedelta(days=30)), "Fingerprint": fp}]}, indent=2))
    rng = random.Random(42)
    start = (first or T0).replace(minute=0, second=0, microsecond=0)
    digests: list[Path] = []
    logs: list[Path] = []
    prev_sig: str | None = None
    prev_hash: str | None = None
    prev_obj: str | None = None
    for h in range(hours):
        w0 = start + timedelta(hours=h)
        w1 = w0 + timedelta(hours=1)
        day = w0.strftime("%Y/%m/%d")
        listed = []
        for k in range(0 if h == empty_hour else logs_per_hour):
            t = w0 + timedelta(minutes=5 + 20 * k)
            recs = [{"eventVersion": "1.08", "eventTime": _ct_time(t + timedelta(seconds=s)),
                     "eventSource": "iam.amazonaws.com", "eventName": rng.choice(["ListUsers", "AttachUserPolicy"]),
                     "awsRegion": region, "sourceIPAddress": "203.0.113.7",
                     "userIdentity": {"type": "IAMUser", "userName": "alice"},
                     "eventID": f"{h:02d}{k:02d}{s:04d}-0000-4000-8000-000000000000"} for s in range(3)]
            body = json.dumps({"Records": recs}).encode()
            name = f"{ACCOUNT}_CloudTrail_{region}_{_ct_stamp(t)}_{h:02d}{k:02d}abcdEFGH.json.gz"
            key_path = f"AWSLogs/{ACCOUNT}/CloudTrail/{region}/{day}/{name}"
            p = root / key_path
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(gzip.compress(body, mtime=0))
            logs.append(p)
            listed.append({"s3Bucket": BUCKET, "s3Object": key_path, "hashValue": hashlib.sha256(body).hexdigest(),
                           "hashAlgorithm": "SHA-256", "newestEventTime": _ct_time(t + timedelta(seconds=2)),
                           "oldestEventTime": _ct_time(t)})
        dname = f"{ACCOUNT}_CloudTrail-Digest_{region}_{TRAIL}_{REGION}_{w1.strftime('%Y%m%dT%H%M%SZ')}.json.gz"
        dkey = f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/{region}/{day}/{dname}"
        digest_obj = {
            "awsAccountId": ACCOUNT,
            "digestStartTime": _ct_time(w0 - timedelta(minutes=10) if h == overlap_at
                                        else w0 + timedelta(minutes=10) if h == hole_at else w0),
            "digestEndTime": _ct_time(w1),
            "digestS3Bucket": BUCKET, "digestS3Object": dkey, "digestPublicKeyFingerprint": fp,
            "digestSignatureAlgorithm": "SHA256withRSA", "newestEventTime": None, "oldestEventTime": None,
            "previousDigestS3Bucket": BUCKET if prev_obj else None, "previousDigestS3Object": prev_obj,
            "previousDigestHashValue": prev_hash, "previousDigestHashAlgorithm": "SHA-256" if prev_hash else None,
            "previousDigestSignature": prev_sig, "logFiles": listed,
        }
        data = json.dumps(digest_obj).encode()
        dh = hashlib.sha256(data).hexdigest()
        signing = f"{_ct_time(w1)}\n{BUCKET}/{dkey}\n{dh}\n{prev_sig or 'null'}".encode()
        sig = key.sign(signing, padding.PKCS1v15(), hashes.SHA256()).hex()
        dp = root / dkey
        dp.parent.mkdir(parents=True, exist_ok=True)
        dp.write_bytes(gzip.compress(data, mtime=0))
        if with_sidecars:
            (dp.parent / (dp.name + ".head.json")).write_text(json.dumps({
                "AcceptRanges": "bytes", "ContentLength": dp.stat().st_size, "ContentType": "application/json",
                "ContentEncoding": "gzip", "Metadata": {"signature": sig, "signature-algorithm": "SHA256withRSA"}}))
        digests.append(dp)
        prev_sig, prev_hash, prev_obj = sig, dh, dkey
    return Bucket(root, keys_file, digests, logs, start + timedelta(hours=hours), fp)


def rewrite_gz_json(p: Path, fn: Callable[[Any], Any]) -> None:
    obj = json.loads(gzip.decompress(p.read_bytes()))
    obj = fn(obj)
    p.write_bytes(gzip.compress(json.dumps(obj).encode(), mtime=0))


# ----------------------------------------------------------------------------- sequences

AUDIT_T0 = 1_772_355_600  # 2026-03-01T09:00:00Z


def auditd_lines(n: int = 30, *, start_serial: int = 1000, t0: int = AUDIT_T0, records_per_event: int = 2,
                 skip: set[int] | None = None) -> list[str]:
    """*n* audit events (SYSCALL + PROCTITLE each), serial +1 per event."""
    skip = skip or set()
    out = []
    for i in range(n):
        serial = start_serial + i
        if serial in skip:
            continue
        ts = f"{t0 + i}.{(i * 37) % 1000:03d}"
        out.append(f"type=SYSCALL msg=audit({ts}:{serial}): arch=c000003e syscall=59 success=yes exit=0 "
                   f"a0=55d a1=55e a2=55f a3=0 items=2 ppid=1 pid={4000 + i} auid=1000 uid=0 gid=0 euid=0 "
                   f"suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm=\"id\" exe=\"/usr/bin/id\" key=(null)")
        if records_per_event > 1:
            out.append(f"type=PROCTITLE msg=audit({ts}:{serial}): proctitle=6964")
    return out


def windows_events(n: int = 20, *, start: int = 5000, computer: str = "WS01.corp.example",
                   skip: set[int] | None = None, clear_at: int | None = None,
                   native: bool = False) -> list[dict[str, Any]]:
    """Flat (forwarder/SIEM shape) or native (``Event.System`` as evtx dumps write) events."""
    skip = skip or set()
    out = []
    for i in range(n):
        rid = start + i
        if rid in skip:
            continue
        eid = 1102 if (clear_at is not None and rid == clear_at) else 4624
        prov = "Microsoft-Windows-Security-Auditing" if eid != 1102 else "Microsoft-Windows-Eventlog"
        when = iso(T0 + timedelta(seconds=3 * i))
        if native:
            out.append({"Event": {"System": {"Provider": {"Name": prov}, "EventID": eid, "EventRecordID": rid,
                                             "Channel": "Security", "Computer": computer,
                                             "TimeCreated": {"SystemTime": when}},
                                  "EventData": {"TargetUserName": "alice"}}})
        else:
            out.append({"EventID": eid, "EventRecordID": str(rid), "Channel": "Security", "Computer": computer,
                        "TimeCreated": when, "Provider": prov})
    return out
