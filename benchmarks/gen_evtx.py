"""Build a large, valid ``.evtx`` file from small real ones.

    python benchmarks/gen_evtx.py N OUT [SOURCE_DIR ...]

Windows writes a record's BinXML template (and element names) once per 64 KiB
chunk, inline in the first record that uses it; later records of the chunk only
point back to it.  Such a later record can therefore be copied anywhere after the
first one in the same chunk.  For every source chunk holding two or more
records this keeps the chunk header (with its string and template tables) and
its first record, then fills the chunk with copies of the other records, each
given a new record header identifier (sequential over the file, as Windows
numbers them), a new ``EventRecordID`` (sequential per computer and channel) and
a new time (1 ms apart), patched in place; the chunk header's record numbers,
free-space offset and CRC32s, and the file header, are rewritten.  Every output
chunk is rendered back with the ``evtx`` package and compared with its source
records (all fields but the patched ones) before it is written.

Default sources: ``tests/data/sigma_regression`` (SigmaHQ regression cases,
Sysmon process creation, file and registry events).  Deterministic: the same
sources and N give the same bytes.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import struct
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import evtx

ROOT = Path(__file__).resolve().parent.parent
HEADER_BLOCK = 4096
CHUNK = 65536
RECORD = struct.Struct("<4sIQQ")
FILETIME_EPOCH = 116444736000000000  # 1601-01-01 -> 1970-01-01 in 100 ns


@dataclass
class Family:
    """One source chunk: its header and first record, and the records that may be copied."""

    head: bytes  # chunk bytes 0..512
    first: bytes
    members: list[bytes]
    stream: tuple[str, str]  # (computer, channel)
    first_id: int  # EventRecordID of the first record (to find it in the bytes)
    member_ids: list[int]
    renderings: list[dict]  # of the first record, then of the members


def _file_header(chunks: int, next_record: int) -> bytes:
    head = bytearray(HEADER_BLOCK)
    head[0:8] = b"ElfFile\x00"
    struct.pack_into("<QQQIHHHH", head, 8, 0, max(chunks - 1, 0), next_record, 128, 2, 3, HEADER_BLOCK,
                     min(chunks, 0xFFFF))
    struct.pack_into("<I", head, 124, zlib.crc32(head[:120]))
    return bytes(head)


def _render(chunk: bytes) -> list[dict]:
    parser = evtx.PyEvtxParser(io.BytesIO(_file_header(1, 1 << 40) + chunk), number_of_threads=1)
    return [json.loads(r["data"]) for r in parser.records_json()]


def _records(chunk: bytes) -> list[bytes]:
    free = struct.unpack_from("<I", chunk, 48)[0]
    pos, out = 512, []
    while pos + 28 <= free:
        sig, size, _rid, _t = RECORD.unpack_from(chunk, pos)
        if sig != b"\x2a\x2a\x00\x00" or size < 28 or pos + size > CHUNK:
            break
        out.append(chunk[pos:pos + size])
        pos += size
    return out


def families(sources: list[Path]) -> list[Family]:
    out = []
    files = sorted(p for s in sources for pat in ("*.evtx", "*.evtx.gz")
                   for p in (s.rglob(pat) if s.is_dir() else [s] if s.match(pat) else []))
    for path in files:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        for off in range(HEADER_BLOCK, len(data) - CHUNK + 1, CHUNK):
            chunk = data[off:off + CHUNK]
            if not chunk.startswith(b"ElfChnk\x00"):
                continue
            recs = _records(chunk)
            if len(recs) < 2:
                continue
            rendered = _render(chunk)
            if len(rendered) != len(recs):
                continue
            ids = [r["Event"]["System"]["EventRecordID"] for r in rendered]
            if any(_find(body, rid) is None for body, rid in zip(recs, ids)):
                continue
            sysd = rendered[0]["Event"]["System"]
            out.append(Family(chunk[:512], recs[0], recs[1:], (str(sysd.get("Computer")), str(sysd.get("Channel"))),
                              ids[0], ids[1:], rendered))
    return out


def _find(body: bytes, value: int) -> int | None:
    """The one place after the record header where *value* is stored as a little-endian u64."""
    needle = struct.pack("<Q", value)
    at = body.find(needle, 24)
    if at < 0 or body.find(needle, at + 1) >= 0:
        return None
    return at


def _patch(body: bytes, old_id: int, header_id: int, new_id: int, filetime: int) -> bytes:
    b = bytearray(body)
    _sig, _size, _rid, written = RECORD.unpack_from(b, 0)
    at = _find(body, old_id)
    assert at is not None
    struct.pack_into("<Q", b, at, new_id)
    t_at = _find(body, written)
    if t_at is not None:  # TimeCreated is the record's written time
        struct.pack_into("<Q", b, t_at, filetime)
    struct.pack_into("<QQ", b, 8, header_id, filetime)
    return bytes(b)


def _strip_ids(rec: dict) -> dict:
    sysd = dict(rec["Event"]["System"])
    sysd.pop("EventRecordID", None)
    sysd.pop("TimeCreated", None)
    ev = dict(rec["Event"])
    ev["System"] = sysd
    if isinstance(ev.get("EventData"), dict):  # Sysmon's own UtcTime is left as it was
        ev["EventData"] = {k: v for k, v in ev["EventData"].items() if k != "UtcTime"}
    return ev


def build(n: int, out: Path, sources: list[Path], *, start_us: int = 1_767_225_600_000_000, check: bool = True,
          gaps: frozenset[int] = frozenset()) -> int:
    """Write *n* records to *out*; returns the number of chunks.  *gaps*: record numbers (counted over
    the file from 1) left out, header identifier and EventRecordID both, as a deleted record would be."""
    fams = families(sources)
    if not fams:
        raise SystemExit("no source chunk with two or more records")
    counters: dict[tuple[str, str], int] = {}
    header_id = 1
    written = 0
    chunks = 0
    t_us = start_us
    tmp = out.with_suffix(out.suffix + ".part")
    with open(tmp, "wb") as f:
        f.write(bytes(HEADER_BLOCK))
        while written < n:
            fam = fams[chunks % len(fams)]
            body = bytearray(fam.head)
            first_hid = header_id
            first_rid = counters.get(fam.stream, 0) + 1
            plan: list[tuple[bytes, int, int]] = [(fam.first, fam.first_id, -1)]
            k = 0
            size = 512 + len(fam.first)
            while written + len(plan) < n:
                m = k % len(fam.members)
                if size + len(fam.members[m]) > CHUNK:
                    break
                plan.append((fam.members[m], fam.member_ids[m], m))
                size += len(fam.members[m])
                k += 1
            last_off = 512
            for rec, old_id, _m in plan:
                while header_id in gaps:
                    header_id += 1
                    counters[fam.stream] = counters.get(fam.stream, 0) + 1
                counters[fam.stream] = counters.get(fam.stream, 0) + 1
                filetime = t_us * 10 + FILETIME_EPOCH
                last_off = len(body)
                body += _patch(rec, old_id, header_id, counters[fam.stream], filetime)
                header_id += 1
                t_us += 1000
            free = len(body)
            body += bytes(CHUNK - len(body))
            struct.pack_into("<QQQQ", body, 8, first_hid, header_id - 1, first_hid, header_id - 1)
            struct.pack_into("<III", body, 44, last_off, free, zlib.crc32(body[512:free]))
            struct.pack_into("<I", body, 124, zlib.crc32(body[128:512], zlib.crc32(body[:120])))
            if check and chunks < len(fams) and not gaps:
                got = _render(bytes(body))
                want = [fam.renderings[0]] + [fam.renderings[1 + m] for _r, _i, m in plan[1:]]
                assert len(got) == len(plan), "a rendered chunk lost records"
                ids = [g["Event"]["System"]["EventRecordID"] for g in got]
                assert ids == list(range(first_rid, first_rid + len(plan))), ids[:5]
                assert [_strip_ids(g) for g in got] == [_strip_ids(w) for w in want], "a copy renders differently"
            f.write(body)
            written += len(plan)
            chunks += 1
        f.seek(0)
        f.write(_file_header(chunks, header_id))
    os.replace(tmp, out)
    return chunks


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    n, out = int(argv[0]), Path(argv[1])
    sources = [Path(a) for a in argv[2:]] or [ROOT / "tests" / "data" / "sigma_regression"]
    chunks = build(n, out, sources)
    print(f"{out}: {n} records in {chunks} chunks ({out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
