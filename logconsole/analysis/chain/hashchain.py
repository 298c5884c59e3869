"""``hash-chain``: JSON-lines logs whose records carry their own hash chain.

Default profile (docs/integrity.md): every record has ``seq`` (integer, +1 per
record), ``prev_hash`` (the previous record's ``hash``; 64 zeros for the first
record of a chain) and ``hash`` = lowercase hex SHA-256 of the RFC 8785
canonical JSON (UTF-8) of the record without its ``hash`` field.  Field names,
the canonicalisation (``jcs`` | ``sorted``) and HMAC-SHA256 are options.  A
checkpoint ``LOG.checkpoint`` (``{"size", "head", "signature"}``, Ed25519 over
``"{size}\\n{head}\\n"``) anchors the tail.  A chain may continue across rotated
files.

Verification is two passes over the files.  Pass 1 streams every record once:
recompute its hash, compare its ``prev`` with the previous record's hash, check
``seq`` steps and time order; it keeps only the records around an anomaly.  Pass 2
(only when a link is broken) looks up where the hashes that broken links point
to actually are, which tells a deletion from a reordering or an insertion.
Every anomaly is reported; one bad record never hides later ones.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterator

from logconsole.analysis.chain.canon import CANONS, CanonError
from logconsole.analysis.chain.model import Failure, TargetResult, unverifiable
from logconsole.analysis.chain.textio import iter_lines, open_text_error, read_small
from logconsole.util.timeparse import format_us, parse_time

import orjson

#: orjson parses ~2.5x faster; json stays the reference for what orjson refuses
_fast_loads = orjson.loads

GENESIS = "0" * 64
#: what loggers write as the first record's previous hash, accepted unless --genesis is given
GENESIS_VALUES = frozenset({GENESIS, "", "0", "GENESIS", "genesis", "null", "none", "None"})
TIME_FIELDS = ("time", "timestamp", "ts", "@timestamp", "eventTime")
#: Field-name pairs recognised by auto-detection (hash, prev) when no option is given.
KNOWN_PROFILES = (
    ("hash", "prev_hash"),
    ("hash", "prevHash"),
    ("hash", "previous_hash"),
    ("entry_hash", "previous_hash"),
    ("entry_hash", "prev_hash"),
)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
MAX_INSERTED_RUN = 10_000


@dataclass
class ChainOptions:
    hash_field: str = "hash"
    prev_field: str = "prev_hash"
    seq_field: str = "seq"
    time_field: str | None = None  # None: first of TIME_FIELDS present in the first record
    canon: str = "jcs"
    hmac_key: bytes | None = None
    hmac_key_name: str | None = None
    pubkey_pem: bytes | None = None
    pubkey_name: str | None = None
    pubkey_error: str | None = None  # why --pubkey cannot verify anything (see pubkey_problem)
    genesis: str = GENESIS
    genesis_explicit: bool = False  # --genesis given: only that value starts a chain
    canon_explicit: bool = False  # --canon given: no automatic switch to the other canonicalisation
    time_tolerance_us: int = 0
    fast_path: bool = True
    #: set by detection when the field names were not given explicitly
    fields_explicit: bool = False

    def is_genesis(self, value: str | None) -> bool:
        if self.genesis_explicit:
            return value == self.genesis
        return value is None or value == self.genesis or value in GENESIS_VALUES

    def __post_init__(self) -> None:
        if self.canon not in CANONS:
            raise ValueError(f"unknown canonicalisation {self.canon!r} (jcs|sorted)")


def load_hmac_key(path: str) -> bytes:
    """The key is the file's bytes without a trailing newline."""
    data = read_small(path)
    if data.endswith(b"\r\n"):
        data = data[:-2]
    elif data.endswith(b"\n"):
        data = data[:-1]
    if not data:
        raise ValueError(f"{path}: HMAC key file is empty")
    return data


def _loads_any(line: bytes) -> Any:
    """orjson when it accepts the line, else json; None when neither does."""
    try:
        return _fast_loads(line)
    except ValueError:
        pass
    try:
        return json.loads(line)
    except ValueError:
        return None


# --------------------------------------------------------------------------- detection


def sniff(path: str) -> tuple[str, str] | None:
    """(hash_field, prev_field) if the file's first record looks hash-chained."""
    try:
        for _lineno, line in iter_lines(path, limit_lines=20):
            if line is None or not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                return None
            if not isinstance(obj, dict):
                return None
            for hf, pf in KNOWN_PROFILES:
                if isinstance(obj.get(hf), str) and isinstance(obj.get(pf), str):
                    return hf, pf
            return None
    except OSError:
        return None
    return None


# --------------------------------------------------------------------------- records


@dataclass
class Rec:
    pos: int  # global position in the chain (0-based, over all files)
    fidx: int  # file index
    line: int
    stored: str | None = None
    prev: str | None = None
    seq: int | None = None
    ts: int | None = None
    self_ok: bool = True
    malformed: str | None = None
    first_in_file: bool = False


def _same_hash(computed: str, stored: str) -> bool:
    """Constant-time comparison; a stored value with non-ASCII text is simply not the hash."""
    return stored.isascii() and hmac.compare_digest(computed, stored)


class DuplicateKeyError(ValueError):
    """A record names the same key twice in one object (ambiguous JSON: never intact)."""


_KEY_TOKEN = re.compile(rb'"\s*:')


def _count_keys(o: Any) -> int:
    if type(o) is dict:
        return len(o) + sum(_count_keys(v) for v in o.values())
    if type(o) is list:
        return sum(_count_keys(v) for v in o)
    return 0


def duplicate_key(line: bytes, obj: dict[str, Any]) -> str | None:
    """The first key that an object of *line* names twice, or None.

    Cheap test first: every key of the raw line ends in ``"`` then ``:``, so when the line has no more
    such tokens than the parsed record has keys, no key can be repeated (string values holding ``":``
    only add tokens).  Otherwise the line is parsed again keeping every pair."""
    if len(_KEY_TOKEN.findall(line)) <= _count_keys(obj):
        return None
    found: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for k, _v in items:
            if k in seen and not found:
                found.append(k)
            seen.add(k)
        return dict(items)

    try:
        json.loads(line, object_pairs_hook=pairs)
    except ValueError:
        return None
    return found[0] if found else None


@dataclass
class _FileInfo:
    path: str
    records: int = 0
    first_line: int | None = None
    last_line: int | None = None
    first_seq: int | None = None
    last_seq: int | None = None
    first_ts: int | None = None
    last_ts: int | None = None
    first_pos: int | None = None
    last_pos: int | None = None
    first_prev: str | None = None
    last_stored: str | None = None
    head_at: dict[int, tuple[str | None, int, int | None]] = field(default_factory=dict)  # record no -> (hash, line, seq)
    wanted_heads: set[int] = field(default_factory=set)
    error: str | None = None
    first_keys: list[str] | None = None  # field names of the first record (for a wrong --hash-field)


class _Hasher:
    def __init__(self, opts: ChainOptions) -> None:
        self.canon = CANONS[opts.canon]
        self.canon_name = opts.canon
        key = opts.hmac_key
        if key is not None:
            base = hmac.new(key, digestmod=hashlib.sha256)  # key schedule once; copy() per record

            def digest(data: bytes, _fn: Any = base.copy) -> str:
                h = _fn()
                h.update(data)
                return h.hexdigest()
        else:
            def digest(data: bytes, _fn: Any = hashlib.sha256) -> str:
                return _fn(data).hexdigest()
        self.digest = digest
        self.hf = opts.hash_field
        self.member_prefix = b'"' + json.dumps(opts.hash_field, ensure_ascii=False).encode("utf-8")[1:-1] + b'":"'
        self.fast = opts.fast_path
        self.fast_hits = 0
        self.fast_misses = 0

    def check(self, line: bytes, obj: dict[str, Any], stored: str) -> bool:
        """True when *stored* is the hash of the record without its hash field."""
        if self.fast and len(stored) == 64 and stored.isascii():
            # The writer usually emits the canonical form of the whole record; then the
            # line without the hash member is exactly the bytes that were hashed.  A hit
            # proves those bytes unchanged (preimage resistance); a miss falls through
            # to the exact canonicalisation below.
            member = self.member_prefix + stored.encode("ascii") + b'"'
            i = line.find(member)
            if i > 0:
                j = i + len(member)
                if line[i - 1] == 44:  # ","
                    body = line[: i - 1] + line[j:]
                elif line[j:j + 1] == b",":
                    body = line[:i] + line[j + 1:]
                else:
                    body = line[:i] + line[j:]
                if self.digest(body) == stored:
                    self.fast_hits += 1
                    return True
            self.fast_misses += 1
            if self.fast_misses > 64 and self.fast_hits == 0:
                self.fast = False  # this writer does not emit canonical lines
        rest = dict(obj)
        del rest[self.hf]
        if not _same_hash(self.digest(self.canon(rest)), stored):
            return False
        dup = duplicate_key(line, obj)
        if dup is not None:
            # the hash covers what a parser keeps (the last value), not the bytes: another value was added
            raise DuplicateKeyError(f"duplicate key {dup!r}: the record holds two values for it, and its hash "
                                    "covers only the one a JSON parser keeps (the bytes were changed)")
        return True

    def matches_with(self, obj: dict[str, Any], stored: str, canon: str) -> bool:
        rest = dict(obj)
        del rest[self.hf]
        try:
            return _same_hash(self.digest(CANONS[canon](rest)), stored)
        except CanonError:
            return False

    def switch(self, canon: str) -> None:
        self.canon = CANONS[canon]
        self.canon_name = canon


# --------------------------------------------------------------------------- ordering files


_ROT_NUM = re.compile(r"^(?P<base>.*?)(?:\.(?P<n>\d+))?(?:\.gz)?$")


def _rotation_key(path: str) -> tuple:
    """Oldest first: app.log.3.gz, app.log.2, app.log.1, app.log (logrotate numbering);
    date-stamped names sort by name."""
    m = _ROT_NUM.match(Path(path).name)
    n = int(m.group("n")) if m and m.group("n") else 0
    return (-n, Path(path).name)


def _peek(path: str, opts: ChainOptions) -> tuple[int | None, str | None]:
    for _lineno, line in iter_lines(path, limit_lines=50):
        if line is None or not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            return None, None
        if not isinstance(obj, dict):
            return None, None
        seq = obj.get(opts.seq_field)
        return (seq if isinstance(seq, int) and not isinstance(seq, bool) else None), obj.get(opts.prev_field)
    return None, None


def order_files(paths: list[str], opts: ChainOptions) -> list[list[str]]:
    """Group files into chains and order each chain oldest first.

    Files whose first record links to the genesis value start a chain; the others
    follow by their first ``seq`` (when every file has one), else by rotation name.
    """
    if len(paths) <= 1:
        return [list(paths)]
    peeks = {p: _peek(p, opts) for p in paths}
    if all(s is not None for s, _ in peeks.values()):
        ordered = sorted(paths, key=lambda p: (peeks[p][0], _rotation_key(p)))
    else:
        ordered = sorted(paths, key=_rotation_key)
    groups: list[list[str]] = []
    for p in ordered:
        if not groups or opts.is_genesis(peeks[p][1]):
            groups.append([p])
        else:
            groups[-1].append(p)
    return groups


# --------------------------------------------------------------------------- verification


class _TimeCache:
    """parse_time with a small cache: consecutive records share their second."""

    __slots__ = ("cache", "last_key", "last_val")

    def __init__(self) -> None:
        self.last_key: Any = object()
        self.last_val: int | None = None
        self.cache: dict[Any, int | None] = {}

    def get(self, tv: Any) -> int | None:
        if tv == self.last_key and type(tv) is type(self.last_key):
            return self.last_val
        val = self.cache.get(tv) if isinstance(tv, str) else None
        if val is None and type(tv) is str and len(tv) >= 20 and tv[-1] == "Z" and tv[16] == ":" and tv[10] == "T":
            # "YYYY-MM-DDTHH:MM:SS[.ffffff]Z": parse the minute once, add seconds and fraction
            base = self.cache.get(tv[:16])
            if base is None:
                try:
                    base = parse_time(tv[:16] + ":00Z")
                except Exception:
                    base = None
                self.cache[tv[:16]] = base
            sec, frac = tv[17:19], tv[19:-1]
            if base is not None and sec.isdigit() and sec < "60" and (not frac or (frac[0] == "." and frac[1:].isdigit()
                                                                   and len(frac) <= 10)):
                val = base + int(sec) * 1_000_000 + (int((frac[1:] + "000000")[:6]) if frac else 0)
                self.last_key, self.last_val = tv, val
                return val
        if val is None:
            try:
                val = parse_time(tv)
            except Exception:
                val = None
            if isinstance(tv, str):
                if len(self.cache) > 4096:
                    self.cache.clear()
                self.cache[tv] = val
        self.last_key, self.last_val = tv, val
        return val


class _Verifier:
    def __init__(self, files: list[str], opts: ChainOptions) -> None:
        self.files = files
        self.opts = opts
        self.hasher = _Hasher(opts)
        self.infos = [_FileInfo(p) for p in files]
        self.kept: dict[int, Rec] = {}  # records around anomalies
        self.anomalies: list[int] = []
        self.failures: dict[int, list[Failure]] = {i: [] for i in range(len(files))}
        self.time_field = opts.time_field
        self.checkpoints: dict[int, dict[str, Any]] = {}
        self.total = 0
        self.notes: list[str] = []
        self.self_failures = 0
        self.missing_fields = 0  # records without the hash / previous-hash string field
        self.link_hits = 0  # failing records whose previous-hash link still holds

    # ---- pass 1
    def pass1(self) -> None:
        """Stream every record once; keep only the records around anomalies.

        Written for speed (this loop is the benchmark): plain locals per record,
        a :class:`Rec` only for records that are kept.
        """
        opts = self.opts
        hf, pf, sf = opts.hash_field, opts.prev_field, opts.seq_field
        decode_std = json.JSONDecoder().decode
        fast_loads = _fast_loads

        def decode_line(b: bytes) -> Any:
            try:
                return fast_loads(b)
            except ValueError:
                pass  # NaN, huge ints, lone surrogates ...: json decides
            return decode_std(b.decode("utf-8"))

        #: called only for a parsed line (bytes) with a stored hash (str)
        check: Callable[[Any, dict[str, Any], Any], bool] = self.hasher.check
        times = _TimeCache()
        kept = self.kept
        anomalies = self.anomalies
        pos = 0
        p_stored: str | None = opts.genesis
        p_seq: int | None = None
        p_ts: int | None = None
        p_line = 0
        p_fidx = 0
        p_first = False
        p_prevlink: str | None = None
        p_bad: str | None = None
        p_self = True
        have_prev = False
        keep_after = 0
        probed = False  # the first record that fails its hash is re-tried with the other canonicalisation
        tol = opts.time_tolerance_us
        tf = self.time_field
        for fidx, path in enumerate(self.files):
            info = self.infos[fidx]
            cp = _load_checkpoint(path)
            if cp is not None:
                self.checkpoints[fidx] = cp
                if isinstance(cp.get("size"), int) and cp["size"] > 0:
                    info.wanted_heads.add(cp["size"])
            wanted_heads = info.wanted_heads
            first = True
            nrec = 0
            try:
                for lineno, line in iter_lines(path):
                    if line is not None and not line.strip():
                        continue
                    bad = None
                    stored = pv = None
                    seq = ts = None
                    ok = True
                    obj = None
                    if line is None:
                        bad = "line longer than the 4 MiB limit"
                    else:
                        try:
                            obj = decode_line(line)
                        except UnicodeDecodeError:
                            bad = "not UTF-8"
                        except ValueError as exc:
                            bad = f"not JSON: {str(exc)[:80]}"
                        if obj is not None and type(obj) is not dict:
                            bad = "not a JSON object"
                            obj = None
                    if obj is not None:
                        stored = obj.get(hf)
                        pv = obj.get(pf)
                        if type(stored) is not str:
                            bad = f"no {hf!r} string field"
                            stored = None
                            self.missing_fields += 1
                        elif type(pv) is not str and not (pv is None and pf in obj and opts.is_genesis(None)):
                            bad = f"no {pf!r} string field"
                            stored = pv = None
                            self.missing_fields += 1
                        else:
                            seq = obj.get(sf)
                            if type(seq) is not int:
                                seq = None
                            if tf is None:
                                tf = self.time_field = opts.time_field or next((k for k in TIME_FIELDS if k in obj), "")
                            if tf:
                                tv = obj.get(tf)
                                if tv is not None:
                                    ts = times.get(tv)
                            try:
                                ok = check(line, obj, stored)
                            except DuplicateKeyError as exc:
                                bad = str(exc)  # links kept: only this record is malformed
                            except CanonError as exc:
                                bad = str(exc)
                                stored = pv = None
                            if not ok:
                                self.self_failures += 1
                                if not probed and not opts.canon_explicit:
                                    probed = True
                                    other = "sorted" if self.hasher.canon_name == "jcs" else "jcs"
                                    if stored is not None and self.hasher.matches_with(obj, stored, other):
                                        self.hasher.switch(other)
                                        opts.canon = other
                                        self.notes.append(f"records are hashed over {other!r} canonical JSON, not "
                                                          f"the default: verified with --canon {other}")
                                        ok = True
                                        self.self_failures -= 1
                            elif not probed:
                                probed = True
                    nrec += 1
                    if first:
                        info.first_keys = list(obj)[:12] if obj is not None else None
                        info.first_line = lineno
                        info.first_pos = pos
                        info.first_prev = pv
                    info.last_line = lineno
                    info.last_stored = stored
                    if seq is not None:
                        if info.first_seq is None:
                            info.first_seq = seq
                        info.last_seq = seq
                    if ts is not None:
                        if info.first_ts is None or ts < info.first_ts:
                            info.first_ts = ts
                        if info.last_ts is None or ts > info.last_ts:
                            info.last_ts = ts
                    if nrec in wanted_heads:
                        info.head_at[nrec] = (stored, lineno, seq)
                    # ---- anomaly tests (cheap, local)
                    if bad or not ok:
                        anomaly = True
                        if have_prev and pv is not None and pv == p_stored:
                            self.link_hits += 1  # the chain holds here though the record fails
                    elif not have_prev:
                        anomaly = not opts.is_genesis(pv)
                    elif p_bad:
                        anomaly = False
                    else:
                        anomaly = (pv != p_stored
                                   or (seq is not None and p_seq is not None and seq != p_seq + 1)
                                   or (ts is not None and p_ts is not None and ts < p_ts - tol))
                    if anomaly or keep_after:
                        rec = Rec(pos, fidx, lineno, stored, pv, seq, ts, ok, bad, first)
                        kept[pos] = rec
                        if anomaly:
                            anomalies.append(pos)
                            if have_prev and (pos - 1) not in kept:
                                kept[pos - 1] = Rec(pos - 1, p_fidx, p_line, p_stored, p_prevlink, p_seq, p_ts,
                                                    p_self, p_bad, p_first)
                            keep_after = 4
                        else:
                            keep_after -= 1
                    have_prev = True
                    p_stored, p_prevlink, p_seq, p_ts, p_line, p_fidx, p_bad, p_self, p_first = (
                        stored, pv, seq, ts, lineno, fidx, bad, ok, first)
                    first = False
                    pos += 1
            except OSError as exc:
                info.error = open_text_error(path, exc)
            info.records = nrec
        self.total = pos

    # ---- pass 2: where do the hashes that broken links name actually live?
    def _scan(self) -> Iterator[tuple[int, int, int, str | None, str | None, int | None]]:
        """(pos, fidx, line, stored, prev, seq) for every record, in chain order."""
        hf, pf, sf = self.opts.hash_field, self.opts.prev_field, self.opts.seq_field
        pos = 0
        for fidx, path in enumerate(self.files):
            try:
                for lineno, line in iter_lines(path):
                    if line is not None and not line.strip():
                        continue
                    s = p = q = None
                    if line is not None:
                        obj = _loads_any(line)
                        if isinstance(obj, dict):
                            s, p, q = obj.get(hf), obj.get(pf), obj.get(sf)
                            s = s if isinstance(s, str) else None
                            p = p if isinstance(p, str) else None
                            q = q if isinstance(q, int) and not isinstance(q, bool) else None
                    yield pos, fidx, lineno, s, p, q
                    pos += 1
            except OSError:
                pass

    def pass2(self, wanted_stored: set[str], wanted_refs: set[str]) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
        pos_of: dict[str, list[int]] = {}
        refs: dict[str, list[int]] = {}
        for pos, _f, _l, s, p, _q in self._scan():
            if s is not None and s in wanted_stored:
                pos_of.setdefault(s, []).append(pos)
            if p is not None and p in wanted_refs:
                refs.setdefault(p, []).append(pos)
        return pos_of, refs

    def pass3(self, ranges: list[tuple[int, int]]) -> None:
        """Load the records in *ranges* (inclusive) and who links to them."""
        want: set[int] = set()
        for a, b in ranges:
            want.update(range(a, b + 1))
        hashes: dict[str, int] = {}
        for pos, fidx, line, s, p, q in self._scan():
            if pos in want and pos not in self.kept:
                self.kept[pos] = Rec(pos, fidx, line, s, p, q)
            if pos in want and s:
                hashes[s] = pos
        self.range_refs: dict[int, list[int]] = {}
        if hashes:
            for pos, _f, _l, _s, p, _q in self._scan():
                if p in hashes:
                    self.range_refs.setdefault(hashes[p], []).append(pos)

    # ---- classification
    def classify(self) -> None:
        opts = self.opts
        K = self.kept
        wanted_stored: set[str] = set()
        wanted_refs: set[str] = set()
        for j in self.anomalies:
            r = K[j]
            if r.prev:
                wanted_stored.add(r.prev)
            if r.stored:
                wanted_stored.add(r.stored)
                wanted_refs.add(r.stored)
        pos_of, refs = self.pass2(wanted_stored, wanted_refs)
        # records skipped by a broken link that points back: inserted or out of place?
        ranges = []
        for j in self.anomalies:
            r = K[j]
            earlier = [p for p in pos_of.get(r.prev or "", []) if p < j - 1]
            # a run of more than MAX_INSERTED_RUN records is not loaded (bounded memory after a
            # long-distance move): it is then reported as a reordering, never missed
            if earlier and not r.malformed and j - 1 - earlier[-1] <= MAX_INSERTED_RUN:
                ranges.append((earlier[-1], j - 1))
        self.range_refs = {}
        if ranges:
            self.pass3(ranges)
        reported: set[tuple[int, str]] = set()
        base: dict[int, int | None] = {}  # j -> position of its true predecessor (links explained)
        reorder_until = -1
        inserted: set[int] = set()

        def add(r: Rec, kind: str, detail: str, missing: int | None = None) -> None:
            if (r.pos, kind) in reported:
                return
            reported.add((r.pos, kind))
            self.failures[r.fidx].append(
                Failure(kind, r.line, r.seq, detail, file=self.files[r.fidx], missing=missing)
            )

        def referenced(r: Rec) -> bool:
            return r.stored is not None and r.stored != "" and any(p != r.pos for p in refs.get(r.stored, []))

        for j in self.anomalies:
            r = K[j]
            if r.malformed:
                add(r, "malformed", r.malformed)
                continue
            if j in inserted:
                continue
            pr = K.get(j - 1)
            if j in base:
                bj = base[j]
                pr = K.get(bj) if bj is not None else None
            nx = K.get(j + 1)
            if pr is None and j == 0:
                expected = r.prev if opts.is_genesis(r.prev) else opts.genesis
            elif pr is None or pr.malformed:
                expected = None
            else:
                expected = pr.stored
            link_broken = expected is not None and r.prev != expected and j not in base
            # -- 0. a replayed copy of another record
            dups = [p for p in pos_of.get(r.stored or "", []) if p != j]
            if dups and (link_broken or (nx is not None and nx.prev != r.stored)):
                src = K.get(dups[0])
                add(r, "inserted", "replayed duplicate of " + (f"line {src.line}" if src else f"record #{dups[0] + 1}")
                    + " (same hash)")
                inserted.add(j)
                if nx is not None and pr is not None and nx.prev == pr.stored:
                    base[j + 1] = pr.pos
                elif nx is not None and pr is None and j == 0 and opts.is_genesis(nx.prev):
                    base[j + 1] = None  # the genuine chain starts after the replayed copy
                continue
            # -- 1. insertion: a later record links past this one, nothing links to it, and it does not
            #       link to a record further on (that would be a reordering)
            links_forward = any(p > j for p in pos_of.get(r.prev or "", []))
            if pr is not None and not pr.malformed and not links_forward and (
                    link_broken or not r.self_ok or (r.seq is not None and pr.seq is not None and r.seq <= pr.seq)):
                run_end = None
                for k in range(1, 4):
                    q = K.get(j + k)
                    prevq = K.get(j + k - 1)
                    if q is None or q.malformed or prevq is None:
                        break
                    if q.prev == pr.stored and q.prev != prevq.stored:
                        run_end = j + k
                        break
                if run_end is not None and not any(referenced(K[i]) for i in range(j, run_end)):
                    for i in range(j, run_end):
                        inserted.add(i)
                        ri = K[i]
                        why = "and its hash does not match its contents" if not ri.self_ok else "although its own hash is valid"
                        add(ri, "inserted", f"record is not part of the chain: the next genuine record (line "
                            f"{K[run_end].line}) links to line {pr.line}, {why}")
                    base[run_end] = pr.pos
                    continue
            if not r.self_ok:
                what = "HMAC" if opts.hmac_key is not None else "hash"
                add(r, "modified", f"record content changed: its {what} does not match its contents "
                    f"({opts.canon} canonical form)")
            if link_broken:
                later = [p for p in pos_of.get(r.prev or "", []) if p > j]
                earlier = [p for p in pos_of.get(r.prev or "", []) if p < j - 1]
                if later:
                    add(r, "reordered", f"record is out of place: its predecessor (prev_hash {(r.prev or '')[:12]}...) "
                        f"comes later in the log (record #{later[0] + 1})")
                    reorder_until = max(reorder_until, max(later) + 1)
                elif (earlier or (j > 0 and opts.is_genesis(r.prev))) and j <= reorder_until + 1:
                    pass  # a consequence of the reordering reported above (the genesis record moved, too)
                elif earlier:
                    p0 = earlier[-1]
                    skipped = [K[i] for i in range(p0 + 1, j) if i in K]
                    outside = any(q not in range(p0 + 1, j) for i in range(p0 + 1, j)
                                  for q in self.range_refs.get(i, []))
                    if len(skipped) == j - p0 - 1 and not outside:
                        for x in skipped:
                            inserted.add(x.pos)
                            add(x, "inserted", f"record is not part of the chain: the next genuine record "
                                f"(line {r.line}) links past it to record #{p0 + 1}")
                        base[j] = p0
                        pr = K.get(p0)
                    else:
                        add(r, "reordered", f"record links to record #{p0 + 1}, not to the record before it: "
                            "the records in between are out of place")
                        reorder_until = max(reorder_until, j)
                        continue
                elif j > 0 and not r.first_in_file and opts.is_genesis(r.prev):
                    add(r, "broken_link", "the chain restarts here: prev_hash is the genesis value in the middle "
                        "of the log (records before it are not linked to the records after it)")
                    continue
                elif r.first_in_file and j > 0:
                    prev_file = self.files[r.fidx - 1] if r.fidx > 0 else "?"
                    if opts.is_genesis(r.prev):
                        add(r, "broken_link", f"a new chain starts here instead of continuing {prev_file}")
                    else:
                        step = (r.seq - pr.seq) if (r.seq is not None and pr is not None and pr.seq is not None) else None
                        if step is not None and step > 1 and pr is not None and pr.seq is not None and r.seq is not None:
                            add(r, "missing_file", f"file does not continue {prev_file}: {step - 1} record(s) "
                                f"(seq {pr.seq + 1}-{r.seq - 1}) are missing - a rotated file?", missing=step - 1)
                        else:
                            add(r, "broken_link", f"first record does not link to the last record of {prev_file}")
                    continue
                elif j == 0:
                    if r.seq is not None and r.seq > 1:
                        add(r, "deleted", f"{r.seq - 1} record(s) missing before the first one (seq 1"
                            + (f"-{r.seq - 1}" if r.seq > 2 else "") + "): it does not link to the genesis value "
                            "(pass the earlier rotated files if they exist)", missing=r.seq - 1)
                    else:
                        add(r, "truncated", "head of the chain is missing: the first record does not link to the "
                            "genesis value (pass the earlier rotated files if they exist)")
                    continue
                elif pr is not None and r.seq is not None and pr.seq is not None:
                    step = r.seq - pr.seq
                    if step > 1:
                        add(r, "deleted", f"{step - 1} record(s) deleted before this one (seq {pr.seq + 1}"
                            + (f"-{r.seq - 1}" if step > 2 else "") + ")", missing=step - 1)
                    elif step == 1 and pr.self_ok and (pr.pos, "modified") not in reported:
                        add(pr, "modified", f"record rewritten with a recomputed hash: the next record "
                            f"(line {r.line}) still links to its original hash")
                    else:
                        add(r, "broken_link", f"prev_hash {(r.prev or '')[:12]}... names no record in the log")
                    continue
                else:
                    add(r, "broken_link", "prev_hash names no record in the log: the record(s) before it were "
                        "deleted or rewritten (no seq field tells which)")
                    continue
                if j <= reorder_until + 1 and j not in base:
                    continue
            if pr is None or pr.malformed or (j <= reorder_until + 1 and j not in base):
                continue
            # -- links hold: sequence numbers and time come from the writer itself
            if r.seq is not None and pr.seq is not None and r.seq != pr.seq + 1:
                step = r.seq - pr.seq
                if step > 1:
                    add(r, "seq_gap", f"seq jumps from {pr.seq} to {r.seq} although the hash links hold "
                        "(the writer skipped numbers)", missing=step - 1)
                else:
                    add(r, "seq_gap", f"seq goes from {pr.seq} to {r.seq} although the hash links hold")
            if r.ts is not None and pr.ts is not None and r.ts < pr.ts - opts.time_tolerance_us:
                add(r, "time_regression", f"time goes back from {format_us(pr.ts)} (line {pr.line}) to "
                    f"{format_us(r.ts)}")

    def _wrong_options(self) -> str | None:
        """Why the options cannot fit this log (so nothing about tampering can be said), or None.

        No record carries the hash fields, or every record fails its own hash *and* no failing record
        links to the one before (a wrong --hash-field names some other string field)."""
        if self.total == 0:
            return None
        first = next((i.first_keys for i in self.infos if i.first_keys), None)
        fields = f" (fields of the first record: {', '.join(first)})" if first else ""
        o = self.opts
        if self.missing_fields >= max(1, 0.95 * self.total):
            return (f"no record carries both a {o.hash_field!r} and a {o.prev_field!r} string field{fields}: "
                    "wrong --hash-field / --prev-field?")
        if self.self_failures >= max(1, 0.95 * self.total) and self.link_hits == 0 and self.total >= 2:
            return (f"no record's {o.hash_field!r} matches its contents and no record's {o.prev_field!r} matches "
                    f"the record before{fields}: wrong --hash-field / --prev-field?")
        return None

    # ---- checkpoints and results
    def results(self) -> list[TargetResult]:
        out: list[TargetResult] = []
        wrong = self._wrong_options()
        if wrong is not None:
            for path in self.files:
                r = unverifiable(path, "hash-chain", f"{path}: {wrong}")
                r.records = self.infos[self.files.index(path)].records
                out.append(r)
            return out
        # nearly every record failing its own hash is a wrong key / canonicalisation / field, not N edits
        mismatch = self.total >= 5 and self.self_failures >= 0.95 * self.total
        for fidx, path in enumerate(self.files):
            info = self.infos[fidx]
            res = TargetResult(path, "hash-chain", files=[path])
            res.records = info.records
            res.failures = list(self.failures[fidx])
            res.notes.extend(self.notes)
            if self.opts.pubkey_error is not None:
                res.notes.append(f"--pubkey {self.opts.pubkey_name or ''}: {self.opts.pubkey_error}: no signature "
                                 "can be verified with it")
            if mismatch:
                what = "HMAC key" if self.opts.hmac_key is not None else "hash"
                res.failures = [f for f in res.failures if f.kind != "modified"]
                res.notes.append(
                    f"{self.self_failures} of {self.total} records do not match their {what} with --canon "
                    f"{self.opts.canon}: wrong --hmac-key-file, --canon or --hash-field? (not reported as "
                    f"{self.self_failures} modifications)")
                res.coverage = _coverage(info)
                res.anchor = "none"
                res.finish(anchored=False, verifiable=not res.failures and False)
                if res.failures:
                    res.status = "tampered"
                out.append(res)
                continue
            if info.error:
                res.notes.append(info.error)
                res.status = "unverifiable"
                out.append(res)
                continue
            anchored = False
            anchor_parts: list[str] = []
            if self.opts.hmac_key is not None:
                anchor_parts.append(f"HMAC-SHA256 key {self.opts.hmac_key_name or ''}".strip()
                                    + " (every record authenticated; the tail is not anchored)")
            cp = self.checkpoints.get(fidx)
            cp_note = ""
            if cp is not None:
                anchored, cp_note = self._check_checkpoint(fidx, cp, res, anchor_parts)
            if info.records == 0:
                res.notes.append("no records")
            res.anchor = "; ".join(anchor_parts) if anchor_parts else "none"
            res.coverage = _coverage(info, cp_note)
            if not anchored and not res.failures:
                res.notes.append("no anchor: the chain holds, but nothing rules out records cut from the tail "
                                 "(add a signed LOG.checkpoint and --pubkey)")
            res.finish(anchored=anchored, verifiable=info.records > 0 and self.opts.pubkey_error is None)
            out.append(res)
        return out

    def _check_checkpoint(self, fidx: int, cp: dict[str, Any], res: TargetResult, anchor_parts: list[str]) -> tuple[bool, str]:
        info = self.infos[fidx]
        name = Path(self.files[fidx]).name + ".checkpoint"
        if "_error" in cp:
            res.fail("malformed", None, None, f"{name}: {cp['_error']}", file=cp["_path"])
            return False, ""
        size, head, sig = cp.get("size"), cp.get("head"), cp.get("signature")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0 or not isinstance(head, str):
            res.fail("malformed", None, None, f"{name}: needs integer 'size' and string 'head'", file=cp["_path"])
            return False, ""
        signed_ok = False
        if self.opts.pubkey_pem is None:
            res.notes.append(f"{name} found but not verified: pass --pubkey PEM to verify its Ed25519 signature")
        elif self.opts.pubkey_error is not None:
            pass  # the key is unusable: the result is unverifiable (noted once per target)
        else:
            ok, why = _verify_ed25519(self.opts.pubkey_pem, f"{size}\n{head}\n".encode(), sig)
            if ok:
                signed_ok = True
            elif why.startswith("key:"):
                res.fail("unknown_key", None, None, f"{name}: {why[4:]}", file=cp["_path"])
            else:
                res.fail("bad_signature", None, None, f"{name}: Ed25519 signature does not verify ({why})",
                         file=cp["_path"])
        anchor_parts.append(
            f"Ed25519 checkpoint {name} (size {size}"
            + (f", key {self.opts.pubkey_name}" if self.opts.pubkey_name else "")
            + ("" if signed_ok else ", signature NOT verified") + ")"
        )
        ok = True
        if info.records < size:
            missing = size - info.records
            res.fail("truncated", (info.last_line or 0) + 1, (info.last_seq + 1) if info.last_seq is not None else None,
                     f"{missing} record(s) cut from the tail: the checkpoint covers {size} records, the file has "
                     f"{info.records}", file=self.files[fidx], missing=missing)
            ok = False
        elif size > 0:
            h, line, seq = info.head_at.get(size, (None, None, None))
            if h != head:
                res.fail("modified", line, seq, f"record #{size} is not the checkpoint head ({head[:12]}…): the "
                         "chain up to here was rewritten and re-hashed", file=self.files[fidx])
                ok = False
        note = f"anchored through record {size}" if (signed_ok and ok) else ""
        if signed_ok and ok and info.records > size:
            note += f"; {info.records - size} later record(s) not anchored"
        return signed_ok and ok, note


def _coverage(info: _FileInfo, extra: str = "") -> str:
    if not info.records:
        return "no records"
    parts = [f"{info.records} records, lines {info.first_line}-{info.last_line}"]
    if info.first_seq is not None and info.last_seq is not None:
        parts.append(f"seq {info.first_seq}-{info.last_seq}")
    if info.first_ts is not None:
        parts.append(f"{format_us(info.first_ts)} .. {format_us(info.last_ts)}")
    if extra:
        parts.append(extra)
    return ", ".join(parts)


def _load_checkpoint(path: str) -> dict[str, Any] | None:
    cp_path = path + ".checkpoint"
    if not os.path.exists(cp_path):
        return None
    try:
        data = json.loads(read_small(cp_path, 1 << 20))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        return {"_error": f"unreadable checkpoint: {str(exc)[:100]}", "_path": cp_path}
    data["_path"] = cp_path
    return data


def pubkey_problem(pem: bytes) -> str | None:
    """Why *pem* cannot verify a checkpoint (empty, not PEM, not an Ed25519 public key), or None."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    if not pem.strip():
        return "the key file is empty"
    if b"-----BEGIN" not in pem:
        return "not a PEM public key (no -----BEGIN line; binary or other data)"
    try:
        key = load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        return f"cannot load the PEM public key ({str(exc).splitlines()[0][:100]})"
    if not isinstance(key, Ed25519PublicKey):
        return f"not an Ed25519 public key ({type(key).__name__.lstrip('_')})"
    return None


def _verify_ed25519(pem: bytes, message: bytes, sig_b64: Any) -> tuple[bool, str]:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(pem)
    except ValueError as exc:
        return False, f"key:cannot load public key: {exc}"
    if not isinstance(key, Ed25519PublicKey):
        return False, "key:the --pubkey is not an Ed25519 public key"
    if not isinstance(sig_b64, str):
        return False, "no signature"
    try:
        sig = base64.b64decode(sig_b64, validate=True)
    except ValueError:
        return False, "signature is not base64"
    try:
        key.verify(sig, message)
    except InvalidSignature:
        return False, "invalid signature"
    return True, ""


def verify_files(paths: list[str], opts: ChainOptions | None = None) -> list[TargetResult]:
    """Verify hash-chained files (grouped into chains, rotated files in order)."""
    opts = opts or ChainOptions()
    out: list[TargetResult] = []
    for group in order_files(list(paths), opts):
        v = _Verifier(group, opts)
        v.pass1()
        if v.anomalies:
            v.classify()
        out.extend(v.results())
    return out


def iter_chain_records(path: str) -> Iterator[tuple[int, dict[str, Any]]]:  # pragma: no cover - helper for tools
    for lineno, line in iter_lines(path):
        if line and line.strip():
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                yield lineno, obj


def unverifiable_file(path: str, reason: str) -> TargetResult:
    return unverifiable(path, "hash-chain", reason)
