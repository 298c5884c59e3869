"""``cloudtrail-digest``: CloudTrail log file integrity validation, offline and stricter.

Input: a directory as copied from the trail's bucket (``AWSLogs/ACCOUNT/CloudTrail/...``
and ``AWSLogs/ACCOUNT/CloudTrail-Digest/...``, organisation trails with an
``o-xxxx/`` level too).  Signatures come from a sidecar per digest,
``DIGEST.json.gz.head.json`` = the output of ``aws s3api head-object``
(``Metadata.signature``, ``Metadata.signature-algorithm``); keys from
``--public-keys FILE`` = the output of ``aws cloudtrail list-public-keys``
(``PublicKeyList[].Value``: base64 DER, PKCS#1 or SubjectPublicKeyInfo).

Checks (the documented validation, plus what ``aws cloudtrail validate-logs``
leaves out):

* each digest's SHA256withRSA signature over the signing string
  ``digestEndTime \\n bucket/key \\n hex(SHA-256(uncompressed digest)) \\n previousSignature|null``
  with the key whose fingerprint the digest names;
* each listed log file's SHA-256 (uncompressed) against ``hashValue``;
* the chain through ``previousDigestSignature`` *and* ``previousDigestHashValue``;
* digest windows meeting end to start;
* log files present but listed by no digest;
* a missing newest tail relative to ``--expected-end``.

Without signatures (no sidecars or no keys) the hash chain is still checked and
the result says it is unanchored.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, UTC
from pathlib import Path
from typing import Any

from logconsole.analysis.chain.model import TargetResult, unverifiable
from logconsole.analysis.chain.textio import NotRegularFile, read_all, read_small
from logconsole.util.timeparse import format_us, parse_iso

SIDE_SUFFIX = ".head.json"
REQUIRED = ("digestStartTime", "digestEndTime", "digestS3Bucket", "digestS3Object", "digestPublicKeyFingerprint",
            "digestSignatureAlgorithm", "logFiles")
_LOG_STAMP = re.compile(r"_(\d{8}T\d{4}Z)_")
TAIL_TOLERANCE_US = 3600 * 1_000_000  # digests are delivered hourly


@dataclass
class CloudTrailOptions:
    public_keys: str | None = None
    expected_end_us: int | None = None
    #: ``--start-time`` / ``--end-time``: only digests whose window meets this range are checked (as
    #: ``aws cloudtrail validate-logs`` does); log files outside it are not judged
    start_us: int | None = None
    end_us: int | None = None


@dataclass
class _Key:
    fingerprint: str
    key: Any
    start_us: int | None
    end_us: int | None


@dataclass
class _Digest:
    path: Path
    rel: str
    data: bytes = b""
    obj: dict[str, Any] = field(default_factory=dict)
    sha: str = ""
    sidecar_sig: str | None = None
    sidecar_alg: str | None = None
    sidecar_error: str | None = None
    start_us: int | None = None
    end_us: int | None = None
    ok: bool = True  # parsed


def is_bucket(path: str) -> bool:
    """A bucket copy: the directory holding ``AWSLogs/`` (or ``AWSLogs`` itself) with digests below."""
    p = Path(path)
    if not p.is_dir():
        return False
    top = p if p.name == "AWSLogs" else p / "AWSLogs"
    if not top.is_dir():
        return False
    return any("CloudTrail-Digest" in dirs for _root, dirs, _files in os.walk(top))


def _awslogs_key(key: str) -> str:
    """The part of an S3 key from ``AWSLogs/`` on (what a local copy preserves)."""
    i = key.find("AWSLogs/")
    return key[i:] if i >= 0 else key


def _walk(root: Path) -> tuple[list[Path], list[Path]]:
    digests, logs = [], []
    for dirpath, dirs, files in os.walk(root):
        dirs.sort()
        parts = Path(dirpath).relative_to(root).parts
        for name in sorted(files):
            if name.endswith(SIDE_SUFFIX) or name.startswith("."):
                continue
            if not (name.endswith(".json.gz") or name.endswith(".json")):
                continue
            if "CloudTrail-Digest" in parts:
                digests.append(Path(dirpath) / name)
            elif "CloudTrail" in parts:
                logs.append(Path(dirpath) / name)
    return digests, logs


def load_public_keys(path: str) -> dict[str, list[_Key]]:
    """Parse ``aws cloudtrail list-public-keys`` output; raises ValueError naming the problem."""
    from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key

    try:
        doc = json.loads(read_small(path))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read public keys: {exc}") from None
    items = doc.get("PublicKeyList") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise ValueError(f"{path}: no PublicKeyList (expected `aws cloudtrail list-public-keys` output)")
    out: dict[str, list[_Key]] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("Value"), str) or not isinstance(item.get("Fingerprint"), str):
            raise ValueError(f"{path}: PublicKeyList[{i}] needs Value and Fingerprint")
        try:
            der = base64.b64decode(item["Value"], validate=True)
        except ValueError:
            raise ValueError(f"{path}: PublicKeyList[{i}].Value is not base64") from None
        key = None
        try:
            key = load_der_public_key(der)  # SubjectPublicKeyInfo (and PKCS#1 on recent OpenSSL)
        except ValueError:
            pem = (b"-----BEGIN RSA PUBLIC KEY-----\n" + base64.encodebytes(der) + b"-----END RSA PUBLIC KEY-----\n")
            try:
                key = load_pem_public_key(pem)  # PKCS#1 RSAPublicKey
            except ValueError:
                raise ValueError(f"{path}: PublicKeyList[{i}]: unable to load PKCS #1 or SPKI key") from None

        def t(v: Any) -> int | None:
            if isinstance(v, (int, float)):
                return int(v * 1_000_000)
            if isinstance(v, str):
                try:
                    return parse_iso(v)
                except Exception:
                    return None
            return None

        fp = item["Fingerprint"].lower()
        out.setdefault(fp, []).append(_Key(fp, key, t(item.get("ValidityStartTime")), t(item.get("ValidityEndTime"))))
    return out


def _read_sidecar(d: _Digest) -> None:
    side = d.path.with_name(d.path.name + SIDE_SUFFIX)
    if not side.exists():
        return
    try:
        doc = json.loads(read_small(side))
        meta = doc.get("Metadata") if isinstance(doc, dict) else None
        if not isinstance(meta, dict):
            raise ValueError("no Metadata object")
        meta = {str(k).lower().removeprefix("x-amz-meta-"): v for k, v in meta.items()}
        sig = meta.get("signature")
        if not isinstance(sig, str):
            raise ValueError("no Metadata.signature")
        d.sidecar_sig = sig.strip().lower()
        alg = meta.get("signature-algorithm")
        d.sidecar_alg = alg if isinstance(alg, str) else None
    except (OSError, ValueError) as exc:
        d.sidecar_error = f"{side.name}: {exc}"


def _verify_rsa(key: Any, sig_hex: str, message: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    if not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        sig = bytes.fromhex(sig_hex)
    except ValueError:
        return False
    try:
        key.verify(sig, message, padding.PKCS1v15(), hashes.SHA256())
        return True
    except InvalidSignature:
        return False


def _region_of(rel: str, marker: str) -> str:
    """``AWSLogs/ACCT/CloudTrail/REGION/...`` -> ``AWSLogs/ACCT/REGION`` (same key for logs and digests)."""
    parts = rel.split("/")
    if marker in parts:
        i = parts.index(marker)
        return "/".join(parts[:i] + parts[i + 1:i + 2])
    return ""


def _chain_group(rel: str) -> str:
    """One digest chain: region, plus the file name without its timestamp (account, trail, home region)."""
    name = rel.rsplit("/", 1)[-1]
    stem = name.rsplit("_", 1)[0] if "_" in name else name
    return f"{_region_of(rel, 'CloudTrail-Digest')}:{stem}"


_DIGEST_STAMP = re.compile(r"_(\d{8}T\d{6}Z)(?:_backfill)?\.json")


def _digest_time_us(key: str) -> int | None:
    """The end of a digest's window, from its name (``..._20260301T100000Z.json.gz``)."""
    m = _DIGEST_STAMP.search(key.rsplit("/", 1)[-1])
    if not m:
        return None
    try:
        return int(datetime.strptime(m.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp() * 1_000_000)
    except ValueError:
        return None


def log_file_time_us(name: str) -> int | None:
    m = _LOG_STAMP.search(name)
    if not m:
        return None
    try:
        return int(datetime.strptime(m.group(1), "%Y%m%dT%H%MZ").replace(tzinfo=UTC).timestamp() * 1_000_000)
    except ValueError:
        return None


def verify_bucket(root: str, opts: CloudTrailOptions | None = None) -> TargetResult:
    """Verify a bucket copy (see the module docstring); raises ValueError for unreadable ``--public-keys``."""
    opts = opts or CloudTrailOptions()
    rootp = Path(root)
    if not rootp.is_dir():
        return unverifiable(str(root), "cloudtrail-digest", f"{root}: not a directory")
    digest_paths, log_paths = _walk(rootp)
    if not digest_paths:
        return unverifiable(str(root), "cloudtrail-digest", f"{root}: no CloudTrail-Digest files found")
    keys = load_public_keys(opts.public_keys) if opts.public_keys else None  # ValueError -> caller (exit 2)
    check = _BucketCheck(rootp, opts, keys, TargetResult(str(root), "cloudtrail-digest", files=[str(root)]))
    check.read_digests(digest_paths)
    check.check_locations()
    check.check_signatures()
    check.check_chains()
    check.check_listed_logs(log_paths)
    check.check_unlisted_logs()
    check.check_tail()
    return check.verdict()


class _BucketCheck:
    """The state of one bucket verification, filled step by step by :func:`verify_bucket`."""

    def __init__(self, root: Path, opts: CloudTrailOptions, keys: dict[str, list[_Key]] | None,
                 res: TargetResult) -> None:
        self.root = root
        self.opts = opts
        self.keys = keys
        self.res = res
        self.digests: list[_Digest] = []
        self.good: list[_Digest] = []  # parsed digests, oldest window first
        self.by_key: dict[str, _Digest] = {}  # AWSLogs/... key -> digest
        self.successor: dict[str, _Digest] = {}  # key -> the digest naming it as previous
        self.groups: dict[str, list[_Digest]] = {}  # digest chains (region and trail)
        self.verified: set[str] = set()  # digests whose signature verified
        self.unsigned: list[str] = []
        self.uncovered: dict[str, list[tuple[int, int]]] = {}  # region -> windows of missing digests
        self.restarts: list[str] = []
        self.local_logs: dict[str, Path] = {}
        self.listed: set[str] = set()
        self.n_logs_ok = 0
        self.out_of_range = 0  # digests outside --start-time/--end-time (not checked)
        self.starts: list[str] = []  # chains that begin at the first copied digest (start of copy)
        self.not_copied: list[str] = []  # listed log files in folders that were not copied
        self.newer: list[str] = []  # log files outside the digest windows
        self.in_gap: list[str] = []  # log files in the window of a missing digest

    def rel(self, p: Path) -> str:
        return p.relative_to(self.root).as_posix()

    def _in_range(self, start: int | None, end: int | None) -> bool:
        """Whether a window meets ``--start-time`` .. ``--end-time`` (no range: always)."""
        lo, hi = self.opts.start_us, self.opts.end_us
        if lo is not None and end is not None and end <= lo:
            return False
        return not (hi is not None and start is not None and start > hi)

    def _local_dir_of(self, d: _Digest, key: str) -> Path:
        """The local folder where the object *key* (``AWSLogs/...``) of the copy holding *d* would be."""
        own = _awslogs_key(d.obj["digestS3Object"])
        prefix = d.rel[: len(d.rel) - len(own)] if d.rel.endswith(own) else ""
        return (self.root / (prefix + key)).parent

    def _outside_copy(self, d: _Digest, key: str) -> str | None:
        """Why the previous digest *key* of the oldest checked digest *d* is not expected here, or None."""
        t = _digest_time_us(key)
        if self.opts.start_us is not None and t is not None and t <= self.opts.start_us:
            return "before --start-time"
        if not self._local_dir_of(d, key).is_dir():
            return "in a folder that was not copied"
        return None

    def fail(self, kind: str, detail: str, file: str) -> None:
        self.res.fail(kind, None, None, detail, file=file)

    # ---- read every digest
    def read_digests(self, paths: list[Path]) -> None:
        for p in paths:
            self.digests.append(self._read_digest(p))
        parsed = sorted((d for d in self.digests if d.ok), key=lambda d: (d.end_us or 0, d.rel))
        self.by_key = {_awslogs_key(d.obj["digestS3Object"]): d for d in parsed}
        self.good = [d for d in parsed if self._in_range(d.start_us, d.end_us)]
        self.out_of_range = len(parsed) - len(self.good)
        for d in self.good:
            prev = d.obj.get("previousDigestS3Object")
            if isinstance(prev, str):
                self.successor[_awslogs_key(prev)] = d
        for d in self.good:
            self.groups.setdefault(_chain_group(d.rel), []).append(d)

    def _read_digest(self, p: Path) -> _Digest:
        d = _Digest(p, self.rel(p))
        try:
            d.data = read_all(p, limit=256 << 20)
        except (OSError, EOFError) as exc:
            self.fail("malformed", f"digest {d.rel}: cannot {'read' if isinstance(exc, NotRegularFile) else 'decompress'}: "
                      f"{exc}", d.rel)
            d.ok = False
            return d
        d.sha = hashlib.sha256(d.data).hexdigest()
        try:
            obj = json.loads(d.data)
            if not isinstance(obj, dict):
                raise ValueError("not a JSON object")
            missing = [k for k in REQUIRED if k not in obj]
            if missing:
                raise ValueError(f"missing {', '.join(missing)}")
            d.obj = obj
            d.start_us = parse_iso(obj["digestStartTime"])
            d.end_us = parse_iso(obj["digestEndTime"])
        except Exception as exc:
            self.fail("malformed", f"digest {d.rel}: invalid format: {str(exc)[:120]}", d.rel)
            d.ok = False
        _read_sidecar(d)
        if d.sidecar_error:
            self.fail("malformed", f"digest {d.rel}: unreadable signature sidecar: {d.sidecar_error}", d.rel)
        return d

    # ---- location: a digest must sit where it says it was written
    def check_locations(self) -> None:
        for d in self.good:
            own = _awslogs_key(d.obj["digestS3Object"])
            if own != d.rel and not d.rel.endswith(own):
                self.fail("broken_link", f"digest {d.rel}: moved from its original location {d.obj['digestS3Object']}",
                          d.rel)

    # ---- signatures
    def check_signatures(self) -> None:
        for d in self.good:
            self._check_signature(d)

    def _check_signature(self, d: _Digest) -> None:
        nxt = self.successor.get(_awslogs_key(d.obj["digestS3Object"]))
        carried = nxt.obj.get("previousDigestSignature") if nxt else None
        sig = d.sidecar_sig or (carried.lower() if isinstance(carried, str) else None)
        if nxt is not None and d.sidecar_sig and isinstance(carried, str) and carried.lower() != d.sidecar_sig:
            self.fail("broken_link", f"digest {nxt.rel}: previousDigestSignature differs from the signature of {d.rel}",
                      nxt.rel)
        alg = d.obj.get("digestSignatureAlgorithm")
        if alg != "SHA256withRSA" or (d.sidecar_alg and d.sidecar_alg != "SHA256withRSA"):
            self.fail("bad_signature", f"digest {d.rel}: unsupported signature algorithm {d.sidecar_alg or alg!r}", d.rel)
            return
        if sig is None:
            self.unsigned.append(d.rel)
            return
        if self.keys is None:
            return
        in_window = self._keys_for(d)
        if in_window is None:
            return
        if any(_verify_rsa(k.key, sig, _signing_string(d)) for k in in_window):
            self.verified.add(d.rel)
        else:
            src = "sidecar" if d.sidecar_sig else f"previousDigestSignature of {nxt.rel if nxt else '?'}"
            self.fail("bad_signature", f"digest {d.rel}: signature verification failed (signature from {src})", d.rel)

    def _keys_for(self, d: _Digest) -> list[_Key] | None:
        """The public keys that may have signed *d* (None, with the failure recorded, when there is none)."""
        assert self.keys is not None
        fp = str(d.obj.get("digestPublicKeyFingerprint", "")).lower()
        cands = self.keys.get(fp)
        if not cands:
            self.fail("unknown_key", f"digest {d.rel}: public key not found for fingerprint {fp}", d.rel)
            return None
        end = d.end_us or 0
        in_window = [k for k in cands if (k.start_us is None or k.start_us <= end)
                     and (k.end_us is None or end <= k.end_us)]
        if not in_window:
            self.fail("unknown_key", f"digest {d.rel}: key {fp} is not valid at {d.obj['digestEndTime']}", d.rel)
            return None
        return in_window

    # ---- the chain: previous pointers, hashes, windows - per digest chain (region and trail)
    def check_chains(self) -> None:
        for chain in self.groups.values():
            for i, d in enumerate(chain):
                self._check_link(chain, i, d)
        # digests nobody links to although a newer one exists (e.g. a deleted digest in between)
        # are caught as "previous digest not found" at the newer one.

    def _check_link(self, chain: list[_Digest], i: int, d: _Digest) -> None:
        pkey = d.obj.get("previousDigestS3Object")
        if not isinstance(pkey, str) or not pkey:
            if i > 0:
                self.restarts.append(f"logging (re)started at {d.obj['digestStartTime']}: no digest chain link from "
                                     f"{chain[i - 1].rel} (no log files were delivered between "
                                     f"{chain[i - 1].obj['digestEndTime']} and {d.obj['digestStartTime']})")
            return
        p = self.by_key.get(_awslogs_key(pkey))
        why = self._outside_copy(d, _awslogs_key(pkey)) if p is None and i == 0 else None
        if why is not None:
            # the oldest copied digest of this chain: its predecessor was not part of the copy
            self.starts.append(f"start of copy: {d.rel} (window from {d.obj['digestStartTime']}) is the oldest "
                               f"digest checked; its previous digest {_awslogs_key(pkey)} is {why}")
            return
        if p is None:
            folder = "" if self._local_dir_of(d, _awslogs_key(pkey)).is_dir() else " (its folder is absent)"
            self.fail("missing_file", f"digest {d.rel}: previous digest {_awslogs_key(pkey)} not found{folder}", d.rel)
            lo = chain[i - 1].end_us if i > 0 else None
            self.uncovered.setdefault(_region_of(d.rel, "CloudTrail-Digest"), []).append(
                (lo if lo is not None else -(1 << 62), d.start_us or 0))
            return
        ph = d.obj.get("previousDigestHashValue")
        if not isinstance(ph, str) or ph.lower() != p.sha:
            self.fail("broken_link", f"digest {d.rel}: previousDigestHashValue does not match SHA-256 of {p.rel} "
                      "(the previous digest was modified or replaced)", d.rel)
        if p.end_us != d.start_us:
            if (d.start_us or 0) < (p.end_us or 0):
                self.fail("time_regression", f"digest {d.rel}: window starts {d.obj['digestStartTime']}, before the "
                          f"previous digest ends ({p.obj['digestEndTime']})", d.rel)
            else:
                self.fail("broken_link", f"digest {d.rel}: window starts {d.obj['digestStartTime']} but the previous "
                          f"digest ends {p.obj['digestEndTime']}: the windows do not meet", d.rel)

    # ---- log files listed by a digest: present, and with the listed hash
    def check_listed_logs(self, log_paths: list[Path]) -> None:
        self.local_logs = {self.rel(p): p for p in log_paths}
        by_awskey = {_awslogs_key(k): k for k in self.local_logs}
        for d in self.good:
            for entry in d.obj.get("logFiles") or []:
                if not isinstance(entry, dict) or not isinstance(entry.get("s3Object"), str):
                    self.fail("malformed", f"digest {d.rel}: a logFiles entry has no s3Object", d.rel)
                    continue
                k = _awslogs_key(entry["s3Object"])
                lrel = by_awskey.get(k)
                if lrel is None:
                    self._absent_log(d, k, entry)
                    continue
                self.listed.add(lrel)
                self._check_log_hash(d, lrel, entry.get("hashValue"))

    def _absent_log(self, d: _Digest, key: str, entry: dict[str, Any]) -> None:
        """A listed log file that is not here: deleted when its folder was copied, else not copied."""
        if not self._local_dir_of(d, key).is_dir():
            self.not_copied.append(key)
            return
        span = ""
        lo, hi = entry.get("oldestEventTime"), entry.get("newestEventTime")
        if isinstance(lo, str) and isinstance(hi, str):
            span = f", events {lo} .. {hi}"
        self.fail("deleted", f"log file {key} deleted: digest {d.rel} lists it (SHA-256 "
                  f"{str(entry.get('hashValue') or '?')[:16]}…{span}) but it is not in the copy", key)

    def _check_log_hash(self, d: _Digest, lrel: str, hv: Any) -> None:
        try:
            data = read_all(self.local_logs[lrel], limit=2 << 30)
        except (OSError, EOFError) as exc:
            self.fail("modified", f"log file {lrel}: cannot decompress ({exc}); listed in digest {d.rel}", lrel)
            return
        if not isinstance(hv, str) or hashlib.sha256(data).hexdigest() != hv.lower():
            self.fail("modified", f"log file {lrel}: hash value doesn't match (listed in digest {d.rel})", lrel)
        else:
            self.n_logs_ok += 1
            self.res.covered.append(lrel)

    # ---- log files no digest lists: outside the digest windows, in a missing digest's window, or inserted
    def check_unlisted_logs(self) -> None:
        span: dict[str, tuple[int, int]] = {}  # region -> (first start, last end) of its digests
        for d in self.good:
            reg = _region_of(d.rel, "CloudTrail-Digest")
            first, last = span.get(reg, (d.start_us or 0, d.end_us or 0))
            span[reg] = (min(first, d.start_us or 0), max(last, d.end_us or 0))
        for lrel in sorted(set(self.local_logs) - self.listed):
            t = log_file_time_us(Path(lrel).name)
            if t is not None and not self._in_range(t, t):
                continue  # outside --start-time/--end-time: not judged
            reg = _region_of(lrel, "CloudTrail")
            lo: int | None
            hi: int | None
            lo, hi = span.get(reg, (None, None))
            if t is not None and (hi is None or t >= hi):
                self.newer.append(lrel)  # newer than the region's newest digest (or a region without digests)
            elif t is not None and any(a <= t < b for a, b in self.uncovered.get(reg, [])):
                self.in_gap.append(lrel)
            elif t is not None and lo is not None and t < lo:
                self.newer.append(lrel)  # older than the region's first digest: outside the verified range
            else:
                self.fail("inserted", f"log file {lrel} is listed by no digest", lrel)

    # ---- tail, per digest chain
    def check_tail(self) -> None:
        expected = self.opts.expected_end_us
        if expected is None:
            return
        for g, chain in self.groups.items():
            end = chain[-1].end_us or 0
            if expected - end >= TAIL_TOLERANCE_US:  # a whole hourly window is absent
                hours = (expected - end) / 3_600_000_000
                self.fail("truncated", f"newest digest of {g} ends {format_us(end)} but coverage is expected until "
                          f"{format_us(expected)}: about {hours:.0f} hour(s) of digests are missing (deleted newest "
                          "tail, or logging stopped)", chain[-1].rel)

    # ---- verdict
    def verdict(self) -> TargetResult:
        res, good = self.res, self.good
        res.records = len(self.digests) + len(self.local_logs)
        anchored = bool(good) and all(chain[-1].rel in self.verified for chain in self.groups.values())
        res.coverage = (
            f"{len(self.digests)} digest files, {len(self.local_logs)} log files ({self.n_logs_ok} hash-verified)"
            + (f", {format_us(good[0].start_us)} .. {format_us(max(d.end_us or 0 for d in good))}" if good else "")
        )
        if anchored:
            fps = sorted({str(d.obj.get('digestPublicKeyFingerprint')) for d in good if d.rel in self.verified})
            res.anchor = (f"SHA256withRSA digest signatures ({len(self.verified)}/{len(good)} verified; key "
                          f"fingerprint {', '.join(fps)}), newest digest {self._newest().obj['digestEndTime']}")
        else:
            res.anchor = "none (digest hash chain only)" if good else "none"
        res.notes.extend(self._notes())
        return res.finish(anchored=anchored, verifiable=bool(good))

    def _newest(self) -> _Digest:
        return max(self.good, key=lambda d: d.end_us or 0)

    def _notes(self) -> list[str]:
        notes = []
        if self.keys is None:
            notes.append("unanchored: no --public-keys given, so no digest signature was verified "
                         "(the digest hash chain was still checked)")
        elif self.unsigned:
            notes.append(f"unanchored: {len(self.unsigned)} digest(s) have no signature sidecar "
                         f"(*.json.gz.head.json from `aws s3api head-object`): {', '.join(self.unsigned[:3])}"
                         + (" ..." if len(self.unsigned) > 3 else ""))
        notes.extend(self.starts)
        if self.out_of_range:
            notes.append(f"{self.out_of_range} digest(s) outside --start-time/--end-time were not checked")
        if self.not_copied:
            notes.append(f"{len(self.not_copied)} listed log file(s) are in folders that were not copied: "
                         + ", ".join(self.not_copied[:3]) + (" ..." if len(self.not_copied) > 3 else ""))
        notes.extend(self.restarts)
        if self.in_gap:
            notes.append(f"{len(self.in_gap)} log file(s) fall in the window of a missing digest and cannot be "
                         "verified: " + ", ".join(self.in_gap[:3]) + (" ..." if len(self.in_gap) > 3 else ""))
        if self.newer:
            notes.append(f"{len(self.newer)} log file(s) lie outside the digest windows (not yet covered by a digest): "
                         + ", ".join(self.newer[:3]) + (" ..." if len(self.newer) > 3 else ""))
        if self.opts.expected_end_us is None and self.good:
            notes.append(f"newest digest ends {self._newest().obj['digestEndTime']}: pass --expected-end to rule out "
                         "a deleted newest tail")
        if len(self.groups) > 1:
            notes.append(f"{len(self.groups)} digest chains (region/trail): " + ", ".join(
                f"{g} {format_us(c[0].start_us)} .. {format_us(c[-1].end_us)}" for g, c in sorted(self.groups.items())))
        return notes


def _signing_string(d: _Digest) -> bytes:
    """What CloudTrail signs: end time, bucket/key, SHA-256 of the digest bytes, previous signature (or ``null``)."""
    prev_sig = d.obj.get("previousDigestSignature")
    return "\n".join([
        d.obj["digestEndTime"],
        f"{d.obj['digestS3Bucket']}/{d.obj['digestS3Object']}",
        d.sha,
        prev_sig if isinstance(prev_sig, str) else "null",
    ]).encode("utf-8")
