"""Binary Windows event logs (``.evtx``), any channel.

The file is walked here, chunk by chunk (64 KiB each after the 4 KiB file
header), to know where every record sits: chunk number, byte offset in the file,
size and the record header's identifier.  Each chunk's records are rendered by
the ``evtx`` package (the Rust ``evtx`` crate, which also powers Chainsaw) from a
one-chunk copy of the file, so a chunk the library cannot read costs that chunk
only, and its records are matched to the walk by their identifiers.  The
rendering is the crate's JSON (``{"Event": {"System": {...}, "EventData": {...}}}``),
mapped to the normalized columns by the same function as Windows JSON exports
(:func:`logconsole.ingest.windows_security.map_event`): Security, Sysmon,
System and the other channels get the same actor/action/resource/outcome.

What is kept:

* ``raw`` is the crate's JSON rendering of the record (UTF-8, compact, exactly
  as ``evtx.PyEvtxParser(path).records_json()`` returns it with the default
  options, ``evtx`` 0.14); ``raw_sha256`` is the SHA-256 of those bytes.  The
  binary record itself (header + BinXML) is not self-contained (its templates
  and strings live elsewhere in the chunk), so it is pointed to instead:
  ``extra.evtx`` holds ``chunk``, ``offset`` (of the record in the file), ``size``,
  ``record`` (the record header's identifier) and ``sha256`` of the record's
  bytes, so ``dd if=F bs=1 skip=OFFSET count=SIZE | sha256sum`` checks it
  against the evidence file;
* ``record_id`` is ``Computer/Channel/EventRecordID`` like the JSON exports (and
  the same record in two files is a duplicate); ``rec_index`` is the record's
  ordinal in the file (0-based), ``line`` is empty;
* ``extra.record_number`` (``EventRecordID``) feeds the sequence verification
  (``logconsole verify --from-index``): gaps per computer and channel.

Accounting (``records == events + duplicates + quarantined``): every record
header found is a record.  A record the crate cannot render is quarantined with
its chunk, offset and the crate's reason (raw: the record's bytes).  A chunk
without the ``ElfChnk`` signature is one quarantined record (raw: the chunk)
naming its offset; all-zero chunks (unused, pre-allocated space) are skipped.
A record header that cannot be walked (bad signature or size) ends the walk of
its chunk: the rest of the chunk is quarantined as the number of records the
chunk header says remain (at least one).  Chunks whose CRC32 (header or record
data) does not match are still read; their events carry ``extra.evtx.crc``
and the source's options list them (CRCs are not cryptographic: a match proves
nothing, a mismatch means corruption or an edit).
"""

from __future__ import annotations

import hashlib
import io
import struct
import warnings
import zlib
from typing import Any
from collections.abc import Iterator

import evtx
import orjson

from logconsole.ingest.base import Event, Evidence, FormatFacts, ParseError, Parser, Quarantined
from logconsole.ingest.reader import Input, Sample, TruncatedInput
from logconsole.util.timeparse import parse_time
from logconsole.ingest.windows_security import map_event, windows_view

FILE_MAGIC = b"ElfFile\x00"
CHUNK_MAGIC = b"ElfChnk\x00"
RECORD_MAGIC = b"\x2a\x2a\x00\x00"
HEADER_BLOCK = 4096
CHUNK_SIZE = 65536
_CHUNK_DATA = 512  # records start after the chunk header, string and template tables
_RECORD_HEAD = struct.Struct("<4sIQQ")  # signature, size, identifier, written (FILETIME)
_MIN_RECORD = _RECORD_HEAD.size + 4  # header + the trailing copy of the size


def _file_header(next_record: int) -> bytes:
    """A valid one-chunk file header, so each chunk is rendered on its own."""
    head = bytearray(HEADER_BLOCK)
    head[0:8] = FILE_MAGIC
    struct.pack_into("<QQQIHHHH", head, 8, 0, 0, next_record, 128, 2, 3, HEADER_BLOCK, 1)
    struct.pack_into("<I", head, 124, zlib.crc32(head[:120]))
    return bytes(head)


def _crc_problems(chunk: bytes, free: int) -> list[str]:
    out = []
    if zlib.crc32(chunk[128:_CHUNK_DATA], zlib.crc32(chunk[:120])) != struct.unpack_from("<I", chunk, 124)[0]:
        out.append("header")
    if zlib.crc32(chunk[_CHUNK_DATA:free]) != struct.unpack_from("<I", chunk, 52)[0]:
        out.append("records")
    return out


class EvtxParser(Parser):
    name = "windows-evtx"
    version = "1"
    description = "Windows event logs, binary .evtx (any channel; Security, Sysmon, System mapped)"
    facts = FormatFacts(short_label="evtx", timestamp_desc="Windows event time created", sequence="windows",
                        verify_hint="sequence analysis of the ingested record ids: logconsole verify --from-index (s in the console)")

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._crc_bad: list[str] = []
        self._chunks = 0
        self._header_note: str | None = None

    def sniff(self, sample: Sample) -> Evidence | None:
        if sample.data.startswith(FILE_MAGIC):
            return Evidence(100, "binary Windows event log (ElfFile signature)")
        return None

    def source_options(self) -> dict[str, Any]:
        opts = super().source_options()
        opts["chunks"] = self._chunks
        if self._crc_bad:
            opts["crc_mismatch"] = self._crc_bad[:100]
        if self._header_note:
            opts["file_header"] = self._header_note
        return opts

    # ------------------------------------------------------------------ walk
    def parse(self, inp: Input) -> Iterator[Event | Quarantined]:
        ordinal = 0
        with inp.open_stream() as f:
            try:
                head = f.read(HEADER_BLOCK)
            except (EOFError, OSError, zlib.error) as exc:
                raise TruncatedInput(f"cannot read the file header: {exc}") from None
            if not head.startswith(FILE_MAGIC):
                # not fatal: the chunks are self-contained
                self._header_note = "no ElfFile signature; chunks read anyway"
            elif len(head) >= 128 and zlib.crc32(head[:120]) != struct.unpack_from("<I", head, 124)[0]:
                self._header_note = "file header CRC32 mismatch"
            offset = len(head)
            index = 0
            while True:
                try:
                    chunk = f.read(CHUNK_SIZE)
                except (EOFError, OSError, zlib.error) as exc:
                    raise TruncatedInput(f"stream ended early in chunk {index} at offset {offset}: {exc}") from None
                if not chunk:
                    break
                if len(chunk) == CHUNK_SIZE and chunk.startswith(CHUNK_MAGIC):
                    self._chunks += 1
                    for item in self._chunk(chunk, index, offset, ordinal):
                        ordinal += item.records
                        yield item
                elif chunk.count(0) == len(chunk):
                    pass  # unused (pre-allocated) space
                else:
                    why = (f"truncated chunk ({len(chunk)} of {CHUNK_SIZE} bytes)" if len(chunk) < CHUNK_SIZE
                           else "no ElfChnk signature")
                    yield Quarantined(f"corrupt chunk {index} at file offset {offset}: {why}", chunk,
                                      rec_index=ordinal)
                    ordinal += 1
                offset += len(chunk)
                index += 1
            if ordinal == 0 and self._header_note is not None and head:
                # nothing of an event log in it (forced with --format evtx?): not silently empty
                yield Quarantined("not an .evtx file: no ElfFile signature and no chunk", head, rec_index=0)

    def _chunk(self, chunk: bytes, index: int, offset: int, ordinal: int) -> Iterator[Event | Quarantined]:
        where = f"chunk {index} at file offset {offset}"
        free = struct.unpack_from("<I", chunk, 48)[0]
        if not _CHUNK_DATA <= free <= CHUNK_SIZE:
            free = CHUNK_SIZE
        crc = _crc_problems(chunk, free)
        if crc:
            self._crc_bad.append(f"{where}: {' and '.join(crc)} CRC32")
        # ---- the walk: where each record sits
        slots: list[tuple[int, int, int]] = []  # (offset in chunk, size, identifier)
        pos = _CHUNK_DATA
        tail: tuple[int, str] | None = None
        while pos + _MIN_RECORD <= free:
            sig, size, rid, _written = _RECORD_HEAD.unpack_from(chunk, pos)
            if sig != RECORD_MAGIC:
                tail = (pos, "no record signature")
                break
            if size < _MIN_RECORD or pos + size > CHUNK_SIZE:
                tail = (pos, f"record size {size} out of bounds")
                break
            slots.append((pos, size, rid))
            pos += size
        else:
            if pos < free and chunk[pos:free].strip(b"\x00"):
                tail = (pos, "bytes after the last record")
        # ---- the rendering, one chunk at a time
        last_id = slots[-1][2] if slots else struct.unpack_from("<Q", chunk, 24)[0]
        rendered: dict[int, list[str]] = {}
        errors: dict[int, str] = {}
        chunk_error = None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                parser = evtx.PyEvtxParser(io.BytesIO(_file_header(last_id + 1) + chunk),
                                           number_of_threads=1, skip_errors=True)
                rec: Any
                for rec in parser.records_json():
                    rendered.setdefault(rec["event_record_id"], []).append(rec["data"])
            except (RuntimeError, OSError, ValueError) as exc:
                chunk_error = str(exc)
        for w in caught:
            msg = str(w.message).removeprefix("Skipping EVTX data: ").removeprefix("RuntimeError: ")
            num = _record_number(msg)
            if num is not None:
                errors[num] = msg
            else:
                chunk_error = chunk_error or msg
        for i, (pos, size, rid) in enumerate(slots):
            data = rendered.get(rid)
            body = chunk[pos:pos + size]
            if not data:
                reason = errors.get(rid) or chunk_error or "the record was not rendered"
                yield Quarantined(f"{where}, record {rid} at file offset {offset + pos}: {reason[:600]}", body,
                                  rec_index=ordinal + i)
                continue
            raw = data.pop(0)
            prov: dict[str, Any] = {"chunk": index, "offset": offset + pos, "size": size, "record": rid,
                                    "sha256": hashlib.sha256(body).hexdigest()}
            if crc:
                prov["crc"] = "mismatch: " + " and ".join(crc)
            try:
                yield self.to_event(raw, prov, rec_index=ordinal + i)
            except ParseError as exc:
                yield Quarantined(f"{where}, record {rid} at file offset {offset + pos}: {exc}", raw,
                                  rec_index=ordinal + i)
        if tail is not None:
            tpos, why = tail
            expected = struct.unpack_from("<Q", chunk, 32)[0]  # last record identifier per the chunk header
            done = slots[-1][2] if slots else struct.unpack_from("<Q", chunk, 24)[0] - 1
            left = expected - done
            n = left if 0 < left <= CHUNK_SIZE // _MIN_RECORD else 1
            yield Quarantined(f"{where}: {why} at file offset {offset + tpos}; the rest of the chunk "
                              f"({CHUNK_SIZE - tpos} bytes, {n} record(s) per its header) is unreadable",
                              chunk[tpos:], rec_index=ordinal + len(slots), records=n)

    # ------------------------------------------------------------------ mapping
    def to_event(self, raw: str, prov: dict[str, Any], *, rec_index: int | None = None) -> Event:
        try:
            rec = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:  # the crate writes JSON: this is a defect there
            raise ParseError(f"the rendering is not JSON: {exc}") from None
        if not isinstance(rec, dict) or not isinstance(rec.get("Event"), dict) \
                or not isinstance(rec["Event"].get("System"), dict):
            raise ParseError("the rendering has no Event.System")
        v = windows_view(rec, "evtx")
        if v.time_raw in (None, ""):
            raise ParseError("missing System.TimeCreated.SystemTime")
        ts = parse_time(v.time_raw)
        extra: dict[str, Any] = {"event_id": v.event_id, "time_field": v.time_field, "evtx": prov}
        # no scrub_event: orjson refuses lone surrogates, so every text here is encodable already
        return map_event(v, raw, fmt=self.name, ts_us=ts, ts_raw=v.time_raw, extra=extra, rec_index=rec_index)


def _record_number(msg: str) -> int | None:
    """The record identifier the crate names in an error message ("... record number 3: ...")."""
    key = "record number "
    i = msg.find(key)
    if i < 0:
        return None
    digits = ""
    for ch in msg[i + len(key):]:
        if not ch.isdigit():
            break
        digits += ch
    return int(digits) if digits else None


